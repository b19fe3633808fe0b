#include "controlplane/families/login_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace warden::control::families {

BucketStep TakeToken(absl::Time tat, absl::Time now, const BucketRule& rule) {
  if (rule.unlimited()) return BucketStep{.allowed = true, .tat = tat};
  const absl::Duration interval = rule.interval();
  // A full bucket may run `burst` intervals ahead of now, counting this one.
  const absl::Duration tolerance = interval * (std::max(rule.burst, 1) - 1);
  const absl::Time base = std::max(tat, now);
  const absl::Duration debt = base - now;
  if (debt > tolerance) {
    return BucketStep{.allowed = false, .tat = tat, .retry_after = debt - tolerance};
  }
  return BucketStep{.allowed = true, .tat = base + interval};
}

absl::Time ReturnToken(absl::Time tat, absl::Time now, const BucketRule& rule) {
  if (rule.unlimited() || tat <= now) return tat;
  return std::max(now, tat - rule.interval());
}

std::string ClientAddressKey(absl::string_view peer) {
  // gRPC percent-encodes the brackets of an IPv6 peer in some versions.
  const std::string decoded = absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}});
  absl::string_view rest(decoded);
  char text[INET6_ADDRSTRLEN] = {};
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    rest = rest.substr(0, rest.rfind(':'));
    in_addr v4;
    if (inet_pton(AF_INET, std::string(rest).c_str(), &v4) != 1) return "unknown";
    inet_ntop(AF_INET, &v4, text, sizeof text);
    return text;
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (absl::ConsumePrefix(&rest, "[")) rest = rest.substr(0, rest.find(']'));
    rest = rest.substr(0, rest.find('%'));  // a zone ("fe80::1%eth0")
    in6_addr v6;
    if (inet_pton(AF_INET6, std::string(rest).c_str(), &v6) != 1) return "unknown";
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      in_addr v4;
      std::memcpy(&v4, &v6.s6_addr[12], 4);
      inet_ntop(AF_INET, &v4, text, sizeof text);
      return text;
    }
    std::memset(&v6.s6_addr[8], 0, 8);
    inet_ntop(AF_INET6, &v6, text, sizeof text);
    return absl::StrCat(text, "/64");
  }
  return "local";
}

BucketStep BucketTable::Check(const std::string& key, absl::Time now) const {
  auto it = tat_of_.find(key);
  return TakeToken(it == tat_of_.end() ? absl::InfinitePast() : it->second, now, rule_);
}

void BucketTable::Erase(std::map<std::string, absl::Time>::iterator it) {
  by_tat_.erase({it->second, &it->first});
  tat_of_.erase(it);
}

void BucketTable::DropRefilled(absl::Time now) {
  while (!by_tat_.empty() && by_tat_.begin()->first <= now) {
    Erase(tat_of_.find(*by_tat_.begin()->second));
  }
}

void BucketTable::Commit(const std::string& key, absl::Time tat, absl::Time now) {
  DropRefilled(now);
  if (tat <= now) return;  // a full bucket is the same as no entry
  auto it = tat_of_.find(key);
  if (it != tat_of_.end()) {
    by_tat_.erase({it->second, &it->first});
    it->second = tat;
    by_tat_.insert({tat, &it->first});
    return;
  }
  if (tat_of_.size() >= std::max<size_t>(max_keys_, 1)) {
    // Every kept key is still refilling: the one nearest to full goes.
    Erase(tat_of_.find(*by_tat_.begin()->second));
    ++evictions_;
  }
  it = tat_of_.emplace(key, tat).first;
  by_tat_.insert({tat, &it->first});
}

void BucketTable::Refund(const std::string& key, absl::Time now) {
  auto it = tat_of_.find(key);
  if (it == tat_of_.end()) return;
  const absl::Time tat = ReturnToken(it->second, now, rule_);
  Erase(it);
  Commit(key, tat, now);
}

LoginThrottle::LoginThrottle(LoginThrottleOptions options, const Clock& clock)
    : clock_(clock),
      usernames_(options.per_username, options.max_keys),
      addresses_(options.per_address, options.max_keys) {}

ThrottleVerdict LoginThrottle::Attempt(const std::string& username,
                                       const std::string& address_key) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const BucketStep user = usernames_.Check(username, now);
  const BucketStep address = addresses_.Check(address_key, now);
  if (user.allowed && address.allowed) {
    if (!usernames_.rule().unlimited()) usernames_.Commit(username, user.tat, now);
    if (!addresses_.rule().unlimited()) addresses_.Commit(address_key, address.tat, now);
    return ThrottleVerdict{};
  }
  ThrottleVerdict refused{
      .allowed = false, .by_username = !user.allowed, .by_address = !address.allowed};
  refused.retry_after = std::max(user.retry_after, address.retry_after);
  return refused;
}

ThrottleVerdict LoginThrottle::AttemptFromAddress(const std::string& address_key) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const BucketStep address = addresses_.Check(address_key, now);
  if (!address.allowed) {
    return ThrottleVerdict{.allowed = false,
                           .retry_after = address.retry_after,
                           .by_username = false,
                           .by_address = true};
  }
  if (!addresses_.rule().unlimited()) addresses_.Commit(address_key, address.tat, now);
  return ThrottleVerdict{};
}

void LoginThrottle::Succeeded(const std::string& username) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  usernames_.Refund(username, now);
}

LoginThrottle::Stats LoginThrottle::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{.usernames = usernames_.size(),
               .addresses = addresses_.size(),
               .username_evictions = usernames_.evictions(),
               .address_evictions = addresses_.evictions()};
}

}  // namespace warden::control::families
