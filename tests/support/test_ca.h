#pragma once

// A throwaway certificate authority made with openssl in a private temp dir:
// a server certificate for localhost / 127.0.0.1 and client certificates
// naming whatever a test asks for. Removed with the object.

#include <string>

#include "absl/status/statusor.h"

namespace warden::testing {

class TestCa {
 public:
  struct Files {
    std::string cert;
    std::string key;
  };

  // "" when openssl is there and works, else why not.
  static std::string UnusableReason();

  TestCa();
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  absl::Status Create();
  const std::string& ca_cert() const { return ca_cert_; }
  // Signed for DNS:localhost and IP:127.0.0.1 (serverAuth).
  absl::StatusOr<Files> Server();
  // CN=name, DNS:name (clientAuth).
  absl::StatusOr<Files> Client(const std::string& name);
  static std::string Read(const std::string& path);

 private:
  absl::StatusOr<Files> Issue(const std::string& name, const std::string& extensions);

  std::string dir_;
  std::string ca_cert_;
  std::string ca_key_;
};

}  // namespace warden::testing
