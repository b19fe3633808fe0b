#pragma once

// One spdlog logger per component ("control.admin", "agent.link"), all
// writing through one stderr sink in text or JSON-lines form. Messages carry
// key=value fields; secrets are never passed to a logger.

#include <spdlog/logger.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

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

// The logger for `component`, created on first use.
std::shared_ptr<spdlog::logger> Get(absl::string_view component);

}  // namespace warden::logging
