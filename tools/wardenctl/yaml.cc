#include "tools/wardenctl/yaml.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden::wardenctl {
namespace {

// Plain scalars that YAML 1.1 (PyYAML, go-yaml v2) or 1.2 resolves to a
// boolean or null, compared in lower case.
constexpr std::array<absl::string_view, 10> kReservedWords = {"true", "false", "yes", "no",   "on",
                                                              "off",  "y",     "n",   "null", "~"};

bool LooksLikeNumberOrDate(absl::string_view text) {
  // Anything that starts like a number (1, -1, +1, .5, 0x1f, 1e3, .inf,
  // 2026-12-04, 12:30) may be resolved as a number, a date or a sexagesimal
  // integer by some reader: quoting it is always correct.
  if (text.empty()) return false;
  size_t start = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (start < text.size() && text[start] == '.') {
    ++start;
    if (start < text.size() &&
        (text[start] == 'i' || text[start] == 'I' || text[start] == 'n' || text[start] == 'N')) {
      return true;  // .inf, .nan
    }
  }
  return start < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[start]));
}

// U+0080..U+009F in UTF-8 at `i`: not printable in YAML.
bool IsC1Control(absl::string_view text, size_t i) {
  return static_cast<unsigned char>(text[i]) == 0xc2 && i + 1 < text.size() &&
         static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
         static_cast<unsigned char>(text[i + 1]) <= 0x9f;
}

bool NeedsQuotes(absl::string_view text) {
  if (text.empty()) return true;
  const std::string lower = absl::AsciiStrToLower(text);
  if (std::find(kReservedWords.begin(), kReservedWords.end(), lower) != kReservedWords.end()) {
    return true;
  }
  if (LooksLikeNumberOrDate(text)) return true;
  // Indicators that mean something at the start of a plain scalar.
  static constexpr absl::string_view kLeading = "-?:,[]{}#&*!|>'\"%@`";
  if (kLeading.find(text.front()) != absl::string_view::npos) return true;
  if (text.front() == ' ' || text.back() == ' ' || text.back() == ':') return true;
  if (absl::StrContains(text, ": ") || absl::StrContains(text, " #")) return true;
  // Inside flow collections these end a scalar; quoting keeps the output
  // valid wherever a reader puts it.
  if (text == "<<" || text == "=") return true;  // YAML 1.1's merge and value keys
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) return true;  // newlines, tabs, control characters
    if (IsC1Control(text, i)) return true;
    const char c = text[i];
    if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}') return true;
  }
  return false;
}

bool IsScalar(const nlohmann::ordered_json& value) {
  return !value.is_object() && !value.is_array();
}

bool IsEmptyCollection(const nlohmann::ordered_json& value) {
  return (value.is_object() || value.is_array()) && value.empty();
}

std::string Scalar(const nlohmann::ordered_json& value) {
  if (value.is_string()) return YamlString(value.get_ref<const std::string&>());
  if (value.is_object()) return "{}";
  if (value.is_array()) return "[]";
  return value.dump();  // numbers, booleans, null: JSON and YAML spell them alike
}

// The lines of a mapping or sequence, each starting at `indent`.
void EmitEntries(const nlohmann::ordered_json& value, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      absl::StrAppend(&out, pad, YamlString(key), ":");
      if (IsScalar(item) || IsEmptyCollection(item)) {
        absl::StrAppend(&out, " ", Scalar(item), "\n");
      } else if (item.is_array()) {
        // Sequences under a key sit at the key's indentation (the style of
        // kubectl and most YAML in the wild; both are valid).
        out += "\n";
        EmitEntries(item, indent, out);
      } else {
        out += "\n";
        EmitEntries(item, indent + 2, out);
      }
    }
    return;
  }
  for (const auto& item : value) {
    absl::StrAppend(&out, pad, "-");
    if (IsScalar(item) || IsEmptyCollection(item)) {
      absl::StrAppend(&out, " ", Scalar(item), "\n");
    } else {
      // The first entry of a nested collection shares the dash's line.
      std::string nested;
      EmitEntries(item, indent + 2, nested);
      absl::StrAppend(&out, " ", absl::string_view(nested).substr(indent + 2));
    }
  }
}

}  // namespace

std::string YamlString(absl::string_view text) {
  if (!NeedsQuotes(text)) return std::string(text);
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    switch (byte) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          out += absl::StrFormat("\\x%02x", byte);
        } else if (IsC1Control(text, i)) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(text[++i]));
        } else {
          out += static_cast<char>(byte);  // UTF-8 passes through as it is
        }
    }
  }
  return out + "\"";
}

std::string ToYaml(const nlohmann::ordered_json& value) {
  if (IsScalar(value) || IsEmptyCollection(value)) return Scalar(value) + "\n";
  std::string out;
  EmitEntries(value, 0, out);
  return out;
}

}  // namespace warden::wardenctl
