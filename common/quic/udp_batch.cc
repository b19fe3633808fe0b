#include "common/quic/udp_batch.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace warden::quic {

void UdpBatch::Commit(const ngtcp2_addr& remote, size_t size) {
  std::memcpy(&addresses_[count_], remote.addr, remote.addrlen);
  address_lengths_[count_] = remote.addrlen;
  sizes_[count_] = size;
  ++count_;
}

void UdpBatch::Flush() {
  std::array<mmsghdr, kCapacity> messages{};
  std::array<iovec, kCapacity> iovs{};
  for (size_t i = 0; i < count_; ++i) {
    iovs[i] = iovec{.iov_base = packets_[i].data(), .iov_len = sizes_[i]};
    messages[i].msg_hdr.msg_name = &addresses_[i];
    messages[i].msg_hdr.msg_namelen = address_lengths_[i];
    messages[i].msg_hdr.msg_iov = &iovs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  size_t sent = 0;
  while (sent < count_) {
    const int n = ::sendmmsg(fd_, &messages[sent], static_cast<unsigned>(count_ - sent), 0);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // A full socket buffer or an unreachable peer: QUIC recovers lost packets.
      ++send_errors_;
      ++sent;
    }
  }
  count_ = 0;
}

}  // namespace warden::quic
