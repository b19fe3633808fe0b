#pragma once

// Small conversions between result fields and Warden values. Timestamps are
// selected as epoch_us(column) (microseconds since the epoch, UTC).

#include <optional>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace warden::control::store {

// `field`: a pqxx::field or a TextField.
template <typename Field>
absl::Time TimeField(const Field& field) {
  return absl::FromUnixMicros(field.template as<int64_t>());
}

template <typename Field>
std::optional<absl::Time> OptionalTimeField(const Field& field) {
  if (field.is_null()) return std::nullopt;
  return TimeField(field);
}

inline std::optional<int64_t> OptionalMicros(const std::optional<absl::Time>& time) {
  if (!time) return std::nullopt;
  return absl::ToUnixMicros(*time);
}

// An array parameter of numbers or uuids: "{1,2,3}".
template <typename T>
std::string PgArray(const std::vector<T>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// A text[] parameter: every element quoted, '"' and '\\' escaped.
inline std::string PgTextArray(std::span<const std::string> values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace warden::control::store
