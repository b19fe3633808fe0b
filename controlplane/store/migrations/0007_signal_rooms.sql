-- Signalling rooms. A room lives until its TTL, or until it has been empty
-- for the grace period. Every change to a room's members first locks its
-- row, so capacity checks and member lists are exact across replicas.

CREATE TABLE signal_rooms (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 64),
  password_hash text,  -- argon2id; NULL = no password
  max_clients integer NOT NULL CHECK (max_clients BETWEEN 1 AND 256),
  owner_key text NOT NULL CHECK (owner_key ~ '^[0-9a-f]{64}$'),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  empty_since timestamptz,  -- NULL while anyone is in the room
  -- One more for every change of members or name: replicas apply changes
  -- in version order and notice a gap.
  version bigint NOT NULL DEFAULT 0
);
CREATE INDEX signal_rooms_expiry ON signal_rooms (expires_at);
CREATE INDEX signal_rooms_empty ON signal_rooms (empty_since) WHERE empty_since IS NOT NULL;

-- A member is an Ed25519 key in a room, attached through one stream on one
-- replica; joining again from another stream moves it there.
CREATE TABLE signal_members (
  room_id uuid NOT NULL REFERENCES signal_rooms (id) ON DELETE CASCADE,
  member_key text NOT NULL CHECK (member_key ~ '^[0-9a-f]{64}$'),
  replica text NOT NULL,
  connection_id text NOT NULL,
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, member_key)
);
CREATE INDEX signal_members_connection ON signal_members (connection_id);
CREATE INDEX signal_members_replica ON signal_members (replica);

-- Replicas serving signalling streams, with a heartbeat: members attached to
-- a replica that stopped beating are removed by the others' sweeps.
CREATE TABLE signal_replicas (
  replica text PRIMARY KEY,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  relays_per_second double precision NOT NULL DEFAULT 0
);
