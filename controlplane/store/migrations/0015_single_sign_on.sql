-- Single sign-on (OpenID Connect): who a user is at an identity provider,
-- and logins in flight between their start and their end.

-- A user is known to a provider by (issuer, subject), never by an email or
-- a name the provider lets people change.
CREATE TABLE user_identities (
  issuer text NOT NULL,
  subject text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider text NOT NULL,  -- the configured provider's name at linking
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  PRIMARY KEY (issuer, subject),
  -- One identity per user at each issuer: two subjects cannot share a user.
  UNIQUE (issuer, user_id)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- One login at a provider: a code flow (BeginOidcLogin .. CompleteOidcLogin)
-- or a device flow (StartDeviceLogin .. the poll that ends it). The client
-- holds the handle; Warden keeps its SHA-256, and the PKCE verifier or the
-- device code sealed under a key derived from the handle, so neither can be
-- used from the database alone. Single-use: used_at is set by the one call
-- that ends it.
CREATE TABLE oidc_logins (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('code', 'device')),
  provider text NOT NULL,
  handle_hash bytea NOT NULL UNIQUE,
  state_hash bytea UNIQUE,   -- code: SHA-256 of the state
  nonce_hash text,           -- code: hex SHA-256 of the nonce
  sealed bytea NOT NULL,
  redirect_uri text NOT NULL DEFAULT '',
  device_label text NOT NULL DEFAULT '',
  client_address text NOT NULL DEFAULT '',
  -- Device flow: how often the provider may be asked, and when next.
  poll_interval_ms integer NOT NULL DEFAULT 5000,
  next_poll_at timestamptz,
  -- Code flow through Warden's own callback page: the code it received,
  -- sealed under a key derived from the state, and the SHA-256 of the
  -- confirmation code the page showed the person, which the app must give
  -- back: whoever merely started the login cannot finish it with someone
  -- else's sign-in.
  callback_code bytea,
  callback_error text,
  callback_confirmation_hash text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
