#include "client/account/account_cli.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/account/account_client.h"
#include "common/status_macros.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/printer.h"
#include "tools/wardenctl/table.h"
#include "tools/wardenctl/time_text.h"

namespace warden::client {
namespace {

using Stub = v1::AccountService::Stub;
using wardenctl::BytesText;
using wardenctl::Table;

constexpr const char* kCommands[] = {"login",    "logout", "me", "devices",
                                     "sessions", "logins", "why"};

struct Globals {
  std::string login_file;
  bool json = false;
};

class Output {
 public:
  explicit Output(bool json) : json_(json), time_(absl::Now(), isatty(STDOUT_FILENO) != 0) {}

  bool json() const { return json_; }
  const wardenctl::TimeText& time() const { return time_; }

  // As wardenctl prints it: fields in .proto order, defaults included.
  void Message(const google::protobuf::Message& message) {
    std::cout << wardenctl::MessageJson(message).dump(2) << "\n";
  }
  void Print(const Table& table) { std::cout << table.Render(); }
  void Line(const std::string& line) { std::cout << line << "\n"; }

 private:
  bool json_;
  wardenctl::TimeText time_;
};

std::string ReadFirstLine(const std::string& path) {
  std::string line;
  if (path == "-") {
    std::getline(std::cin, line);
  } else {
    std::ifstream in(path);
    std::getline(in, line);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

absl::StatusOr<std::unique_ptr<AccountClient>> Open(const Globals& globals) {
  return AccountClient::Open(LoginFilePath(globals.login_file));
}

// A device by id or by its label.
absl::StatusOr<v1::Device> FindDevice(AccountClient& account, const std::string& name) {
  WARDEN_ASSIGN_OR_RETURN(v1::ListMyDevicesResponse devices,
                          account.Call(&Stub::ListMyDevices, v1::ListMyDevicesRequest()));
  const v1::Device* found = nullptr;
  for (const v1::Device& device : devices.devices()) {
    if (device.id() == name) return device;
    if (device.label() == name) {
      if (found != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("two devices are labelled \"", name, "\": name one by its id"));
      }
      found = &device;
    }
  }
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no device \"", name, "\""));
  return *found;
}

// WireGuard sessions name their device by its id (the node knows no more);
// the user knows it by its label.
std::map<std::string, std::string> DeviceLabels(AccountClient& account) {
  std::map<std::string, std::string> labels;
  absl::StatusOr<v1::ListMyDevicesResponse> devices =
      account.Call(&Stub::ListMyDevices, v1::ListMyDevicesRequest());
  if (!devices.ok()) return labels;  // the ids are shown instead
  for (const v1::Device& device : devices->devices()) labels[device.id()] = device.label();
  return labels;
}

std::string LabelOf(const std::map<std::string, std::string>& labels, const std::string& device) {
  auto found = labels.find(device);
  return found == labels.end() || found->second.empty() ? device : found->second;
}

// Shows a device's configuration: a wg-quick file per node, printed or
// written to `dir` as <node>.conf (mode 0600: the private key goes in it).
absl::Status ShowConfig(Output& out, const v1::MyDeviceConfig& config, const std::string& dir,
                        const std::string& node) {
  if (out.json()) {
    out.Message(config);
    return absl::OkStatus();
  }
  out.Line(absl::StrCat(
      "device ", config.device().label(), " (", config.device().id(), "): address ",
      config.device().address_v4(),
      config.device().address_v6().empty() ? "" : ", " + config.device().address_v6()));
  if (config.wg_quick().empty()) {
    out.Line("no WireGuard node is open to you yet: ask again later (devices config)");
    return absl::OkStatus();
  }
  std::map<std::string, std::string> sorted(config.wg_quick().begin(), config.wg_quick().end());
  for (const auto& [name, text] : sorted) {
    if (!node.empty() && name != node) continue;
    if (dir.empty()) {
      out.Line(absl::StrCat("\n# ", name));
      std::cout << text;
      continue;
    }
    std::filesystem::create_directories(dir);
    const std::string path = absl::StrCat(dir, "/", name, ".conf");
    {
      std::ofstream file(path, std::ios::trunc);
      file << text;
      if (!file) return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
    }
    ::chmod(path.c_str(), 0600);
    out.Line(absl::StrCat("wrote ", path, ": put the device's private key in it"));
  }
  return absl::OkStatus();
}

using Action = std::function<absl::Status()>;

void AddLogin(CLI::App& app, Globals& globals, Action& action) {
  auto endpoint = std::make_shared<ControlEndpoint>();
  auto user = std::make_shared<std::string>();
  auto password_file = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  CLI::App* login = app.add_subcommand("login", "Log in to warden-control and keep the login");
  login->footer(
      "\nExamples:\n"
      "  warden-connect login --control vpn.example:50051 --user alice --password-file pw.txt\n"
      "  warden-connect login --control 127.0.0.1:50051 --insecure --user alice "
      "--password-file -\n"
      "  warden-connect login --control vpn.example:50051 --oidc");
  login->add_option("--control", endpoint->control, "warden-control's address, host:port")
      ->envname("WARDEN_CONNECT_CONTROL")
      ->required();
  login->add_flag("--insecure", endpoint->insecure, "plaintext (a control plane on loopback)");
  login->add_option("--control-ca", endpoint->ca, "CA (PEM) of warden-control's certificate");
  login->add_option("--control-server-name", endpoint->server_name,
                    "the name its certificate must carry");
  auto oidc = std::make_shared<bool>(false);
  auto provider = std::make_shared<std::string>();
  login->add_option("--user", *user, "username")->envname("WARDEN_CONNECT_USER");
  login->add_option("--password-file", *password_file,
                    "a file whose first line is the password ('-' = standard input)");
  login->add_flag("--oidc", *oidc,
                  "log in through single sign-on instead: open the address it prints, on any "
                  "device, and enter the code");
  login->add_option("--provider", *provider,
                    "with --oidc: which identity provider (when the server has several)");
  login->add_option("--device-label", *label, "this device's name, shown to you and operators");
  login->callback([&globals, &action, endpoint, user, password_file, label, oidc, provider] {
    action = [&globals, endpoint, user, password_file, label, oidc, provider]() -> absl::Status {
      absl::StatusOr<SavedLogin> login;
      if (*oidc) {
        if (!user->empty() || !password_file->empty()) {
          return absl::InvalidArgumentError("--oidc logs in without --user and --password-file");
        }
        login = LogInWithProvider(*endpoint, *provider, *label, std::cout);
      } else {
        if (user->empty() || password_file->empty()) {
          return absl::InvalidArgumentError(
              "give --user and --password-file, or --oidc for single sign-on");
        }
        const std::string password = ReadFirstLine(*password_file);
        if (password.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("cannot read a password from ", *password_file));
        }
        login = LogIn(*endpoint, *user, password, *label);
      }
      if (!login.ok()) return login.status();
      const std::string path = LoginFilePath(globals.login_file);
      WARDEN_RETURN_IF_ERROR(WriteLogin(path, *login));
      std::cout << "logged in as " << login->username << " (login " << login->family_id
                << "; kept in " << path << ")\n";
      return absl::OkStatus();
    };
  });

