#include "controlplane/dispatch/credential_watch.h"

#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.credentials");

// Whether the notice `payload` ("key:<name>", "user:<id>", "family:<id>")
// is about `credential`.
bool Names(const std::string& payload, const model::Credential& credential) {
  if (credential.kind == model::Credential::Kind::kApiKey) {
    return payload == absl::StrCat("key:", credential.key_name);
  }
  return payload == absl::StrCat("user:", credential.user_id) ||
         payload == absl::StrCat("family:", credential.family_id);
}

// Credentials that are the same for the database: checked once.
std::tuple<model::Credential::Kind, std::string, std::string> Identity(
    const model::Credential& credential) {
  return {credential.kind, credential.key_hash_hex, credential.family_id};
}

}  // namespace

CredentialWatch::CredentialWatch(store::CredentialStore& store, store::SharedListener& listener,
                                 absl::Duration recheck_interval, metrics::Registry& metrics)
    : store_(store),
      listener_(listener),
      recheck_interval_(recheck_interval),
      ended_(metrics
                 .AddCounter("warden_streams_ended_by_credential_total",
                             "Long-lived streams (WatchEvents, signalling) ended because their "
                             "API key, user or login ended.")
                 .With({})),
      checks_(metrics
                  .AddCounter("warden_stream_credential_checks_total",
                              "Credentials of long-lived streams checked again.")
                  .With({})) {
  metrics.AddGaugeFunc("warden_stream_credentials_watched",
                       "Long-lived streams whose credential this replica watches.",
                       [this] { return static_cast<double>(watched()); });
}

CredentialWatch::~CredentialWatch() { Stop(); }

void CredentialWatch::Start() {
  subscription_ = listener_.Subscribe(
      {store::kCredentialChannel},
      [this](const std::string&, const std::string& payload) { OnNotice(payload); },
      [this] {
        absl::MutexLock lock(&mu_);
        check_all_ = true;
      });
  thread_ = std::thread([this] { Run(); });
}

void CredentialWatch::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (subscription_ != 0) listener_.Unsubscribe(std::exchange(subscription_, 0));
}

int64_t CredentialWatch::Watch(model::Credential credential, End end) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  watched_[id] = Watched{.credential = std::move(credential), .end = std::move(end)};
  return id;
}

void CredentialWatch::Forget(int64_t id) {
  absl::MutexLock lock(&mu_);
  watched_.erase(id);
}

int64_t CredentialWatch::watched() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(watched_.size());
}

void CredentialWatch::OnNotice(const std::string& payload) {
  absl::MutexLock lock(&mu_);
  notices_.push_back(payload);
}

void CredentialWatch::Run() {
  absl::Time next_full = absl::Now() + recheck_interval_;
  while (true) {
    std::vector<int64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      const auto woken = [this] {
        mu_.AssertReaderHeld();
        return stopping_ || check_all_ || !notices_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken), next_full);
      if (stopping_) return;
      const bool all = check_all_ || absl::Now() >= next_full;
      if (all) next_full = absl::Now() + recheck_interval_;
      for (const auto& [id, watched] : watched_) {
        bool named = all;
        for (size_t i = 0; !named && i < notices_.size(); ++i) {
          named = Names(notices_[i], watched.credential);
        }
        if (named) ids.push_back(id);
      }
      check_all_ = false;
      notices_.clear();
    }
    if (!ids.empty()) Check(ids);
  }
}

void CredentialWatch::Check(const std::vector<int64_t>& ids) {
  // Each distinct credential once: many streams often share one key.
  std::map<std::tuple<model::Credential::Kind, std::string, std::string>,
           std::pair<model::Credential, std::vector<int64_t>>>
      distinct;
  {
    absl::MutexLock lock(&mu_);
    for (int64_t id : ids) {
      auto it = watched_.find(id);
      if (it == watched_.end()) continue;
      auto& entry = distinct[Identity(it->second.credential)];
      entry.first = it->second.credential;
      entry.second.push_back(id);
    }
  }
  for (const auto& [identity, entry] : distinct) {
    checks_.Increment();
    const absl::Status status = store_.Check(entry.first);
    if (status.ok()) continue;
    if (status.code() != absl::StatusCode::kUnauthenticated &&
        status.code() != absl::StatusCode::kPermissionDenied) {
      // The database cannot tell now: the streams go on, the next check decides.
      Log()->warn("cannot check the credential of {} streams of {}: {}", entry.second.size(),
                  entry.first.principal, status.message());
      continue;
    }
    std::vector<End> ends;
    {
      absl::MutexLock lock(&mu_);
      for (int64_t id : entry.second) {
        auto it = watched_.find(id);
        if (it == watched_.end()) continue;
        ends.push_back(std::move(it->second.end));
        watched_.erase(it);
      }
    }
    if (ends.empty()) continue;
    Log()->info("ending {} streams of {}: {}", ends.size(), entry.first.principal,
                status.message());
    ended_.Increment(static_cast<double>(ends.size()));
    for (End& end : ends) end(status);
  }
}

}  // namespace warden::control::dispatch
