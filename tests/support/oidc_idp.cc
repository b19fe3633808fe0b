#include "tests/support/oidc_idp.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/netns_rig.h"

#ifndef WARDEN_SOURCE_DIR
#error "WARDEN_SOURCE_DIR (the repository root, a string) must be defined"
#endif

namespace warden::testing {
namespace {

constexpr char kRigDir[] = WARDEN_SOURCE_DIR "/tests/e2e/oidc_provider";

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// The last line of `text` that parses as a JSON object, or null.
nlohmann::json LastJsonLine(const std::string& text) {
  nlohmann::json found;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.empty() || line.front() != '{') continue;
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object()) found = std::move(parsed);
  }
  return found;
}

}  // namespace

std::string OidcIdp::Unavailable() {
  if (FindExecutable("node").empty()) return "node is not on PATH (./scripts/test installs it)";
  if (FindExecutable("openssl").empty()) return "openssl is not on PATH";
  const std::string module = absl::StrCat(kRigDir, "/node_modules/oidc-provider/package.json");
  if (::access(module.c_str(), R_OK) != 0) {
    return absl::StrCat("the npm package oidc-provider is not installed in ", kRigDir,
                        " (npm ci --prefix ", kRigDir, ")");
  }
  return TestCa::UnusableReason();
}

std::unique_ptr<OidcIdp> OidcIdp::Start(const std::string& work_dir, OidcIdpOptions options,
                                        std::string* error) {
  if (std::string why = Unavailable(); !why.empty()) {
    *error = why;
    return nullptr;
  }
  std::unique_ptr<OidcIdp> idp(new OidcIdp(work_dir, std::move(options)));
  if (!idp->Prepare(error) || !idp->Launch(0, error)) return nullptr;
  return idp;
}

OidcIdp::~OidcIdp() {
  if (process_ && process_->Running()) {
    process_->Signal(SIGTERM);
    process_->Wait(absl::Seconds(5));
  }
}

CtlResult OidcIdp::Node(const std::vector<std::string>& args) const {
  return RunCaptured(FindExecutable("node"), args,
                     {{"NODE_EXTRA_CA_CERTS", ca_->ca_cert()}, {"PATH", "/usr/bin:/bin"}},
                     work_dir_);
}

bool OidcIdp::Keys(const std::vector<std::string>& args, std::string* jwks,
                   std::string* error) const {
  std::vector<std::string> argv{absl::StrCat(kRigDir, "/keys.mjs")};
  argv.insert(argv.end(), args.begin(), args.end());
  CtlResult made = Node(argv);
  if (made.code != 0) {
    *error = absl::StrCat("keys.mjs failed: ", made.err);
    return false;
  }
  *jwks = made.out;
  return true;
}

bool OidcIdp::Prepare(std::string* error) {
  ca_ = std::make_unique<TestCa>();
  if (absl::Status made = ca_->Create(); !made.ok()) {
    *error = std::string(made.message());
    return false;
  }
  absl::StatusOr<TestCa::Files> server = ca_->Server();
  if (!server.ok()) {
    *error = std::string(server.status().message());
    return false;
  }
  cert_file_ = server->cert;
  key_file_ = server->key;
  secret_file_ = work_dir_ + "/oidc-client.secret";
  keys_file_ = work_dir_ + "/oidc-keys.json";
  std::string jwks;
  if (!Keys({"--alg", options_.id_token_alg, "--kid", "k1"}, &jwks, error)) return false;
  keys_ = nlohmann::json::parse(jwks);
  if (!WriteFile(keys_file_, keys_.dump()) || !WriteFile(secret_file_, kClientSecret)) {
    *error = "cannot write the provider's files";
    return false;
  }
  if (options_.private_key_client) {
    std::string client_jwks;
    if (!Keys({"--alg", "ES256", "--kid", kClientKeyId}, &client_jwks, error)) return false;
    const std::string private_file = work_dir_ + "/oidc-client-private.json";
    client_jwks_file_ = work_dir_ + "/oidc-client-public.json";
    client_key_pem_file_ = work_dir_ + "/oidc-client-key.pem";
    WriteFile(private_file, client_jwks);
    CtlResult public_half =
        Node({absl::StrCat(kRigDir, "/keys.mjs"), "--public", "--in", private_file});
    // Warden reads PEM: the same key, exported by node:crypto.
    CtlResult pem =
        Node({"-e", absl::StrCat(
                        "const c=require('node:crypto');const k=JSON.parse(require('node:fs')."
                        "readFileSync('",
                        private_file,
                        "','utf8')).keys[0];process.stdout.write(c.createPrivateKey({key:k,format:"
                        "'jwk'}).export({type:'pkcs8',format:'pem'}))")});
    if (public_half.code != 0 || pem.code != 0) {
      *error = absl::StrCat("cannot make the client's key: ", public_half.err, pem.err);
      return false;
    }
    WriteFile(client_jwks_file_, public_half.out);
    WriteFile(client_key_pem_file_, pem.out);
  }
  return true;
}

