#pragma once

// An audit event on one line, for `wardenctl watch` and `audit --follow`:
//
//   22:51:03  session.evict   session:8c1e…  user=alice node=fra-2 …  by ams-1
//
// Ids of users and nodes are shown by name where `names` knows them, and on
// a colour terminal the action is coloured by what it means: red for what
// ends or refuses something, green for what starts something, yellow for
// changes.

#include <google/protobuf/struct.pb.h>

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "warden/v1/admin.pb.h"

namespace warden::wardenctl {

// The name of the user or node with `id` (kind "user" or "node"), or "".
using NameOf = std::function<std::string(absl::string_view kind, const std::string& id)>;

// Details as `key=value` pairs sorted by key; with `names`, user_id and
// node_id become user=<name> and node=<name>.
std::string DetailsText(const google::protobuf::Struct& details, const NameOf& names = nullptr);

struct EventLineStyle {
  bool terminal = false;  // clock time in the local zone; else RFC 3339 in UTC
  bool color = false;
};

std::string EventLine(const v1::AuditEvent& event, const EventLineStyle& style,
                      const NameOf& names);

}  // namespace warden::wardenctl
