#include "controlplane/store/device_store.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {
namespace {

// pg_advisory_xact_lock key: "wardenwg" as a big-endian integer, fixed forever.
#define WARDEN_POOL_LOCK_KEY "8602282538778392423"
static_assert(0x77617264656e7767 == 8602282538778392423);

// A device row `d` of user row `u`, as a node configures it (a jsonb object).
#define WARDEN_PEER_JSON                                                                   \
  "jsonb_build_object('device_id', d.id::text, 'public_key', d.public_key, "               \
  "'username', u.username, 'allowed_ips', jsonb_build_array(host(d.address_v4) || '/32') " \
  "|| CASE WHEN d.address_v6 IS NULL THEN '[]'::jsonb "                                    \
  "ELSE jsonb_build_array(host(d.address_v6) || '/128') END)"

// Queues the command for every peer in `peers` (id, kind, peer) on every
// WireGuard node that is not removed, and tells the replicas.
#define WARDEN_PEER_COMMANDS                                                               \
  "cmds AS (INSERT INTO commands (node_id, kind, payload) "                                \
  "  SELECT n.id, p.kind, jsonb_build_object('peer', p.peer) "                             \
  "  FROM peers p CROSS JOIN nodes n "                                                     \
  "  WHERE 'wireguard' = ANY(n.drivers) AND n.state <> 'removed' RETURNING id, node_id), " \
  "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmds) "

// Whether the effective policy of user row `u` (with plan row `p`) lets it
// use WireGuard on node row `n`: protocols allowed, node selector matched.
#define WARDEN_WIREGUARD_ALLOWED_ON_NODE                                                 \
  "(COALESCE(u.allowed_protocols, p.allowed_protocols, '{}') = '{}' "                    \
  "  OR 'wireguard' = ANY(COALESCE(u.allowed_protocols, p.allowed_protocols))) "         \
  "AND NOT EXISTS (SELECT 1 FROM jsonb_each(COALESCE(u.node_selector, p.node_selector, " \
  "  '{}')) sel WHERE NOT COALESCE(sel.value ? (n.labels->>sel.key), false)) "

#define WARDEN_DEVICE_COLUMNS                                                            \
  "d.id::text, d.user_id::text, u.username, d.public_key, d.label, host(d.address_v4), " \
  "COALESCE(host(d.address_v6), ''), epoch_us(d.created_at), epoch_us(d.expires_at)"

constexpr Statement kStatements[] = {
    {"devices.lock_pool", "SELECT pg_advisory_xact_lock(" WARDEN_POOL_LOCK_KEY ")"},
    {"devices.lock_pool_shared", "SELECT pg_advisory_xact_lock_shared(" WARDEN_POOL_LOCK_KEY ")"},
    {"devices.key_taken", "SELECT 1 FROM devices WHERE public_key = $1 AND revoked_at IS NULL"},
    // The lowest free address is the pool's first, or one past an address
    // in use; the partial unique index answers both lookups. Runs under the
    // pool lock, in a snapshot taken after it: no two registrations pick
    // the same address.
    // $1 user, $2 key, $3 label, $4 first, $5 last, $6 v4 network, $7 v6 base
    // ('' = none). A disabled user's device is told to no node (yet).
    {"devices.register",
     "WITH free AS ("
     "  SELECT c.a FROM ("
     "    SELECT $4::inet AS a "
     "    UNION ALL "
     "    SELECT d.address_v4 + 1 FROM devices d WHERE d.revoked_at IS NULL "
     "      AND d.address_v4 >= $4::inet AND d.address_v4 < $5::inet) c "
     "  WHERE NOT EXISTS (SELECT 1 FROM devices d "
     "    WHERE d.revoked_at IS NULL AND d.address_v4 = c.a) "
     "  ORDER BY c.a LIMIT 1), "
     "created AS ("
     "  INSERT INTO devices (user_id, public_key, label, address_v4, address_v6, expires_at) "
     "  SELECT $1::uuid, $2, $3, f.a, NULLIF($7, '')::inet + (f.a - $6::inet), "
     "    from_epoch_us($8) FROM free f "
     "  RETURNING *), "
     "peers AS (SELECT d.id, 'add_peer' AS kind, " WARDEN_PEER_JSON
     " AS peer FROM created d JOIN users u ON u.id = d.user_id "
     "  WHERE NOT u.disabled), " WARDEN_PEER_COMMANDS
     "SELECT c.id::text, host(c.address_v4), COALESCE(host(c.address_v6), ''), "
     "epoch_us(c.created_at), k.id, k.node_id::text "
     "FROM created c LEFT JOIN cmds k ON true CROSS JOIN notified"},
    {"devices.list",
     "SELECT " WARDEN_DEVICE_COLUMNS " FROM devices d JOIN users u ON u.id = d.user_id "
     "WHERE d.revoked_at IS NULL AND ($1 = '' OR d.user_id = NULLIF($1, '')::uuid) "
     "AND ($2::bigint IS NULL OR (d.created_at, d.id) > (from_epoch_us($2), $3::uuid)) "
     "ORDER BY d.created_at, d.id LIMIT $4"},
    {"devices.revoke",
     "WITH revoked AS ("
     "  UPDATE devices SET revoked_at = now() WHERE id = $1::uuid AND revoked_at IS NULL "
     "    AND ($2 = '' OR user_id = NULLIF($2, '')::uuid) "
     "  RETURNING *), "
     "peers AS (SELECT d.id, d.user_id, d.public_key, host(d.address_v4) AS address_v4, "
     "  u.username, 'remove_peer' AS kind, " WARDEN_PEER_JSON
     " AS peer FROM revoked d JOIN users u ON u.id = d.user_id), "
     "released AS (DELETE FROM wireguard_withheld w USING revoked r "
     "  WHERE w.device_id = r.id), " WARDEN_PEER_COMMANDS
     "SELECT p.user_id::text, p.public_key, p.username, p.address_v4, k.id, k.node_id::text "
     "FROM peers p LEFT JOIN cmds k ON true CROSS JOIN notified"},
    {"devices.count_of_user",
     "SELECT count(*) FROM devices WHERE user_id = $1::uuid AND revoked_at IS NULL"},
    // $1 the owner, $2 the device.
    {"devices.get_owned",
     "SELECT " WARDEN_DEVICE_COLUMNS " FROM devices d JOIN users u ON u.id = d.user_id "
     "WHERE d.id = $2::uuid AND d.user_id = $1::uuid AND d.revoked_at IS NULL"},
    {"devices.rename",
     "WITH d AS (UPDATE devices SET label = $3 "
     "  WHERE id = $2::uuid AND user_id = $1::uuid AND revoked_at IS NULL RETURNING *) "
     "SELECT " WARDEN_DEVICE_COLUMNS " FROM d JOIN users u ON u.id = d.user_id"},
    // One interface per node (the first by name): a device has one peer
    // per node.
    {"devices.node_peers",
     "SELECT DISTINCT ON (n.name) n.name, i->>'public_key', i->>'endpoint' "
     "FROM users u LEFT JOIN plans p ON p.id = u.plan_id CROSS JOIN nodes n "
     "CROSS JOIN LATERAL jsonb_array_elements(n.wireguard_interfaces) i "
     "WHERE u.id = $1::uuid AND n.state = 'active' AND 'wireguard' = ANY(n.drivers) "
     "  AND (n.protocols = '{}' OR 'wireguard' = ANY(n.protocols)) "
     "  AND COALESCE(i->>'public_key', '') <> '' AND COALESCE(i->>'endpoint', '') <> '' "
     "  AND " WARDEN_WIREGUARD_ALLOWED_ON_NODE "ORDER BY n.name, i->>'interface'"},
    // Enabling a user provisions its devices again where they are not
    // withheld; disabling removes them everywhere.
    {"devices.user_peer_commands",
     "WITH peers AS (SELECT d.id, " WARDEN_PEER_JSON
     " AS peer FROM devices d JOIN users u ON u.id = d.user_id "
     "  WHERE d.user_id = $1::uuid AND d.revoked_at IS NULL), "
     "cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT n.id, CASE WHEN $2::boolean THEN 'remove_peer' ELSE 'add_peer' END, "
     "    jsonb_build_object('peer', p.peer) FROM peers p "
     "  CROSS JOIN nodes n WHERE 'wireguard' = ANY(n.drivers) AND n.state <> 'removed' "
     "    AND ($2::boolean OR NOT EXISTS (SELECT 1 FROM wireguard_withheld w "
     "      WHERE w.device_id = p.id AND w.node_id = n.id)) "
     "  RETURNING id, node_id), "
     "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmds) "
     "SELECT k.id, k.node_id::text FROM cmds k CROSS JOIN notified"},
    // A REJECT user at the limit: every device without a live session on a
    // node comes off that node until the user is under the limit again, so
    // no handshake of a spare device gets through before its admission is
    // refused. $1 user.
    {"devices.withhold_idle",
     "WITH idle AS ("
     "  SELECT d.id, n.id AS node_id FROM devices d CROSS JOIN nodes n "
     "  WHERE d.user_id = $1::uuid AND d.revoked_at IS NULL "
     "    AND 'wireguard' = ANY(n.drivers) AND n.state <> 'removed' "
     "    AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.node_id = n.id "
     "      AND s.state <> 'closed' AND s.session_key = 'wg:' || d.public_key)), "
     "withheld AS (INSERT INTO wireguard_withheld (device_id, node_id) "
     "  SELECT id, node_id FROM idle ON CONFLICT DO NOTHING RETURNING device_id, node_id), "
     "cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT w.node_id, 'remove_peer', jsonb_build_object('peer', " WARDEN_PEER_JSON
     ") FROM withheld w JOIN devices d ON d.id = w.device_id JOIN users u ON u.id = d.user_id "
     "  RETURNING id, node_id), "
     "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmds) "
     "SELECT k.id, k.node_id::text FROM cmds k CROSS JOIN notified"},
    {"devices.withhold_key",
     "INSERT INTO wireguard_withheld (device_id, node_id) "
     "SELECT id, $1::uuid FROM devices WHERE public_key = $2 AND revoked_at IS NULL "
     "ON CONFLICT DO NOTHING"},
    // The full set an attaching node receives replaces its peer commands
    // still in the outbox.
    {"devices.settle_peer_commands",
     "UPDATE commands SET acked_at = now(), outcome = 'settled', "
     "  result = 'superseded by the peer set sent on attach' "
     "WHERE node_id = $1::uuid AND kind IN ('add_peer', 'remove_peer') AND acked_at IS NULL"},
    {"devices.peers_for_node",
     "SELECT (" WARDEN_PEER_JSON ")::text FROM devices d JOIN users u ON u.id = d.user_id "
     "WHERE d.revoked_at IS NULL AND NOT u.disabled AND NOT EXISTS ("
     "  SELECT 1 FROM wireguard_withheld w WHERE w.device_id = d.id AND w.node_id = $1::uuid) "
     "ORDER BY d.address_v4"},
    // One statement: claim the rows that may go (SKIP LOCKED: another
    // replica's sweep takes the others), delete them, queue their ADD_PEER.
    // A user's seats are the sessions that are neither closed nor closing.
    {"devices.reprovision",
     "WITH stale AS ("
     "  DELETE FROM wireguard_withheld w USING devices d, nodes n "
     "  WHERE d.id = w.device_id AND n.id = w.node_id "
     "    AND (d.revoked_at IS NOT NULL OR n.state = 'removed')), "
     "due AS ("
     "  SELECT w.device_id, w.node_id FROM wireguard_withheld w "
     "  JOIN devices d ON d.id = w.device_id JOIN users u ON u.id = d.user_id "
     "  LEFT JOIN plans p ON p.id = u.plan_id "
     "  JOIN nodes n ON n.id = w.node_id "
     "  WHERE d.revoked_at IS NULL AND NOT u.disabled AND n.state = 'active' "
     "    AND 'wireguard' = ANY(n.drivers) "
     // Back only where an admission could pass now: otherwise its next
     // handshake would be refused, or (EVICT_OLDEST) evict a session of the
     // same scope that then comes back the same way.
     "    AND (d.expires_at IS NULL OR d.expires_at > now()) "
     "    AND (u.expires_at IS NULL OR u.expires_at > now()) "
     "    AND " WARDEN_WIREGUARD_ALLOWED_ON_NODE
     "    AND (COALESCE(u.max_connections, p.max_connections, 0) = 0 "
     "      OR COALESCE(u.max_connections, p.max_connections, 0) > (SELECT count(*) "
     "      FROM sessions s WHERE s.user_id = u.id AND s.state = 'active')) "
     "    AND (COALESCE(u.max_connections_per_node, p.max_connections_per_node, 0) = 0 "
     "      OR COALESCE(u.max_connections_per_node, p.max_connections_per_node, 0) > (SELECT "
     "      count(*) FROM sessions s WHERE s.user_id = u.id AND s.node_id = n.id "
     "      AND s.state = 'active')) "
     "    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(u.label_caps, "
     "      p.label_caps, '[]')) cap WHERE (cap->>'max')::int > 0 "
     "      AND n.labels ? (cap->>'label') AND (cap->>'max')::int <= (SELECT count(*) "
     "        FROM sessions s JOIN nodes sn ON sn.id = s.node_id "
     "        WHERE s.user_id = u.id AND s.state = 'active' "
     "        AND sn.labels->>(cap->>'label') = n.labels->>(cap->>'label'))) "
     "  ORDER BY w.since LIMIT $1 FOR UPDATE OF w SKIP LOCKED), "
     "released AS ("
     "  DELETE FROM wireguard_withheld w USING due "
     "  WHERE w.device_id = due.device_id AND w.node_id = due.node_id "
     "  RETURNING w.device_id, w.node_id), "
     "cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT r.node_id, 'add_peer', jsonb_build_object('peer', " WARDEN_PEER_JSON
     ") FROM released r JOIN devices d ON d.id = r.device_id JOIN users u ON u.id = d.user_id "
     "  RETURNING id, node_id), "
     "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmds) "
     "SELECT k.id, k.node_id::text FROM cmds k CROSS JOIN notified"},
};

#undef WARDEN_DEVICE_COLUMNS
#undef WARDEN_WIREGUARD_ALLOWED_ON_NODE
#undef WARDEN_PEER_COMMANDS
#undef WARDEN_PEER_JSON
#undef WARDEN_POOL_LOCK_KEY

model::Device DeviceFromRow(const pqxx::row& row) {
  model::Device device;
  device.id = row[0].as<std::string>();
  device.user_id = row[1].as<std::string>();
  device.username = row[2].as<std::string>();
  device.public_key = row[3].as<std::string>();
  device.label = row[4].as<std::string>();
  device.address_v4 = row[5].as<std::string>();
  device.address_v6 = row[6].as<std::string>();
  device.created_at = TimeField(row[7]);
  device.expires_at = OptionalTimeField(row[8]);
  return device;
}

// "a.b.c.d/len" or "x::/len": the address bytes (4 or 16) and the length.
struct Prefix {
  std::array<uint8_t, 16> bytes{};
  int size = 0;  // 4 or 16
  int length = 0;
};

absl::StatusOr<Prefix> ParsePrefix(absl::string_view field, absl::string_view text, bool v6) {
  const absl::string_view example = v6 ? "fd66::/64" : "10.66.0.0/16";
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be an IPv", v6 ? "6" : "4",
                                                   " network in CIDR form, e.g. ", example, "; ",
                                                   why, " (got \"", text.substr(0, 64), "\")"));
  };
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) return invalid("the /prefix length is missing");
  Prefix prefix;
  prefix.size = v6 ? 16 : 4;
  const std::string address(text.substr(0, slash));
  if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), prefix.bytes.data()) != 1) {
    return invalid(
        absl::StrCat("\"", address.substr(0, 64), "\" is not an IPv", v6 ? "6" : "4", " address"));
  }
  const absl::string_view length = text.substr(slash + 1);
  if (length.empty() || length.size() > 3 || !absl::SimpleAtoi(length, &prefix.length) ||
      prefix.length < 0 || prefix.length > prefix.size * 8) {
    return invalid(absl::StrCat("the prefix length must be 0 to ", prefix.size * 8));
  }
  for (int bit = prefix.length; bit < prefix.size * 8; ++bit) {
    if (prefix.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return invalid("host bits are set: give the network address");
    }
  }
  return prefix;
}

