-- History that grows with traffic (the audit log, webhook deliveries, usage
-- by day) is partitioned by time, so that its retention drops a whole
-- partition (a catalogue change) instead of deleting rows under load.
-- Partitions are created ahead of time by every replica (and here), one per
-- calendar month or ISO week in UTC, and dropped once all they hold is older
-- than the table's retention. The table that held a history before this
-- version becomes its first partition, from the beginning of time to the
-- end of the span of its newest row, and goes once that has expired.

-- The partitioned history tables, their time column and partition span.
CREATE TABLE history_tables (
  table_name text PRIMARY KEY,
  key_column text NOT NULL,
  span text NOT NULL CONSTRAINT history_tables_span CHECK (span IN ('week', 'month'))
);

-- Every partition Warden made, with its range (lower_bound '-infinity' for
-- the first): the retention reads the ranges here rather than parsing them
-- back out of the catalogue.
CREATE TABLE history_partitions (
  partition_name text PRIMARY KEY,
  table_name text NOT NULL REFERENCES history_tables (table_name),
  lower_bound timestamptz NOT NULL,
  upper_bound timestamptz NOT NULL
);
CREATE INDEX history_partitions_range ON history_partitions (table_name, upper_bound);

-- Where the span holding `at` starts (UTC; weeks start on Monday). The
-- functions below run in UTC whatever the session's TimeZone, so that a
-- month or week added to a bound is one in UTC.
CREATE FUNCTION warden_history_span_start(span text, at timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE AS $$
  SELECT date_trunc(span, at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- Whether the key column is a date (else it is a timestamptz).
CREATE FUNCTION warden_history_keyed_by_date(table_name text, key_column text) RETURNS boolean
  LANGUAGE sql STABLE AS $$
  SELECT a.atttypid = 'date'::regtype FROM pg_attribute a
  WHERE a.attrelid = table_name::regclass AND a.attname = key_column
$$;

-- A bound as the literal of the key column's type (a date or a UTC time).
CREATE FUNCTION warden_history_bound(table_name text, key_column text, bound timestamptz)
  RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN warden_history_keyed_by_date(table_name, key_column)
    THEN to_char(bound AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    ELSE to_char(bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' END
$$;

-- Makes the partitions every history table lacks, from its newest one
-- through the span `ahead` spans after the current one; the number made. Each is made as a plain table holding
-- its range as a CHECK and then attached: attaching locks the parent only
-- against other DDL (SHARE UPDATE EXCLUSIVE), never against the writes going
-- on, and the CHECK spares the scan. Replicas take turns through an
-- advisory lock: one that finds it taken makes nothing this time (0).
CREATE FUNCTION warden_history_ensure(ahead integer) RETURNS integer
  LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
  t history_tables;
  lower_b timestamptz;
  upper_b timestamptz;
  part text;
  created integer := 0;
BEGIN
  -- "warden:history" folded into 63 bits, fixed forever.
  IF NOT pg_try_advisory_xact_lock(8603546389452350585) THEN
    RETURN 0;
  END IF;
  FOR t IN SELECT * FROM history_tables ORDER BY table_name LOOP
    SELECT max(upper_bound) INTO lower_b FROM history_partitions p
      WHERE p.table_name = t.table_name;
    WHILE lower_b <= warden_history_span_start(t.span, now()) + ahead * ('1 ' || t.span)::interval
    LOOP
      upper_b := warden_history_span_start(t.span, lower_b + ('1 ' || t.span)::interval);
      part := t.table_name || '_p' || to_char(lower_b AT TIME ZONE 'UTC', 'YYYYMMDD');
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                     'INCLUDING STORAGE INCLUDING COMPRESSION)', part, t.table_name);
      EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)', part,
                     part || '_range', t.key_column,
                     warden_history_bound(t.table_name, t.key_column, lower_b), t.key_column,
                     warden_history_bound(t.table_name, t.key_column, upper_b));
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     t.table_name, part,
                     warden_history_bound(t.table_name, t.key_column, lower_b),
                     warden_history_bound(t.table_name, t.key_column, upper_b));
      EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
      INSERT INTO history_partitions VALUES (part, t.table_name, lower_b, upper_b);
      created := created + 1;
      lower_b := upper_b;
    END LOOP;
  END LOOP;
  RETURN created;
END $$;

-- Turns `name` (renamed to `name`_before, its indexes and identity already
-- moved aside by the caller) into the first partition of the new `name`.
-- It holds what it held: its range ends with the current span, or with the
-- span of its newest row if that is later; empty, with the previous span.
CREATE FUNCTION warden_history_adopt(name text, key_column text, span text)
  RETURNS void LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
  newest timestamptz;
  first_upper timestamptz;
