// SignalHub: how a stream proves who it is — a bearer token (access token or
// API key, watched for revocation), then the answer to a challenge signed
// with its member key — and the deadline for doing both.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "controlplane/signal/hub.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"

namespace warden::control::signal {

void SignalHub::Authenticate(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                             std::string token, Done done) {
  OnWorker(stream, request_id, std::move(done),
           [this, stream, request_id, token = std::move(token)](Done done) mutable {
             absl::StatusOr<model::Credential> credential = check_token_(token);
             if (!credential.ok()) {
               stream->peer->Close(credential.status());
               std::move(done)();
               return;
             }
             v1::SignalEvent event;
             event.set_request_id(request_id);
             absl::Status refused;
             bool closed = false;
             {
               absl::MutexLock lock(&mu_);
               const std::string principal = credential->principal;
               auto streams = per_principal_.find(principal);
               if (stream->state == Stream::State::kClosed) {
                 closed = true;  // Closed has run, and counted nothing for it
               } else if (streams != per_principal_.end() &&
                          streams->second >= options_.max_streams_per_principal) {
                 refused = absl::ResourceExhaustedError(absl::StrCat(
                     principal, " already has ", options_.max_streams_per_principal,
                     " signalling streams on this replica (--signal-max-streams-per-principal); "
                     "close one first"));
               } else {
                 ++per_principal_[principal];
                 stream->principal = principal;
                 std::weak_ptr<SignalPeer> peer = stream->peer;
                 stream->credential_watch =
                     credentials_.Watch(*std::move(credential), [peer](const absl::Status& why) {
                       if (auto alive = peer.lock()) alive->Close(why);
                     });
                 stream->nonce = NewNonce();
                 stream->state = Stream::State::kChallenged;
                 event.mutable_challenge()->set_nonce(stream->nonce);
               }
             }
             if (closed || !refused.ok()) {
               if (!refused.ok()) {
                 ends_.With({"too_many_streams"}).Increment();
                 stream->peer->Close(refused);
               }
               std::move(done)();
               return;
             }
             event.mutable_challenge()->set_context(std::string(kChallengeContext));
             stream->peer->Send(std::move(event));
             std::move(done)();
           });
}

void SignalHub::Identify(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                         const v1::SignalIdentify& identify) {
  std::string nonce;
  {
    absl::MutexLock lock(&mu_);
    nonce = stream->nonce;
  }
  if (absl::Status verified = VerifyChallenge(identify.public_key(), nonce, identify.signature());
      !verified.ok()) {
    stream->peer->Close(verified.code() == absl::StatusCode::kUnauthenticated
                            ? verified
                            : absl::UnauthenticatedError(verified.message()));
    return;
  }
  v1::SignalEvent event;
  event.set_request_id(request_id);
  {
    absl::MutexLock lock(&mu_);
    stream->key = identify.public_key();
    stream->key_hex = KeyHex(stream->key);
    stream->nonce.clear();
    stream->state = Stream::State::kIdentified;
    event.mutable_identified()->set_member(stream->key);
    event.mutable_identified()->set_principal(stream->principal);
  }
  stream->peer->Send(std::move(event));
}

void SignalHub::DeadlineLoop() {
  const absl::Duration tick =
      std::clamp(options_.auth_deadline / 4, absl::Milliseconds(20), absl::Seconds(1));
  const int64_t deadline_nanos = absl::ToInt64Nanoseconds(options_.auth_deadline);
  const absl::Status late = absl::UnauthenticatedError(
      absl::StrCat("authenticate and answer the challenge (identify) within ",
                   absl::FormatDuration(options_.auth_deadline), " of connecting"));
  while (!stop_.WaitForNotificationWithTimeout(tick)) {
    std::vector<std::shared_ptr<Stream>> overdue;
    {
      absl::MutexLock lock(&mu_);
      const int64_t now = Stream::SteadyNanos();
      for (const auto& [id, stream] : streams_) {
        if (stream->state == Stream::State::kIdentified || stream->past_deadline ||
            now - stream->opened_nanos < deadline_nanos) {
          continue;
        }
        stream->past_deadline = true;
        overdue.push_back(stream);
      }
    }
    for (const auto& stream : overdue) {
      ends_.With({"auth_deadline"}).Increment();
      stream->peer->Close(late);
    }
  }
}

}  // namespace warden::control::signal
