#pragma once

// The limit flags users and plans share. The API names a limit alike on a
// User and a Plan, so one set of options fills either message; an option not
// given is left out of the message and of the update mask, and `--clear NAME`
// puts NAME in the mask unset, which hands a user's limit back to their plan
// (or a plan's back to the default).

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/time_text.h"

namespace warden::wardenctl {

// The limits by their flag name, as --clear takes them, and their API path.
const std::map<std::string, std::string>& LimitPaths();
std::vector<std::string> LimitFlagNames();

// "region=1" → {label, max}.
absl::Status ParseLabelCap(absl::string_view text, v1::LabelCap& cap);
// "region=eu-west|eu-central" → match["region"] = [eu-west, eu-central].
absl::Status ParseSelectorTerm(absl::string_view text, v1::NodeSelector& selector);
absl::StatusOr<v1::QuotaAction> ParseQuotaAction(absl::string_view text);
std::string QuotaActionName(v1::QuotaAction action);

struct LimitOptions {
  int max_connections = 0;
  std::string policy;
  std::string grace;
  std::string bandwidth;
  int max_per_node = 0;
  std::vector<std::string> label_caps;
  std::vector<std::string> protocols;
  std::vector<std::string> node_selector;
  std::string max_session;
  std::string idle_timeout;
  std::string quota;
  int quota_period_days = 0;
  std::string on_quota;
  std::string throttle;
  std::vector<std::string> clear;
  std::map<std::string, CLI::Option*> given;

  void AddOptions(Cli& cli, CLI::App* command) {
    const std::string group = "Limits";
    given["max-connections"] =
        command->add_option("--max-connections", max_connections,
                            "live sessions allowed across the fleet (0 = unlimited)");
    given["policy"] = command->add_option(
        "--policy", policy, "at the limit: evict-oldest (the oldest session goes) or reject");
    cli.Choices(given["policy"], PolicyWords());
    given["grace"] = command->add_option(
        "--grace", grace, "how long an evicted session lives on before its kill (30s, 1m)");
    given["bandwidth"] = command->add_option(
        "--bandwidth", bandwidth,
        "bytes a second for all of the user's connections on a node (10MiB, 500k; 0 = unlimited)");
    given["max-per-node"] = command->add_option("--max-per-node", max_per_node,
                                                "live sessions on any one node (0 = unlimited)");
    given["label-cap"] = command->add_option(
        "--label-cap", label_caps,
        "LABEL=N: at most N sessions per value of the node label (repeatable; replaces all)");
    given["protocols"] = command->add_option(
        "--protocols", protocols, "protocols allowed, comma-separated (wireguard,openvpn,quic)");
    command->get_option("--protocols")->delimiter(',');
    given["node-selector"] = command->add_option(
        "--node-selector", node_selector,
        "KEY=V1|V2: only nodes whose label KEY is one of the values (repeatable; replaces all)");
    given["max-session"] = command->add_option(
        "--max-session", max_session, "a session ends this long after it opened (8h; 0 = never)");
    given["idle-timeout"] =
        command->add_option("--idle-timeout", idle_timeout,
                            "a session without traffic this long ends (30m; 0 = never)");
    given["quota"] = command->add_option(
        "--quota", quota, "bytes (received + sent) a quota period (50GiB; 0 = no quota)");
    given["quota-period-days"] =
        command->add_option("--quota-period-days", quota_period_days,
                            "0 = the calendar month (UTC); N = a rolling window of N days");
    given["on-quota"] =
        command->add_option("--on-quota", on_quota, "over the quota: deny or throttle");
    cli.Choices(given["on-quota"], {"deny", "throttle"});
    given["throttle"] = command->add_option(
        "--throttle", throttle, "the rate of a throttled QUIC tunnel (1MiB; at least 1KiB)");
    auto* clear_option = command->add_option(
        "--clear", clear,
        "back to the plan's (or the default) value: a limit's flag name, e.g. max-connections "
        "(repeatable)");
    cli.Choices(clear_option, LimitFlagNames());
    for (auto& [name, option] : given) option->group(group);
    clear_option->group(group);
  }

  bool Given(const std::string& name) const {
    auto found = given.find(name);
    return found != given.end() && found->second->count() > 0;
  }

