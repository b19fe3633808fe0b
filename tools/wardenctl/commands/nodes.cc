// nodes create|list|get|update|drain|undrain|remove|label, enroll

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/agent_command.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

// --protocol, repeatable; none = any.
struct ProtocolFlags {
  std::vector<std::string> words;
  CLI::Option* option = nullptr;

  void Add(Cli& cli, CLI::App* command, const std::string& what) {
    option = command->add_option("--protocol", words, what);
    cli.Choices(option, ProtocolWords());
  }
  absl::StatusOr<std::vector<v1::Protocol>> Parse() const {
    std::vector<v1::Protocol> protocols;
    for (const std::string& word : words) {
      WARDEN_ASSIGN_OR_RETURN(v1::Protocol protocol, ParseProtocol(word));
      protocols.push_back(protocol);
    }
    return protocols;
  }
};

// Commands that name one node and call one RPC with its id.
void AddNodeAction(Cli& cli, CLI::App* command, std::shared_ptr<std::string> target,
                   std::function<absl::Status(Invocation&, AdminClient&, const v1::Node&)> act) {
  command->add_option("node", *target, "node name or id")->required();
  cli.OnRun(command, [target, act](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Node node, FindNode(*admin, *target));
    return act(in, *admin, node);
  });
}

void AddCreate(Cli& cli, CLI::App* nodes) {
  auto name = std::make_shared<std::string>();
  auto protocols = std::make_shared<ProtocolFlags>();
  auto trusted = std::make_shared<bool>(false);
  CLI::App* create = WithExamples(
      nodes->add_subcommand("create", "Register a node and print its credential (once)"),
      {"wardenctl nodes create fra-2 --protocol wireguard --protocol openvpn",
       "wardenctl nodes create gw-1 --trusted-authenticator -q > gw-1.credential",
       "(To set up an agent, `wardenctl enroll <node>` is usually simpler.)"});
  create->add_option("name", *name, "1-63 of [a-z0-9.-]")->required();
  protocols->Add(cli, create, "a protocol the node may carry (repeat; none = any)");
  create->add_flag("--trusted-authenticator", *trusted,
                   "the node may name users without their password (a gateway that "
                   "authenticates them itself)");
  cli.OnRun(create, [name, protocols, trusted](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<v1::Protocol> parsed, protocols->Parse());
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::CreateNodeRequest request;
    request.set_name(*name);
    for (v1::Protocol protocol : parsed) request.add_protocols(protocol);
    request.set_trusted_authenticator(*trusted);
    WARDEN_ASSIGN_OR_RETURN(v1::CreateNodeResponse created,
                            admin->Call(&Stub::CreateNode, request));
    in.out().Done(created,
                  absl::StrCat("node ", created.node().name(), " created\n",
                               "credential: ", created.credential(),
                               "\n  Shown once: the node's agent presents it; keep it as "
                               "<state-dir>/credential (mode 0600) on the node."),
                  created.credential());
    return absl::OkStatus();
  });
}

