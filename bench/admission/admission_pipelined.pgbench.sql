-- The admission path in the form warden-control now sends it: two round
-- trips in libpq's pipeline mode. The first carries BEGIN, the user's row
-- lock and the read of their live sessions (run after the lock, with a fresh
-- snapshot); the second carries the write and COMMIT. Then the CloseSession
-- of the evicted session (one statement, autocommit).
-- Variables: -D node=<uuid> -D users=N. Run with -M prepared or extended.
-- Differences from warden: pgbench cannot read results inside a pipeline
-- (no \gset there), so the decision (evict the oldest live session when the
-- user holds their limit) is made by the write itself in SQL, reading the
-- user's live sessions again; the close finds the evicted session by its
-- user and state instead of by the id warden's agent reports.
\set n random(0, :users - 1)
\set r random(1, 2000000000)
\startpipeline
BEGIN;
SELECT u.id::text, u.max_connections
  FROM users u, nodes n
 WHERE u.id = (SELECT au.id FROM users au WHERE au.username = 'bench' || :n ORDER BY au.id LIMIT 1)
   AND n.id = :node::uuid
   FOR UPDATE OF u;
SELECT s.id::text, s.user_id::text, s.state, s.opened_at, n.name
  FROM sessions s JOIN nodes n ON n.id = s.node_id
 WHERE s.state <> 'closed'
   AND (s.user_id = (SELECT au.id FROM users au WHERE au.username = 'bench' || :n ORDER BY au.id LIMIT 1)
        OR (s.node_id = :node::uuid AND s.session_key = 'pgb:' || :r));
\endpipeline
\startpipeline
WITH u AS (
  SELECT id, max_connections FROM users WHERE username = 'bench' || :n),
live AS (
  SELECT s.id, s.opened_at FROM sessions s JOIN u ON s.user_id = u.id WHERE s.state = 'active'),
victim AS (
  SELECT l.id FROM live l, u WHERE (SELECT count(*) FROM live) >= u.max_connections
   ORDER BY l.opened_at, l.id LIMIT 1),
created AS (
  INSERT INTO sessions (user_id, node_id, protocol, session_key, device_label, client_address)
  SELECT u.id, :node::uuid, 'wireguard', 'pgb:' || :client_id || ':' || :r || ':' || clock_timestamp(), 'bench-device', ''
    FROM u
  RETURNING id),
evicted AS (
  UPDATE sessions SET state = 'closing', close_reason = 'evicted'
   WHERE id IN (SELECT id FROM victim) AND state = 'active'
  RETURNING id, node_id, session_key),
kills AS (
  INSERT INTO commands (node_id, kind, session_id, payload, due_at)
  SELECT e.node_id, 'kill_session', e.id,
         jsonb_build_object('session_key', e.session_key, 'reason', 'evicted'), now()
    FROM evicted e RETURNING id, node_id, session_id),
audit AS (
  INSERT INTO audit_events (actor, action, subject, details)
  SELECT 'bench', 'session.admit', 'session:' || c.id,
         '{"node":"bench","protocol":"wireguard","session_key":"k","device_label":"bench-device","client_address":"","user_id":"u","username":"n","evicted":[]}'::jsonb
    FROM created c
  UNION ALL
  SELECT 'bench', 'session.evict', 'session:' || k.session_id,
         jsonb_build_object('user_id', (SELECT id FROM u), 'evicted_by', c.id, 'command_id', k.id,
                            'node_id', k.node_id, 'kill_due', now())
    FROM kills k CROSS JOIN created c)
SELECT c.id::text, k.session_id::text, k.node_id::text, k.id FROM created c LEFT JOIN kills k ON true;
COMMIT;
\endpipeline
WITH closed AS (
  UPDATE sessions SET state = 'closed', closed_at = now(), last_seen_at = now(),
         close_reason = CASE WHEN state = 'closing' THEN close_reason ELSE 'killed' END,
         rx_bytes = GREATEST(rx_bytes, 0), tx_bytes = GREATEST(tx_bytes, 0)
   WHERE node_id = :node::uuid AND state = 'closing'
     AND user_id = (SELECT id FROM users WHERE username = 'bench' || :n)
  RETURNING id, user_id, close_reason),
finished AS (
  UPDATE commands SET acked_at = now(), outcome = 'settled', result = 'session closed'
   WHERE session_id IN (SELECT id FROM closed) AND kind = 'kill_session' AND acked_at IS NULL),
audit AS (
  INSERT INTO audit_events (actor, action, subject, details)
  SELECT 'bench', 'session.close', 'session:' || c.id,
         jsonb_build_object('user_id', c.user_id, 'reason', c.close_reason, 'rx_bytes', 0, 'tx_bytes', 0)
    FROM closed c)
SELECT id::text FROM closed;
