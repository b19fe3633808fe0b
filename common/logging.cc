#include "common/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace warden::logging {
namespace {

bool IsKeyChar(char c, bool first) {
  return absl::ascii_isalpha(c) || c == '_' || (!first && (absl::ascii_isdigit(c) || c == '.'));
}

bool IsReservedKey(absl::string_view key) {
  return key == "ts" || key == "level" || key == "logger" || key == "msg";
}

// Punctuation that closes a sentence clause after a value ("node_id=x: why"):
// it belongs to the text, not to the value.
bool IsTrailingPunctuation(char c) { return c == ',' || c == ';' || c == ':'; }

// A message split into its key=value fields and the rest of its words.
struct SplitMessage {
  std::string text;
  std::vector<std::pair<std::string, std::string>> fields;
};

SplitMessage Split(absl::string_view message) {
  SplitMessage out;
  absl::flat_hash_set<std::string> seen;
  auto append_word = [&](absl::string_view word) {
    if (!out.text.empty()) out.text += ' ';
    absl::StrAppend(&out.text, word);
  };
  size_t i = 0;
  const size_t n = message.size();
  while (i < n) {
    if (message[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = message.find(' ', i);
    if (end == absl::string_view::npos) end = n;
    size_t eq = i;
    while (eq < n && IsKeyChar(message[eq], eq == i)) ++eq;
    const absl::string_view key = message.substr(i, eq - i);
    if (eq == i || eq >= n || message[eq] != '=' || IsReservedKey(key) || seen.contains(key)) {
      append_word(message.substr(i, end - i));
      i = end;
      continue;
    }
    std::string value;
    absl::string_view tail;
    if (eq + 1 < n && message[eq + 1] == '"') {
      // A quoted value may hold spaces; \" and \\ are its escapes.
      size_t j = eq + 2;
      bool closed = false;
      for (; j < n; ++j) {
        if (message[j] == '\\' && j + 1 < n) {
          value += message[++j];
        } else if (message[j] == '"') {
          closed = true;
          break;
        } else {
          value += message[j];
        }
      }
      if (!closed) {  // not a quoted value after all: plain text
        append_word(message.substr(i, end - i));
        i = end;
        continue;
      }
      end = message.find(' ', j + 1);
      if (end == absl::string_view::npos) end = n;
      tail = message.substr(j + 1, end - j - 1);
    } else {
      absl::string_view raw = message.substr(eq + 1, end - eq - 1);
      if (raw.size() > 1 && IsTrailingPunctuation(raw.back())) {
        tail = raw.substr(raw.size() - 1);
        raw.remove_suffix(1);
      }
      value = std::string(raw);
    }
    seen.insert(std::string(key));
    out.fields.emplace_back(std::string(key), std::move(value));
    if (!tail.empty()) absl::StrAppend(&out.text, tail);  // to the word before the field
    i = end;
  }
  return out;
}

class JsonLinesFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string text =
        JsonLine(absl::FromChrono(msg.time),
                 absl::string_view(spdlog::level::to_string_view(msg.level).data(),
                                   spdlog::level::to_string_view(msg.level).size()),
                 absl::string_view(msg.logger_name.data(), msg.logger_name.size()),
                 absl::string_view(msg.payload.data(), msg.payload.size())) +
        "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLinesFormatter>();
  }
};

struct State {
  std::mutex mu;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
  // Every logger made here, kept for the life of the process (Logger holds
  // plain pointers to them).
  absl::flat_hash_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
};

State& GlobalState() {
  static State* state = new State();  // never destroyed: loggers may outlive main
  return *state;
}

}  // namespace

std::string JsonLine(absl::Time time, absl::string_view level, absl::string_view logger,
                     absl::string_view message) {
  nlohmann::json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
  line["level"] = std::string(level);
  line["logger"] = std::string(logger);
  SplitMessage split = Split(message);
  line["msg"] = split.fields.empty() ? std::string(message) : std::move(split.text);
  for (auto& [key, value] : split.fields) line[key] = std::move(value);
  // Replace rather than throw on invalid UTF-8: a log line must never fail.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status Configure(absl::string_view level, absl::string_view format) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level must be one of trace, debug, info, warn, error, off; got \"", level, "\""));
  }
  std::unique_ptr<spdlog::formatter> formatter;
  if (format == "json") {
    formatter = std::make_unique<JsonLinesFormatter>();
  } else if (format == "text") {
    formatter = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%f%z %l %n: %v");
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("log format must be text or json; got \"", format, "\""));
  }
  State& state = GlobalState();
  std::lock_guard lock(state.mu);
  state.level = parsed;
  state.sink->set_formatter(std::move(formatter));
  spdlog::apply_all(
      [&](const std::shared_ptr<spdlog::logger>& logger) { logger->set_level(parsed); });
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> Get(absl::string_view component) {
  State& state = GlobalState();
  std::lock_guard lock(state.mu);
  const std::string name(component);
  if (auto it = state.loggers.find(name); it != state.loggers.end()) return it->second;
  std::shared_ptr<spdlog::logger> logger = spdlog::get(name);
  if (logger == nullptr) {
    logger = std::make_shared<spdlog::logger>(name, state.sink);
    logger->set_level(state.level);
    logger->flush_on(spdlog::level::info);
    spdlog::register_logger(logger);
  }
  state.loggers.emplace(name, logger);
  return logger;
}

spdlog::logger* Logger::operator()() const {
  spdlog::logger* logger = logger_.load(std::memory_order_acquire);
  if (logger == nullptr) {
    logger = Get(component_).get();  // the same one whichever thread wins
    logger_.store(logger, std::memory_order_release);
  }
  return logger;
}

}  // namespace warden::logging
