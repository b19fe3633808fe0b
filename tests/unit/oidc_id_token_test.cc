// The OpenID Connect ID-token verifier and the provider's key set: tokens a
// provider really signs are accepted, and every forgery and every claim
// outside the rules is refused with a message naming what was wrong. The
// tokens come from tests/support/jwt_signer, which signs with OpenSSL
// independently of the verifier.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "common/secrets.h"
#include "controlplane/oidc/id_token.h"
#include "controlplane/oidc/key_set.h"
#include "tests/support/jwt_signer.h"

namespace warden::control::oidc {
namespace {

using ::testing::HasSubstr;
using ::warden::testing::Base64Url;
using ::warden::testing::HmacToken;
using ::warden::testing::Jwks;
using ::warden::testing::TestSigningKey;
using ::warden::testing::UnsignedToken;
using Alg = TestSigningKey::Alg;
using json = nlohmann::json;

constexpr char kIssuer[] = "https://id.example.com";
constexpr char kClient[] = "warden-vpn";
constexpr int64_t kNowUnix = 1700000000;  // 2023-11-14T22:13:20Z
const absl::Time kNow = absl::FromUnixSeconds(kNowUnix);

// The provider's keys, made once: RSA generation is slow under sanitizers.
struct ProviderKeys {
  TestSigningKey rsa = TestSigningKey::Generate(Alg::kRs256, "rsa-1");
  TestSigningKey ec = TestSigningKey::Generate(Alg::kEs256, "ec-1");
  TestSigningKey ed = TestSigningKey::Generate(Alg::kEdDsa, "ed-1");
  // Not in the provider's set: the attacker's own.
  TestSigningKey attacker_rsa = TestSigningKey::Generate(Alg::kRs256, "attacker");
};

const ProviderKeys& Keys() {
  static const ProviderKeys keys;
  return keys;
}

KeySet ProviderKeySet() {
  absl::StatusOr<KeySet> set = KeySet::Parse(Jwks({&Keys().rsa, &Keys().ec, &Keys().ed}));
  EXPECT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 3u);
  return *set;
}

json ValidClaims() {
  return {{"iss", kIssuer},
          {"aud", kClient},
          {"sub", "248289761001"},
          {"exp", kNowUnix + 300},
          {"iat", kNowUnix - 10},
          {"email", "ana@example.com"},
          {"groups", {"vpn-users", "staff"}}};
}

IdTokenExpectations Expect() {
  return {.issuer = kIssuer, .client_id = kClient, .nonce_sha256_hex = std::nullopt, .now = kNow};
}

absl::StatusOr<IdToken> Verify(const std::string& jwt,
                               const IdTokenExpectations& expect = Expect()) {
  return VerifyIdToken(jwt, ProviderKeySet(), expect);
}

// UNAUTHENTICATED, saying `why`, and never repeating the token.
void ExpectRefused(const std::string& jwt, const absl::StatusOr<IdToken>& result,
                   const std::string& why) {
  ASSERT_FALSE(result.ok()) << "accepted: " << json(result->claims).dump();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(why));
  if (!jwt.empty()) {
    EXPECT_THAT(std::string(result.status().message()), ::testing::Not(HasSubstr(jwt)));
  }
}

std::string WithSignatureByteFlipped(const std::string& jwt) {
  const size_t dot = jwt.rfind('.');
  std::string signature;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(jwt.substr(dot + 1), &signature));
  signature[signature.size() / 2] ^= 0x01;
  return jwt.substr(0, dot + 1) + Base64Url(signature);
}

void ExpectAccepted(const TestSigningKey& key, absl::string_view alg) {
  const absl::StatusOr<IdToken> token = Verify(key.Sign({}, ValidClaims()));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->subject, "248289761001");
  EXPECT_EQ(token->alg, alg);
  EXPECT_EQ(token->kid, key.kid());
  EXPECT_EQ(token->expires_at, kNow + absl::Seconds(300));
  EXPECT_EQ(token->issued_at, kNow - absl::Seconds(10));
  EXPECT_EQ(token->claims["email"], "ana@example.com");
  EXPECT_EQ(token->claims["groups"], json({"vpn-users", "staff"}));
}

TEST(IdTokenTest, AcceptsAValidRs256Token) { ExpectAccepted(Keys().rsa, "RS256"); }

TEST(IdTokenTest, AcceptsAValidEs256Token) { ExpectAccepted(Keys().ec, "ES256"); }

