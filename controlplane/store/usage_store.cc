#include "controlplane/store/usage_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// The effective quota columns, the user's own over the plan's (as
// model::ResolvePolicy resolves them; no quota, a calendar month and DENY
// by default), and the window they give now. Needs `users u LEFT JOIN plans
// p` and yields q.quota, q.period_days, q.window_start.
#define WARDEN_QUOTA_WINDOW                                                                    \
  "CROSS JOIN LATERAL (SELECT coalesce(u.data_quota_bytes, p.data_quota_bytes, 0) AS quota, "  \
  "  coalesce(u.quota_period_days, p.quota_period_days, 0) AS period_days, "                   \
  "  warden_quota_window_start(coalesce(u.quota_period_days, p.quota_period_days, 0), now()) " \
  "    AS window_start) q "

// A standing's columns, in StandingFromRow's order.
#define WARDEN_STANDING_COLUMNS                                                          \
  "u.id::text, q.quota, warden_quota_granted(u.id, q.window_start), "                     \
  "warden_quota_used(u.id, q.window_start), q.window_start::text, u.quota_notified_percent, " \
  "u.quota_exceeded, q.period_days, coalesce(u.on_quota_exceeded, p.on_quota_exceeded, 'deny') "

constexpr Statement kStatements[] = {
    // Samples are matched to sessions by id (closed ones too: a session's
    // last samples may arrive after its close) or by key among the live
    // sessions of the node; the highest sequence of a batch wins. A sample
    // counts when its sequence is above the session's last one: the
    // difference to the last counters, or, when they went down (the VPN
    // server started over), the counters themselves. The sessions are
    // locked first, so the check sees any sample another replica applied
    // meanwhile. Rows are then added to the user's day and month.
    {"usage.apply",
     "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], "
     "  $5::bigint[], $6::bigint[]) AS r(node_id, session_id, session_key, seq, rx, tx)), "
     "by_id AS (SELECT s.id, r.seq, r.rx, r.tx FROM input r JOIN sessions s "
     "  ON s.id = NULLIF(r.session_id, '')::uuid AND s.node_id = r.node_id), "
     "by_key AS (SELECT s.id, r.seq, r.rx, r.tx FROM input r JOIN sessions s "
     "  ON r.session_id = '' AND s.node_id = r.node_id AND s.session_key = r.session_key "
     "  AND s.state <> 'closed'), "
     "latest AS (SELECT DISTINCT ON (id) * FROM (SELECT * FROM by_id UNION ALL "
     "  SELECT * FROM by_key) m ORDER BY id, seq DESC), "
     "counted AS (SELECT s.id, s.user_id, s.node_id, s.protocol, l.seq, l.rx, l.tx, "
     "  CASE WHEN l.seq = 0 THEN greatest(l.rx - s.counter_rx, 0) "
     "    WHEN l.rx < s.counter_rx OR l.tx < s.counter_tx THEN l.rx "
     "    ELSE l.rx - s.counter_rx END AS drx, "
     "  CASE WHEN l.seq = 0 THEN greatest(l.tx - s.counter_tx, 0) "
     "    WHEN l.rx < s.counter_rx OR l.tx < s.counter_tx THEN l.tx "
     "    ELSE l.tx - s.counter_tx END AS dtx "
     "  FROM sessions s JOIN latest l ON s.id = l.id "
     "  WHERE l.seq > s.usage_sequence OR l.seq = 0 ORDER BY s.id FOR UPDATE OF s), "
     "updated AS (UPDATE sessions s SET usage_sequence = greatest(s.usage_sequence, c.seq), "
     "  counter_rx = CASE WHEN c.seq = 0 THEN greatest(s.counter_rx, c.rx) ELSE c.rx END, "
     "  counter_tx = CASE WHEN c.seq = 0 THEN greatest(s.counter_tx, c.tx) ELSE c.tx END, "
     "  rx_bytes = s.rx_bytes + c.drx, tx_bytes = s.tx_bytes + c.dtx, "
     "  last_seen_at = CASE WHEN s.state <> 'closed' THEN now() ELSE s.last_seen_at END, "
     // Counters that moved mean traffic (what the idle timeout measures).
     "  last_traffic_at = CASE WHEN c.drx > 0 OR c.dtx > 0 THEN now() ELSE s.last_traffic_at END "
     // The id list lets every partition be probed by its index: joined on
     // the ids alone, a partition without statistics yet (a new month) is
     // planned as a scan of all of it.
     "  FROM counted c WHERE s.id = c.id AND s.id = ANY (ARRAY(SELECT id FROM counted)) "
     "  RETURNING s.id), "
     "traffic AS (SELECT user_id, node_id, protocol, sum(drx)::bigint AS rx, "
     "  sum(dtx)::bigint AS tx FROM counted WHERE drx > 0 OR dtx > 0 GROUP BY 1, 2, 3), "
     "daily AS (INSERT INTO usage_daily AS d (user_id, day, node_id, protocol, rx_bytes, tx_bytes) "
     "  SELECT user_id, (now() AT TIME ZONE 'UTC')::date, node_id, protocol, rx, tx FROM traffic "
     "  ORDER BY 1, 3, 4 ON CONFLICT (user_id, day, node_id, protocol) DO UPDATE SET "
     "  rx_bytes = d.rx_bytes + EXCLUDED.rx_bytes, tx_bytes = d.tx_bytes + EXCLUDED.tx_bytes), "
     "monthly AS (INSERT INTO usage_monthly AS m (user_id, month, node_id, protocol, rx_bytes, "
     "  tx_bytes) SELECT user_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, node_id, "
     "  protocol, rx, tx FROM traffic ORDER BY 1, 3, 4 "
     "  ON CONFLICT (user_id, month, node_id, protocol) DO UPDATE SET "
     "  rx_bytes = m.rx_bytes + EXCLUDED.rx_bytes, tx_bytes = m.tx_bytes + EXCLUDED.tx_bytes) "
     "SELECT user_id::text, protocol, sum(rx)::bigint, sum(tx)::bigint FROM traffic "
     "CROSS JOIN (SELECT count(*) FROM updated) AS applied GROUP BY 1, 2"},
    {"usage.standings", "SELECT " WARDEN_STANDING_COLUMNS
                        "FROM users u LEFT JOIN plans p ON p.id = u.plan_id " WARDEN_QUOTA_WINDOW
                        "WHERE u.id = ANY($1::uuid[]) AND (q.quota > 0 OR u.quota_exceeded "
                        "  OR u.quota_notified_percent > 0)"},
    {"usage.lock_standing",
     "SELECT " WARDEN_STANDING_COLUMNS
     ", u.username, coalesce(u.throttle_bytes_per_second, p.throttle_bytes_per_second, 0), "
     "coalesce(u.bandwidth_bytes_per_second, p.bandwidth_bytes_per_second, 0) "
     "FROM users u LEFT JOIN plans p ON p.id = u.plan_id " WARDEN_QUOTA_WINDOW
     "WHERE u.id = $1::uuid FOR UPDATE OF u"},
    {"usage.mark",
     "UPDATE users SET quota_notified_percent = $2, quota_exceeded = $3, "
     "quota_period_start = $4::date WHERE id = $1::uuid"},
    // Bandwidth for the user's QUIC tunnels, on every node carrying one.
    {"usage.set_quic_bandwidth",
     "WITH cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT DISTINCT node_id, 'set_bandwidth', "
     "    jsonb_build_object('user_id', $1::text, 'bandwidth', $2::bigint) "
     "  FROM sessions WHERE user_id = $1::uuid AND state = 'active' AND protocol = 'quic' "
     "  RETURNING id, node_id::text), "
     "notified AS (SELECT count(pg_notify('warden_commands', node_id)) AS n FROM cmds) "
     "SELECT id, node_id FROM cmds CROSS JOIN notified"},
    {"usage.live_unshaped",
     "SELECT id::text FROM sessions WHERE user_id = $1::uuid AND state = 'active' "
     "AND protocol <> 'quic'"},
    // A reset remembers what today had counted by then (see warden_quota_used).
    {"usage.adjust",
     "INSERT INTO usage_adjustments (user_id, kind, bytes, actor, reason) "
     "SELECT $1::uuid, $2, CASE WHEN $2 = 'reset' THEN (SELECT coalesce(sum(rx_bytes + tx_bytes), "
     "  0) FROM usage_daily WHERE user_id = $1::uuid "
     "  AND day = (now() AT TIME ZONE 'UTC')::date) ELSE $3::bigint END, $4, $5 RETURNING bytes"},
    {"usage.marked_users",
     "SELECT id::text FROM users WHERE (quota_exceeded OR quota_notified_percent > 0) "
     "AND id > $1::uuid ORDER BY id LIMIT $2"},
    {"usage.by_day",
     "SELECT d.day::text, d.protocol, d.node_id::text, coalesce(n.name, ''), d.rx_bytes, "
     "d.tx_bytes FROM usage_daily d LEFT JOIN nodes n ON n.id = d.node_id "
     "WHERE d.user_id = $1::uuid AND d.day BETWEEN $2::date AND $3::date "
     "ORDER BY d.day, d.protocol, n.name"},
    {"usage.by_month",
     "SELECT m.month::text, m.protocol, m.node_id::text, coalesce(n.name, ''), m.rx_bytes, "
     "m.tx_bytes FROM usage_monthly m LEFT JOIN nodes n ON n.id = m.node_id "
     "WHERE m.user_id = $1::uuid AND m.month BETWEEN $2::date AND $3::date "
     "ORDER BY m.month, m.protocol, n.name"},
    {"usage.top_days",
     "SELECT u.id::text, u.username, sum(d.rx_bytes)::bigint, sum(d.tx_bytes)::bigint "
     "FROM usage_daily d JOIN users u ON u.id = d.user_id "
     "WHERE d.day BETWEEN $1::date AND $2::date GROUP BY u.id, u.username "
     "ORDER BY sum(d.rx_bytes + d.tx_bytes) DESC, u.username LIMIT $3"},
    {"usage.top_months",
     "SELECT u.id::text, u.username, sum(m.rx_bytes)::bigint, sum(m.tx_bytes)::bigint "
     "FROM usage_monthly m JOIN users u ON u.id = m.user_id "
     "WHERE m.month BETWEEN $1::date AND $2::date GROUP BY u.id, u.username "
     "ORDER BY sum(m.rx_bytes + m.tx_bytes) DESC, u.username LIMIT $3"},
    {"usage.fleet_today",
     "SELECT coalesce(sum(rx_bytes), 0)::bigint, coalesce(sum(tx_bytes), 0)::bigint "
     "FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date"},
    {"usage.standing", "SELECT " WARDEN_STANDING_COLUMNS
                       "FROM users u LEFT JOIN plans p ON p.id = u.plan_id " WARDEN_QUOTA_WINDOW
                       "WHERE u.id = $1::uuid"},
};

