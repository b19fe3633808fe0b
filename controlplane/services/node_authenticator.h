#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/store/node_store.h"

namespace warden::control::services {

// Checks node credentials (`authorization: Bearer wnc_...`). Valid answers
// are remembered briefly so the admission path does not pay a lookup per
// call; a removed node is still refused at once, because the admission
// transaction reads the node's state itself.
class NodeAuthenticator {
 public:
  explicit NodeAuthenticator(store::NodeStore& nodes, absl::Duration ttl = absl::Seconds(10))
      : nodes_(nodes), ttl_(ttl) {}

  absl::StatusOr<store::NodeIdentity> Authenticate(absl::string_view bearer_token);

 private:
  struct Entry {
    store::NodeIdentity node;
    absl::Time expires;
  };
  static constexpr size_t kMaxEntries = 100000;

  store::NodeStore& nodes_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::services
