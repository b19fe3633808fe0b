-- VPN nodes, the sessions they carry, and the outbox of commands to them.

CREATE TABLE nodes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text COLLATE "C" NOT NULL
    CONSTRAINT nodes_name_format CHECK (name ~ '^[a-z0-9][a-z0-9.-]{0,62}$'),
  credential_hash bytea CONSTRAINT nodes_credential_hash_key UNIQUE,  -- SHA-256; NULL once removed
  protocols text[] NOT NULL DEFAULT '{}'
    CONSTRAINT nodes_protocols_known CHECK (protocols <@ ARRAY['wireguard', 'openvpn', 'quic']),
  state text NOT NULL DEFAULT 'active'
    CONSTRAINT nodes_state_known CHECK (state IN ('active', 'draining', 'removed')),
  attach_epoch bigint NOT NULL DEFAULT 0,
  last_seen_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- A removed node's name may be used again.
CREATE UNIQUE INDEX nodes_name_key ON nodes (name) WHERE state <> 'removed';

CREATE TABLE sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  node_id uuid NOT NULL REFERENCES nodes (id),
  protocol text NOT NULL
    CONSTRAINT sessions_protocol_known CHECK (protocol IN ('wireguard', 'openvpn', 'quic')),
  session_key text NOT NULL,
  device_label text NOT NULL DEFAULT '',
  client_address text NOT NULL DEFAULT '',
  state text NOT NULL DEFAULT 'active'
    CONSTRAINT sessions_state_known CHECK (state IN ('active', 'closing', 'closed')),
  opened_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz,
  close_reason text NOT NULL DEFAULT '',
  rx_bytes bigint NOT NULL DEFAULT 0,
  tx_bytes bigint NOT NULL DEFAULT 0
);
-- One live session per key on a node: a retried Admit finds it again.
CREATE UNIQUE INDEX sessions_live_key ON sessions (node_id, session_key) WHERE state <> 'closed';
-- The admission transaction reads a user's live sessions through this index,
-- so its cost grows with that user's sessions only, not with the table.
CREATE INDEX sessions_user_live ON sessions (user_id, opened_at, id) WHERE state <> 'closed';
CREATE INDEX sessions_opened ON sessions (opened_at, id);

-- The outbox: written in the transaction that decides a kill, delivered to
-- the node's agent at least once, acknowledged with a result.
CREATE TABLE commands (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  node_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
  kind text NOT NULL
    CONSTRAINT commands_kind_known CHECK (kind IN ('kill_session', 'set_bandwidth', 'drain')),
  session_id uuid,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  due_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  acked_at timestamptz,
  result text
);
CREATE INDEX commands_pending ON commands (node_id, due_at, id) WHERE acked_at IS NULL;
CREATE INDEX commands_session ON commands (session_id) WHERE session_id IS NOT NULL;
