-- Closed sessions are history, and the bulk of the table: every connect
-- leaves one. They go into time partitions like the rest of the history
-- (0016), so that retention drops a month of them as a catalogue change.
-- `sessions` is partitioned by state: sessions_live holds what is active or
-- closing (small: at most the seats in use), sessions_closed what is closed,
-- by closed_at, a calendar month a partition. Closing a session moves its
-- row from one to the other; a transaction that meanwhile waited to lock
-- that row fails with a serialization error (40001) and is run again
-- (store/database.h), then finds it closed. Statements that filter on
-- state <> 'closed' read sessions_live alone.

-- Index names are per schema: the old ones make way.
ALTER TABLE sessions RENAME TO sessions_before;
ALTER INDEX sessions_pkey RENAME TO sessions_before_pkey;
ALTER INDEX sessions_opened RENAME TO sessions_before_opened;
ALTER INDEX sessions_node_user RENAME TO sessions_before_node_user;
DROP INDEX sessions_live_key;
DROP INDEX sessions_user_live;
DROP INDEX sessions_family_live;
DROP INDEX sessions_family;
DROP INDEX sessions_policy_due;

CREATE TABLE sessions (LIKE sessions_before INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY LIST (state);
CREATE INDEX sessions_opened ON sessions (opened_at, id);
-- Whether a user had a session on a node, live or recently closed (0008).
CREATE INDEX sessions_node_user ON sessions (node_id, user_id, closed_at);

CREATE TABLE sessions_live PARTITION OF sessions FOR VALUES IN ('active', 'closing');
ALTER TABLE sessions_live ADD CONSTRAINT sessions_live_pkey PRIMARY KEY (id);
-- One live session per key on a node: a retried Admit finds it again.
CREATE UNIQUE INDEX sessions_live_key ON sessions_live (node_id, session_key);
-- The admission transaction reads a user's live sessions through this.
CREATE INDEX sessions_user_live ON sessions_live (user_id, opened_at, id);
CREATE INDEX sessions_family_live ON sessions_live (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX sessions_policy_due ON sessions_live (policy_due_at)
  WHERE state = 'active' AND policy_due_at IS NOT NULL;
ALTER TABLE sessions_live
  ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  ADD CONSTRAINT sessions_node_id_fkey FOREIGN KEY (node_id) REFERENCES nodes (id),
  ADD CONSTRAINT sessions_family_id_fkey FOREIGN KEY (family_id)
    REFERENCES login_families (id) ON DELETE SET NULL,
  ADD CONSTRAINT sessions_device_id_fkey FOREIGN KEY (device_id)
    REFERENCES devices (id) ON DELETE SET NULL;

-- Closed sessions keep no foreign keys, as all history (0016): deleting a
-- user deletes their closed sessions in the same statement (store/), and a
-- closed session may name a login family or device since removed.
CREATE TABLE sessions_closed PARTITION OF sessions FOR VALUES IN ('closed')
  PARTITION BY RANGE (closed_at);
CREATE INDEX sessions_closed_id ON sessions_closed (id);
CREATE INDEX sessions_closed_user ON sessions_closed (user_id, closed_at);

INSERT INTO sessions SELECT * FROM sessions_before WHERE state <> 'closed';
DELETE FROM sessions_before WHERE state <> 'closed';
UPDATE sessions_before SET closed_at = last_seen_at WHERE closed_at IS NULL;
ALTER TABLE sessions_before
  DROP CONSTRAINT sessions_before_pkey,
  DROP CONSTRAINT sessions_user_id_fkey,
  DROP CONSTRAINT sessions_node_id_fkey,
  DROP CONSTRAINT sessions_family_id_fkey,
  DROP CONSTRAINT sessions_device_id_fkey;
-- What was closed becomes the first closed partition (0016's adopt).
ALTER TABLE sessions_before RENAME TO sessions_closed_before;
ALTER INDEX sessions_before_opened RENAME TO sessions_closed_before_opened;
ALTER INDEX sessions_before_node_user RENAME TO sessions_closed_before_node_user;
SELECT warden_history_adopt('sessions_closed', 'closed_at', 'month');
SELECT warden_history_ensure(2);