std::string AddressText(const Prefix& prefix) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(prefix.size == 16 ? AF_INET6 : AF_INET, prefix.bytes.data(), text, sizeof text);
  return text;
}

std::string V4Text(uint32_t address) {
  Prefix prefix;
  prefix.size = 4;
  for (int i = 0; i < 4; ++i) prefix.bytes[i] = static_cast<uint8_t>(address >> (24 - 8 * i));
  return AddressText(prefix);
}

// One message for a device that is unknown, revoked or someone else's.
absl::Status DeviceNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("device ", id, " not found (or already revoked)"));
}

std::vector<QueuedCommand> QueuedFrom(const pqxx::result& rows, int id_column) {
  std::vector<QueuedCommand> queued;
  for (const auto& row : rows) {
    if (row[id_column].is_null()) continue;
    queued.push_back(QueuedCommand{.command_id = row[id_column].as<int64_t>(),
                                   .node_id = row[id_column + 1].as<std::string>()});
  }
  return queued;
}

}  // namespace

std::span<const Statement> DeviceStatements() { return kStatements; }

absl::StatusOr<AddressPool> ParseAddressPool(absl::string_view v4_field, absl::string_view v4,
                                             absl::string_view v6_field, absl::string_view v6) {
  absl::StatusOr<Prefix> net4 = ParsePrefix(v4_field, v4, /*v6=*/false);
  if (!net4.ok()) return net4.status();
  if (net4->length < 8 || net4->length > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        v4_field, " must be a /8 to /30 network (a /30 holds one device); got /", net4->length));
  }
  const uint32_t network = (uint32_t{net4->bytes[0]} << 24) | (uint32_t{net4->bytes[1]} << 16) |
                           (uint32_t{net4->bytes[2]} << 8) | uint32_t{net4->bytes[3]};
  const uint32_t size = uint32_t{1} << (32 - net4->length);
  AddressPool pool;
  pool.v4_network = AddressText(*net4);
  pool.v4_cidr = absl::StrCat(pool.v4_network, "/", net4->length);
  pool.v4_first = V4Text(network + 2);  // .0 is the network, .1 the server side
  pool.v4_last = V4Text(network + size - 2);
  if (!v6.empty()) {
    absl::StatusOr<Prefix> net6 = ParsePrefix(v6_field, v6, /*v6=*/true);
    if (!net6.ok()) return net6.status();
    if (128 - net6->length < 32 - net4->length) {
      return absl::InvalidArgumentError(
          absl::StrCat(v6_field, " must hold as many addresses as the IPv4 pool ", pool.v4_cidr,
                       ": at most /", 96 + net4->length, "; got /", net6->length));
    }
    pool.v6_base = AddressText(*net6);
    pool.v6_cidr = absl::StrCat(pool.v6_base, "/", net6->length);
  }
  return pool;
}