TEST(IdTokenTest, AcceptsAValidEdDsaToken) { ExpectAccepted(Keys().ed, "EdDSA"); }

TEST(IdTokenTest, RefusesAFlippedByteInTheSignature) {
  for (const TestSigningKey* key : {&Keys().rsa, &Keys().ec, &Keys().ed}) {
    SCOPED_TRACE(key->alg_name());
    const std::string jwt = WithSignatureByteFlipped(key->Sign({}, ValidClaims()));
    ExpectRefused(jwt, Verify(jwt), "ID token signature does not verify");
  }
}

TEST(IdTokenTest, RefusesAChangedPayloadUnderTheOldSignature) {
  for (const TestSigningKey* key : {&Keys().rsa, &Keys().ec, &Keys().ed}) {
    SCOPED_TRACE(key->alg_name());
    const std::string signed_jwt = key->Sign({}, ValidClaims());
    json claims = ValidClaims();
    claims["sub"] = "admin";
    const size_t first_dot = signed_jwt.find('.');
    const size_t last_dot = signed_jwt.rfind('.');
    const std::string jwt = signed_jwt.substr(0, first_dot + 1) + Base64Url(claims.dump()) +
                            signed_jwt.substr(last_dot);
    ExpectRefused(jwt, Verify(jwt), "ID token signature does not verify");
  }
}

TEST(IdTokenTest, RefusesAnotherIssuer) {
  json claims = ValidClaims();
  claims["iss"] = "https://id.example.com/";  // one character off is another issuer
  const std::string jwt = Keys().rsa.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt),
                "ID token issuer \"https://id.example.com/\" is not \"https://id.example.com\"");

  claims.erase("iss");
  const std::string without = Keys().rsa.Sign({}, claims);
  ExpectRefused(without, Verify(without), "ID token has no \"iss\" string");
}

TEST(IdTokenTest, RefusesAnAudienceWithoutThisClient) {
  json claims = ValidClaims();
  claims["aud"] = json::array({"another-app", "warden-vpn-admin"});
  claims["azp"] = "another-app";
  const std::string jwt = Keys().ec.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt),
                "ID token audience [\"another-app\", \"warden-vpn-admin\"] does not include "
                "client \"warden-vpn\"");

  claims["aud"] = "another-app";
  const std::string single = Keys().ec.Sign({}, claims);
  ExpectRefused(single, Verify(single),
                "ID token audience [\"another-app\"] does not include client \"warden-vpn\"");

  claims["aud"] = 42;
  const std::string number = Keys().ec.Sign({}, claims);
  ExpectRefused(number, Verify(number), "ID token audience is not a string or an array");
}

TEST(IdTokenTest, RefusesSeveralAudiencesWithoutAzp) {
  json claims = ValidClaims();
  claims["aud"] = json::array({kClient, "another-app"});
  const std::string jwt = Keys().ed.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "several audiences and no \"azp\"");

  claims["azp"] = kClient;
  const absl::StatusOr<IdToken> with_azp = Verify(Keys().ed.Sign({}, claims));
  EXPECT_TRUE(with_azp.ok()) << with_azp.status();
}

TEST(IdTokenTest, RefusesAzpForAnotherClient) {
  json claims = ValidClaims();
  claims["azp"] = "another-app";
  const std::string jwt = Keys().rsa.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt),
                "ID token was issued to \"another-app\" (azp), not to client \"warden-vpn\"");
}

TEST(IdTokenTest, RefusesATokenExpiredBeyondTheSkewButNotWithinIt) {
  json claims = ValidClaims();
  claims["iat"] = kNowUnix - 600;
  claims["exp"] = kNowUnix - 61;
  const std::string jwt = Keys().rsa.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "ID token expired at 2023-11-14T22:12:19Z");

  claims["exp"] = kNowUnix - 60;  // exactly at the edge of the 60 s skew
  const std::string at_edge = Keys().rsa.Sign({}, claims);
  const absl::StatusOr<IdToken> within = Verify(at_edge);
  EXPECT_TRUE(within.ok()) << within.status();

  IdTokenExpectations strict = Expect();
  strict.skew = absl::ZeroDuration();
  ExpectRefused(at_edge, Verify(at_edge, strict), "ID token expired at 2023-11-14T22:12:20Z");
}

