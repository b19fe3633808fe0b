#pragma once

// A strict reader of the Prometheus text format (0.0.4) for tests: every
// sample must belong to a family announced by # TYPE, label values are
// unescaped, and histograms must be whole (ascending le, cumulative buckets,
// +Inf equal to _count). Anything else is an error naming the line.

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace warden::testing {

class PrometheusText {
 public:
  static absl::StatusOr<PrometheusText> Parse(const std::string& text);

  // The sample's value; `labels` in any order ("" = no labels), e.g.
  // Value("warden_admissions_total", {{"result", "denied"}, {"reason", "x"}}).
  // -1 when there is no such sample.
  double Value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const;
  bool Has(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // "counter", "gauge", "histogram", or "" for an unknown family.
  std::string Type(const std::string& family) const;

 private:
  // name -> sorted labels -> value
  std::map<std::string, std::map<std::map<std::string, std::string>, double>> samples_;
  std::map<std::string, std::string> types_;
};

// GET http://127.0.0.1:<port>/metrics, parsed.
absl::StatusOr<PrometheusText> ScrapeMetrics(int port);

// The HTTP status of GET http://127.0.0.1:<port><path> (a probe: /healthz,
// /readyz), or -1 when nothing answered.
int ProbeStatus(int port, const std::string& path);

}  // namespace warden::testing
