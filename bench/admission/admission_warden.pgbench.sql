-- The admission path with warden-control's own statements, in its round
-- trips: what controlplane/store/session_store.cc sends for an Admit of a
-- user at their limit (EVICT_OLDEST) and for the CloseSession of the session
-- it evicted, with the wake-ups that follow each commit. The same text
-- (admit.deadline, admit.lock_user, admit.live_sessions, admit.write,
-- close.session, the wake-up) with pgbench variables for parameters.
--   round trip 1: BEGIN, the deadline, the user's lock, their live sessions
--   round trip 2: the write, COMMIT, the kill's wake-up
--   round trip 3: BEGIN, the close, COMMIT, the settled kill's wake-up
-- Variables: -D node=<uuid> -D users=N -D none=- -D vouched=0 (warden's empty
-- and false parameters: pgbench has no empty variable, so "-" stands for ""). Run with -M prepared and, as warden's pipeline
-- connections, PGOPTIONS='-c plan_cache_mode=force_generic_plan'.
-- Differences, because pgbench cannot read results inside a pipeline:
-- parameters that warden takes from the first round's results are scalar
-- subqueries here (the user's id; the session to evict, the oldest active
-- one, which is warden's decision for every user of this benchmark; the
-- session the close names, found by user and state instead of its id).
-- warden sends its wake-ups in batches from a connection of its own (1.7
-- per iteration at 4 workers); here each is its own statement after COMMIT.
\set n random(0, :users - 1)
\set r random(1, 2000000000)
\startpipeline
BEGIN;
SELECT set_config('statement_timeout', '29000ms', true);
SELECT u.id::text, u.username, u.disabled, epoch_us(u.expires_at), n.state,
       cardinality(n.protocols) = 0 OR 'wireguard' = ANY(n.protocols), n.trusted_authenticator,
       dev.id IS NOT NULL, COALESCE(dev.id::text, ''), epoch_us(dev.expires_at), n.labels::text,
       COALESCE(p.name, ''), p.id IS NOT NULL,
       u.max_connections, u.limit_policy, u.grace_seconds, u.bandwidth_bytes_per_second,
       u.max_connections_per_node, u.label_caps::text, u.allowed_protocols IS NOT NULL,
       array_to_string(u.allowed_protocols, ','), u.node_selector::text, u.max_session_seconds,
       u.idle_timeout_seconds, u.data_quota_bytes, u.quota_period_days, u.on_quota_exceeded,
       u.throttle_bytes_per_second, p.max_connections, p.limit_policy, p.grace_seconds,
       p.bandwidth_bytes_per_second, p.max_connections_per_node, p.label_caps::text,
       p.allowed_protocols IS NOT NULL, array_to_string(p.allowed_protocols, ','),
       p.node_selector::text, p.max_session_seconds, p.idle_timeout_seconds, p.data_quota_bytes,
       p.quota_period_days, p.on_quota_exceeded, p.throttle_bytes_per_second
  FROM users u JOIN nodes n ON n.id = :node::uuid
  LEFT JOIN plans p ON p.id = u.plan_id
  LEFT JOIN LATERAL (SELECT d.id, d.expires_at FROM devices d
    WHERE (:vouched)::boolean AND 'wireguard' = ANY(n.drivers) AND ('bench:' || :r) LIKE 'wg:%'
    AND d.public_key = substr('bench:' || :r, 4) AND d.revoked_at IS NULL AND d.user_id = u.id)
    dev ON true
 WHERE u.id = (SELECT au.id FROM users au WHERE au.id = NULLIF(:none, '-')::uuid OR
               au.username = NULLIF('bench' || :n, '') ORDER BY au.id LIMIT 1)
   FOR UPDATE OF u;
SELECT s.id::text, s.user_id::text, s.state, epoch_us(s.opened_at), n.name,
       s.node_id = :node::uuid AND s.session_key = 'bench:' || :r,
       CASE WHEN s.family_id IS NULL OR s.session_key <> 'bench:' || :r THEN true ELSE EXISTS (
         SELECT 1 FROM login_families f WHERE f.id = s.family_id AND f.revoked_at IS NULL
         AND f.expires_at > now()) END,
       s.kill_failed_at IS NOT NULL, n.id::text, n.labels::text, s.protocol
  FROM sessions s JOIN nodes n ON n.id = s.node_id
 WHERE s.state <> 'closed'
   AND (s.user_id = (SELECT au.id FROM users au WHERE au.id = NULLIF(:none, '-')::uuid OR
                     au.username = NULLIF('bench' || :n, '') ORDER BY au.id LIMIT 1)
        OR (s.node_id = :node::uuid AND s.session_key = 'bench:' || :r));