TEST(IdTokenTest, RefusesNotBeforeInTheFuture) {
  json claims = ValidClaims();
  claims["nbf"] = kNowUnix + 61;
  const std::string jwt = Keys().ec.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "ID token is not valid before 2023-11-14T22:14:21Z");

  claims["nbf"] = kNowUnix + 60;
  const absl::StatusOr<IdToken> within = Verify(Keys().ec.Sign({}, claims));
  EXPECT_TRUE(within.ok()) << within.status();
}

TEST(IdTokenTest, RefusesIssuedAtInTheFuture) {
  json claims = ValidClaims();
  claims["iat"] = kNowUnix + 61;
  claims["exp"] = kNowUnix + 600;
  const std::string jwt = Keys().ed.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "ID token is issued in the future, at 2023-11-14T22:14:21Z");
}

TEST(IdTokenTest, RefusesAMissingOrNonNumericExp) {
  json claims = ValidClaims();
  claims.erase("exp");
  const std::string jwt = Keys().rsa.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "ID token has no \"exp\"");

  claims["exp"] = std::to_string(kNowUnix + 300);
  const std::string text = Keys().rsa.Sign({}, claims);
  ExpectRefused(text, Verify(text), "ID token \"exp\" is not a number of seconds");

  claims = ValidClaims();
  claims.erase("iat");
  const std::string no_iat = Keys().rsa.Sign({}, claims);
  ExpectRefused(no_iat, Verify(no_iat), "ID token has no \"iat\"");
}

TEST(IdTokenTest, RefusesAMissingOrOversizedSub) {
  json claims = ValidClaims();
  claims.erase("sub");
  const std::string jwt = Keys().ec.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt), "ID token has no \"sub\" string");

  claims["sub"] = "";
  const std::string empty = Keys().ec.Sign({}, claims);
  ExpectRefused(empty, Verify(empty), "ID token \"sub\" has 0 characters (1 to 255)");

  claims["sub"] = std::string(256, 'a');
  const std::string too_long = Keys().ec.Sign({}, claims);
  ExpectRefused(too_long, Verify(too_long), "ID token \"sub\" has 256 characters (1 to 255)");

  claims["sub"] = std::string(255, 'a');
  EXPECT_TRUE(Verify(Keys().ec.Sign({}, claims)).ok());
}

TEST(IdTokenTest, AcceptsTheNonceThisLoginSentAndRefusesAnother) {
  IdTokenExpectations expect = Expect();
  expect.nonce_sha256_hex = secrets::Sha256Hex("n-0S6_WzA2Mj");
  json claims = ValidClaims();
  claims["nonce"] = "n-0S6_WzA2Mj";
  const absl::StatusOr<IdToken> token = Verify(Keys().rsa.Sign({}, claims), expect);
  EXPECT_TRUE(token.ok()) << token.status();

  claims["nonce"] = "n-from-another-login";
  const std::string jwt = Keys().rsa.Sign({}, claims);
  ExpectRefused(jwt, Verify(jwt, expect), "ID token \"nonce\" is not the one this login sent");
}

TEST(IdTokenTest, RefusesAMissingNonceWhenTheLoginSentOne) {
  IdTokenExpectations expect = Expect();
  expect.nonce_sha256_hex = secrets::Sha256Hex("n-0S6_WzA2Mj");
  const std::string jwt = Keys().ed.Sign({}, ValidClaims());
  ExpectRefused(jwt, Verify(jwt, expect), "ID token has no \"nonce\", but this login sent one");
}

TEST(IdTokenTest, RefusesAlgNone) {
  for (const char* none : {"none", "None", "NONE"}) {
    const std::string jwt = UnsignedToken({{"alg", none}, {"kid", "rsa-1"}}, ValidClaims());
    ExpectRefused(
        jwt, Verify(jwt),
        std::string("ID token algorithm \"") + none + "\" is not allowed (RS256, ES256, EdDSA)");
  }
}

// The classic key confusion: a verifier that lets the header pick HMAC would
// use the RSA public key, which anyone can download, as the shared secret.
TEST(IdTokenTest, RefusesHs256MadeWithTheRsaPublicKey) {
  std::string modulus;
  ASSERT_TRUE(
      absl::WebSafeBase64Unescape(Keys().rsa.PublicJwk()["n"].get<std::string>(), &modulus));
  for (const std::string& secret :
       {Keys().rsa.PublicPem(), Keys().rsa.PublicDer(), modulus, Keys().rsa.PublicJwk().dump()}) {
    const std::string jwt = HmacToken(secret, {{"kid", "rsa-1"}}, ValidClaims());
    ExpectRefused(jwt, Verify(jwt),
                  "ID token algorithm \"HS256\" is not allowed (RS256, ES256, EdDSA)");
  }
  for (const char* hmac : {"HS384", "HS512"}) {
    const std::string jwt =
        HmacToken(Keys().rsa.PublicPem(), {{"alg", hmac}, {"kid", "rsa-1"}}, ValidClaims());
    ExpectRefused(jwt, Verify(jwt), std::string("ID token algorithm \"") + hmac + "\"");
  }
}

