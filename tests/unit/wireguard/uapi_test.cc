// The UAPI text protocol: parser, builder, reply reader, and the socket
// client against a fake daemon on a socketpair or a unix socket in a
// private temporary directory.

#include "agent/drivers/wireguard/uapi.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/wireguard/uapi_fixture.h"

namespace warden::agent::wireguard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Key Filled(uint8_t v) {
  Key k{};
  k.fill(v);
  return k;
}

TEST(UapiParserTest, ParsesWireguardGoTranscript) {
  absl::StatusOr<WgDevice> device = ParseUapiGet(fixtures::kWireguardGoGetReply);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->name, "");
  ASSERT_TRUE(device->public_key.has_value());
  EXPECT_EQ(KeyToHex(*device->public_key), fixtures::kRfc7748PublicHex);
  EXPECT_EQ(device->listen_port, 51820);
  EXPECT_EQ(device->fwmark, 0u);
  ASSERT_EQ(device->peers.size(), 1u);
  const WgPeer& peer = device->peers[0];
  EXPECT_EQ(KeyToHex(peer.public_key),
            "5dfc07816931b897d90fda8c3ad58824773fc27056eaee3d68cf5d0a236b9d13");
  EXPECT_FALSE(peer.preshared_key.has_value());  // all zeros
  EXPECT_EQ(peer.endpoint, "10.99.0.2:51820");
  EXPECT_EQ(peer.last_handshake_unix_sec, 1795415224);
  EXPECT_EQ(peer.last_handshake_nsec, 470385760);
  EXPECT_EQ(peer.tx_bytes, 532);
  EXPECT_EQ(peer.rx_bytes, 476);
  EXPECT_EQ(peer.persistent_keepalive, 0);
  EXPECT_THAT(peer.allowed_ips, ElementsAre("10.99.1.2/32"));
}

TEST(UapiParserTest, ParsesMultiplePeers) {
  absl::StatusOr<WgDevice> device = ParseUapiGet(fixtures::kThreePeerGetReply);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_FALSE(device->public_key.has_value());
  EXPECT_EQ(device->listen_port, 51000);
  EXPECT_EQ(device->fwmark, 4660u);
  ASSERT_EQ(device->peers.size(), 3u);
  EXPECT_EQ(device->peers[0].public_key, Filled(0xaa));
  EXPECT_EQ(device->peers[0].preshared_key, Filled(0x42));
  EXPECT_EQ(device->peers[0].persistent_keepalive, 25);
  EXPECT_THAT(device->peers[0].allowed_ips, ElementsAre("10.0.0.2/32", "fd00::2/128"));
  EXPECT_EQ(device->peers[1].public_key, Filled(0xbb));
  EXPECT_EQ(device->peers[1].endpoint, "[2001:db8::7]:51820");
  EXPECT_EQ(device->peers[1].tx_bytes, 1000);
  EXPECT_EQ(device->peers[1].rx_bytes, 2000);
  EXPECT_THAT(device->peers[1].allowed_ips, ElementsAre("10.0.0.3/32"));
  WgPeer bare;
  bare.public_key = Filled(0xcc);
  EXPECT_EQ(device->peers[2], bare);
}

TEST(UapiParserTest, IgnoresUnknownKeys) {
  absl::StatusOr<WgDevice> device = ParseUapiGet(
      "future_device_key=1\n"
      "listen_port=7\n"
      "public_key=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
      "future_peer_key=whatever=with=equals\n"
      "allowed_ip=10.1.0.0/16\n"
      "errno=0\n\n");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->listen_port, 7);
  ASSERT_EQ(device->peers.size(), 1u);
  EXPECT_THAT(device->peers[0].allowed_ips, ElementsAre("10.1.0.0/16"));
}

TEST(UapiParserTest, ReturnsErrnoOfFailedReply) {
  absl::StatusOr<WgDevice> device = ParseUapiGet("errno=-22\n\n");
  EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("errno=-22"));

  device = ParseUapiGet("errno=5\n\n");  // EIO, positive as boringtun may send it
  EXPECT_FALSE(device.ok());
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("errno=5"));

  device = ParseUapiGet("errno=-98\n\n");  // EADDRINUSE
  EXPECT_FALSE(device.ok());
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("errno=-98"));

  device = ParseUapiGet("errno=-999999999\n\n");
  EXPECT_EQ(device.status().code(), absl::StatusCode::kUnknown);
}

