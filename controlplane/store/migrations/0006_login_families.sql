-- Login session families: a login, its rotating refresh tokens, its access
-- tokens, and the connect tickets issued from it. Every token is stored only
-- as the SHA-256 of its text.

CREATE TABLE login_families (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoke_reason text NOT NULL DEFAULT '',
  rotations bigint NOT NULL DEFAULT 0
);
CREATE INDEX login_families_user ON login_families (user_id, created_at DESC, id DESC);

-- Every refresh token a family was given. The current one has rotated_at
-- NULL; a spent one stays (until its family is gone) so that presenting it
-- again is recognised as a replay. While a refresh runs, the current token
-- carries its lease; once spent, it carries the result of that refresh,
-- sealed for the request that made it (see SessionService.Refresh).
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY,
  family_id uuid NOT NULL REFERENCES login_families (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  lease_request_hash bytea,
  rotated_at timestamptz,
  sealed_result bytea
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE UNIQUE INDEX refresh_tokens_current ON refresh_tokens (family_id) WHERE rotated_at IS NULL;

CREATE TABLE access_tokens (
  token_hash bytea PRIMARY KEY,
  family_id uuid NOT NULL REFERENCES login_families (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX access_tokens_family ON access_tokens (family_id);

-- Connect tickets belong to a family; sessions remember the family whose
-- ticket opened them, so revoking the family finds its tunnels.
ALTER TABLE tickets ADD COLUMN family_id uuid REFERENCES login_families (id) ON DELETE CASCADE;
CREATE INDEX tickets_connect_user ON tickets (user_id, expires_at)
  WHERE kind = 'connect' AND used_at IS NULL;
ALTER TABLE sessions ADD COLUMN family_id uuid REFERENCES login_families (id) ON DELETE SET NULL;
CREATE INDEX sessions_family_live ON sessions (family_id) WHERE state <> 'closed';
-- Deleting a swept family clears the reference in its closed sessions too.
CREATE INDEX sessions_family ON sessions (family_id) WHERE family_id IS NOT NULL;