TEST(IdTokenTest, RefusesAnAlgorithmThatDoesNotFitTheNamedKey) {
  // RS256 in the header, but the kid names the provider's EC key.
  const std::string ec_as_rsa = Keys().ec.Sign({{"alg", "RS256"}}, ValidClaims());
  ExpectRefused(ec_as_rsa, Verify(ec_as_rsa),
                "ID token names key \"ec-1\", which is not an RSA key");
  const std::string rsa_as_ed = Keys().rsa.Sign({{"alg", "EdDSA"}}, ValidClaims());
  ExpectRefused(rsa_as_ed, Verify(rsa_as_ed),
                "ID token names key \"rsa-1\", which is not an OKP key");
}

TEST(IdTokenTest, RefusesAnAlgorithmOtherThanTheKeysJwkAlg) {
  json jwk = Keys().rsa.PublicJwk();
  jwk["alg"] = "RS512";
  const absl::StatusOr<KeySet> set = KeySet::Parse(json({{"keys", {jwk}}}).dump());
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 1u);
  const std::string jwt = Keys().rsa.Sign({}, ValidClaims());
  ExpectRefused(jwt, VerifyIdToken(jwt, *set, Expect()),
                "ID token algorithm \"RS256\" is not \"RS512\", the one its key is for");
}

TEST(IdTokenTest, RefusesACritHeader) {
  const std::string jwt =
      Keys().rsa.Sign({{"crit", {"exp"}}, {"exp", kNowUnix + 300}}, ValidClaims());
  ExpectRefused(jwt, Verify(jwt), "ID token header has \"crit\"");
}

TEST(IdTokenTest, RefusesAnAccessToken) {
  const std::string jwt = Keys().rsa.Sign({{"typ", "at+JWT"}}, ValidClaims());
  ExpectRefused(jwt, Verify(jwt), "an OAuth access token");
}

TEST(IdTokenTest, RefusesAFivePartEncryptedToken) {
  const std::string part = Base64Url(R"({"alg":"RSA-OAEP","enc":"A256GCM"})");
  const std::string jwt = part + ".AAAA.AAAA.AAAA.AAAA";
  ExpectRefused(jwt, Verify(jwt), "malformed ID token: 5 parts: an encrypted token (JWE)");

  const std::string four = Keys().rsa.Sign({}, ValidClaims()) + ".AAAA";
  ExpectRefused(four, Verify(four), "malformed ID token: 4 parts separated by dots, not 3");
}

TEST(IdTokenTest, RefusesGarbageBase64AndJson) {
  const std::string jwt = Keys().rsa.Sign({}, ValidClaims());
  const size_t first_dot = jwt.find('.');
  const size_t last_dot = jwt.rfind('.');
  const std::string header = jwt.substr(0, first_dot);
  const std::string payload = jwt.substr(first_dot + 1, last_dot - first_dot - 1);
  const std::string signature = jwt.substr(last_dot + 1);
  struct Case {
    std::string jwt;
    std::string why;
  };
  const Case cases[] = {
      {"!!!." + payload + "." + signature, "malformed ID token: the header is not base64url"},
      {header + ".e30=." + signature, "malformed ID token: the payload is not base64url"},
      {header + "." + payload + "." + signature + "==",
       "malformed ID token: the signature is not base64url"},
      {header + "." + payload + ".+/+/", "malformed ID token: the signature is not base64url"},
      {Base64Url("not json") + "." + payload + "." + signature,
       "malformed ID token: the header is not JSON"},
      {Base64Url("[\"RS256\"]") + "." + payload + "." + signature,
       "malformed ID token: the header is not a JSON object"},
      {Base64Url(R"({"kid":"rsa-1"})") + "." + payload + "." + signature,
       "malformed ID token: the header has no \"alg\" string"},
      {Base64Url(R"({"alg":"RS256","kid":7})") + "." + payload + "." + signature,
       "malformed ID token: the header's \"kid\" is not a string"},
      {header + "." + Base64Url("{\"sub\":") + "." + signature,
       "malformed ID token: the payload is not JSON"},
      {"", "malformed ID token: 1 parts separated by dots, not 3"},
  };
  for (const Case& bad : cases) {
    SCOPED_TRACE(bad.jwt);
    ExpectRefused(bad.jwt, Verify(bad.jwt), bad.why);
  }
}

