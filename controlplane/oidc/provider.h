#pragma once

// One configured OpenID Provider as Warden talks to it: its discovery
// document and signing keys (fetched over verified HTTPS, cached as the
// provider's Cache-Control says, the keys fetched again when a token names a
// key Warden has not seen: that is how a key rotation arrives), its token
// and device authorization endpoints with the client's authentication, and
// ID token verification against it. Thread-safe; blocking (HTTP), so it is
// called from the single sign-on workers, never from a reaction.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/oidc/id_token.h"
#include "controlplane/oidc/key_set.h"
#include "controlplane/oidc/provider_config.h"

namespace warden::control::oidc {

struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;  // "" when the provider has none
  std::string jwks_uri;
};

// The token endpoint's answer: an `error` (RFC 6749 5.2, RFC 8628 3.5) or
// the tokens. Transport failures are UNAVAILABLE instead.
struct TokenAnswer {
  std::string error;  // "" on success
  std::string error_description;
  std::string id_token;
};

struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  absl::Duration interval = absl::Seconds(5);
  absl::Duration expires_in = absl::Minutes(10);
};

// For the admin API.
struct ProviderStatus {
  std::string discovery_error;
  std::optional<absl::Time> keys_fetched_at;
  int key_count = 0;
};

class Provider {
 public:
  Provider(ProviderConfig config, const Clock& clock);

  const ProviderConfig& config() const { return config_; }

  // UNAVAILABLE when the provider cannot be reached and nothing is cached;
  // FAILED_PRECONDITION when its document contradicts the configuration
  // (another issuer, no authorization or token endpoint).
  absl::StatusOr<ProviderMetadata> Metadata();

  // Checks an ID token from this provider: signature with its current keys
  // (fetched again, rate-limited, for an unknown key id), then every claim.
  absl::StatusOr<IdToken> Verify(const std::string& id_token,
                                 std::optional<std::string> nonce_sha256_hex);

  // POSTs `grant` to the token endpoint with the client's authentication.
  absl::StatusOr<TokenAnswer> Token(std::vector<std::pair<std::string, std::string>> grant);

  // RFC 8628: FAILED_PRECONDITION when the provider offers no device flow.
  absl::StatusOr<DeviceAuthorization> StartDeviceAuthorization();

  ProviderStatus Status() const;

 private:
  absl::StatusOr<KeySet> Keys(bool refetch);
  // Adds the client's credentials to a token or device request.
  absl::Status Authenticate(const std::string& endpoint,
                            std::vector<std::pair<std::string, std::string>>& fields,
                            std::vector<std::pair<std::string, std::string>>& headers) const;
  // POSTs `fields` to `endpoint` (one of `metadata`'s), authenticated.
  absl::StatusOr<nlohmann::json> PostForm(const ProviderMetadata& metadata,
                                          const std::string& endpoint,
                                          std::vector<std::pair<std::string, std::string>> fields,
                                          int* http_status);

  const ProviderConfig config_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::optional<ProviderMetadata> metadata_ ABSL_GUARDED_BY(mu_);
  absl::Time metadata_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string discovery_error_ ABSL_GUARDED_BY(mu_);
  std::optional<KeySet> keys_ ABSL_GUARDED_BY(mu_);
  absl::Time keys_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::optional<absl::Time> keys_fetched_at_ ABSL_GUARDED_BY(mu_);
  // The last attempt, successful or not: an unknown kid fetches again only
  // jwks_refresh_min_interval after it.
  absl::Time last_key_fetch_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace warden::control::oidc
