-- Why every session ended, as one code of a fixed list, and the events
-- Warden delivers to operators' webhooks: a transactional outbox filled
-- from the audit log by a trigger, so an event leaves exactly when the
-- change that made it commits.

-- end_reason: the code ("client", "evicted", "killed_by_admin", "idle",
-- ...); close_reason stays the sentence. Sessions that ended before this
-- version get the code their sentence suggests.
ALTER TABLE sessions ADD COLUMN end_reason text NOT NULL DEFAULT '';
UPDATE sessions SET end_reason = CASE close_reason
    WHEN 'lost' THEN 'lost_on_node'
    WHEN 'node removed' THEN 'node_removed'
    WHEN 'device revoked' THEN 'device_revoked'
    WHEN 'node drained' THEN 'node_drained'
    WHEN 'refresh_token_replay' THEN 'replay_detected'
    WHEN 'disconnected by administrator' THEN 'killed_by_admin'
    ELSE CASE WHEN close_reason IN ('evicted', 'replaced', 'node_lost', 'user_disabled',
        'limit_lowered', 'policy_changed', 'quota_exceeded', 'idle', 'max_session',
        'account_expired', 'device_expired', 'password_changed', 'logout', 'not_admissible')
      THEN close_reason ELSE 'client' END
  END
WHERE state <> 'active';

-- Whether the node's agent is attached and heard from, as last announced
-- (node.online / node.offline events).
ALTER TABLE nodes ADD COLUMN online boolean NOT NULL DEFAULT false;

-- Signing secrets are sealed (base64) with the control plane's webhook key (they
-- must be read back to sign, so a hash will not do).
CREATE TABLE webhooks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url text NOT NULL,
  -- Types ("session.evicted") or prefixes ending in '.'; empty: all.
  event_types text[] NOT NULL DEFAULT '{}',
  description text NOT NULL DEFAULT '',
  secret_sealed text NOT NULL,
  previous_secret_sealed text,
  previous_secret_expires_at timestamptz,
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text NOT NULL DEFAULT '',
  -- The first failure since the last success, and the last success.
  failing_since timestamptz,
  last_delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, endpoint). payload is the exact body sent on every
-- attempt; message_id the webhook-id header, the same on every attempt.
-- A replica that takes a delivery moves next_attempt_at past its lease, so
-- one that dies mid-delivery leaves it due again for the others.
CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  message_id text NOT NULL,
  event_type text NOT NULL,
  payload text NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  last_http_status integer NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of_webhook ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at)
  WHERE status <> 'pending';

-- The event catalogue: which events an audit row is, and their data. Only
-- the fields named here leave Warden (no secrets are in the audit log, and
-- none are copied from it blindly). PL/pgSQL, not SQL: it runs for every
-- audit row while an endpoint is subscribed, and its plans are kept.
CREATE FUNCTION warden_webhook_events(action text, subject text, details jsonb)
  RETURNS TABLE (ordinal integer, type text, data jsonb)
  LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v jsonb := details - ARRAY['password', 'password_hash', 'secret', 'token', 'ticket'];
  subject_id text := split_part(subject, ':', 2);