#undef WARDEN_STANDING_COLUMNS
#undef WARDEN_QUOTA_WINDOW

// A pqxx::field or a TextField.
template <typename Field>
absl::CivilDay DayField(const Field& field) {
  absl::CivilDay day;
  (void)absl::ParseCivilTime(field.c_str(), &day);
  return day;
}

std::string DayParam(absl::CivilDay day) { return absl::FormatCivilTime(day); }

// A pqxx::row or a TextRow.
template <typename Row>
model::QuotaStanding StandingFromRow(const Row& row) {
  return model::QuotaStanding{.user_id = row[0].template as<std::string>(),
                              .quota_bytes = row[1].template as<int64_t>(),
                              .granted_bytes = row[2].template as<int64_t>(),
                              .used_bytes = row[3].template as<int64_t>(),
                              .window_start = DayField(row[4]),
                              .notified_percent = row[5].template as<int>(),
                              .held = row[6].template as<bool>(),
                              .period_days = row[7].template as<int>(),
                              .action = row[8].template as<std::string>() == "throttle"
                                            ? model::QuotaAction::kThrottle
                                            : model::QuotaAction::kDeny};
}

std::vector<QueuedCommand> SetQuicBandwidth(pqxx::work& tx, const std::string& user_id,
                                            int64_t bandwidth) {
  std::vector<QueuedCommand> queued;
  for (const auto& row : tx.exec_prepared("usage.set_quic_bandwidth", user_id, bandwidth)) {
    queued.push_back({.command_id = row[0].as<int64_t>(), .node_id = row[1].as<std::string>()});
  }
  return queued;
}

