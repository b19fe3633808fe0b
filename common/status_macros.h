#pragma once

// Abseil 20220623 ships no status macros; these are Warden's.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WARDEN_STATUS_CONCAT_INNER(a, b) a##b
#define WARDEN_STATUS_CONCAT(a, b) WARDEN_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define WARDEN_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status _warden_status = (expr); !_warden_status.ok()) { \
      return _warden_status;                                          \
    }                                                                 \
  } while (false)

// `lhs` = the value of a StatusOr, or return its error.
#define WARDEN_ASSIGN_OR_RETURN(lhs, expr) \
  WARDEN_ASSIGN_OR_RETURN_IMPL(WARDEN_STATUS_CONCAT(_warden_statusor_, __LINE__), lhs, expr)

#define WARDEN_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()
