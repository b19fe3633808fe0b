-- The admission path as pgbench runs it: the same statements warden-control
-- sends for Admit (lock the user, read live sessions, write session +
-- eviction + kill command + audit in one statement) and for the
-- CloseSession of the evicted session (one statement, autocommit, as warden
-- sends it). Variables: -D node=<uuid> -D users=N.
-- Differences: the live-sessions read is aggregated into one row (pgbench
-- needs one row for \gset; warden fetches the rows), and the decision is
-- pgbench's \if instead of C++.
\set n random(0, :users - 1)
\set r random(1, 2000000000)
BEGIN;
SELECT u.id::text AS uid, u.max_connections AS lim
  FROM users u, nodes n
 WHERE (u.id = NULLIF('', '')::uuid OR u.username = NULLIF('bench' || :n, ''))
   AND n.id = :node::uuid
   FOR UPDATE OF u \gset
SELECT count(*) FILTER (WHERE s.state = 'active') AS active,
       COALESCE((array_agg(s.id::text ORDER BY s.opened_at, s.id)
                 FILTER (WHERE s.state = 'active'))[1], '') AS oldest
  FROM sessions s JOIN nodes n ON n.id = s.node_id
 WHERE s.state <> 'closed'
   AND (s.user_id = :uid::uuid OR (s.node_id = :node::uuid AND s.session_key = 'pgb:' || :r)) \gset
\if :active >= :lim
\set evict 1
\else
\set evict 0
\endif
WITH created AS (
  INSERT INTO sessions (user_id, node_id, protocol, session_key, device_label, client_address)
  VALUES (:uid::uuid, :node::uuid, 'wireguard', 'pgb:' || :client_id || ':' || :r || ':' || clock_timestamp(), 'bench-device', '')
  RETURNING id),
evicted AS (
  UPDATE sessions SET state = 'closing', close_reason = 'evicted'
   WHERE :evict = 1 AND id = NULLIF(:oldest, '')::uuid AND state = 'active'
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
         jsonb_build_object('user_id', :uid::text, 'evicted_by', c.id, 'command_id', k.id,
                            'node_id', k.node_id, 'kill_due', now())
    FROM kills k CROSS JOIN created c)
SELECT c.id::text, k.session_id::text, k.node_id::text, k.id FROM created c LEFT JOIN kills k ON true;
COMMIT;
\if :evict = 1
WITH closed AS (
  UPDATE sessions SET state = 'closed', closed_at = now(), last_seen_at = now(),
         close_reason = CASE WHEN state = 'closing' THEN close_reason ELSE 'killed' END,
         rx_bytes = GREATEST(rx_bytes, 0), tx_bytes = GREATEST(tx_bytes, 0)
   WHERE node_id = :node::uuid AND state <> 'closed'
     AND (id = NULLIF(:oldest, '')::uuid OR session_key = NULLIF('', ''))
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
\endif
