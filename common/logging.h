#pragma once

// One spdlog logger per component ("control.admin", "agent.link"), all
// writing through one stderr sink in text or JSON-lines form. Messages carry
// key=value fields; secrets are never passed to a logger.

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Lets loggers format absl::string_view (not std::string_view in this Abseil).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view value, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(value.data(), value.size()),
                                                    ctx);
  }
};

namespace warden::logging {

// level: trace|debug|info|warn|error|off; format: text|json.
absl::Status Configure(absl::string_view level, absl::string_view format);

// The logger for `component`, created on first use; it lives as long as
// the process.
std::shared_ptr<spdlog::logger> Get(absl::string_view component);

// A file's handle on its component's logger, looked up on first use and
// kept. Declared once per file, at namespace scope, and called like the
// function it replaces:
//
//   const logging::Logger Log("control.admission");
//   ...
//   Log()->info("admitted user={} node={}", user, node);
//
// Constant-initialised, so it is usable from other static initialisers and
// never destroyed before them.
class Logger {
 public:
  constexpr explicit Logger(const char* component) : component_(component) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  spdlog::logger* operator()() const;

 private:
  const char* const component_;
  mutable std::atomic<spdlog::logger*> logger_{nullptr};
};

// The JSON line `--log-format json` writes for one message: ts, level,
// logger, msg, and each key=value field of the message as its own member
// (a value may be "quoted"); msg keeps the rest of the text. Exposed for
// its test.
std::string JsonLine(absl::Time time, absl::string_view level, absl::string_view logger,
                     absl::string_view message);

}  // namespace warden::logging