// SettleQuota's work, inside a transaction.
absl::StatusOr<QuotaSettlement> SettleQuotaInTransaction(pqxx::work& tx,
                                                         const std::string& user_id,
                                                         QuotaJudge judge) {
  pqxx::result rows = tx.exec_prepared("usage.lock_standing", user_id);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
  const pqxx::row& row = rows[0];
  QuotaSettlement settled;
  settled.standing = StandingFromRow(row);
  settled.verdict = judge(settled.standing);
  if (!settled.verdict.Changes(settled.standing)) return settled;
  const std::string username = row[9].as<std::string>();
  const bool throttle = settled.standing.action == model::QuotaAction::kThrottle;
  const int64_t throttle_rate = row[10].as<int64_t>();
  const int64_t bandwidth = row[11].as<int64_t>();
  const model::QuotaStanding& standing = settled.standing;
  const model::QuotaVerdict& verdict = settled.verdict;
  const bool held = verdict.hold || (standing.held && !verdict.release);
  tx.exec_prepared("usage.mark", user_id, verdict.notified_percent, held,
                   DayParam(standing.window_start));
  const model::Actor system{"system"};
  const std::string subject = absl::StrCat("user:", user_id);
  const nlohmann::json usage = {{"username", username},
                                {"used_bytes", standing.used_bytes},
                                {"quota_bytes", standing.quota_bytes},
                                {"granted_bytes", standing.granted_bytes},
                                {"window_start", DayParam(standing.window_start)}};
  for (int percent : verdict.announce) {
    nlohmann::json details = usage;
    details["percent"] = percent;
    AppendAudit(tx, system, "quota.threshold", subject, details);
  }
  if (verdict.hold) {
    if (throttle && throttle_rate > 0) {
      settled.commands = SetQuicBandwidth(tx, user_id, throttle_rate);
      settled.nodes_throttled = static_cast<int>(settled.commands.size());
      // WireGuard and OpenVPN cannot be shaped: those sessions end.
      std::vector<std::string> unshaped;
      for (const auto& session : tx.exec_prepared("usage.live_unshaped", user_id)) {
        unshaped.push_back(session[0].as<std::string>());
      }
      std::vector<QueuedCommand> kills = KillSessionsInTransaction(
          tx, system, unshaped, model::EndBecause(model::end_reason::kQuotaExceeded));
      settled.sessions_ended = static_cast<int>(kills.size());
      settled.commands.insert(settled.commands.end(), kills.begin(), kills.end());
    } else {
      settled.commands = KillUserSessionsInTransaction(
          tx, system, user_id, model::EndBecause(model::end_reason::kQuotaExceeded));
      settled.sessions_ended = static_cast<int>(settled.commands.size());
    }
    nlohmann::json details = usage;
    details["action"] = throttle ? "throttle" : "deny";
    details["sessions_ended"] = settled.sessions_ended;
    AppendAudit(tx, system, "quota.exceeded", subject, details);
  }
  if (verdict.release) {
    if (throttle) {
      settled.commands = SetQuicBandwidth(tx, user_id, bandwidth);
      settled.nodes_throttled = static_cast<int>(settled.commands.size());
    }
    AppendAudit(tx, system, "quota.released", subject, usage);
  }
  return settled;
}

