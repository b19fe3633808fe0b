#include "tools/wardenctl/table.h"

#include <algorithm>

namespace warden::wardenctl {

size_t DisplayWidth(const std::string& text) {
  // Continuation bytes (10xxxxxx) belong to the character before them.
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

std::string Table::Render() const {
  std::vector<std::vector<std::string>> lines;
  if (!headers_.empty()) lines.push_back(headers_);
  lines.insert(lines.end(), rows_.begin(), rows_.end());
  for (auto& line : lines) {
    for (std::string& cell : line) {
      // An empty cell would make the columns after it unreadable to `awk`.
      if (cell.empty()) cell.push_back('-');
    }
  }

  std::vector<size_t> widths;
  for (const auto& line : lines) {
    if (widths.size() < line.size()) widths.resize(line.size(), 0);
    for (size_t i = 0; i < line.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(line[i]));
    }
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text.append(widths[i] - DisplayWidth(line[i]) + 2, ' ');
    }
    out += text + "\n";
  }
  return out;
}

}  // namespace warden::wardenctl