// Keys a token carries, or tells where to fetch, are never trusted: the
// attacker signs with its own key and embeds it, naming the provider's kid.
TEST(IdTokenTest, IgnoresKeysEmbeddedInTheHeader) {
  const json embedded = {{"kid", "rsa-1"},
                         {"jwk", Keys().attacker_rsa.PublicJwk()},
                         {"jku", "https://attacker.example/jwks.json"},
                         {"x5u", "https://attacker.example/cert.pem"}};
  const std::string jwt = Keys().attacker_rsa.Sign(embedded, ValidClaims());
  ExpectRefused(jwt, Verify(jwt), "ID token signature does not verify");

  // The same header from the real key is fine: the members are ignored.
  const absl::StatusOr<IdToken> real = Verify(Keys().rsa.Sign(embedded, ValidClaims()));
  EXPECT_TRUE(real.ok()) << real.status();
}

TEST(IdTokenTest, RefusesAnEs256SignatureInDer) {
  const std::string jwt = Keys().ec.SignWithDerSignature({}, ValidClaims());
  ExpectRefused(jwt, Verify(jwt), "ID token signature does not verify");
}

TEST(IdTokenTest, ReportsAnUnknownKidAsNotFound) {
  const TestSigningKey rotated = TestSigningKey::Generate(Alg::kEs256, "ec-2");
  const absl::StatusOr<IdToken> token = Verify(rotated.Sign({}, ValidClaims()));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound) << token.status();
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("\"ec-2\""));

  // Once the provider's set has it, the token verifies.
  absl::StatusOr<KeySet> refreshed = KeySet::Parse(Jwks({&Keys().ec, &rotated}));
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  EXPECT_TRUE(VerifyIdToken(rotated.Sign({}, ValidClaims()), *refreshed, Expect()).ok());

  // Only a token that could verify sends the caller to fetch keys again.
  const std::string none = UnsignedToken({{"kid", "ec-2"}}, ValidClaims());
  ExpectRefused(none, Verify(none), "is not allowed");
}

TEST(IdTokenTest, UsesTheOnlyKeyOfItsTypeWhenTheTokenNamesNone) {
  const absl::StatusOr<IdToken> token = Verify(Keys().ed.Sign({{"kid", nullptr}}, ValidClaims()));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->kid, "");

  // With two RSA keys the token would choose: refused.
  absl::StatusOr<KeySet> two = KeySet::Parse(Jwks({&Keys().rsa, &Keys().attacker_rsa}));
  ASSERT_TRUE(two.ok()) << two.status();
  const std::string jwt = Keys().rsa.Sign({{"kid", nullptr}}, ValidClaims());
  ExpectRefused(jwt, VerifyIdToken(jwt, *two, Expect()),
                "ID token names no key (kid) and the provider's key set has 2 RSA keys");
}

TEST(IdTokenTest, RefusesUnusableExpectations) {
  IdTokenExpectations no_issuer = Expect();
  no_issuer.issuer.clear();
  EXPECT_EQ(Verify(Keys().rsa.Sign({}, ValidClaims()), no_issuer).status().code(),
            absl::StatusCode::kInvalidArgument);
  IdTokenExpectations no_client = Expect();
  no_client.client_id.clear();
  EXPECT_EQ(Verify(Keys().rsa.Sign({}, ValidClaims()), no_client).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IdTokenTest, PeeksAtAlgAndKidWithoutVerifying) {
  const absl::StatusOr<TokenHeader> header =
      PeekHeader(WithSignatureByteFlipped(Keys().ec.Sign({}, ValidClaims())));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->alg, "ES256");
  EXPECT_EQ(header->kid, "ec-1");

  const absl::StatusOr<TokenHeader> unnamed =
      PeekHeader(Keys().ed.Sign({{"kid", nullptr}}, ValidClaims()));
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->alg, "EdDSA");
  EXPECT_EQ(unnamed->kid, "");

  EXPECT_EQ(PeekHeader("a.b").status().code(), absl::StatusCode::kUnauthenticated);
}

// --- the key set -------------------------------------------------------------

