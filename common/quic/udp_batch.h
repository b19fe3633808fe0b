#pragma once

// QUIC packets bound for one UDP socket, sent together with sendmmsg(2):
// one system call for a burst of packets instead of one each.

#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace warden::quic {

// The largest UDP payload either end sends; paths are assumed to carry a
// 1500-byte MTU (Ethernet) with room for IPv6 and UDP headers.
inline constexpr size_t kMaxUdpPayload = 1452;

class UdpBatch {
 public:
  static constexpr size_t kCapacity = 64;

  explicit UdpBatch(int fd) : fd_(fd) {}

  // The buffer for the next packet (kMaxUdpPayload bytes); sends the batch
  // first when it is full.
  uint8_t* Next() {
    if (count_ == kCapacity) Flush();
    return packets_[count_].data();
  }
  // The packet written into Next() is `size` bytes for `remote`.
  void Commit(const ngtcp2_addr& remote, size_t size);
  // Sends every packet; drops the rest when the socket refuses (UDP may).
  void Flush();
  size_t pending() const { return count_; }
  // A client that moves to a new socket (NAT rebinding, tests).
  void set_fd(int fd) { fd_ = fd; }
  uint64_t send_errors() const { return send_errors_; }

 private:
  int fd_;
  size_t count_ = 0;
  uint64_t send_errors_ = 0;
  std::array<std::array<uint8_t, kMaxUdpPayload>, kCapacity> packets_;
  std::array<sockaddr_storage, kCapacity> addresses_;
  std::array<socklen_t, kCapacity> address_lengths_;
  std::array<size_t, kCapacity> sizes_;
};

}  // namespace warden::quic
