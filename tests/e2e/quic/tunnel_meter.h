#pragma once

// What a QUIC tunnel carried, read the two ways its tests trust: the byte
// counters of the TUN devices at its ends, and iperf3's JSON report.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace warden::testing {

// The tunnel's MTU, and the IP bytes per TCP payload byte at it (IP, TCP and
// timestamp headers take 52 bytes of each full segment).
inline constexpr int kTunnelMtu = 1380;
inline constexpr double kTcpIpPerPayload = double{kTunnelMtu} / (kTunnelMtu - 52);

struct DeviceBytes {
  int64_t rx = -1;  // for a tun device: the packets its program wrote into it
  int64_t tx = -1;  // for a tun device: the packets its program read from it
};

// `device`'s counters in a /proc/net/dev listing (-1 when it is not there).
DeviceBytes DeviceCounters(const std::string& proc_net_dev, const std::string& device);

inline int64_t RxBytes(const std::string& proc_net_dev, const std::string& device) {
  return DeviceCounters(proc_net_dev, device).rx;
}

// The bytes per second that receivers counted (sender == false streams) in
// the intervals starting at or after `skip_seconds`: the first seconds spend
// the budget's burst.
double ReceivedRate(const nlohmann::json& result, double skip_seconds);

}  // namespace warden::testing
