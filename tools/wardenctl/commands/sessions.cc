// sessions list|kill, disconnect

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

struct ListFlags {
  std::string user;
  std::string node;
  std::string state = "active";
  std::string protocol;
  int limit = 0;
};

void AddList(Cli& cli, CLI::App* sessions) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = WithExamples(
      sessions->add_subcommand("list", "List sessions, newest first (live ones by default)"),
      {"wardenctl sessions list", "wardenctl sessions list --user alice --wide",
       "wardenctl sessions list --node fra-2 --state closed --limit 20",
       "wardenctl sessions list --user alice -q | xargs -n1 wardenctl sessions kill"});
  list->alias("ls");
  list->add_option("--user", flags->user, "only this user's (username or id)");
  list->add_option("--node", flags->node, "only on this node (name or id)");
  cli.Choices(
      list->add_option("--state", flags->state, "active (default), closing, closed, or any"),
      SessionStateWords());
  cli.Choices(list->add_option("--protocol", flags->protocol, "wireguard, openvpn or quic"),
              ProtocolWords());
  list->add_option("--limit", flags->limit, "at most this many (default: all)");
  cli.OnRun(list, [flags](Invocation& in) -> absl::Status {
    v1::ListSessionsRequest request;
    WARDEN_ASSIGN_OR_RETURN(v1::SessionState state, ParseSessionState(flags->state));
    request.set_state(state);
    if (!flags->protocol.empty()) {
      WARDEN_ASSIGN_OR_RETURN(v1::Protocol protocol, ParseProtocol(flags->protocol));
      request.set_protocol(protocol);
    }
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    if (!flags->user.empty()) {
      WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, flags->user));
      request.set_user_id(user.id());
    }
    if (!flags->node.empty()) {
      WARDEN_ASSIGN_OR_RETURN(v1::Node node, FindNode(*admin, flags->node));
      request.set_node_id(node.id());
    }
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<v1::Session> sessions,
        ListAll(
            *admin, &Stub::ListSessions, request,
            [](const v1::ListSessionsResponse& page) -> const auto& { return page.sessions(); },
            flags->limit));
    in.out().List(sessions, SessionView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddKill(Cli& cli, CLI::App* sessions) {
  auto id = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  CLI::App* kill = WithExamples(
      sessions->add_subcommand("kill", "End one session now, on whatever node it lives"),
      {"wardenctl sessions kill 3f0c1a2b-... --reason 'abuse report 42' --wait",
       "wardenctl sessions kill 3f0c1a2b-... --force   # its node is gone for good"});
  kill->add_option("session", *id, "the session's id (wardenctl sessions list)")->required();
  kill->add_option("--reason", *reason, "shown to the user where the protocol allows");
  kill->add_flag("--wait", *wait, "return once the agent has answered");
  kill->add_flag("--force", *force,
                 "close it now, whatever its node says (its seat is free at once)");
  cli.OnRun(kill, [id, reason, wait, force](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::KillSessionRequest request;
    request.set_session_id(*id);
    request.set_reason(*reason);
    request.set_wait(*wait);
    request.set_force(*force);
    WARDEN_ASSIGN_OR_RETURN(v1::KillSessionResponse response,
                            admin->Call(&Stub::KillSession, request));
    std::string sentence;
    if (*force) {
      sentence = absl::StrCat("session ", *id, " closed");
    } else if (response.acknowledged()) {
      sentence = absl::StrCat("session ", *id, " killed (agent: ", response.result(), ")");
    } else {
      sentence =
          absl::StrCat("kill of session ", *id, " sent (command ", response.command_id(), ")");
    }
    in.out().Done(response, sentence, *id);
    return absl::OkStatus();
  });
}

void AddDisconnect(Cli& cli) {
  auto target = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* disconnect = WithExamples(
      cli.root().add_subcommand("disconnect", "End every session of a user, on every node"),
      {"wardenctl disconnect alice --reason 'password reset'"});
  disconnect->add_option("user", *target, "username or id")->required();
  disconnect->add_option("--reason", *reason, "shown to the user where the protocol allows");
  cli.OnRun(disconnect, [target, reason](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, *target));
    v1::DisconnectUserRequest request;
    request.set_user_id(user.id());
    request.set_reason(*reason);
    WARDEN_ASSIGN_OR_RETURN(v1::DisconnectUserResponse response,
                            admin->Call(&Stub::DisconnectUser, request));
    in.out().Done(
        response,
        absl::StrCat("user ", user.username(), " disconnected: ", response.sessions_killed(),
                     response.sessions_killed() == 1 ? " session" : " sessions", " killed"),
        user.id());
    return absl::OkStatus();
  });
}

}  // namespace

void AddSessionCommands(Cli& cli) {
  CLI::App* sessions =
      cli.root().add_subcommand("sessions", "Live and past VPN sessions: list, kill");
  sessions->alias("session");
  sessions->require_subcommand(1);
  AddList(cli, sessions);
  AddKill(cli, sessions);
  AddDisconnect(cli);
}

}  // namespace warden::wardenctl