absl::StatusOr<QuotaSettlement> AdjustThenSettle(Database& db, const model::Actor& actor,
                                                 const std::string& user_id,
                                                 const std::string& kind, int64_t bytes,
                                                 const std::string& reason, QuotaJudge judge) {
  return db.Transact(
      {.operation = absl::StrCat("record usage ", kind)},
      [&](pqxx::work& tx) -> absl::StatusOr<QuotaSettlement> {
        WARDEN_ASSIGN_OR_RETURN(UserName user, FindUser(tx, user_id, ""));
        const int64_t recorded =
            tx.exec_prepared1("usage.adjust", user.id, kind, bytes, actor.name, reason)[0]
                .as<int64_t>();
        AppendAudit(tx, actor, kind == "reset" ? "usage.reset" : "usage.grant",
                    absl::StrCat("user:", user.id),
                    {{"username", user.username}, {"bytes", recorded}, {"reason", reason}});
        return SettleQuotaInTransaction(tx, user.id, judge);
      });
}

}  // namespace

std::span<const Statement> UsageStatements() { return kStatements; }

size_t QueueUsageApply(StatementRunner& db, std::span<const model::UsageReport> reports) {
  std::vector<std::string> nodes, ids, keys;
  std::vector<int64_t> sequences, rx, txb;
  for (const model::UsageReport& report : reports) {
    nodes.push_back(report.node_id);
    ids.push_back(report.session_id);
    keys.push_back(report.session_key);
    sequences.push_back(report.sample.sequence);
    rx.push_back(report.sample.rx_bytes);
    txb.push_back(report.sample.tx_bytes);
  }
  return db.Queue(MakeCall("usage.apply", PgArray(nodes), PgTextArray(ids), PgTextArray(keys),
                           PgArray(sequences), PgArray(rx), PgArray(txb)));
}

