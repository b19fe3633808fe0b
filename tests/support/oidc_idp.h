#pragma once

// A real OpenID Provider for single sign-on tests: tests/e2e/oidc_provider/
// idp.mjs (the OpenID-certified npm package oidc-provider) over HTTPS with a
// certificate from a test CA, and the scripted person at its pages
// (login.mjs, device.mjs). See that folder's README for the contract.
//
//   if (std::string why = OidcIdp::Unavailable(); !why.empty()) GTEST_SKIP() << why;
//   std::string error;
//   std::unique_ptr<OidcIdp> idp = OidcIdp::Start(work_dir_, {}, &error);
//   ASSERT_NE(idp, nullptr) << error;

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace warden::testing {

struct OidcIdpOptions {
  std::vector<std::string> redirects = {"http://127.0.0.1:8765/cb"};
  std::string id_token_alg = "RS256";
  int device_interval_seconds = 1;
  // Also register client warden-pkjwt, authenticating with a key pair the
  // rig makes (see client_key_pem()).
  bool private_key_client = false;
};

// What the scripted browser saw when the provider sent it back.
struct BrowserResult {
  bool reached = false;  // the redirect was reached (it may carry an error)
  std::string redirect, code, state, error;
  int followed_status = 0;  // with follow: the redirect target's answer
  std::string followed_body;
  std::string output;  // everything it printed, for failure messages
};

class OidcIdp {
 public:
  // "" when node, the npm package and openssl are there; else why not.
  static std::string Unavailable();

  static std::unique_ptr<OidcIdp> Start(const std::string& work_dir, OidcIdpOptions options,
                                        std::string* error);
  ~OidcIdp();

  const std::string& issuer() const { return issuer_; }
  const std::string& ca_file() const { return ca_->ca_cert(); }
  // Contains '+', '/', '%' and ':', so a client that does not form-encode
  // HTTP Basic credentials fails.
  static constexpr const char* kClientSecret = "warden+test/secret%:1";
  const std::string& secret_file() const { return secret_file_; }
  // PKCS#8 PEM of warden-pkjwt's key, and its kid.
  const std::string& client_key_pem_file() const { return client_key_pem_file_; }
  static constexpr const char* kClientKeyId = "client-k1";

  // Restarts the provider on the same port with a new signing key (kid
  // `kid`) first and the old ones after: a key rotation.
  bool RotateKey(const std::string& kid, std::string* error);

  // The person at the browser: opens `url`, logs in as `login` (any
  // password), consents (or refuses with `deny`), stops at the first
  // redirect to `redirect_prefix` (and GETs it with `follow`).
  BrowserResult SignIn(const std::string& url, const std::string& login,
                       const std::string& redirect_prefix, bool follow = false,
                       bool deny = false) const;
  // The person with the device code: opens the verification page, enters
  // the code, logs in and approves (or refuses with `deny`).
  bool ApproveDevice(const std::string& verification_uri, const std::string& user_code,
                     const std::string& login, bool deny, std::string* output) const;

 private:
  OidcIdp(std::string work_dir, OidcIdpOptions options)
      : work_dir_(std::move(work_dir)), options_(std::move(options)) {}
  bool Prepare(std::string* error);
  bool Launch(int port, std::string* error);
  bool Keys(const std::vector<std::string>& args, std::string* jwks, std::string* error) const;
  CtlResult Node(const std::vector<std::string>& args) const;

  std::string work_dir_;
  OidcIdpOptions options_;
  std::unique_ptr<TestCa> ca_;
  std::string cert_file_, key_file_, keys_file_, secret_file_, client_jwks_file_,
      client_key_pem_file_;
  nlohmann::json keys_;  // the private JWKS it serves
  std::unique_ptr<Process> process_;
  std::string issuer_;
  int port_ = 0;
  int runs_ = 0;
};

}  // namespace warden::testing
