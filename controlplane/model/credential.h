#pragma once

#include <string>

namespace warden::control::model {

// What a long-lived stream (WatchEvents, signalling) was opened with, kept
// so that it can be checked again while the stream lives. Holds no secret:
// an API key is kept as its hash.
struct Credential {
  enum class Kind { kApiKey, kLogin };
  Kind kind = Kind::kApiKey;
  // Who acts: "key:<name>" or "user:<username>".
  std::string principal;
  // kApiKey
  std::string key_name{};
  std::string key_hash_hex{};
  // kLogin: the access token's login family and its user.
  std::string user_id{};
  std::string family_id{};
};

}  // namespace warden::control::model
