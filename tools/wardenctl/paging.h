#pragma once

// Every page of a paged list call, up to a limit: the API pages, an operator
// asks for "the users".

#include <vector>

#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "tools/wardenctl/admin_client.h"

namespace warden::wardenctl {

// `items` picks the repeated field out of a response; `limit` 0 = all.
template <typename Request, typename Response, typename Items>
auto ListAll(AdminClient& admin, AdminClient::Method<Request, Response> method, Request request,
             Items items, int limit)
    -> absl::StatusOr<std::vector<
        typename std::decay_t<decltype(items(std::declval<const Response&>()))>::value_type>> {
  using Item = typename std::decay_t<decltype(items(std::declval<const Response&>()))>::value_type;
  std::vector<Item> all;
  request.set_page_size(limit > 0 && limit < 1000 ? limit : 1000);
  do {
    WARDEN_ASSIGN_OR_RETURN(Response page, admin.Call(method, request));
    for (const Item& item : items(page)) {
      if (limit > 0 && static_cast<int>(all.size()) >= limit) return all;
      all.push_back(item);
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return all;
}

}  // namespace warden::wardenctl