TEST(UapiParserTest, RejectsMalformedLines) {
  const std::string key64(64, 'a');
  for (const std::string& reply : std::vector<std::string>{
           "listen_port\nerrno=0\n\n",
           "=5\nerrno=0\n\n",
           "listen_port=70000\nerrno=0\n\n",
           "listen_port=-1\nerrno=0\n\n",
           "listen_port=+5\nerrno=0\n\n",
           "listen_port= 5\nerrno=0\n\n",
           "listen_port=\nerrno=0\n\n",
           "fwmark=4294967296\nerrno=0\n\n",
           "private_key=xyz\nerrno=0\n\n",
           "public_key=" + key64.substr(2) + "\nerrno=0\n\n",
           "public_key=" + key64 + "00\nerrno=0\n\n",
           "public_key=" + key64.substr(1) + "g\nerrno=0\n\n",
           "public_key=" + key64 + "\npreshared_key=zz\nerrno=0\n\n",
           "public_key=" + key64 + "\nallowed_ip=10.0.0.1\nerrno=0\n\n",
           "public_key=" + key64 + "\nallowed_ip=10.0.0.1/40\nerrno=0\n\n",
           "public_key=" + key64 + "\ntx_bytes=99999999999999999999\nerrno=0\n\n",
           "public_key=" + key64 + "\nrx_bytes=-3\nerrno=0\n\n",
           "public_key=" + key64 + "\npersistent_keepalive_interval=65536\nerrno=0\n\n",
           "errno=zero\n\n",
           "errno=\n\n",
       }) {
    absl::StatusOr<WgDevice> device = ParseUapiGet(reply);
    EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument) << reply;
  }
}

TEST(UapiParserTest, NamesTheLineOfAnError) {
  absl::StatusOr<WgDevice> device = ParseUapiGet("listen_port=1\nfwmark=x\nerrno=0\n\n");
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("line 2"));
}

TEST(UapiParserTest, RejectsReplyWithoutBlankLineOrErrno) {
  EXPECT_FALSE(ParseUapiGet("").ok());
  EXPECT_FALSE(ParseUapiGet("listen_port=1\nerrno=0\n").ok());  // truncated
  EXPECT_FALSE(ParseUapiGet("listen_port=1\nerrno=0").ok());    // truncated mid-line
  EXPECT_FALSE(ParseUapiGet("listen_port=1\n\n").ok());         // no errno
  EXPECT_TRUE(ParseUapiGet("errno=0\n\ntrailing bytes").ok());  // after the end: not ours
}

TEST(UapiParserTest, ParsesSetReply) {
  EXPECT_TRUE(ParseUapiSetReply("errno=0\n\n").ok());
  absl::Status failed = ParseUapiSetReply("errno=-22\n\n");
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("errno=-22"));
  EXPECT_FALSE(ParseUapiSetReply("errno=0\n").ok());
  EXPECT_FALSE(ParseUapiSetReply("\n").ok());
}

TEST(UapiBuilderTest, BuildsAddOrUpdateRequest) {
  WgPeer peer;
  peer.public_key = Filled(0xab);
  peer.preshared_key = Filled(0x01);
  peer.endpoint = "[2001:DB8::1]:51820";
  peer.persistent_keepalive = 25;
  peer.allowed_ips = {"10.0.0.2/32", "FD00::0002/128"};
  peer.rx_bytes = 99;  // counters are not settable and never sent
  absl::StatusOr<std::string> request = BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request,
            "set=1\n"
            "public_key=abababababababababababababababababababababababababababababababab\n"
            "preshared_key=0101010101010101010101010101010101010101010101010101010101010101\n"
            "endpoint=[2001:db8::1]:51820\n"
            "persistent_keepalive_interval=25\n"
            "replace_allowed_ips=true\n"
            "allowed_ip=10.0.0.2/32\n"
            "allowed_ip=fd00::2/128\n"
            "\n");
}

TEST(UapiBuilderTest, BuildsRequestWithoutOptionalFields) {
  WgPeer peer;
  peer.public_key = Filled(0xab);
  absl::StatusOr<std::string> request = BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request,
            "set=1\n"
            "public_key=abababababababababababababababababababababababababababababababab\n"
            "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
            "persistent_keepalive_interval=0\n"
            "replace_allowed_ips=true\n"
            "\n");
}

TEST(UapiBuilderTest, BuildsRemoveRequest) {
  WgPeer peer;
  peer.public_key = Filled(0xcd);
  peer.allowed_ips = {"not even valid"};  // ignored when removing
  absl::StatusOr<std::string> request = BuildUapiSet(peer, UapiPeerOp::kRemove);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request,
            "set=1\n"
            "public_key=cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\n"
            "remove=true\n"
            "\n");
}

