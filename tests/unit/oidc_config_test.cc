// The single sign-on configuration file, the claim mapping and the small
// HTTP pieces: pure, no provider needed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "controlplane/oidc/claims.h"
#include "controlplane/oidc/http_client.h"
#include "controlplane/oidc/provider_config.h"
#include "controlplane/oidc/redirects.h"
#include "controlplane/services/validation.h"

namespace warden::control::oidc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::map<std::string, std::string>& Files() {
  static std::map<std::string, std::string> files;
  return files;
}

absl::StatusOr<std::string> ReadFake(const std::string& path) {
  auto found = Files().find(path);
  if (found == Files().end()) return absl::NotFoundError("cannot read " + path);
  return found->second;
}

char* FakeEnv(const char* name) {
  static char value[] = "from-the-environment";
  return std::string(name) == "CORP_SECRET" ? value : nullptr;
}

absl::StatusOr<std::vector<ProviderConfig>> Parse(const std::string& json) {
  Files()["/secret"] = "s3cret\n";
  return ParseProviders(json, SecretSources{.read_file = &ReadFake, .getenv = &FakeEnv});
}

constexpr char kMinimal[] = R"({"providers": [{
  "name": "corp", "issuer": "https://idp.example", "client_id": "warden",
  "client_secret_file": "/secret"}]})";

TEST(OidcConfigTest, ReadsAMinimalProviderWithDefaults) {
  absl::StatusOr<std::vector<ProviderConfig>> providers = Parse(kMinimal);
  ASSERT_TRUE(providers.ok()) << providers.status();
  ASSERT_EQ(providers->size(), 1u);
  const ProviderConfig& corp = providers->front();
  EXPECT_EQ(corp.name, "corp");
  EXPECT_EQ(corp.display_name, "corp");
  EXPECT_EQ(corp.client_secret, "s3cret");  // the file's trailing newline is not part of it
  EXPECT_EQ(corp.client_auth, ClientAuth::kSecretBasic);
  EXPECT_THAT(corp.scopes, ElementsAre("openid", "email", "profile"));
  EXPECT_EQ(corp.username_claim, "preferred_username");
  EXPECT_FALSE(corp.create_users);
}

TEST(OidcConfigTest, TakesTheSecretFromTheEnvironment) {
  absl::StatusOr<std::vector<ProviderConfig>> providers = Parse(R"({"providers": [{
    "name": "corp", "issuer": "https://idp.example", "client_id": "warden",
    "client_auth": "client_secret_post", "client_secret_env": "CORP_SECRET"}]})");
  ASSERT_TRUE(providers.ok()) << providers.status();
  EXPECT_EQ(providers->front().client_secret, "from-the-environment");
  EXPECT_EQ(providers->front().client_auth, ClientAuth::kSecretPost);
}

TEST(OidcConfigTest, RefusesMistakesNamingTheProviderAndTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"providers": []})", "non-empty \"providers\""},
      {"not json", "not valid JSON"},
      {R"({"providers": [{"name": "corp", "issuer": "http://idp.example", "client_id": "w",
          "client_secret_file": "/secret"}]})",
       "issuer must be an https:// URL"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w"}]})",
       "client_secret_file or client_secret_env is required"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret": "inline", "client_secret_file": "/secret"}]})",
       "client_secret is not a known field"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_env": "UNSET_VARIABLE"}]})",
       "names UNSET_VARIABLE, which is not set"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_file": "/secret", "scopes": ["email"]}]})",
       "scopes must include openid"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_file": "/secret", "group_plans": [{"group": "ops"}]}]})",
       "group_plans entries must be"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_file": "/secret", "redirect_uris": ["http://evil.example/cb"]}]})",
       "must be https:// or a loopback URL"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_file": "/secret", "redirect_uris": ["http://127.0.0.1.evil.example/"]}]})",
       "must be https:// or a loopback URL"},
      {R"({"providers": [{"name": "Corp!", "issuer": "https://idp.example", "client_id": "w",
          "client_secret_file": "/secret"}]})",
       "name must be"},
      {R"({"providers": [{"name": "corp", "issuer": "https://idp.example", "client_id": "w",
          "client_auth": "private_key_jwt"}]})",
       "private_key_file is required"},
  };
  for (const auto& [json, message] : cases) {
    absl::StatusOr<std::vector<ProviderConfig>> providers = Parse(json);
    ASSERT_FALSE(providers.ok()) << json;
    EXPECT_EQ(providers.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(providers.status().message()), HasSubstr(message)) << json;
  }
}

TEST(OidcConfigTest, RefusesTheSameNameTwice) {
  absl::StatusOr<std::vector<ProviderConfig>> providers = Parse(R"({"providers": [
    {"name": "corp", "issuer": "https://a.example", "client_id": "w", "client_secret_file": "/secret"},
    {"name": "corp", "issuer": "https://b.example", "client_id": "w", "client_secret_file": "/secret"}]})");
  ASSERT_FALSE(providers.ok());
  EXPECT_THAT(std::string(providers.status().message()), HasSubstr("configured twice"));
}

ProviderConfig Mapping() {
  ProviderConfig provider;
  provider.name = "corp";
  provider.display_name = "Corp";
  provider.groups_claim = "groups";
  provider.allowed_groups = {"vpn-users", "ops"};
  provider.group_plans = {{"ops", "unlimited"}, {"vpn-users", "standard"}};
  return provider;
}