void AddGetAndList(Cli& cli, CLI::App* nodes) {
  auto target = std::make_shared<std::string>();
  CLI::App* get = WithExamples(nodes->add_subcommand("get", "Show one node"),
                               {"wardenctl nodes get fra-2 --wide"});
  AddNodeAction(cli, get, target, [](Invocation& in, AdminClient&, const v1::Node& node) {
    in.out().One(node, NodeView(in.out().time()));
    return absl::OkStatus();
  });

  auto all = std::make_shared<bool>(false);
  CLI::App* list = WithExamples(
      nodes->add_subcommand("list", "List nodes: state, whether online, live sessions"),
      {"wardenctl nodes list", "wardenctl nodes list --all --wide   # removed nodes too"});
  list->alias("ls");
  list->add_flag("--all", *all, "removed nodes too");
  cli.OnRun(list, [all](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListNodesRequest request;
    request.set_include_removed(*all);
    WARDEN_ASSIGN_OR_RETURN(v1::ListNodesResponse response, admin->Call(&Stub::ListNodes, request));
    in.out().List(std::vector<v1::Node>(response.nodes().begin(), response.nodes().end()),
                  NodeView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddUpdate(Cli& cli, CLI::App* nodes) {
  auto target = std::make_shared<std::string>();
  auto protocols = std::make_shared<ProtocolFlags>();
  auto any = std::make_shared<bool>(false);
  auto trusted = std::make_shared<bool>(false);
  CLI::App* update = WithExamples(
      nodes->add_subcommand("update", "Change what a node may carry and whether it may vouch"),
      {"wardenctl nodes update fra-2 --protocol wireguard",
       "wardenctl nodes update gw-1 --trusted-authenticator",
       "wardenctl nodes update gw-1 --no-trusted-authenticator --any-protocol"});
  protocols->Add(cli, update, "the protocols it may carry from now on (repeat)");
  CLI::Option* any_option = update->add_flag("--any-protocol", *any, "any protocol");
  CLI::Option* trusted_option =
      update->add_flag("--trusted-authenticator,!--no-trusted-authenticator", *trusted,
                       "may (or may not) name users without their password");
  AddNodeAction(cli, update, target,
                [protocols, any_option, trusted_option, trusted](
                    Invocation& in, AdminClient& admin, const v1::Node& node) -> absl::Status {
                  v1::UpdateNodeRequest request;
                  request.mutable_node()->set_id(node.id());
                  WARDEN_ASSIGN_OR_RETURN(std::vector<v1::Protocol> parsed, protocols->Parse());
                  if (!parsed.empty() || any_option->count() > 0) {
                    for (v1::Protocol protocol : parsed)
                      request.mutable_node()->add_protocols(protocol);
                    request.mutable_update_mask()->add_paths("protocols");
                  }
                  if (trusted_option->count() > 0) {
                    request.mutable_node()->set_trusted_authenticator(*trusted);
                    request.mutable_update_mask()->add_paths("trusted_authenticator");
                  }
                  if (request.update_mask().paths().empty()) {
                    return LocalError(absl::StatusCode::kInvalidArgument,
                                      "nothing to change: give --protocol, --any-protocol or "
                                      "--[no-]trusted-authenticator");
                  }
                  WARDEN_ASSIGN_OR_RETURN(v1::Node updated, admin.Call(&Stub::UpdateNode, request));
                  in.out().Done(
                      updated,
                      absl::StrCat("node ", updated.name(), " updated (",
                                   absl::StrJoin(request.update_mask().paths(), ", "), ")"),
                      updated.id());
                  return absl::OkStatus();
                });
}

void AddDrainUndrainRemove(Cli& cli, CLI::App* nodes) {
  auto drained = std::make_shared<std::string>();
  auto kill = std::make_shared<bool>(false);
  CLI::App* drain =
      WithExamples(nodes->add_subcommand("drain", "Admit no one on a node (maintenance)"),
                   {"wardenctl nodes drain fra-2", "wardenctl nodes drain fra-2 --kill-sessions"});
  drain->add_flag("--kill-sessions", *kill, "end its sessions too");
  AddNodeAction(cli, drain, drained,
                [kill](Invocation& in, AdminClient& admin, const v1::Node& node) -> absl::Status {
                  v1::DrainNodeRequest request;
                  request.set_node_id(node.id());
                  request.set_kill_sessions(*kill);
                  WARDEN_ASSIGN_OR_RETURN(v1::Node result, admin.Call(&Stub::DrainNode, request));
                  in.out().Done(result,
                                absl::StrCat("node ", result.name(), " draining: admits no one",
                                             *kill ? "; its sessions are being ended" : ""),
                                result.id());
                  return absl::OkStatus();
                });

  auto undrained = std::make_shared<std::string>();
  CLI::App* undrain =
      WithExamples(nodes->add_subcommand("undrain", "Let a drained node admit again"),
                   {"wardenctl nodes undrain fra-2"});
  AddNodeAction(cli, undrain, undrained,
                [](Invocation& in, AdminClient& admin, const v1::Node& node) -> absl::Status {
                  v1::UndrainNodeRequest request;
                  request.set_node_id(node.id());
                  WARDEN_ASSIGN_OR_RETURN(v1::Node result, admin.Call(&Stub::UndrainNode, request));
                  in.out().Done(result, absl::StrCat("node ", result.name(), " admits again"),
                                result.id());
                  return absl::OkStatus();
                });

  auto removed = std::make_shared<std::string>();
  auto close = std::make_shared<bool>(false);
  CLI::App* remove = WithExamples(
      nodes->add_subcommand("remove", "Remove a node (refused while it carries live sessions)"),
      {"wardenctl nodes remove fra-2", "wardenctl nodes remove fra-2 --close-sessions"});
  remove->alias("rm");
  remove->add_flag("--close-sessions", *close, "close its live sessions instead of refusing");
  AddNodeAction(cli, remove, removed,
                [close](Invocation& in, AdminClient& admin, const v1::Node& node) -> absl::Status {
                  v1::RemoveNodeRequest request;
                  request.set_id(node.id());
                  request.set_close_sessions(*close);
                  WARDEN_ASSIGN_OR_RETURN(v1::Node result, admin.Call(&Stub::RemoveNode, request));
                  in.out().Done(result, absl::StrCat("node ", result.name(), " removed"),
                                result.id());
                  return absl::OkStatus();
                });
}

// Labels are what per-label caps and node selectors see; a change
// replaces the whole set, so the command merges into the node's current set.
void AddLabel(Cli& cli, CLI::App* nodes) {
  auto target = std::make_shared<std::string>();
  auto changes = std::make_shared<std::vector<std::string>>();
  CLI::App* label = WithExamples(
      nodes->add_subcommand("label", "Set or remove a node's labels (key=value, key-)"),
      {"wardenctl nodes label fra-2 region=eu-central tier=premium",
       "wardenctl nodes label fra-2 tier-        # removes the label tier"});
  AddNodeAction(
      cli, label, target,
      [changes](Invocation& in, AdminClient& admin, const v1::Node& node) -> absl::Status {
        v1::UpdateNodeRequest request;
        v1::Node& change = *request.mutable_node();
        change.set_id(node.id());
        *change.mutable_labels() = node.labels();
        for (const std::string& text : *changes) {
          const size_t equals = text.find('=');
          if (equals != std::string::npos && equals > 0) {
            (*change.mutable_labels())[text.substr(0, equals)] = text.substr(equals + 1);
          } else if (text.size() > 1 && text.back() == '-') {
            change.mutable_labels()->erase(text.substr(0, text.size() - 1));
          } else {
            return LocalError(absl::StatusCode::kInvalidArgument,
                              absl::StrCat("\"", text, "\": say key=value or key-"));
          }
        }
        request.mutable_update_mask()->add_paths("labels");
        WARDEN_ASSIGN_OR_RETURN(v1::Node updated, admin.Call(&Stub::UpdateNode, request));
        in.out().Done(updated,
                      absl::StrCat("node ", updated.name(), " labels: ", LabelsText(updated)),
                      updated.id());
        return absl::OkStatus();
      });
  // After the node: positionals fill in the order they were added.
  label->add_option("changes", *changes, "key=value sets a label, key- removes it")->required();
}

void AddEnroll(Cli& cli) {
  auto name = std::make_shared<std::string>();
  auto protocols = std::make_shared<ProtocolFlags>();
  auto trusted = std::make_shared<bool>(false);
  auto ttl = std::make_shared<std::string>("10m");
  auto drivers = std::make_shared<std::vector<std::string>>();
  CLI::App* enroll = WithExamples(
      cli.root().add_subcommand("enroll",
                                "A single-use ticket with which a node's agent enrols, "
                                "and the agent's command line"),
      {"wardenctl enroll fra-2 --protocol wireguard --driver wireguard:iface=wg0",
       "wardenctl enroll gw-1 --trusted-authenticator --ttl 1h",
       "wardenctl enroll fra-2 -q      # only the ticket"});
  enroll->add_option("node", *name, "the node's name (a new node, or one to enrol again)")
      ->required();
  protocols->Add(cli, enroll, "a protocol the node may carry (repeat; none = any)");
  enroll->add_flag("--trusted-authenticator", *trusted,
                   "the node may name users without their password");
  enroll->add_option("--ttl", *ttl, "how long the ticket is valid (default 10m, at most 24h)");
  enroll->add_option("--driver", *drivers,
                     "the agent's --driver, for the printed command line (repeat)");
  cli.OnRun(enroll, [name, protocols, trusted, ttl, drivers](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<v1::Protocol> parsed, protocols->Parse());
    WARDEN_ASSIGN_OR_RETURN(absl::Duration lifetime, ParseDurationFlag(*ttl));
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::CreateEnrollmentTicketRequest request;
    request.set_node_name(*name);
    request.set_ttl_seconds(static_cast<int32_t>(absl::ToInt64Seconds(lifetime)));
    for (v1::Protocol protocol : parsed) request.add_protocols(protocol);
    request.set_trusted_authenticator(*trusted);
    WARDEN_ASSIGN_OR_RETURN(v1::CreateEnrollmentTicketResponse ticket,
                            admin->Call(&Stub::CreateEnrollmentTicket, request));
    const std::string command =
        AgentCommandLine(admin->settings(), ticket.ticket(), *drivers, parsed);
    in.out().Done(
        ticket,
        absl::StrCat("ticket:  ", ticket.ticket(), "\nexpires: ",
                     in.out().time().Format(ticket.expires_at()), "\n\nOn node ", *name,
                     " (the ticket is used once; the agent keeps its credential):\n", command),
        ticket.ticket());
    return absl::OkStatus();
  });
}

}  // namespace

void AddNodeCommands(Cli& cli) {
  CLI::App* nodes = cli.root().add_subcommand("nodes", "VPN nodes: register, drain, remove");
  nodes->alias("node");
  nodes->require_subcommand(1);
  AddCreate(cli, nodes);
  AddGetAndList(cli, nodes);
  AddUpdate(cli, nodes);
  AddDrainUndrainRemove(cli, nodes);
  AddLabel(cli, nodes);
  AddEnroll(cli);
}

}  // namespace warden::wardenctl
