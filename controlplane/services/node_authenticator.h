#pragma once

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/store/node_store.h"

namespace grpc {
class ServerContextBase;
}

namespace warden::control::services {

// Checks node credentials (`authorization: Bearer wnc_...`). Valid answers
// are remembered briefly so the admission path does not pay a lookup per
// call; a removed node is still refused at once, because the admission
// transaction reads the node's state itself.
//
// With `require_certificate` (the control plane has --client-ca), a node
// must also present a verified client certificate that names it (a DNS
// subject alternative name or the common name): a credential stolen from
// one node is no use without that node's key.
class NodeAuthenticator {
 public:
  explicit NodeAuthenticator(store::NodeStore& nodes, bool require_certificate = false,
                             absl::Duration ttl = absl::Seconds(10))
      : nodes_(nodes), require_certificate_(require_certificate), ttl_(ttl) {}

  // `certificate_names`: what the caller's verified certificate names (see
  // PeerCertificateNames), empty without one.
  absl::StatusOr<store::NodeIdentity> Authenticate(
      absl::string_view bearer_token, const std::vector<std::string>& certificate_names);
  // The same check for a node known by name (enrolment).
  absl::Status CheckCertificate(const std::string& node_name,
                                const std::vector<std::string>& certificate_names) const;

 private:
  absl::StatusOr<store::NodeIdentity> AuthenticateCredential(absl::string_view bearer_token);

  struct Entry {
    store::NodeIdentity node;
    absl::Time expires;
  };
  static constexpr size_t kMaxEntries = 100000;

  store::NodeStore& nodes_;
  const bool require_certificate_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

// The names in the caller's verified client certificate: DNS subject
// alternative names and the common name. Empty over plaintext or without a
// client certificate.
std::vector<std::string> PeerCertificateNames(const grpc::ServerContextBase& ctx);

}  // namespace warden::control::services
