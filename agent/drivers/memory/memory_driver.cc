#include "agent/drivers/memory/memory_driver.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/drivers/memory/memory_protocol.h"
#include "common/logging.h"

namespace warden::agent {
namespace {

const logging::Logger Log("agent.memory");

// Reads one '\n'-terminated line (at most 4 KiB) from a connected socket.
bool ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  while (line->size() < 4096) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return !line->empty();
    if (c == '\n') return true;
    line->push_back(c);
  }
  return true;
}

void WriteAll(int fd, const std::string& text) {
  size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = ::write(fd, text.data() + sent, text.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

MemoryDriver::MemoryDriver(std::string socket_path, const Clock& clock)
    : socket_path_(std::move(socket_path)), state_path_(socket_path_ + ".state"), clock_(clock) {}

MemoryDriver::~MemoryDriver() { Stop(); }

absl::Status MemoryDriver::Start(DriverHost& host) {
  host_ = &host;
  Load();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory driver socket path too long: ", socket_path_));
  }
  std::strncpy(address.sun_path, socket_path_.c_str(), sizeof(address.sun_path) - 1);
  ::unlink(socket_path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("memory driver cannot listen on ", socket_path_, ": ", std::strerror(errno)));
  }
  thread_ = std::thread([this] { Serve(); });
  Log()->info("memory driver on {} with {} restored sessions", socket_path_, Inventory().size());
  return absl::OkStatus();
}

void MemoryDriver::Stop() {
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (thread_.joinable()) thread_.join();
}

void MemoryDriver::Serve() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // closed by Stop
    }
    std::string line;
    while (ReadLine(fd, &line)) WriteAll(fd, Handle(std::string(absl::StripAsciiWhitespace(line))));
    ::close(fd);
  }
}

std::string MemoryDriver::Handle(const std::string& line) {
  absl::StatusOr<memory::Request> request = memory::ParseRequest(line);
  if (!request.ok()) return absl::StrCat("error ", request.status().message(), "\n");
  const std::string& verb = request->verb;
  if (verb == "open") return HandleOpen(*request);
  if (verb == "close") return HandleClose(*request);
  std::string out;
  if (verb == "list") {
    for (const DriverSession& session : Inventory()) {
      absl::StrAppend(&out, "session ", memory::EncodeWord(session.session_key), " ",
                      memory::EncodeWord(session.username), " ",
                      memory::ProtocolName(session.protocol), " ",
                      memory::EncodeWord(session.device_label), "\n");
    }
    return out + "end\n";
  }
  absl::MutexLock lock(&mu_);
  if (verb == "killed") {
    for (const auto& [key, reason] : killed_) {
      absl::StrAppend(&out, "killed ", memory::EncodeWord(key), " ", reason, "\n");
    }
    return out + "end\n";
  }
  if (verb == "limits") {
    for (const auto& [user, limit] : limits_) {
      absl::StrAppend(&out, "limit ", memory::EncodeWord(user), " ", limit, "\n");
    }
    return out + "end\n";
  }
  return absl::StrCat("error unknown request: ", verb, "\n");
}

std::string MemoryDriver::HandleOpen(const memory::Request& request) {
  absl::StatusOr<memory::OpenRequest> open = memory::ParseOpen(request);
  if (!open.ok()) return absl::StrCat("error ", open.status().message(), "\n");
  AdmitQuery query;
  query.protocol = open->protocol;
  query.session_key = open->session_key;
  query.username = open->username;
  query.password = open->password;
  query.connect_ticket = open->connect_ticket;
  query.device_label = open->device_label;
  query.client_address = "local";
  AdmitAnswer answer = host_->Admit(query);
  if (!answer.admitted) {
    return absl::StrCat("denied ", answer.deny_reason, " ", answer.message, "\n");
  }
  {
    absl::MutexLock lock(&mu_);
    sessions_[query.session_key] = DriverSession{.session_key = query.session_key,
                                                 .username = query.username,
                                                 .protocol = query.protocol,
                                                 .device_label = query.device_label,
                                                 .client_address = query.client_address,
                                                 .tunnel_address = "",
                                                 .opened_at = clock_.Now(),
                                                 .rx_bytes = 0,
                                                 .tx_bytes = 0};
    SaveLocked();
  }
  host_->Opened(query.session_key, "");
  return absl::StrCat("admitted ", answer.session_id.empty() ? "offline" : answer.session_id, "\n");
}

std::string MemoryDriver::HandleClose(const memory::Request& request) {
  const std::vector<std::string>& args = request.args;
  if (args.size() != 1 && args.size() != 3) return "error close <key> [rx_bytes tx_bytes]\n";
  int64_t rx = 0, tx = 0;
  if (args.size() == 3 && (!absl::SimpleAtoi(args[1], &rx) || !absl::SimpleAtoi(args[2], &tx))) {
    return "error byte counts must be numbers\n";
  }
  {
    absl::MutexLock lock(&mu_);
    if (sessions_.erase(args[0]) == 0) return "unknown\n";
    SaveLocked();
  }
  host_->Closed(args[0], "client disconnected", rx, tx);
  return "ok\n";
}

std::vector<DriverSession> MemoryDriver::Inventory() {
  absl::MutexLock lock(&mu_);
  std::vector<DriverSession> sessions;
  for (const auto& [key, session] : sessions_) sessions.push_back(session);
  return sessions;
}

absl::Status MemoryDriver::Kill(const std::string& session_key, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (sessions_.erase(session_key) == 0) return absl::OkStatus();
    killed_.emplace_back(session_key, reason);
    SaveLocked();
  }
  host_->Closed(session_key, absl::StrCat("killed: ", reason), 0, 0);
  return absl::OkStatus();
}

absl::Status MemoryDriver::SetBandwidth(const std::string& username, int64_t bytes_per_second) {
  absl::MutexLock lock(&mu_);
  limits_[username] = bytes_per_second;
  return absl::OkStatus();
}

bool MemoryDriver::Carries(const std::string& session_key) {
  absl::MutexLock lock(&mu_);
  return sessions_.count(session_key) > 0;
}

void MemoryDriver::SaveLocked() {
  nlohmann::json state = nlohmann::json::array();
  for (const auto& [key, session] : sessions_) {
    state.push_back({{"key", key},
                     {"username", session.username},
                     {"protocol", memory::ProtocolName(session.protocol)},
                     {"label", session.device_label},
                     {"opened_at", absl::ToUnixSeconds(session.opened_at)}});
  }
  const std::string temporary = state_path_ + ".tmp";
  std::ofstream(temporary) << state.dump();
  std::rename(temporary.c_str(), state_path_.c_str());
}

void MemoryDriver::Load() {
  std::ifstream in(state_path_);
  if (!in) return;
  nlohmann::json state = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!state.is_array()) return;
  absl::MutexLock lock(&mu_);
  for (const auto& item : state) {
    if (!item.contains("key") || !item.contains("username")) continue;
    const std::string key = item["key"].get<std::string>();
    // Files from before labels and protocols were kept name neither.
    const Protocol protocol =
        memory::ProtocolNamed(item.value("protocol", "openvpn")).value_or(Protocol::kOpenVpn);
    sessions_[key] = DriverSession{.session_key = key,
                                   .username = item["username"].get<std::string>(),
                                   .protocol = protocol,
                                   .device_label = item.value("label", key),
                                   .client_address = "local",
                                   .tunnel_address = "",
                                   .opened_at = absl::FromUnixSeconds(item.value("opened_at", 0)),
                                   .rx_bytes = 0,
                                   .tx_bytes = 0};
  }
}

}  // namespace warden::agent
