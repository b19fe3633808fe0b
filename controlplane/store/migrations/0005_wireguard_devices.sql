-- Registered WireGuard devices and their provisioning to nodes.

-- A user's WireGuard key and the tunnel addresses assigned to it. A revoked
-- device keeps its row (for the audit trail) but frees its key and address.
CREATE TABLE devices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  public_key text NOT NULL,  -- standard base64 of 32 bytes, as WireGuard prints it
  label text NOT NULL DEFAULT '',
  address_v4 inet NOT NULL,
  address_v6 inet,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE UNIQUE INDEX devices_public_key_live ON devices (public_key) WHERE revoked_at IS NULL;
-- Allocation looks for the lowest free address through this index.
CREATE UNIQUE INDEX devices_address_v4_live ON devices (address_v4) WHERE revoked_at IS NULL;
CREATE INDEX devices_listed ON devices (created_at, id) WHERE revoked_at IS NULL;
CREATE INDEX devices_user_listed ON devices (user_id, created_at, id) WHERE revoked_at IS NULL;

-- The drivers an agent said it runs in its last Hello ("wireguard", "openvpn", ...).
ALTER TABLE nodes ADD COLUMN drivers text[] NOT NULL DEFAULT '{}';

ALTER TABLE commands DROP CONSTRAINT commands_kind_known;
ALTER TABLE commands ADD CONSTRAINT commands_kind_known
  CHECK (kind IN ('kill_session', 'set_bandwidth', 'drain', 'add_peer', 'remove_peer'));

-- Peers a node has dropped (a denied handshake, a kill or an eviction) and
-- that are not provisioned there again until their user is under the limit.
CREATE TABLE wireguard_withheld (
  device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  node_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, node_id)
);
CREATE INDEX wireguard_withheld_node ON wireguard_withheld (node_id);