TEST(KeySetTest, ReadsRsaEcAndEd25519Keys) {
  const absl::StatusOr<KeySet> set = KeySet::Parse(Jwks({&Keys().rsa, &Keys().ec, &Keys().ed}));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 3u);
  EXPECT_TRUE(set->skipped().empty());
  EXPECT_TRUE(set->HasKid("rsa-1"));
  EXPECT_TRUE(set->HasKid("ec-1"));
  EXPECT_TRUE(set->HasKid("ed-1"));
  EXPECT_FALSE(set->HasKid("attacker"));
  EXPECT_EQ(set->keys()[0].kty, "RSA");
  EXPECT_EQ(set->keys()[0].alg, "RS256");
  EXPECT_EQ(set->keys()[1].kty, "EC");
  EXPECT_EQ(set->keys()[2].kty, "OKP");
}

TEST(KeySetTest, RefusesADocumentWithoutAKeysArray) {
  for (const char* document : {"", "not json", "[]", "{}", R"({"keys": {}})"}) {
    SCOPED_TRACE(document);
    EXPECT_EQ(KeySet::Parse(document).status().code(), absl::StatusCode::kInvalidArgument);
  }
  const absl::StatusOr<KeySet> empty = KeySet::Parse(R"({"keys": []})");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->size(), 0u);
}

// Parses {"keys": [valid RSA key, `unusable`]}: the valid key stays, the
// other is skipped for a reason containing `why`.
void ExpectSkipped(const json& unusable, const std::string& why) {
  const absl::StatusOr<KeySet> set =
      KeySet::Parse(json({{"keys", {Keys().rsa.PublicJwk(), unusable}}}).dump());
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 1u);
  EXPECT_TRUE(set->HasKid("rsa-1"));
  ASSERT_EQ(set->skipped().size(), 1u);
  EXPECT_THAT(set->skipped()[0], HasSubstr(why));
}

TEST(KeySetTest, SkipsSymmetricKeys) {
  ExpectSkipped({{"kty", "oct"}, {"kid", "hmac"}, {"k", Base64Url("shared secret")}},
                "key \"hmac\": a symmetric key (kty \"oct\") is never accepted");
}

TEST(KeySetTest, SkipsKeysForEncryption) {
  json jwk = Keys().ec.PublicJwk();
  jwk["use"] = "enc";
  ExpectSkipped(jwk, "\"use\" is \"enc\", not \"sig\"");
  jwk.erase("use");
  jwk["key_ops"] = {"encrypt"};
  ExpectSkipped(jwk, "\"key_ops\" does not include \"verify\"");
}

TEST(KeySetTest, SkipsRsaKeysBelow2048Bits) {
  const TestSigningKey weak = TestSigningKey::GenerateRsa(1024, "weak");
  ExpectSkipped(weak.PublicJwk(), "RSA modulus of 1024 bits, below 2048");
  // And a token it signed finds no key.
  const absl::StatusOr<KeySet> set = KeySet::Parse(Jwks({&weak}));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(VerifyIdToken(weak.Sign({}, ValidClaims()), *set, Expect()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KeySetTest, SkipsCurvesOtherThanP256AndEd25519) {
  const std::string coordinate(48, '\x11');
  ExpectSkipped({{"kty", "EC"},
                 {"kid", "p384"},
                 {"crv", "P-384"},
                 {"x", Base64Url(coordinate)},
                 {"y", Base64Url(coordinate)}},
                "EC curve \"P-384\" (only P-256 is accepted)");
  json x25519 = Keys().ed.PublicJwk();
  x25519["crv"] = "X25519";
  ExpectSkipped(x25519, "OKP curve \"X25519\" (only Ed25519 is accepted)");
  ExpectSkipped({{"kty", "PQC"}, {"kid", "future"}}, "unknown kty \"PQC\"");
}

// The invalid-curve attack: a point off P-256 lies on a weaker curve.
TEST(KeySetTest, SkipsAnEcPointNotOnTheCurve) {
  json jwk = Keys().ec.PublicJwk();
  std::string y;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(jwk["y"].get<std::string>(), &y));
  y[31] ^= 0x01;
  jwk["y"] = Base64Url(y);
  ExpectSkipped(jwk, "key \"ec-1\"");

  jwk["y"] = Base64Url(y.substr(1));  // 31 bytes: not a P-256 coordinate
  ExpectSkipped(jwk, "P-256 coordinates of 32 and 31 bytes (32 each)");
}

}  // namespace
}  // namespace warden::control::oidc