TEST(UapiBuilderTest, RejectsValuesThatCouldInjectLines) {
  WgPeer peer;
  peer.allowed_ips = {"10.0.0.2/32\nremove=true"};
  EXPECT_EQ(BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.allowed_ips = {std::string("10.0.0.2\0\nremove=true/32", 24)};
  EXPECT_EQ(BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.allowed_ips.clear();
  peer.endpoint = "10.0.0.1:5\nremove=true";
  EXPECT_EQ(BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.endpoint.clear();
  peer.persistent_keepalive = -1;
  EXPECT_EQ(BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UapiReplyReaderTest, AssemblesReplyFedByteByByte) {
  UapiReplyReader reader;
  const absl::string_view reply = fixtures::kWireguardGoGetReply;
  for (size_t i = 0; i < reply.size(); ++i) {
    EXPECT_FALSE(reader.complete()) << "complete early at byte " << i;
    ASSERT_TRUE(reader.Append(reply.substr(i, 1)).ok());
  }
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(reader.reply(), reply);
  EXPECT_TRUE(ParseUapiGet(reader.reply()).ok());
}

TEST(UapiReplyReaderTest, AssemblesReplyFromUnevenChunks) {
  const absl::string_view reply = fixtures::kThreePeerGetReply;
  for (size_t chunk : {2u, 3u, 7u, 64u, 1000u}) {
    UapiReplyReader reader;
    for (size_t i = 0; i < reply.size(); i += chunk) {
      ASSERT_TRUE(reader.Append(reply.substr(i, chunk)).ok());
    }
    EXPECT_TRUE(reader.complete());
    EXPECT_EQ(reader.reply(), reply) << "chunk " << chunk;
  }
}

TEST(UapiReplyReaderTest, EndsAtBlankLineSplitAcrossReads) {
  UapiReplyReader reader;
  ASSERT_TRUE(reader.Append("errno=0\n").ok());
  EXPECT_FALSE(reader.complete());
  ASSERT_TRUE(reader.Append("\nleftover").ok());
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(reader.reply(), "errno=0\n\n");
  ASSERT_TRUE(reader.Append("more\n\n").ok());  // after the end: dropped
  EXPECT_EQ(reader.reply(), "errno=0\n\n");
}

TEST(UapiReplyReaderTest, TreatsLeadingBlankLineAsEnd) {
  UapiReplyReader reader;
  ASSERT_TRUE(reader.Append("\n").ok());
  EXPECT_TRUE(reader.complete());
  EXPECT_FALSE(ParseUapiGet(reader.reply()).ok());  // no errno line
}

TEST(UapiReplyReaderTest, RejectsReplyOverTheLimit) {
  UapiReplyReader reader(32);
  ASSERT_TRUE(reader.Append(std::string(30, 'x')).ok());
  EXPECT_EQ(reader.Append("xxx").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(reader.complete());

  UapiReplyReader exact(10);
  EXPECT_TRUE(exact.Append("errno=0\n\n").ok());  // 9 bytes fit
  EXPECT_TRUE(exact.complete());
}

// ---- the socket client ------------------------------------------------------

class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  ~SocketPair() {
    CloseDevice();
    close(fds_[0]);
  }
  int client() const { return fds_[0]; }
  int device() const { return fds_[1]; }
  void CloseDevice() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// Reads one request (through its blank line) from `fd`.
std::string ReadRequest(int fd) {
  UapiReplyReader reader;
  char buf[256];
  while (!reader.complete()) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    EXPECT_TRUE(reader.Append(absl::string_view(buf, n)).ok());
  }
  return std::string(reader.reply());
}

// Writes `reply` in pieces of `piece` bytes, each its own write.
void WriteInPieces(int fd, absl::string_view reply, size_t piece) {
  for (size_t i = 0; i < reply.size(); i += piece) {
    absl::string_view part = reply.substr(i, piece);
    ASSERT_EQ(write(fd, part.data(), part.size()), static_cast<ssize_t>(part.size()));
  }
}

TEST(UapiExchangeTest, ReadsReplyWrittenInPieces) {
  SocketPair pair;
  std::string request;
  std::thread device([&] {
    request = ReadRequest(pair.device());
    WriteInPieces(pair.device(), fixtures::kThreePeerGetReply, 5);
  });
  absl::StatusOr<std::string> reply =
      UapiExchange(pair.client(), kUapiGetRequest, absl::Now() + absl::Seconds(10));
  device.join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(request, "get=1\n\n");
  EXPECT_EQ(*reply, fixtures::kThreePeerGetReply);
}

TEST(UapiExchangeTest, TimesOutWhenDeviceIsSilent) {
  SocketPair pair;
  absl::StatusOr<std::string> reply =
      UapiExchange(pair.client(), kUapiGetRequest, absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(UapiExchangeTest, ReportsDeviceClosingBeforeReplyEnds) {
  SocketPair pair;
  std::thread device([&] {
    ReadRequest(pair.device());
    WriteInPieces(pair.device(), "listen_port=1\n", 100);
    pair.CloseDevice();
  });
  absl::StatusOr<std::string> reply =
      UapiExchange(pair.client(), kUapiGetRequest, absl::Now() + absl::Seconds(10));
  device.join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
}

TEST(UapiExchangeTest, RejectsReplyOverTheLimit) {
  SocketPair pair;
  std::thread device([&] {
    ReadRequest(pair.device());
    WriteInPieces(pair.device(), std::string(4096, 'x'), 4096);
  });
  absl::StatusOr<std::string> reply =
      UapiExchange(pair.client(), kUapiGetRequest, absl::Now() + absl::Seconds(10), 1024);
  device.join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kResourceExhausted);
}

// A fake userspace daemon: listens on <dir>/<iface>.sock and answers each
// connection's request with `respond(request)`, written in small pieces.
class FakeDaemon {
 public:
  explicit FakeDaemon(std::function<std::string(const std::string&)> respond)
      : respond_(std::move(respond)) {
    char tmpl[] = "/tmp/warden-wg-unit-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/wgtest0.sock";
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener_, 8), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
    close(listener_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }
  std::vector<std::string> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd pfd{listener_, POLLIN, 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      int conn = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::string request = ReadRequest(conn);
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      WriteInPieces(conn, respond_(request), 7);
      close(conn);
    }
  }

  std::function<std::string(const std::string&)> respond_;
  std::string dir_, path_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

TEST(UapiBackendTest, TalksToFakeDaemonOverUnixSocket) {
  FakeDaemon daemon([](const std::string& request) -> std::string {
    if (request == "get=1\n\n") return std::string(fixtures::kThreePeerGetReply);
    return "errno=0\n\n";
  });
  UapiBackend backend("wgtest0", daemon.path());
  EXPECT_EQ(backend.kind(), "uapi");

  absl::StatusOr<WgDevice> device = backend.GetDevice();
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->name, "wgtest0");
  EXPECT_EQ(device->peers.size(), 3u);

  WgPeer peer;
  peer.public_key = Filled(0x11);
  peer.allowed_ips = {"10.0.0.9/32"};
  ASSERT_TRUE(backend.AddOrUpdatePeer(peer).ok());
  ASSERT_TRUE(backend.RemovePeer(Filled(0x22)).ok());

  std::vector<std::string> requests = daemon.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1], *BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate));
  EXPECT_EQ(requests[2],
            absl::StrCat("set=1\npublic_key=", KeyToHex(Filled(0x22)), "\nremove=true\n\n"));
}

TEST(UapiBackendTest, ReportsErrnoOfRejectedSet) {
  FakeDaemon daemon([](const std::string&) { return std::string("errno=-22\n\n"); });
  UapiBackend backend("wgtest0", daemon.path());
  WgPeer peer;
  absl::Status status = backend.AddOrUpdatePeer(peer);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("errno=-22"));
}

TEST(UapiBackendTest, ReportsMissingSocketAsUnavailable) {
  UapiBackend backend("wgtest0", "/nonexistent-warden-dir/wgtest0.sock");
  absl::StatusOr<WgDevice> device = backend.GetDevice();
  EXPECT_EQ(device.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(device.status().message()),
              HasSubstr("/nonexistent-warden-dir/wgtest0.sock"));
}

TEST(WgBackendTest, OpenPicksUapiWhenSocketExists) {
  FakeDaemon daemon([](const std::string&) { return std::string("errno=0\n\n"); });
  absl::StatusOr<std::unique_ptr<WgBackend>> backend = OpenWgBackend("wgtest0", daemon.dir());
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "uapi");
}

TEST(WgBackendTest, OpenRejectsUnsafeInterfaceName) {
  EXPECT_EQ(OpenWgBackend("../../etc/x", "/tmp").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden::agent::wireguard
