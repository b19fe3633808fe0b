// libFuzzer target: the WireGuard UAPI reply reader and parser.
//
// The input is what a userspace WireGuard wrote on its socket. The reply
// reader, fed in pieces, must stop exactly at the blank line; a get reply
// that parses must read back the same once written out again (the device's
// own key aside, which the parser derives from a private key it drops), and
// every peer in it must give a set request that is one request, or a clean
// INVALID_ARGUMENT.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/drivers/wireguard/uapi.h"
#include "tests/fuzz/fuzz_check.h"

namespace warden::agent::wireguard {
namespace {

constexpr size_t kReaderLimit = 4096;

// A get reply as wireguard-go writes it, for what WgDevice holds.
std::string FormatGetReply(const WgDevice& device) {
  std::string out = absl::StrCat("listen_port=", device.listen_port, "\n");
  if (device.fwmark != 0) absl::StrAppend(&out, "fwmark=", device.fwmark, "\n");
  for (const WgPeer& peer : device.peers) {
    absl::StrAppend(&out, "public_key=", KeyToHex(peer.public_key), "\n",
                    "preshared_key=", KeyToHex(peer.preshared_key.value_or(Key{})), "\n");
    if (!peer.endpoint.empty()) absl::StrAppend(&out, "endpoint=", peer.endpoint, "\n");
    absl::StrAppend(&out, "last_handshake_time_sec=", peer.last_handshake_unix_sec, "\n",
                    "last_handshake_time_nsec=", peer.last_handshake_nsec, "\n",
                    "rx_bytes=", peer.rx_bytes, "\n", "tx_bytes=", peer.tx_bytes, "\n",
                    "persistent_keepalive_interval=", peer.persistent_keepalive, "\n");
    for (const std::string& allowed_ip : peer.allowed_ips) {
      absl::StrAppend(&out, "allowed_ip=", allowed_ip, "\n");
    }
  }
  out += "errno=0\n\n";
  return out;
}

// Where the reply in `input` ends (after its blank line), or npos.
size_t ReplyEnd(absl::string_view input) {
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '\n' && (i == 0 || input[i - 1] == '\n')) return i + 1;
  }
  return absl::string_view::npos;
}

void CheckReader(absl::string_view input) {
  UapiReplyReader reader(kReaderLimit);
  bool exhausted = false;
  for (size_t pos = 0, n = 1; pos < input.size() && !reader.complete(); pos += n, n = n % 7 + 1) {
    absl::Status appended = reader.Append(input.substr(pos, n));
    if (!appended.ok()) {
      FUZZ_CHECK(absl::IsResourceExhausted(appended));
      exhausted = true;
      break;
    }
  }
  const size_t end = ReplyEnd(input);
  if (end != absl::string_view::npos && end <= kReaderLimit) {
    FUZZ_CHECK(!exhausted && reader.complete());
    FUZZ_CHECK(reader.reply() == input.substr(0, end));
    FUZZ_CHECK(reader.Append("more").ok() && reader.reply().size() == end);
  } else {
    FUZZ_CHECK(!reader.complete());
    FUZZ_CHECK(exhausted == (input.size() > kReaderLimit));
  }
}

void CheckSetRequests(const WgPeer& peer) {
  absl::StatusOr<std::string> set = BuildUapiSet(peer, UapiPeerOp::kAddOrUpdate);
  if (!set.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(set.status()));
  } else {
    // One request: key=value lines up to the one blank line at its end.
    FUZZ_CHECK(absl::StartsWith(*set, "set=1\n") && absl::EndsWith(*set, "\n\n"));
    FUZZ_CHECK(set->find("\n\n") == set->size() - 2);
  }
  absl::StatusOr<std::string> remove = BuildUapiSet(peer, UapiPeerOp::kRemove);
  FUZZ_CHECK(remove.ok() && remove->find("\n\n") == remove->size() - 2);
}

}  // namespace
}  // namespace warden::agent::wireguard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace warden::agent::wireguard;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckReader(input);

  const absl::Status set_reply = ParseUapiSetReply(input);
  absl::StatusOr<WgDevice> device = ParseUapiGet(input);
  if (!device.ok()) return 0;
  FUZZ_CHECK(set_reply.ok());                     // a get reply that parses is a good set reply too
  FUZZ_CHECK(device->peers.size() <= size / 12);  // "public_key=" and its line end

  absl::StatusOr<WgDevice> again = ParseUapiGet(FormatGetReply(*device));
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString());
  again->public_key = device->public_key;
  FUZZ_CHECK(*again == *device);

  for (const WgPeer& peer : device->peers) CheckSetRequests(peer);
  return 0;
}
