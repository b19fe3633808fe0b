#pragma once

// Aligned columns for a terminal: a header row (upper case, as operators know
// it from kubectl) and one row per item, two spaces between columns, no
// trailing blanks. Widths count UTF-8 characters, not bytes, so a device
// label such as "Zoë's phone" does not push its row out of line.

#include <string>
#include <vector>

namespace warden::wardenctl {

class Table {
 public:
  // Without headers: a key/value listing (`wardenctl stats`).
  explicit Table(std::vector<std::string> headers = {});

  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// The number of characters (code points) in UTF-8 `text`.
size_t DisplayWidth(const std::string& text);

}  // namespace warden::wardenctl
