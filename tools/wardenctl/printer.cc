#include "tools/wardenctl/printer.h"

#include <google/protobuf/util/json_util.h>

#include "tools/wardenctl/table.h"
#include "tools/wardenctl/yaml.h"
#include "warden/v1/admin.pb.h"

namespace warden::wardenctl {
namespace {

// Every object inside `value` with its keys sorted.
nlohmann::ordered_json Sorted(const nlohmann::ordered_json& value) {
  return nlohmann::ordered_json::parse(nlohmann::json::parse(value.dump()).dump());
}

// Fields in the order the .proto declares them (protobuf's printer puts
// the defaults it adds after the fields that are set), and maps (and
// Structs, which are maps) in the order of their keys: protobuf prints them
// in hash order, and the same answer should print the same.
void Arrange(const google::protobuf::Descriptor& descriptor, nlohmann::ordered_json& value) {
  if (!value.is_object()) return;  // well-known types print as strings
  if (descriptor.full_name() == "google.protobuf.Struct") {
    value = Sorted(value);
    return;
  }
  nlohmann::ordered_json arranged = nlohmann::ordered_json::object();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const google::protobuf::FieldDescriptor& field = *descriptor.field(i);
    auto found = value.find(field.json_name());
    if (found == value.end()) continue;
    nlohmann::ordered_json& item = arranged[field.json_name()] = std::move(*found);
    if (field.message_type() == nullptr) continue;
    if (field.is_map()) {
      item = Sorted(item);
    } else if (field.is_repeated()) {
      for (auto& element : item) Arrange(*field.message_type(), element);
    } else {
      Arrange(*field.message_type(), item);
    }
  }
  value = std::move(arranged);
}

}  // namespace

nlohmann::ordered_json MessageJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  // Only a message holding an Any of an unknown type fails to print, and
  // AdminService has none.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  nlohmann::ordered_json value = nlohmann::ordered_json::parse(json);
  // A user's password is write-only: printed with the defaults it would read
  // as an empty password.
  if (message.GetDescriptor() == v1::User::descriptor()) value.erase("password");
  Arrange(*message.GetDescriptor(), value);
  return value;
}

void Printer::Done(const google::protobuf::Message& message, const std::string& sentence,
                   const std::string& id) {
  if (options_.quiet) {
    if (!id.empty()) Line(id);
  } else if (structured()) {
    Structured(MessageJson(message));
  } else {
    Line(sentence);
  }
}

void Printer::Fields(const google::protobuf::Message& message,
                     const std::vector<std::pair<std::string, std::string>>& fields) {
  if (structured()) {
    Structured(MessageJson(message));
    return;
  }
  Table table;
  for (const auto& [name, value] : fields) table.AddRow({name, value});
  out_ << table.Render();
}

void Printer::Structured(const nlohmann::ordered_json& value) {
  if (options_.format == Format::kYaml) {
    out_ << ToYaml(value);
  } else {
    out_ << value.dump(2) << "\n";
  }
}

void Printer::Line(const std::string& text) { out_ << text << "\n"; }

void Printer::TableOf(std::vector<std::string> headers,
                      std::vector<std::vector<std::string>> rows) {
  Table table(std::move(headers));
  for (auto& row : rows) table.AddRow(std::move(row));
  out_ << table.Render();
}

}  // namespace warden::wardenctl
