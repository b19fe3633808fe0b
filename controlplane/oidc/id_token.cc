#include "controlplane/oidc/id_token.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/oidc/base64url.h"
#include "controlplane/oidc/jws_signature.h"
#include "controlplane/oidc/shown_value.h"

namespace warden::control::oidc {
namespace {

using nlohmann::json;

// OpenID Connect Core 1.0 section 2: "It MUST NOT exceed 255 ASCII characters".
constexpr size_t kMaxSubjectLength = 255;
constexpr size_t kMaxAudiencesShown = 5;

absl::Status Refused(absl::string_view why) { return absl::UnauthenticatedError(why); }

absl::Status Malformed(absl::string_view what) {
  return absl::UnauthenticatedError(absl::StrCat("malformed ID token: ", what));
}

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

// The three parts of a JWS compact serialization, as received.
struct CompactToken {
  absl::string_view header{}, payload{}, signature{};
  // "<header>.<payload>" exactly as received: what the provider signed.
  absl::string_view signing_input{};
};

absl::StatusOr<CompactToken> SplitCompact(absl::string_view jwt) {
  const std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  if (parts.size() == 5) {
    return Malformed("5 parts: an encrypted token (JWE) is not accepted");
  }
  if (parts.size() != 3) {
    return Malformed(absl::StrCat(parts.size(), " parts separated by dots, not 3"));
  }
  return CompactToken{
      .header = parts[0],
      .payload = parts[1],
      .signature = parts[2],
      .signing_input = jwt.substr(0, parts[0].size() + 1 + parts[1].size()),
  };
}

absl::StatusOr<json> DecodeJsonObject(absl::string_view encoded, absl::string_view part) {
  absl::StatusOr<std::string> bytes = DecodeBase64Url(encoded);
  if (!bytes.ok()) return Malformed(absl::StrCat("the ", part, " is ", bytes.status().message()));
  json value = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Malformed(absl::StrCat("the ", part, " is not JSON"));
  if (!value.is_object()) return Malformed(absl::StrCat("the ", part, " is not a JSON object"));
  return value;
}

absl::StatusOr<TokenHeader> ReadHeader(const json& header) {
  TokenHeader read;
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) {
    return Malformed("the header has no \"alg\" string");
  }
  read.alg = alg->get<std::string>();
  if (const auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return Malformed("the header's \"kid\" is not a string");
    read.kid = kid->get<std::string>();
  }
  return read;
}

// What may be in a header beyond the algorithm and the key's name.
absl::Status CheckHeaderExtras(const json& header) {
  // RFC 7515 section 4.1.11: a recipient that does not understand every
  // listed extension must refuse the token. Warden understands none.
  if (header.contains("crit")) {
    return Refused("ID token header has \"crit\": Warden understands no critical extension");
  }
  if (const auto typ = header.find("typ"); typ != header.end() && typ->is_string()) {
    const std::string type = absl::AsciiStrToLower(typ->get<std::string>());
    if (type == "at+jwt" || type == "application/at+jwt") {
      return Refused("the token is an OAuth access token (typ \"at+jwt\"), not an ID token");
    }
  }
  return absl::OkStatus();
}

// A JWT NumericDate (RFC 7519 section 2): seconds since the epoch, possibly
// fractional; out-of-range values saturate to an infinite time.
std::optional<absl::Time> NumericDate(const json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t seconds = value.get<uint64_t>();
    if (seconds > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InfiniteFuture();
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  }
  if (value.is_number_integer()) return absl::FromUnixSeconds(value.get<int64_t>());
  if (value.is_number_float()) return absl::UnixEpoch() + absl::Seconds(value.get<double>());
  return std::nullopt;
}

// nullopt when the claim is absent; UNAUTHENTICATED when it is not a number.
absl::StatusOr<std::optional<absl::Time>> DateClaim(const json& claims, const char* name) {
  const auto claim = claims.find(name);
  if (claim == claims.end()) return std::optional<absl::Time>();
  std::optional<absl::Time> date = NumericDate(*claim);
  if (!date.has_value()) {
    return Refused(absl::StrCat("ID token \"", name, "\" is not a number of seconds"));
  }
  return date;
}

absl::StatusOr<absl::Time> RequiredDateClaim(const json& claims, const char* name) {
  WARDEN_ASSIGN_OR_RETURN(const std::optional<absl::Time> date, DateClaim(claims, name));
  if (!date.has_value()) return Refused(absl::StrCat("ID token has no \"", name, "\""));
  return *date;
}

absl::Status CheckIssuer(const json& claims, const std::string& issuer) {
  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string()) return Refused("ID token has no \"iss\" string");
  if (iss->get_ref<const std::string&>() != issuer) {
    return Refused(absl::StrCat("ID token issuer ", ShownValue(iss->get_ref<const std::string&>()),
                                " is not ", ShownValue(issuer)));
  }
  return absl::OkStatus();
}

