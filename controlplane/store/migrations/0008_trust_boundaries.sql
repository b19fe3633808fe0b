-- Trust boundaries: what a node may vouch for, what an enrolment grants,
-- and kills that are never silently undone.

-- A node vouches for a user without a password or ticket only through a
-- device Warden provisioned to it, unless an administrator marks it as an
-- authenticator in its own right (e.g. a RADIUS-backed gateway).
ALTER TABLE nodes ADD COLUMN trusted_authenticator boolean NOT NULL DEFAULT false;

-- An enrolment ticket carries what the administrator grants the node it
-- enrols: its protocols (NULL = leave an existing node's as they are; a new
-- node gets any) and its trust. The agent's own claims are never used.
-- `redeemed_by` is the SHA-256 of the request id of the agent that redeemed
-- it, so that the same agent may retry after a lost answer.
ALTER TABLE tickets
  ADD COLUMN protocols text[],
  ADD COLUMN trusted_authenticator boolean NOT NULL DEFAULT false,
  ADD COLUMN redeemed_by bytea,
  -- The session a connect ticket opened: a retried Admit presenting the
  -- spent ticket for the same connection gets that session back.
  ADD COLUMN session_id uuid;

-- A kill the agent could not carry out is retried with backoff; while it
-- fails, the session keeps its seat.
ALTER TABLE commands
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN last_error text;
ALTER TABLE sessions
  ADD COLUMN kill_failed_at timestamptz,
  ADD COLUMN kill_error text NOT NULL DEFAULT '';

-- The agent's id for the Admit attempt that created (or last confirmed) a
-- session: an agent that gave up waiting closes exactly what that attempt
-- made, never a later admission of the same key.
ALTER TABLE sessions ADD COLUMN admit_attempt text NOT NULL DEFAULT '';

-- Whether a user had a session on a node, live or recently closed: the
-- evidence that lets a node's inventory name that user.
CREATE INDEX sessions_node_user ON sessions (node_id, user_id, closed_at);
