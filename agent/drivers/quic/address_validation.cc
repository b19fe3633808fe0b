#include "agent/drivers/quic/address_validation.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto.h>

namespace warden::agent::quic {

absl::StatusOr<RetryTokens> RetryTokens::Create(uint64_t lifetime_ns) {
  Secret secret;
  if (gnutls_rnd(GNUTLS_RND_KEY, secret.data(), secret.size()) != 0) {
    return absl::InternalError("no randomness for the Retry token secret");
  }
  return RetryTokens(secret, lifetime_ns);
}

absl::StatusOr<std::string> RetryTokens::Issue(const ngtcp2_addr& remote, uint32_t version,
                                               const ngtcp2_cid& retry_scid,
                                               const ngtcp2_cid& original_dcid,
                                               uint64_t now) const {
  std::string token(NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN, '\0');
  const ngtcp2_ssize n = ngtcp2_crypto_generate_retry_token(
      reinterpret_cast<uint8_t*>(token.data()), secret_.data(), secret_.size(), version,
      remote.addr, remote.addrlen, &retry_scid, &original_dcid, now);
  if (n < 0) return absl::InternalError("cannot seal a Retry token");
  token.resize(static_cast<size_t>(n));
  return token;
}

std::optional<ngtcp2_cid> RetryTokens::Verify(absl::string_view token, const ngtcp2_addr& remote,
                                              uint32_t version, const ngtcp2_cid& dcid,
                                              uint64_t now) const {
  ngtcp2_cid original_dcid;
  if (ngtcp2_crypto_verify_retry_token(&original_dcid,
                                       reinterpret_cast<const uint8_t*>(token.data()), token.size(),
                                       secret_.data(), secret_.size(), version, remote.addr,
                                       remote.addrlen, &dcid, lifetime_, now) != 0) {
    return std::nullopt;
  }
  return original_dcid;
}

bool RetryTokens::LooksLikeRetryToken(absl::string_view token) {
  return !token.empty() && static_cast<uint8_t>(token[0]) == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY;
}

size_t WriteRetry(uint8_t* out, size_t capacity, const ngtcp2_pkt_hd& header,
                  const ngtcp2_cid& retry_scid, absl::string_view token) {
  const ngtcp2_ssize n = ngtcp2_crypto_write_retry(
      out, capacity, header.version, &header.scid, &retry_scid, &header.dcid,
      reinterpret_cast<const uint8_t*>(token.data()), token.size());
  return n > 0 ? static_cast<size_t>(n) : 0;
}

size_t WriteStatelessClose(uint8_t* out, size_t capacity, const ngtcp2_pkt_hd& header,
                           uint64_t error_code, absl::string_view reason) {
  // Keys come from the id the client sent its Initial to, as for any Initial.
  const ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(
      out, capacity, header.version, &header.scid, &header.dcid, error_code,
      reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  return n > 0 ? static_cast<size_t>(n) : 0;
}

}  // namespace warden::agent::quic
