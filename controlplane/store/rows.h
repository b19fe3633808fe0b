#pragma once

// Small conversions between result fields and Warden values. Timestamps are
// selected as epoch_us(column) (microseconds since the epoch, UTC).

#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/time/time.h"

namespace warden::control::store {

inline absl::Time TimeField(const pqxx::field& field) {
  return absl::FromUnixMicros(field.as<int64_t>());
}

inline std::optional<absl::Time> OptionalTimeField(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return TimeField(field);
}

inline std::optional<int64_t> OptionalMicros(const std::optional<absl::Time>& time) {
  if (!time) return std::nullopt;
  return absl::ToUnixMicros(*time);
}

}  // namespace warden::control::store