std::string ShownAudiences(const std::vector<std::string>& audiences) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < audiences.size() && i < kMaxAudiencesShown; ++i) {
    shown.push_back(ShownValue(audiences[i]));
  }
  if (audiences.size() > kMaxAudiencesShown) shown.push_back("...");
  return absl::StrCat("[", absl::StrJoin(shown, ", "), "]");
}

// OpenID Connect Core 1.0 section 3.1.3.7, steps 3 to 5.
absl::Status CheckAudience(const json& claims, const std::string& client_id) {
  const auto aud = claims.find("aud");
  if (aud == claims.end()) return Refused("ID token has no audience (\"aud\")");
  std::vector<std::string> audiences;
  if (aud->is_string()) {
    audiences.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const json& audience : *aud) {
      if (!audience.is_string()) {
        return Refused("ID token audience is not a string or an array of strings");
      }
      audiences.push_back(audience.get<std::string>());
    }
  } else {
    return Refused("ID token audience is not a string or an array of strings");
  }
  if (std::find(audiences.begin(), audiences.end(), client_id) == audiences.end()) {
    return Refused(absl::StrCat("ID token audience ", ShownAudiences(audiences),
                                " does not include client ", ShownValue(client_id)));
  }
  const auto azp = claims.find("azp");
  if (azp == claims.end()) {
    // Among several audiences, only azp says which of them the token was
    // issued to; without it the token may have been meant for another one.
    if (audiences.size() > 1) {
      return Refused(absl::StrCat("ID token has several audiences and no \"azp\" naming client ",
                                  ShownValue(client_id)));
    }
    return absl::OkStatus();
  }
  if (!azp->is_string()) return Refused("ID token \"azp\" is not a string");
  if (azp->get_ref<const std::string&>() != client_id) {
    return Refused(absl::StrCat("ID token was issued to ",
                                ShownValue(azp->get_ref<const std::string&>()),
                                " (azp), not to client ", ShownValue(client_id)));
  }
  return absl::OkStatus();
}

struct Lifetime {
  absl::Time expires_at{}, issued_at{};
};

absl::StatusOr<Lifetime> CheckTimes(const json& claims, absl::Time now, absl::Duration skew) {
  Lifetime lifetime;
  WARDEN_ASSIGN_OR_RETURN(lifetime.expires_at, RequiredDateClaim(claims, "exp"));
  WARDEN_ASSIGN_OR_RETURN(lifetime.issued_at, RequiredDateClaim(claims, "iat"));
  WARDEN_ASSIGN_OR_RETURN(const std::optional<absl::Time> not_before, DateClaim(claims, "nbf"));
  if (now > lifetime.expires_at + skew) {
    return Refused(absl::StrCat("ID token expired at ", Rfc3339(lifetime.expires_at)));
  }
  if (lifetime.issued_at > now + skew) {
    return Refused(
        absl::StrCat("ID token is issued in the future, at ", Rfc3339(lifetime.issued_at)));
  }
  if (not_before.has_value() && *not_before > now + skew) {
    return Refused(absl::StrCat("ID token is not valid before ", Rfc3339(*not_before)));
  }
  return lifetime;
}

absl::StatusOr<std::string> ReadSubject(const json& claims) {
  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string()) return Refused("ID token has no \"sub\" string");
  const std::string& subject = sub->get_ref<const std::string&>();
  if (subject.empty() || subject.size() > kMaxSubjectLength) {
    return Refused(absl::StrCat("ID token \"sub\" has ", subject.size(), " characters (1 to ",
                                kMaxSubjectLength, ")"));
  }
  return subject;
}

