#pragma once

// Statement calls and their results as text, the same whether the statement
// ran through libpqxx or through a libpq pipeline (pipeline.h). Fields read
// like pqxx::field (as<T>(), is_null(), c_str()), so that one row parser
// serves both.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace warden::control::store {

// One statement parameter in PostgreSQL's text format; nullopt is NULL.
using Param = std::optional<std::string>;

inline Param ToParam(std::string value) { return value; }
inline Param ToParam(absl::string_view value) { return std::string(value); }
inline Param ToParam(const char* value) { return std::string(value); }
inline Param ToParam(bool value) { return value ? "true" : "false"; }
template <typename T>
  requires std::is_integral_v<T>
Param ToParam(T value) {
  return absl::StrCat(value);
}
template <typename T>
Param ToParam(const std::optional<T>& value) {
  if (!value) return std::nullopt;
  return ToParam(*value);
}

// A prepared statement (by its name in a Statement list) and its parameters.
struct Call {
  absl::string_view statement;
  std::vector<Param> params;
};

template <typename... Args>
Call MakeCall(absl::string_view statement, Args&&... args) {
  return Call{.statement = statement, .params = {ToParam(std::forward<Args>(args))...}};
}

class TextResult;

class TextField {
 public:
  TextField(const TextResult* result, int row, int column)
      : result_(result), row_(row), column_(column) {}

  bool is_null() const;
  // "" for NULL, as libpq gives it.
  const char* c_str() const;

  // Throws std::domain_error for NULL or text that is not a T, as libpqxx does.
  template <typename T>
  T as() const {
    if (is_null()) throw std::domain_error(absl::StrCat("column ", column_, " is null"));
    const absl::string_view text = c_str();
    if constexpr (std::is_same_v<T, std::string>) {
      return std::string(text);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (text == "t" || text == "true") return true;
      if (text == "f" || text == "false") return false;
      throw std::domain_error(absl::StrCat("column ", column_, " is not a boolean: ", text));
    } else {
      static_assert(std::is_integral_v<T>, "TextField::as reads text, booleans and integers");
      T value{};
      if (!absl::SimpleAtoi(text, &value)) {
        throw std::domain_error(absl::StrCat("column ", column_, " is not an integer: ", text));
      }
      return value;
    }
  }

 private:
  const TextResult* result_;
  int row_;
  int column_;
};

class TextRow {
 public:
  TextRow(const TextResult* result, int row) : result_(result), row_(row) {}
  TextField operator[](int column) const { return TextField(result_, row_, column); }

 private:
  const TextResult* result_;
  int row_;
};

// The rows of one statement's result, copied out of the driver's result.
class TextResult {
 public:
  TextResult() = default;
  TextResult(int columns, std::vector<Param> cells)
      : columns_(columns), cells_(std::move(cells)) {}

  int size() const { return columns_ == 0 ? 0 : static_cast<int>(cells_.size()) / columns_; }
  bool empty() const { return size() == 0; }
  TextRow operator[](int row) const { return TextRow(this, row); }

  const Param& cell(int row, int column) const {
    if (row < 0 || row >= size() || column < 0 || column >= columns_) {
      throw std::out_of_range(absl::StrCat("no field ", row, ",", column));
    }
    return cells_[static_cast<size_t>(row * columns_ + column)];
  }

 private:
  int columns_ = 0;
  std::vector<Param> cells_;
};

inline bool TextField::is_null() const { return !result_->cell(row_, column_).has_value(); }
inline const char* TextField::c_str() const {
  const Param& cell = result_->cell(row_, column_);
  return cell ? cell->c_str() : "";
}

}  // namespace warden::control::store
