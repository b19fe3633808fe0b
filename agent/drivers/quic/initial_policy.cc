#include "agent/drivers/quic/initial_policy.h"

namespace warden::agent::quic {

InitialVerdict DecideInitial(const EndpointLimits& limits, const EndpointLoad& load,
                             TokenCheck token) {
  if (load.connections >= limits.max_connections) return InitialVerdict::kRefuseCapacity;
  if (token == TokenCheck::kInvalid) return InitialVerdict::kRefuseInvalidToken;
  const bool address_full =
      limits.max_per_address > 0 && load.from_address >= limits.max_per_address;
  if (token == TokenCheck::kNone) {
    if (load.half_open >= limits.retry_threshold || address_full) return InitialVerdict::kRetry;
    return InitialVerdict::kAccept;
  }
  if (limits.max_per_address > 0 && load.proven_from_address >= limits.max_per_address) {
    return InitialVerdict::kRefuseAddressLimit;
  }
  return InitialVerdict::kAccept;
}

bool MayProve(const EndpointLimits& limits, const EndpointLoad& load, bool already_proven) {
  return already_proven || limits.max_per_address == 0 ||
         load.proven_from_address < limits.max_per_address;
}

const char* InitialVerdictLabel(InitialVerdict verdict) {
  switch (verdict) {
    case InitialVerdict::kAccept:
      return "accepted";
    case InitialVerdict::kRetry:
      return "retry";
    case InitialVerdict::kRefuseCapacity:
      return "over_capacity";
    case InitialVerdict::kRefuseInvalidToken:
      return "invalid_token";
    case InitialVerdict::kRefuseAddressLimit:
      return "address_limit";
  }
  return "unknown";
}

}  // namespace warden::agent::quic
