#pragma once

// Prometheus metrics: counters, gauges and histograms with labels, and their
// text exposition (format 0.0.4). Updating a metric is lock-free (atomics);
// looking up a labelled child takes a mutex, so hot paths look a child up
// once and keep the reference (children live as long as the registry).
// Values that are cheaper to read than to track (pool sizes, attached
// agents) are set by scrape hooks just before each exposition.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace warden::metrics {

class Counter {
 public:
  void Increment(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the upper bounds of the buckets, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  void ObserveDuration(absl::Duration duration) { Observe(absl::ToDoubleSeconds(duration)); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then the +Inf bucket (== count()).
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies from 0.5 ms to 10 s.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram, kCounterFunc, kGaugeFunc };

// One metric name with its children, one per combination of label values.
template <typename Metric>
class Family {
 public:
  using Factory = std::function<std::unique_ptr<Metric>()>;
  Family(std::string name, std::string help, std::vector<std::string> label_names, Factory factory)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        factory_(std::move(factory)) {}

  // The child for these label values, given in the order of the label names.
  Metric& With(std::initializer_list<absl::string_view> label_values);
  Metric& With(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls fn(label_values, metric) for every child, in label order.
  void ForEach(const std::function<void(const std::vector<std::string>&, const Metric&)>& fn) const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const Factory factory_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  // Names must be unique in the registry; a label-less family has one child,
  // reached with With({}).
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds = LatencyBuckets());

  // A label-less metric whose value is read at exposition: for numbers a
  // component keeps anyway (an atomic counter, a queue's length). `read`
  // must stay callable as long as the registry is exposed.
  void AddCounterFunc(std::string name, std::string help, std::function<double()> read);
  void AddGaugeFunc(std::string name, std::string help, std::function<double()> read);

  // Runs before every exposition, to set gauges read from elsewhere.
  void OnScrape(std::function<void()> hook);

  // Runs the scrape hooks, then writes every family in the text format.
  std::string Expose() const;

 private:
  struct Entry {
    Type type;
    std::string name;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
    // kCounterFunc, kGaugeFunc
    std::string help;
    std::function<double()> read;
  };
  Entry& Add(Type type, absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
  // Expositions one at a time: hooks set shared gauges.
  mutable absl::Mutex expose_mu_;
};

// The text format's escaping of a label value: backslash, quote, newline.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace warden::metrics