UsernameNormalizer Normalize() { return &services::NormalizeUsername; }

TEST(ClaimMappingTest, MapsUsernameGroupsAndTheFirstMatchingPlan) {
  absl::StatusOr<MappedUser> mapped = MapClaims(
      Mapping(), {{"preferred_username", "Alice"}, {"groups", {"vpn-users", "ops"}}}, Normalize());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->username, "alice");  // normalised as local usernames are
  EXPECT_EQ(mapped->plan, "unlimited");  // ops comes first in the configuration
}

TEST(ClaimMappingTest, RefusesAUserOutsideTheAllowedGroups) {
  absl::StatusOr<MappedUser> mapped = MapClaims(
      Mapping(), {{"preferred_username", "eve"}, {"groups", {"contractors"}}}, Normalize());
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(mapped.status().message()), HasSubstr("vpn-users, ops"));
  EXPECT_EQ(MapClaims(Mapping(), {{"preferred_username", "eve"}}, Normalize()).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(ClaimMappingTest, ReadsNestedClaimsAndASingleGroupString) {
  ProviderConfig provider = Mapping();
  provider.groups_claim = "realm_access.roles";
  provider.username_claim = "email";
  absl::StatusOr<MappedUser> mapped = MapClaims(provider,
                                                {{"email", "bob@example.test"},
                                                 {"email_verified", true},
                                                 {"realm_access", {{"roles", "vpn-users"}}}},
                                                Normalize());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->username, "bob@example.test");
  EXPECT_THAT(mapped->groups, ElementsAre("vpn-users"));
  EXPECT_EQ(mapped->plan, "standard");
}

TEST(ClaimMappingTest, AnEmailIsAVerifiedUsernameOnlyWhenTheProviderSaysSo) {
  ProviderConfig provider = Mapping();
  provider.username_claim = "email";
  const nlohmann::json groups = {"ops"};
  EXPECT_TRUE(MapClaims(provider,
                        {{"email", "a@example.test"}, {"email_verified", true}, {"groups", groups}},
                        Normalize())
                  ->username_verified);
  // Absent (Entra sends none) or not a boolean: usable as a name, not to link.
  EXPECT_FALSE(MapClaims(provider, {{"email", "a@example.test"}, {"groups", groups}}, Normalize())
                   ->username_verified);
  EXPECT_FALSE(
      MapClaims(provider,
                {{"email", "a@example.test"}, {"email_verified", "true"}, {"groups", groups}},
                Normalize())
          ->username_verified);
  // Other claims are the provider's usernames.
  EXPECT_TRUE(MapClaims(Mapping(), {{"preferred_username", "a"}, {"groups", groups}}, Normalize())
                  ->username_verified);
}

TEST(RedirectTest, LoopbackMeansThisMachineOnAnyPort) {
  for (const char* uri : {"http://127.0.0.1:8765/cb", "http://127.0.0.1/cb", "http://[::1]:5/",
                          "http://localhost:65535/done?x=1", "http://127.0.0.1:1"}) {
    EXPECT_TRUE(IsLoopbackRedirect(uri)) << uri;
  }
  for (const char* uri :
       {"http://127.0.0.1.evil.example/cb", "http://127.0.0.1@evil.example/",
        "http://localhost:80@evil.example/", "http://localhost.evil.example/",
        "https://127.0.0.1/cb", "http://127.0.0.1:8765/cb#frag", "http://127.0.0.1:/cb",
        "http://127.0.0.1:123456/", "http://[::1].evil/", "http://127.0.0.2/", ""}) {
    EXPECT_FALSE(IsLoopbackRedirect(uri)) << uri;
  }
}

TEST(ClaimMappingTest, RefusesAnUnverifiedEmailAsTheUsername) {
  ProviderConfig provider = Mapping();
  provider.username_claim = "email";
  absl::StatusOr<MappedUser> mapped = MapClaims(
      provider, {{"email", "bob@example.test"}, {"email_verified", false}, {"groups", {"ops"}}},
      Normalize());
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ClaimMappingTest, ExplainsAMissingOrUnusableUsernameClaim) {
  absl::StatusOr<MappedUser> missing = MapClaims(Mapping(), {{"groups", {"ops"}}}, Normalize());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("preferred_username"));
  absl::StatusOr<MappedUser> unusable = MapClaims(
      Mapping(), {{"preferred_username", "has spaces"}, {"groups", {"ops"}}}, Normalize());
  EXPECT_EQ(unusable.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(OidcHttpTest, FormEncodesReservedCharacters) {
  EXPECT_EQ(FormEncode({{"redirect_uri", "http://127.0.0.1:8/cb?x=1"}, {"scope", "openid email"}}),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A8%2Fcb%3Fx%3D1&scope=openid%20email");
}

TEST(OidcHttpTest, CachesAsTheProviderSaysWithinBounds) {
  const absl::Duration fallback = absl::Hours(1), min = absl::Minutes(1), max = absl::Hours(24);
  EXPECT_EQ(CacheLifetime("public, max-age=600", fallback, min, max), absl::Seconds(600));
  EXPECT_EQ(CacheLifetime("max-age=5", fallback, min, max), min);
  EXPECT_EQ(CacheLifetime("max-age=999999", fallback, min, max), max);
  EXPECT_EQ(CacheLifetime("no-store", fallback, min, max), min);
  EXPECT_EQ(CacheLifetime("", fallback, min, max), fallback);
}

}  // namespace
}  // namespace warden::control::oidc