  auto kill = std::make_shared<bool>(false);
  CLI::App* logout = app.add_subcommand("logout", "End this login and forget it here");
  logout->add_flag("--kill-tunnels", *kill, "also end every tunnel this login opened");
  logout->callback([&globals, &action, kill] {
    action = [&globals, kill]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_RETURN_IF_ERROR(account->LogOut(*kill));
      std::cout << "logged out\n";
      return absl::OkStatus();
    };
  });
}

void AddMe(CLI::App& app, Globals& globals, Action& action) {
  CLI::App* me = app.add_subcommand("me", "Who you are, your limits, devices and quota");
  me->callback([&globals, &action] {
    action = [&globals]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::Me me, account->Call(&Stub::GetMe, v1::GetMeRequest()));
      Output out(globals.json);
      if (out.json()) {
        out.Message(me);
        return absl::OkStatus();
      }
      const v1::EffectivePolicy& limits = me.effective();
      Table table;
      table.AddRow({"USER", absl::StrCat(me.username(), me.disabled() ? " (disabled)" : "")});
      table.AddRow({"PLAN", limits.plan()});
      table.AddRow({"DEVICES ONLINE", absl::StrCat(me.live_sessions(), " of ",
                                                   limits.max_connections() == 0
                                                       ? std::string("unlimited")
                                                       : absl::StrCat(limits.max_connections()))});
      table.AddRow({"WIREGUARD KEYS",
                    absl::StrCat(me.devices(), me.max_devices() == 0
                                                   ? std::string("")
                                                   : absl::StrCat(" of ", me.max_devices()))});
      table.AddRow({"AT THE LIMIT", wardenctl::PolicyName(limits.limit_policy()) == "reject"
                                        ? "a new device is refused"
                                        : "the oldest device is disconnected"});
      table.AddRow({"BANDWIDTH", wardenctl::RateText(limits.bandwidth_bytes_per_second())});
      if (me.has_quota() && me.quota().quota_bytes() > 0) {
        table.AddRow({"DATA QUOTA",
                      absl::StrCat(BytesText(me.quota().used_bytes()), " used of ",
                                   BytesText(me.quota().quota_bytes() + me.quota().granted_bytes()),
                                   ", resets ", me.quota().resets_at())});
      }
      table.AddRow({"EXPIRES", me.has_expires_at() ? out.time().Format(me.expires_at()) : "never"});
      out.Print(table);
      return absl::OkStatus();
    };
  });
}