absl::StatusOr<LedgerUpdate> FinishUsageApply(StatementRunner& db, size_t applied, bool last) {
  LedgerUpdate update;
  std::vector<std::string> users;
  const TextResult& counted = db.Result(applied);
  for (int i = 0; i < counted.size(); ++i) {
    const TextRow row = counted[i];
    model::TrafficCount count{.user_id = row[0].as<std::string>(),
                              .protocol = ProtocolFromName(row[1].as<std::string>())
                                              .value_or(model::Protocol::kOpenVpn),
                              .rx_bytes = row[2].as<int64_t>(),
                              .tx_bytes = row[3].as<int64_t>()};
    if (users.empty() || users.back() != count.user_id) users.push_back(count.user_id);
    update.traffic.push_back(std::move(count));
  }
  if (users.empty()) {
    if (last) WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/true));
    return update;
  }
  const size_t standings = db.Queue(MakeCall("usage.standings", PgArray(users)));
  WARDEN_RETURN_IF_ERROR(db.Flush(last));
  const TextResult& rows = db.Result(standings);
  for (int i = 0; i < rows.size(); ++i) update.standings.push_back(StandingFromRow(rows[i]));
  return update;
}

LedgerUpdate ApplyUsageInTransaction(pqxx::work& tx, std::span<const model::UsageReport> reports) {
  if (reports.empty()) return LedgerUpdate{};
  TransactionRunner db(tx);
  const size_t applied = QueueUsageApply(db, reports);
  // Statements run as they are queued here: errors are exceptions, and a
  // flush has nothing left to fail.
  return *FinishUsageApply(db, applied, /*last=*/false);
}

// On a pipeline connection, as a node's close report: the statement's plan
// is made once there. Planned for each batch, as libpqxx's connections
// leave it, it cost several times its execution (the plan opens every
// partition of the session history).
absl::StatusOr<LedgerUpdate> UsageStore::Apply(std::span<const model::UsageReport> reports) {
  if (reports.empty()) return LedgerUpdate{};
  return db_.Pipelined({.operation = "apply usage"}, std::nullopt,
                       [&](PipelineRunner& db) -> absl::StatusOr<LedgerUpdate> {
                         const size_t applied = QueueUsageApply(db, reports);
                         WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/false));
                         return FinishUsageApply(db, applied, /*last=*/true);
                       });
}