BEGIN
  INSERT INTO history_tables VALUES (name, key_column, span);
  EXECUTE format(CASE WHEN warden_history_keyed_by_date(name || '_before', key_column)
                   THEN 'SELECT max(%I)::timestamp AT TIME ZONE ''UTC'' FROM %I'
                   ELSE 'SELECT max(%I) FROM %I' END, key_column, name || '_before')
    INTO newest;
  first_upper := warden_history_span_start(span, now());
  IF newest IS NOT NULL THEN
    first_upper := greatest(first_upper + ('1 ' || span)::interval,
                            warden_history_span_start(span, newest) + ('1 ' || span)::interval);
  END IF;
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', name,
                 name || '_before', warden_history_bound(name, key_column, first_upper));
  INSERT INTO history_partitions VALUES (name || '_before', name, '-infinity', first_upper);
END $$;

-- The audit log. Its ids go on from where the old table's left off, so an
-- event id (and the webhook message id made of it) is never reused.
ALTER TABLE audit_events RENAME TO audit_events_before;
ALTER SEQUENCE audit_events_id_seq RENAME TO audit_events_before_id_seq;
ALTER INDEX audit_events_pkey RENAME TO audit_events_before_pkey;
ALTER INDEX audit_events_at RENAME TO audit_events_before_at;
ALTER INDEX audit_events_subject RENAME TO audit_events_before_subject;
ALTER INDEX audit_events_actor RENAME TO audit_events_before_actor;
ALTER INDEX audit_events_action_bytes RENAME TO audit_events_before_action_bytes;
DROP TRIGGER audit_events_webhooks ON audit_events_before;
ALTER TABLE audit_events_before DROP CONSTRAINT audit_events_before_pkey;
CREATE TABLE audit_events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
SELECT setval(pg_get_serial_sequence('audit_events', 'id'),
              (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
               FROM audit_events_before_id_seq), false);
ALTER TABLE audit_events_before ALTER COLUMN id DROP IDENTITY;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_subject ON audit_events (subject, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action_bytes ON audit_events (action COLLATE "C", id);
SELECT warden_history_adopt('audit_events', 'at', 'month');
CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
  REFERENCING NEW TABLE AS new_audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION warden_webhook_fanout();

-- History keeps no foreign keys: dropping a partition that has one locks
-- the table it references (users, webhooks) against every read while its
-- triggers go. Deleting a webhook deletes its deliveries, and a user their
-- usage, in the same statement instead (store/).

-- Webhook deliveries, a week a partition: their retention is days, and the
-- retry schedule ends long before it.
ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_before;
ALTER SEQUENCE webhook_deliveries_id_seq RENAME TO webhook_deliveries_before_id_seq;
ALTER INDEX webhook_deliveries_pkey RENAME TO webhook_deliveries_before_pkey;
ALTER INDEX webhook_deliveries_due RENAME TO webhook_deliveries_before_due;
ALTER INDEX webhook_deliveries_of_webhook RENAME TO webhook_deliveries_before_of_webhook;
ALTER INDEX webhook_deliveries_finished RENAME TO webhook_deliveries_before_finished;
ALTER TABLE webhook_deliveries_before DROP CONSTRAINT webhook_deliveries_before_pkey;
ALTER TABLE webhook_deliveries_before DROP CONSTRAINT webhook_deliveries_webhook_id_fkey;
CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY,
  webhook_id uuid NOT NULL,
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
  last_error text NOT NULL DEFAULT '',
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
SELECT setval(pg_get_serial_sequence('webhook_deliveries', 'id'),
              (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
               FROM webhook_deliveries_before_id_seq), false);
ALTER TABLE webhook_deliveries_before ALTER COLUMN id DROP IDENTITY;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of_webhook ON webhook_deliveries (webhook_id, id DESC);
SELECT warden_history_adopt('webhook_deliveries', 'created_at', 'week');

-- Usage by day (usage by month is small and kept).
ALTER TABLE usage_daily RENAME TO usage_daily_before;
ALTER INDEX usage_daily_pkey RENAME TO usage_daily_before_pkey;
ALTER INDEX usage_daily_day RENAME TO usage_daily_before_day;
ALTER TABLE usage_daily_before DROP CONSTRAINT usage_daily_user_id_fkey;
CREATE TABLE usage_daily (
  user_id uuid NOT NULL,
  day date NOT NULL,
  node_id uuid NOT NULL,
  protocol text NOT NULL,
  rx_bytes bigint NOT NULL DEFAULT 0,
  tx_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day, node_id, protocol)
) PARTITION BY RANGE (day);
CREATE INDEX usage_daily_day ON usage_daily (day, user_id);
SELECT warden_history_adopt('usage_daily', 'day', 'month');

-- This span and the next two; the replicas keep it so.
SELECT warden_history_ensure(2);
