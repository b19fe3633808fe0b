#pragma once

// A small plain-HTTP listener (cpp-httplib) on its own thread pool, for the
// pages warden-control serves beside gRPC (/metrics, the single sign-on
// callback). The address is "host:port", "[v6]:port" or ":port" (all
// interfaces); port 0 picks a free port (see port()).

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace warden {

class HttpListener {
 public:
  // Binds at once, so a taken port is an error at startup, not later.
  // `routes` adds the handlers; `what` names the listener in errors and logs.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      const std::string& address, const std::string& what, int threads,
      const std::function<void(httplib::Server&)>& routes);
  ~HttpListener();  // stops and joins

  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const { return port_; }

 private:
  HttpListener(std::unique_ptr<httplib::Server> server, int port, const std::string& what);

  std::unique_ptr<httplib::Server> server_;
  int port_;
  std::thread thread_;
};

}  // namespace warden
