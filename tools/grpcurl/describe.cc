#include "tools/grpcurl/describe.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"

namespace warden::tools::grpcurl {
namespace {

std::string Render(const std::string& full_name, const char* kind, std::string text) {
  // DebugString ends some kinds with a newline and not others; grpcurl ends each with one.
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return absl::StrCat(full_name, " is ", kind, ":\n", text, "\n");
}

}  // namespace

absl::StatusOr<std::string> Describe(ReflectionClient& reflection, std::string symbol) {
  if (!symbol.empty() && symbol.front() == '.') symbol.erase(0, 1);
  if (absl::Status status = reflection.Resolve(symbol); !status.ok()) return status;

  const google::protobuf::DescriptorPool& pool = reflection.pool();
  if (const auto* service = pool.FindServiceByName(symbol)) {
    return Render(service->full_name(), "a service", service->DebugString());
  }
  if (const auto* method = pool.FindMethodByName(symbol)) {
    return Render(method->full_name(), "a method", method->DebugString());
  }
  if (const auto* message = pool.FindMessageTypeByName(symbol)) {
    return Render(message->full_name(), "a message", message->DebugString());
  }
  if (const auto* enum_type = pool.FindEnumTypeByName(symbol)) {
    return Render(enum_type->full_name(), "an enum", enum_type->DebugString());
  }
  if (const auto* value = pool.FindEnumValueByName(symbol)) {
    return Render(value->full_name(), "an enum value", value->DebugString());
  }
  if (const auto* field = pool.FindFieldByName(symbol)) {
    return Render(field->full_name(), "a field", field->DebugString());
  }
  if (const auto* extension = pool.FindExtensionByName(symbol)) {
    return Render(extension->full_name(), "an extension", extension->DebugString());
  }
  if (const auto* oneof = pool.FindOneofByName(symbol)) {
    return Render(oneof->full_name(), "a one-of", oneof->DebugString());
  }
  // A package name resolves (its file exists) but is not a describable element.
  return absl::NotFoundError(absl::StrCat("Symbol not found: ", symbol));
}

}  // namespace warden::tools::grpcurl