\endpipeline
\startpipeline
WITH created AS (
  INSERT INTO sessions (user_id, node_id, protocol, session_key, device_label,
    client_address, opened_at, admit_attempt, device_id, policy_due_at)
  VALUES ((SELECT id FROM users WHERE username = 'bench' || :n), :node::uuid, 'wireguard',
    'pgb:' || :client_id || ':' || :r || ':' || clock_timestamp(), 'bench-device', '',
    COALESCE(from_epoch_us(NULLIF(:none, '-')::bigint), now()), :none, NULLIF(:none, '-')::uuid,
    from_epoch_us(NULLIF(:none, '-')::bigint))
  RETURNING id),
evicted AS (
  UPDATE sessions SET state = 'closing', close_reason = 'evicted', end_reason = 'evicted'
  WHERE id = ANY(ARRAY(SELECT s.id FROM sessions s
                        WHERE s.user_id = (SELECT id FROM users WHERE username = 'bench' || :n)
                          AND s.state = 'active' ORDER BY s.opened_at, s.id LIMIT 1))
    AND state = 'active' RETURNING id, node_id, session_key),
kills AS (
  INSERT INTO commands (node_id, kind, session_id, payload, due_at)
  SELECT e.node_id, 'kill_session', e.id,
    jsonb_build_object('session_key', e.session_key, 'reason', 'evicted',
      'reason_code', 'evicted'),
    now() FROM evicted e RETURNING id, node_id, session_id),
audit AS (
  INSERT INTO audit_events (actor, action, subject, details)
  SELECT 'bench-node', 'session.admit', 'session:' || c.id,
    ('{"node":"bench-node","protocol":"wireguard","session_key":"bench:' || :r ||
     '","device_label":"bench-device","client_address":"","user_id":"","username":"bench' ||
     :n || '","evicted":[]}')::jsonb FROM created c
  UNION ALL
  SELECT 'bench-node', 'session.evict', 'session:' || k.session_id, jsonb_build_object(
    'user_id', 'bench' || :n, 'evicted_by', c.id, 'command_id', k.id, 'node_id', k.node_id,
    'kill_due', now()) FROM kills k CROSS JOIN created c)
SELECT c.id::text, k.session_id::text, k.node_id::text, k.id
  FROM created c LEFT JOIN kills k ON true;
COMMIT;
SELECT count(pg_notify(c, p)) FROM unnest(ARRAY['warden_commands'], ARRAY[:node]) AS w(c, p);
\endpipeline
\startpipeline
BEGIN;
WITH target AS (
  SELECT id, state AS was FROM sessions WHERE node_id = :node::uuid AND state <> 'closed'
    AND (id = NULLIF((SELECT cs.id FROM sessions cs
                       WHERE cs.node_id = :node::uuid AND cs.state = 'closing'
                         AND cs.user_id = (SELECT id FROM users WHERE username = 'bench' || :n)
                       LIMIT 1)::text, '')::uuid OR session_key = NULLIF(:none, '-'))
    AND (:none = '-' OR admit_attempt = :none) FOR UPDATE),
closed AS (
  UPDATE sessions s SET state = 'closed', closed_at = now(), last_seen_at = now(),
    close_reason = CASE WHEN s.state = 'closing' THEN s.close_reason ELSE 'client' END,
    end_reason = CASE WHEN s.state = 'closing' THEN s.end_reason
      WHEN :none <> '-' THEN 'admission_abandoned' ELSE 'client' END
  FROM target t WHERE s.id = t.id AND s.state <> 'closed'
  RETURNING s.id, s.user_id, s.close_reason, s.protocol, s.session_key, t.was,
    s.rx_bytes, s.tx_bytes, s.end_reason),
withheld AS (
  INSERT INTO wireguard_withheld (device_id, node_id)
  SELECT d.id, :node::uuid FROM closed c JOIN devices d ON d.user_id = c.user_id
    AND d.public_key = substr(c.session_key, 4) AND d.revoked_at IS NULL
  WHERE c.was = 'closing' AND c.protocol = 'wireguard' AND c.session_key LIKE 'wg:%'
  ON CONFLICT DO NOTHING),
finished AS (
  UPDATE commands SET acked_at = now(), outcome = 'settled', result = 'session closed'
  WHERE session_id IN (SELECT id FROM closed) AND kind = 'kill_session'
    AND acked_at IS NULL AND delivered_at IS NULL RETURNING id),
audit AS (
  INSERT INTO audit_events (actor, action, subject, details)
  SELECT 'bench-node', 'session.close', 'session:' || c.id, jsonb_build_object(
    'user_id', c.user_id, 'reason', c.close_reason, 'end_reason', c.end_reason,
    'rx_bytes', c.rx_bytes, 'tx_bytes', c.tx_bytes) FROM closed c)
SELECT id::text, end_reason, (SELECT string_agg(id::text, ',') FROM finished)
  FROM closed;
COMMIT;
SELECT count(pg_notify(c, p)) FROM unnest(ARRAY['warden_acks'], ARRAY[:node]) AS w(c, p);
\endpipeline