bool OidcIdp::Launch(int port, std::string* error) {
  ++runs_;
  std::vector<std::string> args{absl::StrCat(kRigDir, "/idp.mjs"),
                                "--port",
                                absl::StrCat(port),
                                "--cert",
                                cert_file_,
                                "--key",
                                key_file_,
                                "--keys",
                                keys_file_,
                                "--client-secret-file",
                                secret_file_,
                                "--id-token-alg",
                                options_.id_token_alg,
                                "--device-interval",
                                absl::StrCat(options_.device_interval_seconds)};
  if (!client_jwks_file_.empty()) {
    args.push_back("--client-jwks");
    args.push_back(client_jwks_file_);
  }
  for (const std::string& redirect : options_.redirects) {
    args.push_back("--redirect");
    args.push_back(redirect);
  }
  process_ = std::make_unique<Process>(FindExecutable("node"), std::move(args),
                                       std::map<std::string, std::string>{},
                                       absl::StrCat(work_dir_, "/oidc-idp-", runs_, ".log"));
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    const std::string log = process_->Log();
    const size_t at = log.find("{\"issuer\":");
    if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
      nlohmann::json ready =
          nlohmann::json::parse(log.substr(at, log.find('\n', at) - at), nullptr, false);
      if (ready.is_object()) {
        issuer_ = ready.value("issuer", "");
        port_ = ready.value("port", 0);
        return true;
      }
    }
    if (!process_->Running()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  *error = absl::StrCat("the OpenID Provider did not start:\n", process_->Log());
  return false;
}

bool OidcIdp::RotateKey(const std::string& kid, std::string* error) {
  std::string jwks;
  if (!Keys({"--alg", options_.id_token_alg, "--kid", kid}, &jwks, error)) return false;
  nlohmann::json rotated = nlohmann::json::parse(jwks);
  for (const nlohmann::json& old : keys_["keys"]) rotated["keys"].push_back(old);
  keys_ = rotated;
  WriteFile(keys_file_, keys_.dump());
  process_->Signal(SIGTERM);
  process_->Wait(absl::Seconds(10));
  return Launch(port_, error);
}

BrowserResult OidcIdp::SignIn(const std::string& url, const std::string& login,
                              const std::string& redirect_prefix, bool follow, bool deny) const {
  std::vector<std::string> args{absl::StrCat(kRigDir, "/login.mjs"),
                                "--url",
                                url,
                                "--login",
                                login,
                                "--redirect-prefix",
                                redirect_prefix};
  if (follow) args.push_back("--follow");
  if (deny) args.push_back("--deny");
  CtlResult run = Node(args);
  BrowserResult result;
  result.output = absl::StrCat("exit ", run.code, "\n", run.out, run.err);
  const nlohmann::json answer = LastJsonLine(run.out);
  if (run.code != 0 || !answer.is_object()) return result;
  result.reached = true;
  result.redirect = answer.value("redirect", "");
  result.code = answer.value("code", "");
  result.state = answer.value("state", "");
  result.error = answer.value("error", "");
  result.followed_status = answer.value("followed_status", 0);
  result.followed_body = answer.value("followed_body", "");
  return result;
}

bool OidcIdp::ApproveDevice(const std::string& verification_uri, const std::string& user_code,
                            const std::string& login, bool deny, std::string* output) const {
  std::vector<std::string> args{absl::StrCat(kRigDir, "/device.mjs"),
                                "--verification-uri",
                                verification_uri,
                                "--user-code",
                                user_code,
                                "--login",
                                login};
  if (deny) args.push_back("--deny");
  CtlResult run = Node(args);
  *output = absl::StrCat("exit ", run.code, "\n", run.out, run.err);
  const nlohmann::json answer = LastJsonLine(run.out);
  return run.code == 0 && answer.is_object() && answer.value("ok", false);
}

}  // namespace warden::testing
