#include "tests/support/test_ca.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/support/netns_rig.h"

namespace warden::testing {
namespace {

absl::Status Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  ExecResult result = RunToCompletion(args, absl::Seconds(30));
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(args[1], " failed: ", result.output));
}

}  // namespace

std::string TestCa::UnusableReason() {
  return FindExecutable("openssl").empty() ? "openssl is not installed" : "";
}

TestCa::TestCa() {
  char pattern[] = "/tmp/warden-ca.XXXXXX";
  if (::mkdtemp(pattern) != nullptr) dir_ = pattern;
}

TestCa::~TestCa() {
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::string TestCa::Read(const std::string& path) { return ReadWholeFile(path); }

absl::Status TestCa::Create() {
  if (dir_.empty()) return absl::InternalError("mkdtemp failed");
  ca_cert_ = dir_ + "/ca.crt";
  ca_key_ = dir_ + "/ca.key";
  return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", ca_key_, "-out", ca_cert_, "-subj", "/CN=warden-test-ca",
                  "-days", "2"});
}

absl::StatusOr<TestCa::Files> TestCa::Issue(const std::string& name,
                                            const std::string& extensions) {
  const std::string base = absl::StrCat(dir_, "/", name);
  Files files{.cert = base + ".crt", .key = base + ".key"};
  std::ofstream(base + ".ext") << extensions << "\n";
  if (absl::Status made =
          Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", files.key, "-out", base + ".csr", "-subj", "/CN=" + name});
      !made.ok()) {
    return made;
  }
  if (absl::Status signed_ok =
          Openssl({"x509", "-req", "-in", base + ".csr", "-CA", ca_cert_, "-CAkey", ca_key_,
                   "-CAcreateserial", "-out", files.cert, "-days", "2", "-extfile", base + ".ext"});
      !signed_ok.ok()) {
    return signed_ok;
  }
  return files;
}

absl::StatusOr<TestCa::Files> TestCa::Server() {
  return Issue("localhost",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
}

absl::StatusOr<TestCa::Files> TestCa::Client(const std::string& name) {
  return Issue(name, absl::StrCat("subjectAltName=DNS:", name, "\nextendedKeyUsage=clientAuth"));
}

}  // namespace warden::testing
