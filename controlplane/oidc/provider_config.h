#pragma once

// The OpenID Providers an operator configured (--oidc-config, a JSON file
// with one object per provider), read and checked once at start-up: a
// mistake stops warden-control with a message naming the provider and the
// field, rather than failing a user's login later.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::control::oidc {

enum class ClientAuth { kSecretBasic, kSecretPost, kPrivateKeyJwt };

absl::string_view ClientAuthName(ClientAuth auth);

struct GroupPlan {
  std::string group;
  std::string plan;
};

struct ProviderConfig {
  std::string name;  // what clients and the audit log call it
  std::string display_name;
  std::string issuer;  // https://...; discovery is <issuer>/.well-known/openid-configuration
  std::string client_id;
  ClientAuth client_auth = ClientAuth::kSecretBasic;
  // Read from client_secret_file or client_secret_env, never from the file
  // itself (which may be readable more widely), never logged.
  std::string client_secret;
  // private_key_jwt: a PEM private key (RSA or P-256) and the kid the
  // provider knows it by.
  std::string private_key_pem;
  std::string private_key_id;
  std::vector<std::string> scopes = {"openid", "email", "profile"};
  // Dotted paths into the ID token's claims ("realm_access.roles").
  std::string username_claim = "preferred_username";
  std::string groups_claim = "groups";
  bool create_users = false;
  bool link_by_username = false;
  std::vector<std::string> allowed_groups;  // empty: anyone the provider vouches for
  std::vector<GroupPlan> group_plans;       // the first the user is in decides
  std::vector<std::string> redirect_uris;   // allowed besides loopback ones
  std::string ca_file;                      // "" = the system's trust store
  absl::Duration jwks_refresh_min_interval = absl::Seconds(10);
  absl::Duration clock_skew = absl::Seconds(60);
  absl::Duration http_timeout = absl::Seconds(10);
};

// Parses the configuration file's text; `read_file` and `getenv` are how
// secrets are found (tests give their own). INVALID_ARGUMENT saying what is
// wrong and where.
struct SecretSources {
  absl::StatusOr<std::string> (*read_file)(const std::string& path) = nullptr;
  char* (*getenv)(const char* name) = nullptr;
};
absl::StatusOr<std::vector<ProviderConfig>> ParseProviders(absl::string_view json,
                                                           const SecretSources& sources);

// Reads the file at `path` and parses it with the real file system and
// environment.
absl::StatusOr<std::vector<ProviderConfig>> LoadProviders(const std::string& path);

}  // namespace warden::control::oidc
