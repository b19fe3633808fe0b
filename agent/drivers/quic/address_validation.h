#pragma once

// Stateless address validation (RFC 9000 section 8.1): a client Initial
// without a valid token is answered with a Retry packet that carries one; a
// client that owns its address echoes the token in its next Initial. Until
// then the endpoint keeps no state for it, so an Initial sent from a spoofed
// address costs one small packet and nothing else.
//
// Tokens are sealed with ngtcp2's crypto library under a secret drawn once
// per process: they bind the client's address and port, the connection id
// the Retry chose and the one the client first used, and they expire after
// `lifetime`. A restart makes outstanding tokens invalid, which costs a
// client one more round trip at most. The endpoint never sends NEW_TOKEN:
// a tunnel client reconnects rarely, and a Retry is one round trip.
//
// Time is a parameter (ngtcp2 timestamps, nanoseconds) so tests can move it.

#include <ngtcp2/ngtcp2.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::agent::quic {

class RetryTokens {
 public:
  static constexpr size_t kSecretLength = 32;
  using Secret = std::array<uint8_t, kSecretLength>;

  // With a fresh random secret.
  static absl::StatusOr<RetryTokens> Create(uint64_t lifetime_ns);
  RetryTokens(const Secret& secret, uint64_t lifetime_ns)
      : secret_(secret), lifetime_(lifetime_ns) {}

  // A token for a Retry to `remote` that moves the client from `original_dcid`
  // (the id its Initial was sent to) to `retry_scid` (the Retry's source id).
  absl::StatusOr<std::string> Issue(const ngtcp2_addr& remote, uint32_t version,
                                    const ngtcp2_cid& retry_scid, const ngtcp2_cid& original_dcid,
                                    uint64_t now) const;
  // The original destination id sealed in `token` when it was issued by this
  // endpoint for `remote`, for an Initial sent to `dcid`, less than
  // `lifetime` ago; nullopt otherwise (forged, altered, expired, another
  // address or port).
  std::optional<ngtcp2_cid> Verify(absl::string_view token, const ngtcp2_addr& remote,
                                   uint32_t version, const ngtcp2_cid& dcid, uint64_t now) const;

  // True when `token` claims to be a Retry token (by its first byte); other
  // tokens (a NEW_TOKEN of another server) are ignored as if absent.
  static bool LooksLikeRetryToken(absl::string_view token);

  uint64_t lifetime_ns() const { return lifetime_; }

 private:
  Secret secret_;
  uint64_t lifetime_;
};

// Packets the endpoint sends without keeping state. Each writes into `out`
// (`capacity` bytes) and returns its length, or 0 when it could not be built.

// A Retry answering the client Initial `header` with `token`; the client's
// next Initial goes to `retry_scid`.
size_t WriteRetry(uint8_t* out, size_t capacity, const ngtcp2_pkt_hd& header,
                  const ngtcp2_cid& retry_scid, absl::string_view token);
// An Initial packet with a transport CONNECTION_CLOSE (`error_code`, e.g.
// NGTCP2_CONNECTION_REFUSED) and `reason`, which the client prints.
size_t WriteStatelessClose(uint8_t* out, size_t capacity, const ngtcp2_pkt_hd& header,
                           uint64_t error_code, absl::string_view reason);

}  // namespace warden::agent::quic