void AddDevices(CLI::App& app, Globals& globals, Action& action) {
  CLI::App* devices = app.add_subcommand("devices", "Your WireGuard devices");
  devices->require_subcommand(1);

  CLI::App* list = devices->add_subcommand("list", "Your devices, oldest first");
  list->callback([&globals, &action] {
    action = [&globals]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::ListMyDevicesResponse response,
                              account->Call(&Stub::ListMyDevices, v1::ListMyDevicesRequest()));
      Output out(globals.json);
      if (out.json()) {
        out.Message(response);
        return absl::OkStatus();
      }
      Table table({"ID", "LABEL", "ADDRESS", "PUBLIC KEY", "CREATED"});
      for (const v1::Device& device : response.devices()) {
        table.AddRow({device.id(), device.label(), device.address_v4(), device.public_key(),
                      out.time().Format(device.created_at())});
      }
      out.Print(table);
      return absl::OkStatus();
    };
  });

  auto key = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  CLI::App* add = devices->add_subcommand(
      "add", "Register a WireGuard public key; prints the configuration for each node");
  add->footer(
      "\nExamples:\n"
      "  wg genkey | tee phone.key | wg pubkey > phone.pub\n"
      "  warden-connect devices add \"$(cat phone.pub)\" --label phone --config-dir ./wg");
  add->add_option("public-key", *key, "the device's public key (base64, from wg pubkey)")
      ->required();
  add->add_option("--label", *label, "a name for the device");
  add->add_option("--config-dir", *dir, "write <node>.conf files here instead of printing them");
  add->callback([&globals, &action, key, label, dir] {
    action = [&globals, key, label, dir]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      v1::RegisterMyDeviceRequest request;
      request.set_public_key(*key);
      request.set_label(*label);
      WARDEN_ASSIGN_OR_RETURN(v1::MyDeviceConfig config,
                              account->Call(&Stub::RegisterMyDevice, request));
      Output out(globals.json);
      return ShowConfig(out, config, *dir, "");
    };
  });

  auto device = std::make_shared<std::string>();
  auto node = std::make_shared<std::string>();
  auto config_dir = std::make_shared<std::string>();
  CLI::App* show = devices->add_subcommand("config", "A device's configuration, as of now");
  show->add_option("device", *device, "id or label")->required();
  show->add_option("--node", *node, "only this node's");
  show->add_option("--config-dir", *config_dir, "write <node>.conf files here");
  show->callback([&globals, &action, device, node, config_dir] {
    action = [&globals, device, node, config_dir]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::Device found, FindDevice(*account, *device));
      v1::GetMyDeviceConfigRequest request;
      request.set_id(found.id());
      WARDEN_ASSIGN_OR_RETURN(v1::MyDeviceConfig config,
                              account->Call(&Stub::GetMyDeviceConfig, request));
      Output out(globals.json);
      return ShowConfig(out, config, *config_dir, *node);
    };
  });

  auto renamed = std::make_shared<std::string>();
  auto new_label = std::make_shared<std::string>();
  CLI::App* rename = devices->add_subcommand("rename", "Give a device another label");
  rename->add_option("device", *renamed, "id or label")->required();
  rename->add_option("label", *new_label, "the new label")->required();
  rename->callback([&globals, &action, renamed, new_label] {
    action = [&globals, renamed, new_label]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::Device found, FindDevice(*account, *renamed));
      v1::RenameMyDeviceRequest request;
      request.set_id(found.id());
      request.set_label(*new_label);
      WARDEN_ASSIGN_OR_RETURN(v1::Device device, account->Call(&Stub::RenameMyDevice, request));
      std::cout << "device " << device.id() << " is now " << device.label() << "\n";
      return absl::OkStatus();
    };
  });

  auto removed = std::make_shared<std::string>();
  CLI::App* remove = devices->add_subcommand(
      "remove", "Revoke a device: its key stops working on every node, its tunnels end");
  remove->add_option("device", *removed, "id or label")->required();
  remove->callback([&globals, &action, removed] {
    action = [&globals, removed]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::Device found, FindDevice(*account, *removed));
      v1::RevokeMyDeviceRequest request;
      request.set_id(found.id());
      WARDEN_ASSIGN_OR_RETURN(v1::RevokeMyDeviceResponse response,
                              account->Call(&Stub::RevokeMyDevice, request));
      std::cout << "device " << found.label() << " removed; " << response.sessions_killed()
                << " tunnel(s) ended\n";
      return absl::OkStatus();
    };
  });
}