absl::StatusOr<QuotaSettlement> UsageStore::SettleQuota(const std::string& user_id,
                                                        QuotaJudge judge) {
  return db_.Transact({.operation = "settle quota"},
                      [&](pqxx::work& tx) -> absl::StatusOr<QuotaSettlement> {
                        return SettleQuotaInTransaction(tx, user_id, judge);
                      });
}

absl::StatusOr<QuotaSettlement> UsageStore::ResetUsage(const model::Actor& actor,
                                                       const std::string& user_id,
                                                       const std::string& reason,
                                                       QuotaJudge judge) {
  return AdjustThenSettle(db_, actor, user_id, "reset", 0, reason, judge);
}

absl::StatusOr<QuotaSettlement> UsageStore::GrantExtraQuota(const model::Actor& actor,
                                                            const std::string& user_id,
                                                            int64_t bytes,
                                                            const std::string& reason,
                                                            QuotaJudge judge) {
  return AdjustThenSettle(db_, actor, user_id, "grant", bytes, reason, judge);
}

absl::StatusOr<model::QuotaStanding> UsageStore::Standing(const std::string& user_id) {
  return db_.Autocommit({.operation = "read quota standing", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::QuotaStanding> {
                          pqxx::result rows = tx.exec_prepared("usage.standing", user_id);
                          if (rows.empty())
                            return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
                          return StandingFromRow(rows[0]);
                        });
}

absl::StatusOr<std::vector<std::string>> UsageStore::MarkedUsers(const std::string& after,
                                                                 int limit) {
  return db_.Autocommit(
      {.operation = "list users with quota marks", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<std::string>> {
        std::vector<std::string> users;
        for (const auto& row : tx.exec_prepared(
                 "usage.marked_users",
                 after.empty() ? "00000000-0000-0000-0000-000000000000" : after, limit)) {
          users.push_back(row[0].as<std::string>());
        }
        return users;
      });
}

absl::StatusOr<std::vector<model::UsageRow>> UsageStore::Usage(const std::string& user_id,
                                                               absl::CivilDay from,
                                                               absl::CivilDay to,
                                                               UsageGranularity granularity) {
  return db_.Autocommit(
      {.operation = "read usage", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::UsageRow>> {
        std::vector<model::UsageRow> usage;
        for (const auto& row : tx.exec_prepared(
                 granularity == UsageGranularity::kMonth ? "usage.by_month" : "usage.by_day",
                 user_id, DayParam(from), DayParam(to))) {
          usage.push_back(model::UsageRow{
              .period = DayField(row[0]),
              .protocol =
                  ProtocolFromName(row[1].as<std::string>()).value_or(model::Protocol::kOpenVpn),
              .node_id = row[2].as<std::string>(),
              .node_name = row[3].as<std::string>(),
              .rx_bytes = row[4].as<int64_t>(),
              .tx_bytes = row[5].as<int64_t>()});
        }
        return usage;
      });
}

absl::StatusOr<std::vector<model::UserTraffic>> UsageStore::TopUsers(absl::CivilDay from,
                                                                     absl::CivilDay to,
                                                                     UsageGranularity granularity,
                                                                     int limit) {
  return db_.Autocommit(
      {.operation = "rank users by traffic", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::UserTraffic>> {
        std::vector<model::UserTraffic> top;
        for (const auto& row : tx.exec_prepared(
                 granularity == UsageGranularity::kMonth ? "usage.top_months" : "usage.top_days",
                 DayParam(from), DayParam(to), limit)) {
          top.push_back(model::UserTraffic{.user_id = row[0].as<std::string>(),
                                           .username = row[1].as<std::string>(),
                                           .rx_bytes = row[2].as<int64_t>(),
                                           .tx_bytes = row[3].as<int64_t>()});
        }
        return top;
      });
}

absl::StatusOr<std::pair<int64_t, int64_t>> UsageStore::FleetToday() {
  return db_.Autocommit(
      {.operation = "sum today's traffic", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::pair<int64_t, int64_t>> {
        pqxx::row row = tx.exec_prepared1("usage.fleet_today");
        return std::make_pair(row[0].as<int64_t>(), row[1].as<int64_t>());
      });
}

}  // namespace warden::control::store
