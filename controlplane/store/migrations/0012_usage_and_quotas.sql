-- Traffic accounting and data quotas: an exact ledger of the bytes every
-- session moved, summed per user, day and month (UTC), node and protocol,
-- and the quotas plans sell on top of it.

-- What a session's node reported last: the VPN server's raw counters and
-- the report's sequence number. A report counts only when its sequence is
-- higher than the last one applied (a redelivered or reordered report
-- counts nothing); counters lower than the last ones mean the server
-- started over, and count from zero. rx_bytes/tx_bytes become the bytes
-- counted for the session; live sessions start from what they had.
ALTER TABLE sessions
  ADD COLUMN usage_sequence bigint NOT NULL DEFAULT 0,
  ADD COLUMN counter_rx bigint NOT NULL DEFAULT 0,
  ADD COLUMN counter_tx bigint NOT NULL DEFAULT 0;
UPDATE sessions SET counter_rx = rx_bytes, counter_tx = tx_bytes WHERE state <> 'closed';

-- rx: bytes the node received from the client (upload); tx: bytes it sent
-- to the client (download). node_id has no foreign key: the history of a
-- node outlives the node.
CREATE TABLE usage_daily (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  day date NOT NULL,
  node_id uuid NOT NULL,
  protocol text NOT NULL,
  rx_bytes bigint NOT NULL DEFAULT 0,
  tx_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day, node_id, protocol)
);
-- Fleet totals of a day, the top users of a day and the retention sweep.
CREATE INDEX usage_daily_day ON usage_daily (day, user_id);

CREATE TABLE usage_monthly (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  month date NOT NULL CONSTRAINT usage_monthly_first_day CHECK (extract(day FROM month) = 1),
  node_id uuid NOT NULL,
  protocol text NOT NULL,
  rx_bytes bigint NOT NULL DEFAULT 0,
  tx_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, month, node_id, protocol)
);
CREATE INDEX usage_monthly_month ON usage_monthly (month, user_id);

-- The quota: data_quota_bytes (rx + tx) per period; quota_period_days 0 is
-- the calendar month (UTC), N a rolling window of the last N days (today
-- included). NULL: inherit (a user's from the plan; a plan's: no quota).
ALTER TABLE plans
  ADD COLUMN data_quota_bytes bigint CHECK (data_quota_bytes >= 0),
  ADD COLUMN quota_period_days integer CHECK (quota_period_days BETWEEN 0 AND 366),
  ADD COLUMN on_quota_exceeded text CHECK (on_quota_exceeded IN ('deny', 'throttle')),
  ADD COLUMN throttle_bytes_per_second bigint CHECK (throttle_bytes_per_second >= 1024);
ALTER TABLE users
  ADD COLUMN data_quota_bytes bigint CHECK (data_quota_bytes >= 0),
  ADD COLUMN quota_period_days integer CHECK (quota_period_days BETWEEN 0 AND 366),
  ADD COLUMN on_quota_exceeded text CHECK (on_quota_exceeded IN ('deny', 'throttle')),
  ADD COLUMN throttle_bytes_per_second bigint CHECK (throttle_bytes_per_second >= 1024),
  -- Enforcement state of the period starting quota_period_start: the
  -- highest threshold announced (0, 80, 100) and whether the user is held
  -- (denied or throttled) until the period rolls over or support helps.
  ADD COLUMN quota_period_start date,
  ADD COLUMN quota_notified_percent smallint NOT NULL DEFAULT 0,
  ADD COLUMN quota_exceeded boolean NOT NULL DEFAULT false;
-- The quota sweep visits the users with something announced or enforced.
CREATE INDEX users_quota_marked ON users (id) WHERE quota_exceeded OR quota_notified_percent > 0;

-- What support did: a reset forgets the usage of the period so far (bytes:
-- what the reset day had counted by then), a grant adds bytes to the quota
-- of the periods that contain it.
CREATE TABLE usage_adjustments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind text NOT NULL CONSTRAINT usage_adjustments_kind_known CHECK (kind IN ('reset', 'grant')),
  at timestamptz NOT NULL DEFAULT now(),
  bytes bigint NOT NULL CHECK (bytes >= 0),
  actor text NOT NULL,
  reason text NOT NULL DEFAULT ''
);
CREATE INDEX usage_adjustments_user ON usage_adjustments (user_id, at);

-- The first day of the quota window that contains `at`.
CREATE FUNCTION warden_quota_window_start(period_days integer, at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN coalesce(period_days, 0) = 0
    THEN date_trunc('month', at AT TIME ZONE 'UTC')::date
    ELSE (at AT TIME ZONE 'UTC')::date - (period_days - 1) END
$$;

-- Bytes (rx + tx) a user used in the window from `window_start`, after the
-- latest reset in that window.
CREATE FUNCTION warden_quota_used(uid uuid, window_start date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  WITH reset AS (
    SELECT (at AT TIME ZONE 'UTC')::date AS day, bytes FROM usage_adjustments
    WHERE user_id = uid AND kind = 'reset' AND at >= window_start::timestamp AT TIME ZONE 'UTC'
    ORDER BY at DESC LIMIT 1)
  SELECT greatest(0, coalesce((
      SELECT sum(d.rx_bytes + d.tx_bytes) FROM usage_daily d
      WHERE d.user_id = uid AND d.day >= greatest(window_start, coalesce((SELECT day FROM reset),
                                                                          window_start))), 0)
    - coalesce((SELECT bytes FROM reset), 0))::bigint
$$;

-- Extra bytes granted in the window from `window_start`.
CREATE FUNCTION warden_quota_granted(uid uuid, window_start date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(bytes), 0)::bigint FROM usage_adjustments
  WHERE user_id = uid AND kind = 'grant' AND at >= window_start::timestamp AT TIME ZONE 'UTC'
$$;
