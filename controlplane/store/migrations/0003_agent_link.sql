-- Agents: enrolment tickets, what a node told us about itself, and the
-- indexes command delivery reads.

-- Single-use tickets, stored only as SHA-256. kind 'enroll' names the node it
-- creates; kind 'connect' (user connect tickets) uses user_id.
CREATE TABLE tickets (
  hash bytea PRIMARY KEY,
  kind text NOT NULL CONSTRAINT tickets_kind_known CHECK (kind IN ('enroll', 'connect')),
  node_name text,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX tickets_outstanding ON tickets (kind, expires_at) WHERE used_at IS NULL;

ALTER TABLE nodes
  ADD COLUMN hostname text NOT NULL DEFAULT '',
  ADD COLUMN agent_version text NOT NULL DEFAULT '',
  ADD COLUMN attached_replica text NOT NULL DEFAULT '';

-- Commands not yet delivered and due: what the dispatcher looks for.
CREATE INDEX commands_undelivered ON commands (due_at) WHERE acked_at IS NULL AND delivered_at IS NULL;