void AddSessions(CLI::App& app, Globals& globals, Action& action) {
  CLI::App* sessions = app.add_subcommand("sessions", "Your tunnels: where, since when, bytes");
  sessions->require_subcommand(1);
  auto all = std::make_shared<bool>(false);
  CLI::App* list = sessions->add_subcommand("list", "Live tunnels, newest first");
  list->add_flag("--all", *all, "also those that ended in the last 7 days");
  list->callback([&globals, &action, all] {
    action = [&globals, all]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      v1::ListMySessionsRequest request;
      request.set_include_ended(*all);
      WARDEN_ASSIGN_OR_RETURN(v1::ListMySessionsResponse response,
                              account->Call(&Stub::ListMySessions, request));
      Output out(globals.json);
      if (out.json()) {
        out.Message(response);
        return absl::OkStatus();
      }
      const std::map<std::string, std::string> labels = DeviceLabels(*account);
      Table table({"ID", "NODE", "PROTOCOL", "DEVICE", "STATE", "SINCE", "DOWN", "UP", "ENDED"});
      for (const v1::MySession& session : response.sessions()) {
        table.AddRow(
            {session.id(), session.node_name(), wardenctl::ProtocolName(session.protocol()),
             LabelOf(labels, session.device_label()), wardenctl::SessionStateName(session.state()),
             out.time().Format(session.opened_at()), BytesText(session.tx_bytes()),
             BytesText(session.rx_bytes()), session.end_reason()});
      }
      out.Print(table);
      return absl::OkStatus();
    };
  });

  auto id = std::make_shared<std::string>();
  CLI::App* end = sessions->add_subcommand("end", "Disconnect one of your devices, wherever it is");
  end->add_option("session", *id, "the session's id (sessions list)")->required();
  end->callback([&globals, &action, id] {
    action = [&globals, id]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      v1::EndMySessionRequest request;
      request.set_id(*id);
      WARDEN_ASSIGN_OR_RETURN(v1::EndMySessionResponse response,
                              account->Call(&Stub::EndMySession, request));
      std::cout << "session " << *id
                << (response.acknowledged() ? " ended: its node disconnected it\n"
                                            : " is ending: its node has not answered yet\n");
      return absl::OkStatus();
    };
  });
}

