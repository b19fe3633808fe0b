#include "tests/e2e/quic/tunnel_meter.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace warden::testing {

DeviceBytes DeviceCounters(const std::string& proc_net_dev, const std::string& device) {
  for (absl::string_view line : absl::StrSplit(proc_net_dev, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos ||
        absl::StripAsciiWhitespace(line.substr(0, colon)) != device) {
      continue;
    }
    // rx: bytes packets errs drop fifo frame compressed multicast; then tx.
    std::vector<absl::string_view> fields =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty());
    DeviceBytes bytes;
    if (fields.size() < 9 || !absl::SimpleAtoi(fields[0], &bytes.rx) ||
        !absl::SimpleAtoi(fields[8], &bytes.tx)) {
      return {};
    }
    return bytes;
  }
  return {};
}

double ReceivedRate(const nlohmann::json& result, double skip_seconds) {
  double bytes = 0, first = -1, last = 0;
  if (!result.contains("intervals")) return 0;
  for (const auto& interval : result["intervals"]) {
    for (const auto& stream : interval["streams"]) {
      if (stream["sender"].get<bool>()) continue;
      const double start = stream["start"].get<double>();
      if (start + 1e-3 < skip_seconds) continue;
      bytes += stream["bytes"].get<double>();
      if (first < 0 || start < first) first = start;
      last = std::max(last, stream["end"].get<double>());
    }
  }
  return first < 0 || last <= first ? 0 : bytes / (last - first);
}

}  // namespace warden::testing