  // Fills the limits given into `message` (a v1::User or v1::Plan) and names
  // them in `paths`.
  template <typename Message>
  absl::Status Apply(Message& message, std::vector<std::string>& paths) const {
    const std::map<std::string, std::string>& path_of = LimitPaths();
    auto mark = [&](const std::string& flag) { paths.push_back(path_of.at(flag)); };
    if (Given("max-connections")) {
      message.set_max_connections(max_connections);
      mark("max-connections");
    }
    if (Given("policy")) {
      WARDEN_ASSIGN_OR_RETURN(v1::LimitPolicy parsed, ParsePolicy(policy));
      message.set_limit_policy(parsed);
      mark("policy");
    }
    if (Given("grace")) {
      WARDEN_ASSIGN_OR_RETURN(absl::Duration duration, ParseDurationFlag(grace));
      message.set_grace_seconds(static_cast<int32_t>(absl::ToInt64Seconds(duration)));
      mark("grace");
    }
    if (Given("bandwidth")) {
      WARDEN_ASSIGN_OR_RETURN(int64_t rate, ParseByteRate(bandwidth));
      message.set_bandwidth_bytes_per_second(rate);
      mark("bandwidth");
    }
    if (Given("max-per-node")) {
      message.set_max_connections_per_node(max_per_node);
      mark("max-per-node");
    }
    if (Given("label-cap")) {
      v1::LabelCaps* caps = message.mutable_label_caps();
      for (const std::string& text : label_caps) {
        WARDEN_RETURN_IF_ERROR(ParseLabelCap(text, *caps->add_caps()));
      }
      mark("label-cap");
    }
    if (Given("protocols")) {
      v1::ProtocolSet* set = message.mutable_allowed_protocols();
      for (const std::string& text : protocols) {
        WARDEN_ASSIGN_OR_RETURN(v1::Protocol protocol, ParseProtocol(text));
        set->add_protocols(protocol);
      }
      mark("protocols");
    }
    if (Given("node-selector")) {
      v1::NodeSelector* selector = message.mutable_node_selector();
      for (const std::string& text : node_selector) {
        WARDEN_RETURN_IF_ERROR(ParseSelectorTerm(text, *selector));
      }
      mark("node-selector");
    }
    if (Given("max-session")) {
      WARDEN_ASSIGN_OR_RETURN(absl::Duration duration, ParseDurationFlag(max_session));
      message.set_max_session_seconds(static_cast<int32_t>(absl::ToInt64Seconds(duration)));
      mark("max-session");
    }
    if (Given("idle-timeout")) {
      WARDEN_ASSIGN_OR_RETURN(absl::Duration duration, ParseDurationFlag(idle_timeout));
      message.set_idle_timeout_seconds(static_cast<int32_t>(absl::ToInt64Seconds(duration)));
      mark("idle-timeout");
    }
    if (Given("quota")) {
      WARDEN_ASSIGN_OR_RETURN(int64_t bytes, ParseByteRate(quota));
      message.set_data_quota_bytes(bytes);
      mark("quota");
    }
    if (Given("quota-period-days")) {
      message.set_quota_period_days(quota_period_days);
      mark("quota-period-days");
    }
    if (Given("on-quota")) {
      WARDEN_ASSIGN_OR_RETURN(v1::QuotaAction action, ParseQuotaAction(on_quota));
      message.set_on_quota_exceeded(action);
      mark("on-quota");
    }
    if (Given("throttle")) {
      WARDEN_ASSIGN_OR_RETURN(int64_t rate, ParseByteRate(throttle));
      message.set_throttle_bytes_per_second(rate);
      mark("throttle");
    }
    for (const std::string& name : clear) {
      auto found = path_of.find(name);
      if (found == path_of.end()) {
        return LocalError(
            absl::StatusCode::kInvalidArgument,
            absl::StrCat("--clear ", name, ": say one of ", absl::StrJoin(LimitFlagNames(), ", ")));
      }
      if (Given(name)) {
        return LocalError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("--clear ", name, " and --", name, " contradict"));
      }
      paths.push_back(found->second);
    }
    return absl::OkStatus();
  }
};

}  // namespace warden::wardenctl
