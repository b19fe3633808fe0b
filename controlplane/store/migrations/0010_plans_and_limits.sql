-- Plans and the limits operators sell: named limit sets, node labels that
-- scope caps and restrictions, account and device expiry, session length
-- and idle limits.

-- A named set of limits. Every column may be NULL: the plan says nothing of
-- it, and the default applies (unlimited, evict_oldest, no grace, any
-- protocol or node, no time limit).
CREATE TABLE plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text COLLATE "C" NOT NULL CONSTRAINT plans_name_key UNIQUE
    CONSTRAINT plans_name_format CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  description text NOT NULL DEFAULT '',
  max_connections integer CHECK (max_connections BETWEEN 0 AND 10000),
  limit_policy text CHECK (limit_policy IN ('evict_oldest', 'reject')),
  grace_seconds integer CHECK (grace_seconds BETWEEN 0 AND 3600),
  -- 0 = unlimited
  bandwidth_bytes_per_second bigint
    CHECK (bandwidth_bytes_per_second = 0 OR bandwidth_bytes_per_second >= 1024),
  max_connections_per_node integer CHECK (max_connections_per_node BETWEEN 0 AND 10000),
  -- [{"label": "region", "max": 1}, ...]: at most `max` live sessions per
  -- distinct value of the node label.
  label_caps jsonb,
  allowed_protocols text[]
    CHECK (allowed_protocols <@ ARRAY['wireguard', 'openvpn', 'quic']),
  -- {"region": ["eu-west", "eu-central"], ...}: a node must carry, for every
  -- key, one of the values.
  node_selector jsonb,
  max_session_seconds integer CHECK (max_session_seconds > 0),
  idle_timeout_seconds integer CHECK (idle_timeout_seconds > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A user's own limits override the plan's where set: NULL now means
-- "inherit" (from the plan, else the default). Existing users keep the
-- values they have, as explicit overrides.
ALTER TABLE users
  ALTER COLUMN max_connections DROP NOT NULL,
  ALTER COLUMN max_connections DROP DEFAULT,
  ALTER COLUMN limit_policy DROP NOT NULL,
  ALTER COLUMN limit_policy DROP DEFAULT,
  ALTER COLUMN grace_seconds DROP NOT NULL,
  ALTER COLUMN grace_seconds DROP DEFAULT,
  DROP CONSTRAINT users_bandwidth_minimum,
  ADD CONSTRAINT users_bandwidth_known
    CHECK (bandwidth_bytes_per_second = 0 OR bandwidth_bytes_per_second >= 1024),
  ADD COLUMN plan_id uuid REFERENCES plans (id),
  ADD COLUMN max_connections_per_node integer
    CHECK (max_connections_per_node BETWEEN 0 AND 10000),
  ADD COLUMN label_caps jsonb,
  ADD COLUMN allowed_protocols text[]
    CHECK (allowed_protocols <@ ARRAY['wireguard', 'openvpn', 'quic']),
  ADD COLUMN node_selector jsonb,
  ADD COLUMN max_session_seconds integer CHECK (max_session_seconds > 0),
  ADD COLUMN idle_timeout_seconds integer CHECK (idle_timeout_seconds > 0),
  -- The account is valid until then (trials, contractors, prepaid months).
  ADD COLUMN expires_at timestamptz,
  -- When user.expiring was recorded for the current expires_at.
  ADD COLUMN expiry_notified_at timestamptz;
CREATE INDEX users_plan ON users (plan_id) WHERE plan_id IS NOT NULL;
-- The policy sweep finds accounts about to expire through this index.
CREATE INDEX users_expiry ON users (expires_at) WHERE expires_at IS NOT NULL;

-- Labels an administrator gives a node (region=eu-west, tier=premium):
-- the scope of per-label caps and the matter of node selectors.
ALTER TABLE nodes ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'
  CONSTRAINT nodes_labels_object CHECK (jsonb_typeof(labels) = 'object');

-- A WireGuard device may be valid until a time of its own.
ALTER TABLE devices ADD COLUMN expires_at timestamptz;

-- Enforcement on live sessions: the last time its node saw traffic, and the
-- earliest time a time limit (session length, idle, account or device
-- expiry) may end it. The policy sweep reads due sessions through the
-- partial index, so its cost follows what is due, not what is live.
ALTER TABLE sessions
  ADD COLUMN last_traffic_at timestamptz,
  ADD COLUMN device_id uuid REFERENCES devices (id) ON DELETE SET NULL,
  ADD COLUMN policy_due_at timestamptz;
CREATE INDEX sessions_policy_due ON sessions (policy_due_at)
  WHERE state = 'active' AND policy_due_at IS NOT NULL;
