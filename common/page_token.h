#pragma once

// Opaque keyset-pagination tokens. A token carries the last key of the page
// it ends and is bound to the query (its filters) that produced it, so a token
// replayed against another query is refused instead of skipping rows.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::paging {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

std::string EncodePageToken(absl::string_view query, absl::string_view after_key);

// The `after_key` of a token made by EncodePageToken for the same `query`;
// "" for an empty token (the first page). Malformed or foreign tokens are
// INVALID_ARGUMENT.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view query);

// For lists ordered by a numeric id, newest first: the id the next page
// starts below, from a token whose key is that id; nullopt for the first
// page.
absl::StatusOr<std::optional<int64_t>> DecodeIdPageToken(absl::string_view token,
                                                         absl::string_view query);

// 0 → the default; 1..kMaxPageSize as asked; anything else INVALID_ARGUMENT.
absl::StatusOr<int> ResolvePageSize(int64_t requested);

}  // namespace warden::paging
