#include "tests/support/prometheus_text.h"

#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden::testing {
namespace {

using Labels = std::map<std::string, std::string>;

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

absl::StatusOr<double> ParseValue(absl::string_view text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("bad value '", text, "'"));
  }
  return value;
}

// name{a="x",b="y"} value
absl::Status ParseSample(absl::string_view line, std::string& name, Labels& labels, double& value) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
  if (i == 0) return absl::InvalidArgumentError("sample without a metric name");
  name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t start = i;
      while (i < line.size() && IsNameChar(line[i], i == start)) ++i;
      const std::string label(line.substr(start, i - start));
      if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return absl::InvalidArgumentError("malformed label");
      }
      i += 2;
      std::string label_value;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          label_value += line[i] == 'n' ? '\n' : line[i];
        } else {
          label_value += line[i];
        }
      }
      if (i >= line.size()) return absl::InvalidArgumentError("unterminated label value");
      ++i;  // closing quote
      if (!labels.emplace(label, label_value).second) {
        return absl::InvalidArgumentError(absl::StrCat("label ", label, " given twice"));
      }
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return absl::InvalidArgumentError("unterminated label set");
    ++i;  // closing brace
  }
  if (i >= line.size() || line[i] != ' ') return absl::InvalidArgumentError("no value");
  absl::StatusOr<double> parsed = ParseValue(line.substr(i + 1));
  if (!parsed.ok()) return parsed.status();
  value = *parsed;
  return absl::OkStatus();
}

// The family a sample belongs to: its name, or the histogram it is part of.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

}  // namespace

absl::StatusOr<PrometheusText> PrometheusText::Parse(const std::string& text) {
  PrometheusText parsed;
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the exposition must end with a newline");
  }
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_number;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, " (", line, "): ", why));
    };
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 2) return error("TYPE needs a name and a type");
      if (!parsed.types_.emplace(parts[0], parts[1]).second) return error("TYPE given twice");
      continue;
    }
    if (absl::StartsWith(line, "#")) continue;  // HELP and comments
    std::string name;
    Labels labels;
    double value = 0;
    if (absl::Status status = ParseSample(line, name, labels, value); !status.ok()) {
      return error(status.message());
    }
    if (!parsed.types_.contains(FamilyOf(name, parsed.types_))) {
      return error("sample before its # TYPE");
    }
    if (!parsed.samples_[name].emplace(labels, value).second) return error("duplicate sample");
  }
  // Histograms: buckets cumulative in ascending le, +Inf == _count.
  for (const auto& [family, type] : parsed.types_) {
    if (type != "histogram") continue;
    std::map<Labels, std::map<double, double>> series;  // labels without le -> le -> count
    for (const auto& [labels, count] : parsed.samples_[family + "_bucket"]) {
      Labels rest = labels;
      auto le = rest.find("le");
      if (le == rest.end()) return absl::InvalidArgumentError(family + "_bucket without le");
      absl::StatusOr<double> bound = ParseValue(le->second);
      if (!bound.ok()) return bound.status();
      rest.erase(le);
      series[rest][*bound] = count;
    }
    for (const auto& [labels, buckets] : series) {
      double previous = 0;
      for (const auto& [bound, count] : buckets) {
        if (count < previous) {
          return absl::InvalidArgumentError(absl::StrCat(family, " buckets are not cumulative"));
        }
        previous = count;
      }
      if (buckets.empty() || !std::isinf(buckets.rbegin()->first)) {
        return absl::InvalidArgumentError(family + " has no +Inf bucket");
      }
      auto count = parsed.samples_[family + "_count"].find(labels);
      if (count == parsed.samples_[family + "_count"].end() ||
          count->second != buckets.rbegin()->second) {
        return absl::InvalidArgumentError(family + "_count differs from its +Inf bucket");
      }
      if (!parsed.samples_[family + "_sum"].contains(labels)) {
        return absl::InvalidArgumentError(family + " has no _sum");
      }
    }
  }
  return parsed;
}

double PrometheusText::Value(const std::string& name, const Labels& labels) const {
  auto family = samples_.find(name);
  if (family == samples_.end()) return -1;
  auto sample = family->second.find(labels);
  return sample == family->second.end() ? -1 : sample->second;
}

bool PrometheusText::Has(const std::string& name, const Labels& labels) const {
  auto family = samples_.find(name);
  return family != samples_.end() && family->second.contains(labels);
}

std::string PrometheusText::Type(const std::string& family) const {
  auto it = types_.find(family);
  return it == types_.end() ? "" : it->second;
}

int ProbeStatus(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  httplib::Result result = client.Get(path);
  return result ? result->status : -1;
}

absl::StatusOr<PrometheusText> ScrapeMetrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  httplib::Result result = client.Get("/metrics");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET /metrics on port ", port, ": ", httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::InternalError(absl::StrCat("GET /metrics answered ", result->status));
  }
  if (!absl::StartsWith(result->get_header_value("Content-Type"), "text/plain; version=0.0.4")) {
    return absl::InternalError(
        absl::StrCat("unexpected Content-Type ", result->get_header_value("Content-Type")));
  }
  return PrometheusText::Parse(result->body);
}

}  // namespace warden::testing
