// devices register|list|revoke

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

void AddRegister(Cli& cli, CLI::App* devices) {
  auto user = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  CLI::App* add = WithExamples(
      devices->add_subcommand("register",
                              "Register a WireGuard key for a user; every WireGuard node gets "
                              "the peer"),
      {"wardenctl devices register alice \"$(wg pubkey < phone.key)\" --label alice-phone"});
  add->add_option("user", *user, "username or id")->required();
  add->add_option("public-key", *key, "the device's WireGuard public key (base64)")->required();
  add->add_option("--label", *label, "a name for the device, e.g. alice-phone");
  cli.OnRun(add, [user, key, label](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User owner, FindUser(*admin, *user));
    v1::RegisterDeviceRequest request;
    request.set_user_id(owner.id());
    request.set_public_key(*key);
    request.set_label(*label);
    WARDEN_ASSIGN_OR_RETURN(v1::Device device, admin->Call(&Stub::RegisterDevice, request));
    std::string addresses = device.address_v4();
    if (!device.address_v6().empty()) absl::StrAppend(&addresses, ", ", device.address_v6());
    in.out().Done(device,
                  absl::StrCat("device ", device.label().empty() ? device.id() : device.label(),
                               " registered for ", owner.username(), ": ", addresses),
                  device.id());
    return absl::OkStatus();
  });
}

void AddList(Cli& cli, CLI::App* devices) {
  auto user = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(0);
  CLI::App* list = WithExamples(devices->add_subcommand("list", "List devices, oldest first"),
                                {"wardenctl devices list", "wardenctl devices list --user alice"});
  list->alias("ls");
  list->add_option("--user", *user, "only this user's (username or id)");
  list->add_option("--limit", *limit, "at most this many (default: all)");
  cli.OnRun(list, [user, limit](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListDevicesRequest request;
    if (!user->empty()) {
      WARDEN_ASSIGN_OR_RETURN(v1::User owner, FindUser(*admin, *user));
      request.set_user_id(owner.id());
    }
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<v1::Device> devices,
        ListAll(
            *admin, &Stub::ListDevices, request,
            [](const v1::ListDevicesResponse& page) -> const auto& { return page.devices(); },
            *limit));
    in.out().List(devices, DeviceView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddRevoke(Cli& cli, CLI::App* devices) {
  auto target = std::make_shared<std::string>();
  CLI::App* revoke = WithExamples(
      devices->add_subcommand("revoke",
                              "Revoke a device: its peer leaves every node, its sessions end"),
      {"wardenctl devices revoke alice-phone", "wardenctl devices revoke 9b2e4c1d-..."});
  revoke->add_option("device", *target, "id, public key, or a label only one device has")
      ->required();
  cli.OnRun(revoke, [target](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Device device, FindDevice(*admin, *target));
    v1::RevokeDeviceRequest request;
    request.set_id(device.id());
    WARDEN_ASSIGN_OR_RETURN(v1::RevokeDeviceResponse response,
                            admin->Call(&Stub::RevokeDevice, request));
    in.out().Done(response,
                  absl::StrCat("device ", device.label().empty() ? device.id() : device.label(),
                               " of ", device.username(), " revoked"),
                  device.id());
    return absl::OkStatus();
  });
}

}  // namespace

void AddDeviceCommands(Cli& cli) {
  CLI::App* devices = cli.root().add_subcommand("devices", "WireGuard devices: users' public keys");
  devices->alias("device");
  devices->require_subcommand(1);
  AddRegister(cli, devices);
  AddList(cli, devices);
  AddRevoke(cli, devices);
}

}  // namespace warden::wardenctl