void AddLoginsAndWhy(CLI::App& app, Globals& globals, Action& action) {
  CLI::App* logins = app.add_subcommand("logins", "Where you are logged in");
  logins->require_subcommand(1);
  CLI::App* list = logins->add_subcommand("list", "Your live logins, newest first");
  list->callback([&globals, &action] {
    action = [&globals]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(v1::ListMyLoginsResponse response,
                              account->Call(&Stub::ListMyLogins, v1::ListMyLoginsRequest()));
      Output out(globals.json);
      if (out.json()) {
        out.Message(response);
        return absl::OkStatus();
      }
      Table table({"ID", "DEVICE", "SINCE", "LAST SEEN", "EXPIRES", ""});
      for (const v1::MyLogin& login : response.logins()) {
        table.AddRow({login.id(), login.device_label(), out.time().Format(login.created_at()),
                      out.time().Format(login.last_seen_at()),
                      out.time().Format(login.expires_at()), login.current() ? "(this one)" : ""});
      }
      out.Print(table);
      return absl::OkStatus();
    };
  });
  auto id = std::make_shared<std::string>();
  auto kill = std::make_shared<bool>(false);
  CLI::App* end = logins->add_subcommand("end", "End a login (e.g. on a lost phone)");
  end->add_option("login", *id, "the login's id (logins list)")->required();
  end->add_flag("--kill-tunnels", *kill, "also end every tunnel it opened");
  end->callback([&globals, &action, id, kill] {
    action = [&globals, id, kill]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      v1::EndMyLoginRequest request;
      request.set_id(*id);
      request.set_kill_tunnels(*kill);
      WARDEN_ASSIGN_OR_RETURN(v1::EndMyLoginResponse response,
                              account->Call(&Stub::EndMyLogin, request));
      std::cout << "login " << *id << " ended; " << response.sessions_killed()
                << " tunnel(s) ended\n";
      return absl::OkStatus();
    };
  });

  CLI::App* why = app.add_subcommand("why", "Why your last tunnel ended");
  why->callback([&globals, &action] {
    action = [&globals]() -> absl::Status {
      WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<AccountClient> account, Open(globals));
      WARDEN_ASSIGN_OR_RETURN(
          v1::LastDisconnect last,
          account->Call(&Stub::GetMyLastDisconnect, v1::GetMyLastDisconnectRequest()));
      Output out(globals.json);
      if (out.json()) {
        out.Message(last);
        return absl::OkStatus();
      }
      if (!last.found()) {
        out.Line("none of your tunnels has ended yet");
        return absl::OkStatus();
      }
      out.Line(absl::StrCat(last.end_reason(),
                            last.close_reason().empty() ? "" : ": " + last.close_reason()));
      out.Line(absl::StrCat(
          "  device ", LabelOf(DeviceLabels(*account), last.device_label()), " on ",
          last.node_name(),
          last.has_ended_at() ? ", " + out.time().Format(last.ended_at()) : ", ending now"));
      return absl::OkStatus();
    };
  });
}

}  // namespace

bool IsAccountCommand(int argc, const char* const* argv) {
  // The first word that is not one of the account commands' own options.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" || arg.rfind("--login-file=", 0) == 0) continue;
    if (arg == "--login-file") {
      ++i;
      continue;
    }
    for (const char* command : kCommands) {
      if (arg == command) return true;
    }
    return false;
  }
  return false;
}

int RunAccountCommand(int argc, const char* const* argv) {
  CLI::App app{"warden-connect: your account on a Warden fleet"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals globals;
  app.add_option("--login-file", globals.login_file,
                 "where the login is kept (default ~/.config/warden/connect-login.json)")
      ->envname("WARDEN_CONNECT_LOGIN_FILE");
  app.add_flag("--json", globals.json, "print the API's answer as JSON");
  Action action;
  AddLogin(app, globals, action);
  AddMe(app, globals, action);
  AddDevices(app, globals, action);
  AddSessions(app, globals, action);
  AddLoginsAndWhy(app, globals, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    return status == 0 ? 0 : wardenctl::kExitUsage;
  }
  const absl::Status status = action ? action() : absl::InternalError("no action");
  if (status.ok()) return 0;
  std::cerr << "warden-connect: " << status.message() << "\n";
  return wardenctl::ExitCodeFor(status);
}

}  // namespace warden::client