// The nonce ties the token to the login that asked for it: without the
// check, a token captured from another login could be replayed here.
absl::Status CheckNonce(const json& claims, const std::optional<std::string>& nonce_sha256_hex) {
  if (!nonce_sha256_hex.has_value()) return absl::OkStatus();
  const auto nonce = claims.find("nonce");
  if (nonce == claims.end() || !nonce->is_string()) {
    return Refused("ID token has no \"nonce\", but this login sent one");
  }
  if (!secrets::ConstantTimeEquals(secrets::Sha256Hex(nonce->get_ref<const std::string&>()),
                                   *nonce_sha256_hex)) {
    return Refused("ID token \"nonce\" is not the one this login sent");
  }
  return absl::OkStatus();
}

absl::Status CheckExpectations(const IdTokenExpectations& expect) {
  if (expect.issuer.empty()) return absl::InvalidArgumentError("no issuer to expect");
  if (expect.client_id.empty()) return absl::InvalidArgumentError("no client id to expect");
  if (expect.skew < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the clock skew allowance is negative");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenHeader> PeekHeader(absl::string_view jwt) {
  WARDEN_ASSIGN_OR_RETURN(const CompactToken token, SplitCompact(jwt));
  WARDEN_ASSIGN_OR_RETURN(const json header, DecodeJsonObject(token.header, "header"));
  return ReadHeader(header);
}

absl::StatusOr<IdToken> VerifyIdToken(absl::string_view jwt, const KeySet& keys,
                                      const IdTokenExpectations& expect) {
  WARDEN_RETURN_IF_ERROR(CheckExpectations(expect));
  WARDEN_ASSIGN_OR_RETURN(const CompactToken token, SplitCompact(jwt));
  WARDEN_ASSIGN_OR_RETURN(const json header, DecodeJsonObject(token.header, "header"));
  WARDEN_ASSIGN_OR_RETURN(TokenHeader names, ReadHeader(header));
  const std::optional<JwsAlgorithm> algorithm = AllowedAlgorithm(names.alg);
  if (!algorithm.has_value()) {
    return Refused(absl::StrCat("ID token algorithm ", ShownValue(names.alg), " is not allowed (",
                                kAllowedAlgorithmNames, ")"));
  }
  WARDEN_RETURN_IF_ERROR(CheckHeaderExtras(header));

  // Both decoded before the key is looked up, so that only a well-formed
  // token can send the caller to fetch the key set again.
  WARDEN_ASSIGN_OR_RETURN(json claims, DecodeJsonObject(token.payload, "payload"));
  absl::StatusOr<std::string> signature = DecodeBase64Url(token.signature);
  if (!signature.ok()) {
    return Malformed(absl::StrCat("the signature is ", signature.status().message()));
  }

  WARDEN_ASSIGN_OR_RETURN(const ProviderKey* key, keys.Select(names.kid, KeyTypeFor(*algorithm)));
  if (!key->alg.empty() && key->alg != names.alg) {
    return Refused(absl::StrCat("ID token algorithm ", ShownValue(names.alg), " is not ",
                                ShownValue(key->alg), ", the one its key is for"));
  }
  if (!SignatureVerifies(*algorithm, key->key.get(), token.signing_input, *signature)) {
    return Refused("ID token signature does not verify");
  }

  WARDEN_RETURN_IF_ERROR(CheckIssuer(claims, expect.issuer));
  WARDEN_RETURN_IF_ERROR(CheckAudience(claims, expect.client_id));
  WARDEN_ASSIGN_OR_RETURN(const Lifetime lifetime, CheckTimes(claims, expect.now, expect.skew));
  WARDEN_ASSIGN_OR_RETURN(std::string subject, ReadSubject(claims));
  WARDEN_RETURN_IF_ERROR(CheckNonce(claims, expect.nonce_sha256_hex));
  return IdToken{
      .subject = std::move(subject),
      .alg = std::move(names.alg),
      .kid = std::move(names.kid),
      .expires_at = lifetime.expires_at,
      .issued_at = lifetime.issued_at,
      .claims = std::move(claims),
  };
}

}  // namespace warden::control::oidc
