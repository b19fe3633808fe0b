#include "common/http_listener.h"

#include <httplib.h>
#include <sys/socket.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace warden {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseAddress(const std::string& address, const std::string& what) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " address '", address, "' must be host:port, [v6]:port or :port"));
  }
  HostPort parsed;
  parsed.host = address.substr(0, colon);
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  }
  if (parsed.host.empty()) parsed.host = "0.0.0.0";
  if (!absl::SimpleAtoi(address.substr(colon + 1), &parsed.port) || parsed.port < 0 ||
      parsed.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " address '", address, "' has no valid port (0-65535)"));
  }
  return parsed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    const std::string& address, const std::string& what, int threads,
    const std::function<void(httplib::Server&)>& routes) {
  absl::StatusOr<HostPort> parsed = ParseAddress(address, what);
  if (!parsed.ok()) return parsed.status();
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // process share the port silently and split the requests between them.
  server->set_socket_options([](int socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  routes(*server);
  int port = parsed->port;
  if (port == 0) {
    port = server->bind_to_any_port(parsed->host);
    if (port < 0) port = 0;
  } else if (!server->bind_to_port(parsed->host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for ", what, " on ", address, ": address in use or not local"));
  }
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(server), port, what));
}

HttpListener::HttpListener(std::unique_ptr<httplib::Server> server, int port,
                           const std::string& what)
    : server_(std::move(server)), port_(port) {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the loop runs; wait for it so that a
  // quick shutdown cannot leave the thread listening forever.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!server_->is_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  logging::Get("http")->info("serving {} on port={}", what, port_);
}

HttpListener::~HttpListener() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace warden
