#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"

namespace warden::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

TcpProxy::TcpProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = Loopback(0);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::listen(listen_fd_, 64);
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  CutAll();
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Link>& link : links_) {
    link->up.join();
    link->down.join();
    ::close(link->client);
    ::close(link->server);
  }
  ::close(listen_fd_);
}

void TcpProxy::CutAll() {
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Link>& link : links_) {
    ::shutdown(link->client, SHUT_RDWR);
    ::shutdown(link->server, SHUT_RDWR);
  }
}

void TcpProxy::Accept() {
  while (!stopping_) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    if (refusing_) {
      ::close(client);
      continue;
    }
    auto link = std::make_unique<Link>();
    link->client = client;
    link->server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in upstream = Loopback(upstream_port_);
    if (::connect(link->server, reinterpret_cast<const sockaddr*>(&upstream), sizeof upstream) !=
        0) {
      ::shutdown(client, SHUT_RDWR);
    }
    link->up = std::thread([this, client, server = link->server] {
      Pump(client, server, /*stallable=*/false);
    });
    link->down = std::thread([this, client, server = link->server] {
      Pump(server, client, /*stallable=*/true);
    });
    absl::MutexLock lock(&mu_);
    links_.push_back(std::move(link));
  }
}

void TcpProxy::Pump(int from, int to, bool stallable) {
  char buffer[16 * 1024];
  while (!stopping_) {
    if (stallable && stalled_) {
      absl::SleepFor(absl::Milliseconds(10));  // not reading: the upstream's bytes back up
      continue;
    }
    const ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
    if (n <= 0 || ::send(to, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
  }
  ::shutdown(to, SHUT_WR);
}

}  // namespace warden::testing
