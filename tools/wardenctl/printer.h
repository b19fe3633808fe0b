#pragma once

// Every command's output goes through one Printer, so that each one speaks
// every format: an aligned table for a person (more columns with --wide),
// protobuf JSON for scripts and jq (one object, or an array for a list),
// YAML, and --quiet, which prints only ids, one a line.

#include <google/protobuf/message.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tools/wardenctl/time_text.h"

namespace warden::wardenctl {

enum class Format { kTable, kWide, kJson, kYaml };

struct OutputOptions {
  Format format = Format::kTable;
  bool quiet = false;
  bool terminal = false;  // stdout is a terminal: relative times, colour
  bool color = false;
  absl::Time now = absl::UnixEpoch();  // what relative times count from
};

template <typename T>
struct Column {
  std::string header;
  std::function<std::string(const T&)> cell;
  bool wide_only = false;
};

// How one kind of object is shown: its columns, and its id for --quiet.
template <typename T>
struct View {
  std::vector<Column<T>> columns;
  std::function<std::string(const T&)> id;
};

// Protobuf JSON (lowerCamelCase names, enums by name, 64-bit integers as
// strings) with fields at their defaults included, so that `jq .maxConnections`
// reads 0 rather than null.
nlohmann::ordered_json MessageJson(const google::protobuf::Message& message);

class Printer {
 public:
  Printer(OutputOptions options, std::ostream& out)
      : options_(options), out_(out), time_(options.now, options.terminal) {}

  const OutputOptions& options() const { return options_; }
  const TimeText& time() const { return time_; }
  bool structured() const {
    return options_.format == Format::kJson || options_.format == Format::kYaml;
  }

  template <typename T>
  void List(const std::vector<T>& items, const View<T>& view) {
    if (options_.quiet) {
      for (const T& item : items) Line(view.id(item));
      return;
    }
    if (structured()) {
      nlohmann::ordered_json array = nlohmann::ordered_json::array();
      for (const T& item : items) array.push_back(MessageJson(item));
      Structured(array);
      return;
    }
    std::vector<std::string> headers;
    for (const Column<T>& column : view.columns) {
      if (Shows(column.wide_only)) headers.push_back(column.header);
    }
    std::vector<std::vector<std::string>> rows;
    for (const T& item : items) {
      std::vector<std::string> row;
      for (const Column<T>& column : view.columns) {
        if (Shows(column.wide_only)) row.push_back(column.cell(item));
      }
      rows.push_back(std::move(row));
    }
    TableOf(std::move(headers), std::move(rows));
  }

  // One object: a one-row table, or the object itself (not an array).
  template <typename T>
  void One(const T& item, const View<T>& view) {
    if (structured() && !options_.quiet) {
      Structured(MessageJson(item));
      return;
    }
    List(std::vector<T>{item}, view);
  }

  // The outcome of a change: `sentence` for a person, `message` for a script,
  // and `id` with --quiet (for a secret shown once, the secret: a script has
  // no other chance to keep it).
  void Done(const google::protobuf::Message& message, const std::string& sentence,
            const std::string& id);

  // Name/value lines for a person (`stats`), the message for a script.
  void Fields(const google::protobuf::Message& message,
              const std::vector<std::pair<std::string, std::string>>& fields);

  void Structured(const nlohmann::ordered_json& value);
  void Line(const std::string& text);
  std::ostream& out() { return out_; }

 private:
  bool Shows(bool wide_only) const { return !wide_only || options_.format == Format::kWide; }
  void TableOf(std::vector<std::string> headers, std::vector<std::vector<std::string>> rows);

  OutputOptions options_;
  std::ostream& out_;
  TimeText time_;
};

}  // namespace warden::wardenctl
