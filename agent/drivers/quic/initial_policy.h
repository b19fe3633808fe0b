#pragma once

// What the endpoint does with a client Initial that belongs to no
// connection: a pure rule over the endpoint's load, so that its table test
// reads like the specification.
//
//   1. Full (max_connections): refuse.
//   2. A Retry token that does not verify: refuse (INVALID_TOKEN). The
//      client got it from a Retry and will not accept another one.
//   3. No token (or one of another kind) while half-open connections are at
//      the threshold, or while the address already has its allowance of
//      connections: Retry. State is kept only for a client that proves it
//      receives at its address, so a spoofed Initial never uses up someone
//      else's allowance and never stays half-open.
//   4. A valid token from an address whose proven connections fill its
//      allowance: refuse (CONNECTION_REFUSED, "too many connections from
//      this address").
//   5. Otherwise: accept.
//
// A connection "proves" its address with a valid Retry token, or by
// completing the TLS handshake (which needs our packets). ConnectionCensus
// keeps the counts.

#include <cstddef>

namespace warden::agent::quic {

struct EndpointLimits {
  size_t max_connections = 4096;
  // Half-open connections (before admission) at or above which Initials
  // must carry a token; 0: always.
  size_t retry_threshold = 64;
  // Connections per client address (IPv4, or IPv6 /64); 0: no limit.
  size_t max_per_address = 16;
};

// The endpoint's state as the Initial finds it.
struct EndpointLoad {
  size_t connections = 0;          // every connection the endpoint holds
  size_t half_open = 0;            // of them, not admitted yet (and not closed)
  size_t from_address = 0;         // connections of the Initial's address
  size_t proven_from_address = 0;  // of them, those that proved the address
};

enum class TokenCheck { kNone, kValid, kInvalid };

enum class InitialVerdict {
  kAccept,
  kRetry,
  kRefuseCapacity,
  kRefuseInvalidToken,
  kRefuseAddressLimit,
};

InitialVerdict DecideInitial(const EndpointLimits& limits, const EndpointLoad& load,
                             TokenCheck token);

// Whether a connection accepted without a token may prove its address by
// completing the handshake (`load` is its address's): not when the address's
// proven connections already fill the allowance (they proved themselves
// while this one's handshake ran); it is then closed.
bool MayProve(const EndpointLimits& limits, const EndpointLoad& load, bool already_proven);

// The verdict's label in warden_quic_connections_total{result} (and logs).
const char* InitialVerdictLabel(InitialVerdict verdict);

}  // namespace warden::agent::quic
