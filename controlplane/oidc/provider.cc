#include "controlplane/oidc/provider.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "controlplane/oidc/client_assertion.h"
#include "controlplane/oidc/http_client.h"

namespace warden::control::oidc {
namespace {

const logging::Logger Log("control.oidc");

// Discovery documents and key sets change rarely; a provider that says
// nothing is asked again hourly, one that says no-store every minute.
constexpr absl::Duration kDefaultCache = absl::Hours(1);
constexpr absl::Duration kMinCache = absl::Minutes(1);
constexpr absl::Duration kMaxCache = absl::Hours(24);

std::string StringField(const nlohmann::json& json, const char* field) {
  auto found = json.find(field);
  return found != json.end() && found->is_string() ? found->get<std::string>() : std::string();
}

absl::Status Unreachable(const ProviderConfig& config, absl::string_view what,
                         const HttpResponse& response) {
  return absl::UnavailableError(absl::StrCat(
      "the identity provider ", config.name, " cannot be reached (", what,
      "): ", response.status == 0 ? response.error : absl::StrCat("HTTP ", response.status)));
}

}  // namespace

Provider::Provider(ProviderConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

absl::StatusOr<ProviderMetadata> Provider::Metadata() {
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    if (metadata_ && now < metadata_until_) return *metadata_;
  }
  const std::string url =
      absl::StrCat(absl::StripSuffix(config_.issuer, "/"), "/.well-known/openid-configuration");
  HttpResponse response =
      Fetch(HttpRequest{.url = url, .ca_file = config_.ca_file, .timeout = config_.http_timeout});
  absl::Status problem;
  ProviderMetadata metadata;
  if (response.status != 200) {
    problem = Unreachable(config_, "discovery", response);
  } else {
    nlohmann::json document = nlohmann::json::parse(response.body, nullptr, false);
    if (!document.is_object()) {
      problem = absl::UnavailableError(absl::StrCat("the identity provider ", config_.name,
                                                    " sent a discovery document that "
                                                    "is not a JSON object"));
    } else {
      metadata.issuer = StringField(document, "issuer");
      metadata.authorization_endpoint = StringField(document, "authorization_endpoint");
      metadata.token_endpoint = StringField(document, "token_endpoint");
      metadata.device_authorization_endpoint =
          StringField(document, "device_authorization_endpoint");
      metadata.jwks_uri = StringField(document, "jwks_uri");
      // OpenID Connect Discovery 4.3: the document must name the very issuer
      // it was fetched for, or a token from it proves nothing.
      if (metadata.issuer != config_.issuer) {
        problem = absl::FailedPreconditionError(
            absl::StrCat("the identity provider ", config_.name, " says its issuer is \"",
                         metadata.issuer, "\", not the configured \"", config_.issuer, "\""));
      } else if (metadata.authorization_endpoint.empty() || metadata.token_endpoint.empty() ||
                 metadata.jwks_uri.empty()) {
        problem = absl::FailedPreconditionError(
            absl::StrCat("the identity provider ", config_.name,
                         " names no authorization endpoint, token endpoint or jwks_uri"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  if (!problem.ok()) {
    discovery_error_ = std::string(problem.message());
    Log()->warn("provider={} discovery failed: {}", config_.name, problem.message());
    // A provider that is briefly away does not stop logins whose keys we
    // have; it is asked again in a minute, not by every call meanwhile.
    if (metadata_ && problem.code() == absl::StatusCode::kUnavailable) {
      metadata_until_ = now + kMinCache;
      return *metadata_;
    }
    return problem;
  }
  discovery_error_.clear();
  metadata_ = metadata;
  metadata_until_ =
      now + CacheLifetime(response.cache_control, kDefaultCache, kMinCache, kMaxCache);
  return metadata;
}

absl::StatusOr<KeySet> Provider::Keys(bool refetch) {
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    const bool fresh = keys_ && now < keys_until_;
    // An unknown key id may be a rotation; asking again at most this often
    // keeps forged key ids from making Warden hammer the provider.
    const bool may_refetch = now - last_key_fetch_ >= config_.jwks_refresh_min_interval;
    if (fresh && (!refetch || !may_refetch)) return *keys_;
    if (keys_ && refetch && !may_refetch) return *keys_;
    last_key_fetch_ = now;
  }
  absl::StatusOr<ProviderMetadata> metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  HttpResponse response = Fetch(HttpRequest{
      .url = metadata->jwks_uri, .ca_file = config_.ca_file, .timeout = config_.http_timeout});
  absl::StatusOr<KeySet> keys =
      response.status == 200 ? KeySet::Parse(response.body)
                             : absl::StatusOr<KeySet>(Unreachable(config_, "keys", response));
  absl::MutexLock lock(&mu_);
  if (!keys.ok()) {
    Log()->warn("provider={} key set unusable: {}", config_.name, keys.status().message());
    if (keys_) {
      keys_until_ = now + kMinCache;
      return *keys_;
    }
    return absl::UnavailableError(keys.status().message());
  }
  keys_ = *keys;
  keys_fetched_at_ = now;
  keys_until_ = now + CacheLifetime(response.cache_control, kDefaultCache, kMinCache, kMaxCache);
  Log()->info("provider={} keys fetched count={}", config_.name, keys->size());
  return *keys;
}

absl::StatusOr<IdToken> Provider::Verify(const std::string& id_token,
                                         std::optional<std::string> nonce_sha256_hex) {
  absl::StatusOr<TokenHeader> header = PeekHeader(id_token);
  if (!header.ok()) return header.status();
  absl::StatusOr<KeySet> keys = Keys(/*refetch=*/false);
  if (!keys.ok()) return keys.status();
  if (!header->kid.empty() && !keys->HasKid(header->kid)) {
    keys = Keys(/*refetch=*/true);
    if (!keys.ok()) return keys.status();
  }
  IdTokenExpectations expect;
  expect.issuer = config_.issuer;
  expect.client_id = config_.client_id;
  expect.nonce_sha256_hex = std::move(nonce_sha256_hex);
  expect.now = clock_.Now();
  expect.skew = config_.clock_skew;
  absl::StatusOr<IdToken> verified = VerifyIdToken(id_token, *keys, expect);
  if (verified.status().code() == absl::StatusCode::kNotFound) {
    return absl::UnauthenticatedError(absl::StrCat("the ID token is signed with key \"",
                                                   header->kid, "\", which ", config_.name,
                                                   " does not publish"));
  }
  return verified;
}

absl::Status Provider::Authenticate(
    const std::string& endpoint, std::vector<std::pair<std::string, std::string>>& fields,
    std::vector<std::pair<std::string, std::string>>& headers) const {
  switch (config_.client_auth) {
    case ClientAuth::kSecretBasic: {
      // RFC 6749 2.3.1: both halves form-encoded before Base64.
      const std::string pair =
          absl::StrCat(FormEscape(config_.client_id), ":", FormEscape(config_.client_secret));
      headers.emplace_back("Authorization", absl::StrCat("Basic ", absl::Base64Escape(pair)));
      return absl::OkStatus();
    }
    case ClientAuth::kSecretPost:
      fields.emplace_back("client_id", config_.client_id);
      fields.emplace_back("client_secret", config_.client_secret);
      return absl::OkStatus();
    case ClientAuth::kPrivateKeyJwt: {
      absl::StatusOr<std::string> assertion =
          SignClientAssertion(config_.private_key_pem, config_.private_key_id, config_.client_id,
                              endpoint, clock_.Now());
      if (!assertion.ok()) return assertion.status();
      fields.emplace_back("client_id", config_.client_id);
      fields.emplace_back("client_assertion_type",
                          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      fields.emplace_back("client_assertion", *assertion);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> Provider::PostForm(
    const ProviderMetadata& metadata, const std::string& endpoint,
    std::vector<std::pair<std::string, std::string>> fields, int* http_status) {
  std::vector<std::pair<std::string, std::string>> headers;
  // private_key_jwt's audience is the token endpoint for every request.
  absl::Status authenticated = Authenticate(metadata.token_endpoint, fields, headers);
  if (!authenticated.ok()) return authenticated;
  HttpResponse response = Fetch(HttpRequest{.url = endpoint,
                                            .form_body = FormEncode(fields),
                                            .post = true,
                                            .headers = std::move(headers),
                                            .ca_file = config_.ca_file,
                                            .timeout = config_.http_timeout});
  if (response.status == 0 || response.status >= 500) {
    return Unreachable(config_, "token endpoint", response);
  }
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object()) {
    return absl::UnavailableError(absl::StrCat("the identity provider ", config_.name,
                                               " answered HTTP ", response.status,
                                               " without a JSON object"));
  }
  *http_status = response.status;
  return body;
}

absl::StatusOr<TokenAnswer> Provider::Token(
    std::vector<std::pair<std::string, std::string>> grant) {
  absl::StatusOr<ProviderMetadata> metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  int status = 0;
  absl::StatusOr<nlohmann::json> body =
      PostForm(*metadata, metadata->token_endpoint, std::move(grant), &status);
  if (!body.ok()) return body.status();
  TokenAnswer answer;
  answer.error = StringField(*body, "error");
  answer.error_description = StringField(*body, "error_description");
  answer.id_token = StringField(*body, "id_token");
  if (status == 200 && answer.error.empty() && answer.id_token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("the identity provider ", config_.name,
                                                      " returned no ID token (is the openid scope "
                                                      "granted?)"));
  }
  if (status != 200 && answer.error.empty()) answer.error = absl::StrCat("http_", status);
  return answer;
}

absl::StatusOr<DeviceAuthorization> Provider::StartDeviceAuthorization() {
  absl::StatusOr<ProviderMetadata> metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  if (metadata->device_authorization_endpoint.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("the identity provider ", config_.name,
                                                      " offers no device authorization endpoint; "
                                                      "use the browser login"));
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"scope", absl::StrJoin(config_.scopes, " ")}};
  if (config_.client_auth == ClientAuth::kSecretBasic)
    fields.emplace_back("client_id", config_.client_id);
  int status = 0;
  absl::StatusOr<nlohmann::json> body =
      PostForm(*metadata, metadata->device_authorization_endpoint, std::move(fields), &status);
  if (!body.ok()) return body.status();
  if (status != 200) {
    return absl::FailedPreconditionError(
        absl::StrCat("the identity provider ", config_.name, " refused the device login: ",
                     StringField(*body, "error"), " ", StringField(*body, "error_description")));
  }
  DeviceAuthorization started;
  started.device_code = StringField(*body, "device_code");
  started.user_code = StringField(*body, "user_code");
  started.verification_uri = StringField(*body, "verification_uri");
  started.verification_uri_complete = StringField(*body, "verification_uri_complete");
  if (body->contains("interval") && (*body)["interval"].is_number_integer()) {
    started.interval =
        absl::Seconds(std::clamp<int64_t>((*body)["interval"].get<int64_t>(), 1, 60));
  }
  if (body->contains("expires_in") && (*body)["expires_in"].is_number_integer()) {
    started.expires_in =
        absl::Seconds(std::clamp<int64_t>((*body)["expires_in"].get<int64_t>(), 30, 3600));
  }
  if (started.device_code.empty() || started.user_code.empty() ||
      started.verification_uri.empty()) {
    return absl::UnavailableError(absl::StrCat("the identity provider ", config_.name,
                                               " answered the device login without a code"));
  }
  return started;
}

ProviderStatus Provider::Status() const {
  absl::MutexLock lock(&mu_);
  return ProviderStatus{.discovery_error = discovery_error_,
                        .keys_fetched_at = keys_fetched_at_,
                        .key_count = keys_ ? static_cast<int>(keys_->size()) : 0};
}

}  // namespace warden::control::oidc
