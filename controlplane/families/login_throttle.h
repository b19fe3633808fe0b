#pragma once

// How often SessionService.Login may be tried: per username (slows down
// guessing one account's password from many addresses) and per client
// address (slows down one address trying many accounts). Checked before any
// password hashing, so that refused attempts cost a map lookup, not argon2.
//
// Each key has a token bucket, kept as GCRA: one "theoretical arrival time"
// (TAT) per key; the bucket is full once TAT <= now. `TakeToken` is the pure
// rule and has a table test; `BucketTable` bounds how many keys are kept;
// `LoginThrottle` is the two tables behind one lock.
//
// What counts: every attempt that passes the throttle takes a token from both
// buckets before its password is checked, whether the username exists or not
// (otherwise the throttle would tell an attacker which usernames exist). A
// login whose password was right gives its username token back: the username
// bucket is there to limit guesses, and a right password is not a guess, so
// a user's own devices logging in together are never held up by it. The
// address token is kept, so one address cannot log in faster than its rate
// even with a known password (each login still costs an argon2id check).
// Refused attempts take no token: a client that ignores retry-after is
// refused until the bucket refills, not for longer.
//
// Buckets live in this replica's memory: with N replicas behind a load
// balancer a key may get up to N times the configured rate.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace warden::control::families {

struct BucketRule {
  int per_minute = 0;  // tokens added per minute; 0 = no limit
  int burst = 1;       // tokens a full bucket holds (attempts that may pass at once)

  bool unlimited() const { return per_minute <= 0; }
  absl::Duration interval() const { return absl::Minutes(1) / per_minute; }
};

struct BucketStep {
  bool allowed = true;
  absl::Time tat;  // the key's TAT after this attempt (unchanged when refused)
  absl::Duration retry_after = absl::ZeroDuration();  // when refused: until one would pass
};

// One attempt against a bucket whose TAT is `tat` (InfinitePast for a key
// never seen). Pure.
BucketStep TakeToken(absl::Time tat, absl::Time now, const BucketRule& rule);
// A token given back: the TAT one interval earlier, never before `now`.
absl::Time ReturnToken(absl::Time tat, absl::Time now, const BucketRule& rule);

// The key a client address is throttled under, from a gRPC peer string:
// "ipv4:203.0.113.7:5555" → "203.0.113.7"; an IPv6 address by its /64
// ("ipv6:[2001:db8:1:2::9]:443" → "2001:db8:1:2::/64"), since one host
// commonly holds a whole /64; an IPv4-mapped IPv6 address as its IPv4
// address; anything else (unix sockets) → "local".
std::string ClientAddressKey(absl::string_view peer);

// Buckets by key, at most `max_keys` of them. A key whose bucket is full
// again (TAT <= now) holds no information and is dropped first. When every
// kept key is still refilling and a new key arrives, the key nearest to
// full is dropped (counted in evictions()): resetting a chosen victim's
// bucket that way needs max_keys other keys each further from full than the
// victim's, which at the per-address rate takes a large botnet, not a
// script.
class BucketTable {
 public:
  BucketTable(BucketRule rule, size_t max_keys) : rule_(rule), max_keys_(max_keys) {}

  const BucketRule& rule() const { return rule_; }
  BucketStep Check(const std::string& key, absl::Time now) const;
  // Stores the TAT a passing Check returned.
  void Commit(const std::string& key, absl::Time tat, absl::Time now);
  void Refund(const std::string& key, absl::Time now);

  size_t size() const { return tat_of_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  void Erase(std::map<std::string, absl::Time>::iterator it);
  void DropRefilled(absl::Time now);

  const BucketRule rule_;
  const size_t max_keys_;
  std::map<std::string, absl::Time> tat_of_;
  // The same entries ordered by TAT; the keys point into tat_of_.
  std::set<std::pair<absl::Time, const std::string*>> by_tat_;
  uint64_t evictions_ = 0;
};

struct LoginThrottleOptions {
  BucketRule per_username{.per_minute = 5, .burst = 5};
  BucketRule per_address{.per_minute = 30, .burst = 10};
  size_t max_keys = 65536;  // per table
};

struct ThrottleVerdict {
  bool allowed = true;
  absl::Duration retry_after = absl::ZeroDuration();
  bool by_username = false;  // which buckets were empty
  bool by_address = false;
};

class LoginThrottle {
 public:
  LoginThrottle(LoginThrottleOptions options, const Clock& clock);

  // One Login attempt: takes a token from both buckets, or from neither
  // when either is empty.
  ThrottleVerdict Attempt(const std::string& username, const std::string& address_key);
  // A start of a single sign-on login, which names no user yet: the address
  // bucket alone.
  ThrottleVerdict AttemptFromAddress(const std::string& address_key);
  // The attempt's password was right: its username token comes back.
  void Succeeded(const std::string& username);

  struct Stats {
    size_t usernames = 0;
    size_t addresses = 0;
    uint64_t username_evictions = 0;
    uint64_t address_evictions = 0;
  };
  Stats stats() const;

 private:
  const Clock& clock_;
  mutable absl::Mutex mu_;
  BucketTable usernames_ ABSL_GUARDED_BY(mu_);
  BucketTable addresses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::families
