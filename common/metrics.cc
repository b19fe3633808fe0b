#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden::metrics {
namespace {

// Prometheus writes floats in Go's shortest form; %.17g round-trips and
// integers come out without a fraction.
std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.17g", value);
}

std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     absl::string_view extra_name = {}, absl::string_view extra_value = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]),
                    "\"");
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : ",", extra_name, "=\"", extra_value, "\"");
  }
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

template <typename Metric>
void WriteHeader(std::string& out, const Family<Metric>& family, absl::string_view type) {
  absl::StrAppend(&out, "# HELP ", family.name(), " ", EscapeHelp(family.help()), "\n# TYPE ",
                  family.name(), " ", type, "\n");
}

template <typename Metric>
void WriteSimple(std::string& out, const Family<Metric>& family, absl::string_view type) {
  WriteHeader(out, family, type);
  family.ForEach([&](const std::vector<std::string>& labels, const Metric& metric) {
    absl::StrAppend(&out, family.name(), LabelSet(family.label_names(), labels), " ",
                    FormatValue(metric.value()), "\n");
  });
}

void WriteHistogram(std::string& out, const Family<Histogram>& family) {
  WriteHeader(out, family, "histogram");
  family.ForEach([&](const std::vector<std::string>& labels, const Histogram& histogram) {
    const std::vector<uint64_t> counts = histogram.CumulativeCounts();
    for (size_t i = 0; i < counts.size(); ++i) {
      const std::string le =
          i < histogram.bounds().size() ? FormatValue(histogram.bounds()[i]) : "+Inf";
      absl::StrAppend(&out, family.name(), "_bucket",
                      LabelSet(family.label_names(), labels, "le", le), " ", counts[i], "\n");
    }
    const std::string label_set = LabelSet(family.label_names(), labels);
    absl::StrAppend(&out, family.name(), "_sum", label_set, " ", FormatValue(histogram.sum()), "\n",
                    family.name(), "_count", label_set, " ", counts.back(), "\n");
  });
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) {
    throw std::invalid_argument("histogram bounds must be ascending");
  }
}

void Histogram::Observe(double value) {
  const size_t bucket =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();  // le: <=
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    counts[i] = running;
  }
  return counts;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <typename Metric>
Metric& Family<Metric>::With(std::initializer_list<absl::string_view> label_values) {
  return With(std::vector<std::string>(label_values.begin(), label_values.end()));
}

template <typename Metric>
Metric& Family<Metric>::With(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument(absl::StrCat(name_, " takes ", label_names_.size(),
                                             " label values, not ", label_values.size()));
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& child = children_[label_values];
  if (child == nullptr) child = factory_();
  return *child;
}

template <typename Metric>
void Family<Metric>::ForEach(
    const std::function<void(const std::vector<std::string>&, const Metric&)>& fn) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, metric] : children_) fn(labels, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::Add(Type type, absl::string_view name) {
  for (const auto& entry : entries_) {
    if (entry->name == name) {
      throw std::invalid_argument(absl::StrCat("metric ", name, " is registered twice"));
    }
  }
  entries_.push_back(std::make_unique<Entry>());
  entries_.back()->type = type;
  entries_.back()->name = std::string(name);
  return *entries_.back();
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry& entry = Add(Type::kCounter, name);
  entry.counter =
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(label_names),
                                        [] { return std::make_unique<Counter>(); });
  return *entry.counter;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry& entry = Add(Type::kGauge, name);
  entry.gauge =
      std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(label_names),
                                      [] { return std::make_unique<Gauge>(); });
  return *entry.gauge;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Entry& entry = Add(Type::kHistogram, name);
  entry.histogram = std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  return *entry.histogram;
}

void Registry::AddCounterFunc(std::string name, std::string help, std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  Entry& entry = Add(Type::kCounterFunc, name);
  entry.help = std::move(help);
  entry.read = std::move(read);
}

void Registry::AddGaugeFunc(std::string name, std::string help, std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  Entry& entry = Add(Type::kGaugeFunc, name);
  entry.help = std::move(help);
  entry.read = std::move(read);
}

void Registry::OnScrape(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::Expose() const {
  absl::MutexLock expose_lock(&expose_mu_);
  std::vector<std::function<void()>> hooks;
  {
    absl::MutexLock lock(&mu_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& entry : entries_) {
    switch (entry->type) {
      case Type::kCounter:
        WriteSimple(out, *entry->counter, "counter");
        break;
      case Type::kGauge:
        WriteSimple(out, *entry->gauge, "gauge");
        break;
      case Type::kHistogram:
        WriteHistogram(out, *entry->histogram);
        break;
      case Type::kCounterFunc:
      case Type::kGaugeFunc:
        absl::StrAppend(&out, "# HELP ", entry->name, " ", EscapeHelp(entry->help), "\n# TYPE ",
                        entry->name, entry->type == Type::kCounterFunc ? " counter\n" : " gauge\n",
                        entry->name, " ", FormatValue(entry->read()), "\n");
        break;
    }
  }
  return out;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace warden::metrics