BEGIN
  ordinal := 1;
  CASE action
    WHEN 'session.admit' THEN
      type := 'session.opened';
      data := jsonb_build_object('session_id', subject_id) || v;
    WHEN 'session.close', 'session.lost', 'session.node_lost', 'session.force_close' THEN
      type := 'session.closed';
      data := jsonb_strip_nulls(jsonb_build_object('session_id', subject_id,
        'user_id', v->'user_id', 'reason', v->'end_reason', 'message', v->'reason',
        'rx_bytes', v->'rx_bytes', 'tx_bytes', v->'tx_bytes', 'node', v->'node'));
    WHEN 'session.deny' THEN
      type := 'session.denied';
      data := v;
      IF v->>'reason' IN ('device_limit_reached', 'node_limit_reached', 'label_limit_reached')
      THEN
        RETURN NEXT;
        ordinal := 2;
        type := 'user.limit_reached';
      END IF;
    WHEN 'session.evict' THEN
      type := 'session.evicted';
      data := jsonb_build_object('session_id', subject_id, 'reason', 'evicted') || v;
    WHEN 'session.kill' THEN
      type := 'session.killed';
      data := jsonb_strip_nulls(jsonb_build_object('session_id', subject_id,
        'user_id', v->'user_id', 'node_id', v->'node_id', 'reason', v->'end_reason',
        'message', v->'reason'));
    WHEN 'user.create' THEN
      type := 'user.created';
      data := jsonb_build_object('user_id', subject_id, 'username', v->'username');
    WHEN 'user.delete' THEN
      type := 'user.deleted';
      data := jsonb_build_object('user_id', subject_id) || v;
    WHEN 'user.update' THEN
      IF NOT v->'changed' ? 'disabled' THEN
        RETURN;
      END IF;
      type := CASE WHEN (v->>'disabled')::boolean THEN 'user.disabled' ELSE 'user.enabled' END;
      data := jsonb_build_object('user_id', subject_id, 'username', v->'username');
    WHEN 'user.expiring' THEN
      type := action;
      data := jsonb_build_object('user_id', subject_id) || v;
    WHEN 'quota.threshold', 'quota.exceeded', 'quota.released' THEN
      type := action;
      data := jsonb_build_object('user_id', subject_id) || v;
    WHEN 'refresh_token_replay' THEN
      type := 'family.replay_detected';
      data := jsonb_build_object('family_id', subject_id) || v;
    WHEN 'node.online', 'node.offline', 'node.drain', 'node.undrain', 'node.remove' THEN
      type := CASE action WHEN 'node.drain' THEN 'node.drained'
                          WHEN 'node.undrain' THEN 'node.undrained'
                          WHEN 'node.remove' THEN 'node.removed' ELSE action END;
      data := jsonb_build_object('node_id', subject_id) || v;
    WHEN 'webhook.disabled' THEN
      type := action;
      data := jsonb_build_object('webhook_id', subject_id) || v;
    ELSE
      RETURN;
  END CASE;
  RETURN NEXT;
END $$;

-- Does a subscription (types and prefixes; empty: all) take this type?
CREATE FUNCTION warden_webhook_subscribed(subscription text[], type text)
  RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  entry text;
BEGIN
  IF cardinality(subscription) = 0 THEN
    RETURN true;
  END IF;
  FOREACH entry IN ARRAY subscription LOOP
    IF entry = type OR (right(entry, 1) = '.' AND starts_with(type, entry)) THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END $$;

-- The body of an event: {"id", "type", "timestamp", "actor", "subject",
-- "data"}; the id is that of the audit row (and the event's ordinal when
-- one row makes several).
CREATE FUNCTION warden_webhook_payload(event_id text, type text, at timestamptz, actor text,
                                       subject text, data jsonb)
  RETURNS text LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', event_id, 'type', type,
    'timestamp', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor', actor, 'subject', subject, 'data', jsonb_strip_nulls(data))::text
$$;

-- Whether the senders found nothing due and sleep (they set it; the first
-- event after that clears it and wakes them with NOTIFY). One row: reading
-- it costs an event next to nothing, and NOTIFY is sent once per idle
-- spell instead of once per event (transactions that NOTIFY commit one at
-- a time). A wake-up lost to a race is made up by the senders' poll.
CREATE TABLE webhook_senders (
  one boolean PRIMARY KEY DEFAULT true CONSTRAINT webhook_senders_one_row CHECK (one),
  idle boolean NOT NULL DEFAULT true
);
INSERT INTO webhook_senders DEFAULT VALUES;

-- Once per statement that wrote audit rows: one delivery per event and
-- subscribed endpoint, in the same transaction.
CREATE FUNCTION warden_webhook_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  queued bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhooks WHERE enabled) THEN
    RETURN NULL;
  END IF;
  WITH events AS (
    SELECT 'evt_' || a.id || CASE WHEN e.ordinal > 1 THEN '_' || e.ordinal ELSE '' END AS id,
           e.type, a.at, a.actor, a.subject, e.data
    FROM new_audit_events a
    CROSS JOIN LATERAL warden_webhook_events(a.action, a.subject, a.details) e),
  inserted AS (
    INSERT INTO webhook_deliveries (webhook_id, message_id, event_type, payload)
    SELECT w.id, ev.id, ev.type,
           warden_webhook_payload(ev.id, ev.type, ev.at, ev.actor, ev.subject, ev.data)
    FROM events ev JOIN webhooks w
      ON w.enabled AND warden_webhook_subscribed(w.event_types, ev.type)
    RETURNING 1)
  SELECT count(*) INTO queued FROM inserted;
  IF queued > 0 THEN
    UPDATE webhook_senders SET idle = false WHERE idle;
    IF FOUND THEN
      PERFORM pg_notify('warden_webhooks', '');
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
  REFERENCING NEW TABLE AS new_audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION warden_webhook_fanout();
