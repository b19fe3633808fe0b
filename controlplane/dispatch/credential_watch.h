#pragma once

// Ends long-lived streams (WatchEvents, signalling) when the credential they
// were opened with ends: an API key revoked or deleted, a user disabled or
// deleted, a login family revoked or expired.
//
// Revocations reach every replica at once: a trigger (migration 0009)
// notifies warden_credentials with the commit, and each replica checks again
// the streams the notice names. Notices sent while the listen connection
// was down are lost, so every (re)connect checks every watched credential;
// and so does a timer every `recheck_interval`, which is also what notices
// a login that simply reached the end of its lifetime.
//
// Threads: one of its own checks credentials against the database and runs
// the `end` callbacks, with no lock of this class held (an `end` may call
// Forget). Lock order: a caller's lock, then this class's.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/model/credential.h"
#include "controlplane/store/credential_store.h"
#include "controlplane/store/shared_listener.h"

namespace warden::control::dispatch {

class CredentialWatch {
 public:
  using End = std::function<void(const absl::Status& why)>;

  CredentialWatch(store::CredentialStore& store, store::SharedListener& listener,
                  absl::Duration recheck_interval, metrics::Registry& metrics);
  ~CredentialWatch();

  void Start();
  void Stop();

  // Watches `credential` for one stream. `end` runs at most once, when the
  // credential no longer stands, with UNAUTHENTICATED or PERMISSION_DENIED
  // saying why. Returns the id to Forget when the stream ends first.
  int64_t Watch(model::Credential credential, End end);
  void Forget(int64_t id);

  int64_t watched() const;

 private:
  struct Watched {
    model::Credential credential;
    End end;
  };
  void OnNotice(const std::string& payload);
  void Run();
  // Checks the credentials of `ids` (each distinct one once) and ends the
  // streams whose credential no longer stands.
  void Check(const std::vector<int64_t>& ids);

  store::CredentialStore& store_;
  store::SharedListener& listener_;
  const absl::Duration recheck_interval_;
  metrics::Counter& ended_;
  metrics::Counter& checks_;

  mutable absl::Mutex mu_;
  std::map<int64_t, Watched> watched_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::string> notices_ ABSL_GUARDED_BY(mu_);
  bool check_all_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  int subscription_ = 0;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
