-- Users, API keys and the audit trail.

CREATE FUNCTION epoch_us(t timestamptz) RETURNS bigint
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

CREATE FUNCTION from_epoch_us(us bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT 'epoch'::timestamptz + us * interval '1 microsecond' $$;

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Byte order ("C") keeps usernames with one prefix contiguous in the index.
  username text COLLATE "C" NOT NULL
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9._@-]{1,64}$'),
  password_hash text,  -- argon2id PHC string; NULL = no password login
  max_connections integer NOT NULL DEFAULT 0
    CONSTRAINT users_max_connections_range CHECK (max_connections BETWEEN 0 AND 10000),
  limit_policy text NOT NULL DEFAULT 'evict_oldest'
    CONSTRAINT users_limit_policy_known CHECK (limit_policy IN ('evict_oldest', 'reject')),
  grace_seconds integer NOT NULL DEFAULT 0
    CONSTRAINT users_grace_seconds_range CHECK (grace_seconds BETWEEN 0 AND 3600),
  -- NULL = unlimited
  bandwidth_bytes_per_second bigint
    CONSTRAINT users_bandwidth_minimum CHECK (bandwidth_bytes_per_second >= 1024),
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CONSTRAINT api_keys_name_key UNIQUE,
  role text NOT NULL CONSTRAINT api_keys_role_known CHECK (role IN ('admin', 'viewer')),
  key_hash bytea NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,  -- SHA-256 of the key
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE audit_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_subject ON audit_events (subject, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
