#include "common/page_token.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"

namespace warden::paging {
namespace {

constexpr absl::string_view kVersion = "p1";

std::string QueryFingerprint(absl::string_view query) {
  return secrets::Sha256Hex(query).substr(0, 16);
}

}  // namespace

std::string EncodePageToken(absl::string_view query, absl::string_view after_key) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kVersion, ":", QueryFingerprint(query), ":", after_key));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view query) {
  if (token.empty()) return std::string();
  std::string raw;
  if (token.size() > 4096 || !absl::WebSafeBase64Unescape(token, &raw)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  const std::string expected_head = absl::StrCat(kVersion, ":");
  const size_t fp_end = expected_head.size() + 16;
  if (raw.size() <= fp_end || raw.compare(0, expected_head.size(), expected_head) != 0 ||
      raw[fp_end] != ':') {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  if (raw.compare(expected_head.size(), 16, QueryFingerprint(query)) != 0) {
    return absl::InvalidArgumentError(
        "page_token belongs to a different query; repeat the same filters or start over");
  }
  return raw.substr(fp_end + 1);
}

absl::StatusOr<std::optional<int64_t>> DecodeIdPageToken(absl::string_view token,
                                                         absl::string_view query) {
  absl::StatusOr<std::string> after = DecodePageToken(token, query);
  if (!after.ok()) return after.status();
  if (after->empty()) return std::optional<int64_t>();
  int64_t id = 0;
  if (!absl::SimpleAtoi(*after, &id)) return absl::InvalidArgumentError("page_token is malformed");
  return std::optional<int64_t>(id);
}

absl::StatusOr<int> ResolvePageSize(int64_t requested) {
  if (requested == 0) return kDefaultPageSize;
  if (requested < 0 || requested > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be between 1 and ", kMaxPageSize,
                                                   " (0 = default ", kDefaultPageSize, ")"));
  }
  return static_cast<int>(requested);
}

}  // namespace warden::paging