model::WireGuardPeer PeerFromJson(absl::string_view json) {
  model::WireGuardPeer peer;
  const nlohmann::json parsed =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return peer;
  auto text = [&](const char* key) {
    auto it = parsed.find(key);
    return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  peer.device_id = text("device_id");
  peer.public_key = text("public_key");
  peer.username = text("username");
  if (auto ips = parsed.find("allowed_ips"); ips != parsed.end() && ips->is_array()) {
    for (const auto& ip : *ips) {
      if (ip.is_string()) peer.allowed_ips.push_back(ip.get<std::string>());
    }
  }
  return peer;
}

void LockDevicePool(pqxx::work& tx, bool shared) {
  tx.exec_prepared(shared ? "devices.lock_pool_shared" : "devices.lock_pool");
}

std::vector<QueuedCommand> QueueUserPeerCommands(pqxx::work& tx, const std::string& user_id,
                                                 bool disabled) {
  return QueuedFrom(tx.exec_prepared("devices.user_peer_commands", user_id, disabled), 0);
}

std::optional<Call> WithholdPeerCall(const std::string& node_id, const std::string& session_key) {
  if (!absl::StartsWith(session_key, "wg:")) return std::nullopt;
  return MakeCall("devices.withhold_key", node_id, session_key.substr(3));
}

void WithholdPeerInTransaction(pqxx::work& tx, const std::string& node_id,
                               const std::string& session_key) {
  if (std::optional<Call> call = WithholdPeerCall(node_id, session_key)) RunNow(tx, *call);
}

Call WithholdIdleDevicesCall(const std::string& user_id) {
  return MakeCall("devices.withhold_idle", user_id);
}

std::vector<QueuedCommand> WithholdIdleDevicesInTransaction(pqxx::work& tx,
                                                            const std::string& user_id) {
  return QueuedFrom(RunNow(tx, WithholdIdleDevicesCall(user_id)), 0);
}

absl::StatusOr<RegisteredDevice> DeviceStore::Register(const model::Actor& actor,
                                                       const NewDevice& device) {
  const std::string conflict = "public_key is already registered to a device";
  return db_.Transact(
      {.operation = "register device", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<RegisteredDevice> {
        LockDevicePool(tx, /*shared=*/false);
        absl::StatusOr<UserName> user = FindUser(tx, device.user.id, device.user.username);
        if (!user.ok()) return user.status();
        if (!tx.exec_prepared("devices.key_taken", device.public_key).empty()) {
          return absl::AlreadyExistsError(conflict);
        }
        // Under the pool lock: registrations of one user cannot both pass.
        if (device.max_devices > 0) {
          const int64_t held =
              tx.exec_prepared1("devices.count_of_user", user->id)[0].as<int64_t>();
          if (held >= device.max_devices) {
            return absl::FailedPreconditionError(
                absl::StrCat("the user already has ", held, " devices, the most allowed (",
                             device.max_devices, "); revoke one first"));
          }
        }
        RegisteredDevice result;
        model::Device& created = result.device;
        created.user_id = user->id;
        created.username = user->username;
        created.public_key = device.public_key;
        created.label = device.label;
        pqxx::result rows = tx.exec_prepared(
            "devices.register", created.user_id, device.public_key, device.label, pool_.v4_first,
            pool_.v4_last, pool_.v4_network, pool_.v6_base, OptionalMicros(device.expires_at));
        if (rows.empty()) {
          return absl::ResourceExhaustedError(
              absl::StrCat("the WireGuard address pool ", pool_.v4_cidr, " is exhausted"));
        }
        created.id = rows[0][0].as<std::string>();
        created.address_v4 = rows[0][1].as<std::string>();
        created.address_v6 = rows[0][2].as<std::string>();
        created.created_at = TimeField(rows[0][3]);
        created.expires_at = device.expires_at;
        result.commands = QueuedFrom(rows, 4);
        AppendAudit(tx, actor, "device.register", absl::StrCat("device:", created.id),
                    {{"user_id", created.user_id},
                     {"username", created.username},
                     {"public_key", created.public_key},
                     {"label", created.label},
                     {"address_v4", created.address_v4},
                     {"address_v6", created.address_v6},
                     {"expires_at_us", OptionalMicros(device.expires_at).value_or(0)},
                     {"nodes_told", result.commands.size()}});
        return result;
      });
}

absl::StatusOr<model::DevicePage> DeviceStore::List(const DeviceFilter& filter) {
  std::optional<int64_t> after_us;
  std::string after_id = "00000000-0000-0000-0000-000000000000";
  if (filter.after) {
    after_us = absl::ToUnixMicros(filter.after->first);
    after_id = filter.after->second;
  }
  return db_.Autocommit(
      {.operation = "list devices", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::DevicePage> {
        model::DevicePage page;
        // One extra row tells whether another page exists.
        for (const auto& row : tx.exec_prepared("devices.list", filter.user_id, after_us, after_id,
                                                filter.limit + 1)) {
          if (static_cast<int>(page.devices.size()) == filter.limit) {
            page.last = std::make_pair(page.devices.back().created_at, page.devices.back().id);
            break;
          }
          page.devices.push_back(DeviceFromRow(row));
        }
        return page;
      });
}

absl::StatusOr<RevokedDevice> DeviceStore::Revoke(const model::Actor& actor, const std::string& id,
                                                  const std::string& owner_user_id) {
  return db_.Transact({.operation = "revoke device"},
                      [&](pqxx::work& tx) -> absl::StatusOr<RevokedDevice> {
                        LockDevicePool(tx, /*shared=*/false);
                        pqxx::result rows = tx.exec_prepared("devices.revoke", id, owner_user_id);
                        if (rows.empty()) return DeviceNotFound(id);
                        const std::string user_id = rows[0][0].as<std::string>();
                        const std::string public_key = rows[0][1].as<std::string>();
                        RevokedDevice result;
                        result.commands = QueuedFrom(rows, 4);
                        const size_t removals = result.commands.size();
                        std::vector<QueuedCommand> kills = KillSessionsByKeyInTransaction(
                            tx, actor, user_id, absl::StrCat("wg:", public_key),
                            model::SessionEnd{model::end_reason::kDeviceRevoked, "device revoked"});
                        result.sessions_killed = static_cast<int>(kills.size());
                        result.commands.insert(result.commands.end(), kills.begin(), kills.end());
                        AppendAudit(tx, actor, "device.revoke", absl::StrCat("device:", id),
                                    {{"user_id", user_id},
                                     {"username", rows[0][2].as<std::string>()},
                                     {"public_key", public_key},
                                     {"address_v4", rows[0][3].as<std::string>()},
                                     {"nodes_told", removals},
                                     {"sessions_killed", result.sessions_killed}});
                        return result;
                      });
}

absl::StatusOr<model::Device> DeviceStore::GetOwned(const std::string& owner_user_id,
                                                    const std::string& id) {
  return db_.Autocommit({.operation = "read device", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::Device> {
                          pqxx::result rows =
                              tx.exec_prepared("devices.get_owned", owner_user_id, id);
                          if (rows.empty()) return DeviceNotFound(id);
                          return DeviceFromRow(rows[0]);
                        });
}

absl::StatusOr<model::Device> DeviceStore::Rename(const model::Actor& actor,
                                                  const std::string& owner_user_id,
                                                  const std::string& id, const std::string& label) {
  return db_.Transact(
      {.operation = "rename device"}, [&](pqxx::work& tx) -> absl::StatusOr<model::Device> {
        pqxx::result rows = tx.exec_prepared("devices.rename", owner_user_id, id, label);
        if (rows.empty()) return DeviceNotFound(id);
        model::Device device = DeviceFromRow(rows[0]);
        AppendAudit(
            tx, actor, "device.rename", absl::StrCat("device:", id),
            {{"user_id", device.user_id}, {"username", device.username}, {"label", device.label}});
        return device;
      });
}

absl::StatusOr<std::vector<model::NodePeer>> DeviceStore::NodePeersFor(const std::string& user_id) {
  return db_.Autocommit(
      {.operation = "read the nodes a device may reach", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::NodePeer>> {
        std::vector<model::NodePeer> peers;
        for (const auto& row : tx.exec_prepared("devices.node_peers", user_id)) {
          peers.push_back(model::NodePeer{.node_name = row[0].as<std::string>(),
                                          .public_key = row[1].as<std::string>(),
                                          .endpoint = row[2].as<std::string>()});
        }
        return peers;
      });
}

absl::StatusOr<std::vector<model::WireGuardPeer>> DeviceStore::PeersForAttach(
    const std::string& node_id, bool wireguard) {
  return db_.Transact(
      {.operation = "read the node's peers"},
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<model::WireGuardPeer>> {
        // A registration or revocation either committed before (its
        // commands are settled here, its device is in the set, or not) or
        // starts after (its command follows the Welcome).
        LockDevicePool(tx, /*shared=*/true);
        tx.exec_prepared("devices.settle_peer_commands", node_id);
        std::vector<model::WireGuardPeer> peers;
        if (!wireguard) return peers;
        for (const auto& row : tx.exec_prepared("devices.peers_for_node", node_id)) {
          peers.push_back(PeerFromJson(row[0].as<std::string>()));
        }
        return peers;
      });
}

absl::StatusOr<std::vector<QueuedCommand>> DeviceStore::ReprovisionWithheld(int limit) {
  return db_.Autocommit(
      {.operation = "provision withheld peers"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<QueuedCommand>> {
        return QueuedFrom(tx.exec_prepared("devices.reprovision", limit), 0);
      });
}

}  // namespace warden::control::store
