#include "tools/grpcurl/reflection_client.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace warden::tools::grpcurl {

namespace rpb = ::grpc::reflection::v1alpha;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;

namespace {

// Whether `name` is `element` or lies inside it: "Foo" and "Foo.bar" are under "Foo".
bool Under(std::string_view name, std::string_view element, std::string_view* rest) {
  if (name == element) {
    *rest = {};
    return true;
  }
  if (name.size() > element.size() && name.substr(0, element.size()) == element &&
      name[element.size()] == '.') {
    *rest = name.substr(element.size() + 1);
    return true;
  }
  return false;
}

bool EnumDefines(const google::protobuf::EnumDescriptorProto& enum_type, std::string_view name) {
  if (name == enum_type.name()) return true;
  // Enum values are scoped like C++ enumerators: siblings of their enum, not children.
  for (const auto& value : enum_type.value()) {
    if (name == value.name()) return true;
  }
  return false;
}

// `name` is relative to the message's enclosing scope.
bool MessageDefines(const google::protobuf::DescriptorProto& message, std::string_view name) {
  std::string_view rest;
  if (!Under(name, message.name(), &rest)) return false;
  if (rest.empty()) return true;
  for (const auto& field : message.field()) {
    if (rest == field.name()) return true;
  }
  for (const auto& field : message.extension()) {
    if (rest == field.name()) return true;
  }
  for (const auto& oneof : message.oneof_decl()) {
    if (rest == oneof.name()) return true;
  }
  for (const auto& nested : message.nested_type()) {
    if (MessageDefines(nested, rest)) return true;
  }
  for (const auto& enum_type : message.enum_type()) {
    if (EnumDefines(enum_type, rest)) return true;
  }
  return false;
}

// Whether `file` defines the fully-qualified `symbol`.
bool FileDefines(const FileDescriptorProto& file, std::string_view symbol) {
  std::string_view name = symbol;
  if (!file.package().empty() && !Under(symbol, file.package(), &name)) return false;
  for (const auto& message : file.message_type()) {
    if (MessageDefines(message, name)) return true;
  }
  for (const auto& enum_type : file.enum_type()) {
    if (EnumDefines(enum_type, name)) return true;
  }
  for (const auto& extension : file.extension()) {
    if (name == extension.name()) return true;
  }
  for (const auto& service : file.service()) {
    std::string_view method;
    if (!Under(name, service.name(), &method)) continue;
    if (method.empty()) return true;
    for (const auto& candidate : service.method()) {
      if (method == candidate.name()) return true;
    }
  }
  return false;
}

bool FileExtends(const FileDescriptorProto& file, std::string_view containing_type, int number) {
  auto matches = [&](const google::protobuf::FieldDescriptorProto& field) {
    std::string_view extendee = field.extendee();
    if (!extendee.empty() && extendee.front() == '.') extendee.remove_prefix(1);
    return extendee == containing_type && field.number() == number;
  };
  // Extensions declared inside messages count too, but one level is all real protos use.
  for (const auto& field : file.extension()) {
    if (matches(field)) return true;
  }
  for (const auto& message : file.message_type()) {
    for (const auto& field : message.extension()) {
      if (matches(field)) return true;
    }
  }
  return false;
}

}  // namespace

// The pool's fallback database: each question the pool cannot answer from what it has built
// becomes one request on the reflection stream.
class ReflectionClient::Database : public google::protobuf::DescriptorDatabase {
 public:
  Database(std::shared_ptr<grpc::Channel> channel, Metadata headers,
           std::optional<Deadline> deadline)
      : stub_(rpb::ServerReflection::NewStub(std::move(channel))),
        headers_(std::move(headers)),
        deadline_(deadline) {}

  ~Database() override {
    // Half-close so the server ends the stream normally instead of seeing a cancellation.
    if (stream_ != nullptr) {
      stream_->WritesDone();
      stream_->Finish();
    }
  }

  absl::StatusOr<std::vector<std::string>> ListServices() {
    rpb::ServerReflectionRequest request;
    request.set_list_services("*");
    absl::StatusOr<rpb::ServerReflectionResponse> response = RoundTrip(request);
    if (!response.ok()) return response.status();
    if (response->has_error_response()) return ErrorResponseStatus(response->error_response());
    if (!response->has_list_services_response()) {
      return absl::InternalError("server sent an unexpected reply to list_services");
    }
    std::vector<std::string> names;
    for (const rpb::ServiceResponse& service : response->list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  bool FindFileByName(const std::string& filename, FileDescriptorProto* output) override {
    // The server sends a file together with its imports, so most imports are already here.
    if (CopyFetched(filename, output)) return true;
    rpb::ServerReflectionRequest request;
    request.set_file_by_filename(filename);
    Fetch(request);
    if (CopyFetched(filename, output)) return true;
    return CopyCompiledIn(DescriptorPool::generated_pool()->FindFileByName(filename), output);
  }

  bool FindFileContainingSymbol(const std::string& symbol, FileDescriptorProto* output) override {
    rpb::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    for (const std::string& name : Fetch(request)) {
      if (FileDefines(fetched_.at(name), symbol)) return CopyFetched(name, output);
    }
    return CopyCompiledIn(DescriptorPool::generated_pool()->FindFileContainingSymbol(symbol),
                          output);
  }

  bool FindFileContainingExtension(const std::string& containing_type, int field_number,
                                   FileDescriptorProto* output) override {
    rpb::ServerReflectionRequest request;
    request.mutable_file_containing_extension()->set_containing_type(containing_type);
    request.mutable_file_containing_extension()->set_extension_number(field_number);
    for (const std::string& name : Fetch(request)) {
      if (FileExtends(fetched_.at(name), containing_type, field_number)) {
        return CopyFetched(name, output);
      }
    }
    const DescriptorPool* compiled_in = DescriptorPool::generated_pool();
    const google::protobuf::Descriptor* type = compiled_in->FindMessageTypeByName(containing_type);
    if (type == nullptr) return false;
    const google::protobuf::FieldDescriptor* extension =
        compiled_in->FindExtensionByNumber(type, field_number);
    return extension != nullptr && CopyCompiledIn(extension->file(), output);
  }

  // Why reflection itself failed (as opposed to a name the server does not know), if it did.
  const absl::Status& error() const { return error_; }

 private:
  static absl::Status ErrorResponseStatus(const rpb::ErrorResponse& error) {
    return absl::Status(static_cast<absl::StatusCode>(error.error_code()), error.error_message());
  }

  // One request, one response: the v1alpha protocol answers requests in order.
  absl::StatusOr<rpb::ServerReflectionResponse> RoundTrip(
      const rpb::ServerReflectionRequest& request) {
    if (!error_.ok()) return error_;
    if (stream_ == nullptr) {
      context_ = std::make_unique<grpc::ClientContext>();
      for (const auto& [name, value] : headers_) context_->AddMetadata(name, value);
      if (deadline_) context_->set_deadline(*deadline_);
      stream_ = stub_->ServerReflectionInfo(context_.get());
    }
    rpb::ServerReflectionResponse response;
    if (stream_->Write(request) && stream_->Read(&response)) return response;

    // The stream is gone; its final status says why. It is not reopened: whatever broke it
    // (no reflection service, an expired -max-time) would break the next one too.
    grpc::Status status = stream_->Finish();
    stream_.reset();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      error_ = absl::UnimplementedError("server does not support the reflection API");
    } else if (!status.ok()) {
      error_ = absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                            absl::StrCat("rpc error: code = ", StatusCodeName(status.error_code()),
                                         " desc = ", status.error_message()));
    } else {
      error_ = absl::InternalError("server ended the reflection stream without answering");
    }
    return error_;
  }

  // Sends a request for descriptors and keeps every file in the answer; returns their names.
  //
  // Which of them answers the question is for the caller to work out: the protocol puts the
  // requested file first, but gRPC C++ 1.51 reuses one response message for the whole stream,
  // so each answer also repeats every file sent before it, and the new one comes last.
  std::vector<std::string> Fetch(const rpb::ServerReflectionRequest& request) {
    absl::StatusOr<rpb::ServerReflectionResponse> response = RoundTrip(request);
    // An error_response (usually NOT_FOUND) just means "ask someone else".
    if (!response.ok() || !response->has_file_descriptor_response()) return {};
    std::vector<std::string> names;
    for (const std::string& bytes : response->file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        error_ = absl::InternalError("server sent a malformed file descriptor");
        return {};
      }
      std::string name = file.name();
      fetched_.try_emplace(name, std::move(file));
      names.push_back(std::move(name));
    }
    return names;
  }

  bool CopyFetched(const std::string& filename, FileDescriptorProto* output) const {
    auto it = fetched_.find(filename);
    if (it == fetched_.end()) return false;
    *output = it->second;
    return true;
  }

  static bool CopyCompiledIn(const FileDescriptor* file, FileDescriptorProto* output) {
    if (file == nullptr) return false;
    file->CopyTo(output);
    return true;
  }

  std::unique_ptr<rpb::ServerReflection::Stub> stub_;
  Metadata headers_;
  std::optional<Deadline> deadline_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<rpb::ServerReflectionRequest, rpb::ServerReflectionResponse>>
      stream_;
  absl::Status error_;
  std::map<std::string, FileDescriptorProto> fetched_;  // by file name
};

// Keeps the pool's complaints (a descriptor that does not link) for the error message, instead
// of letting protobuf log them.
class ReflectionClient::ErrorCollector : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message* /*descriptor*/, ErrorLocation /*location*/,
                const std::string& message) override {
    if (!errors_.empty()) errors_ += "; ";
    absl::StrAppend(&errors_, filename, ": ", element_name, ": ", message);
  }

  std::string Take() { return std::exchange(errors_, {}); }

 private:
  std::string errors_;
};

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel, Metadata headers,
                                   std::optional<Deadline> deadline)
    : database_(std::make_unique<Database>(std::move(channel), std::move(headers), deadline)),
      errors_(std::make_unique<ErrorCollector>()),
      pool_(std::make_unique<DescriptorPool>(database_.get(), errors_.get())) {
  // Using the compiled-in health messages keeps health.pb.o in the link (nothing else refers to
  // it), and that is what registers grpc/health/v1/health.proto in the generated pool that
  // lookups fall back to.
  grpc::health::v1::HealthCheckRequest::descriptor();
}

// Out of line, where Database and ErrorCollector are complete. The pool, declared last, is
// destroyed first: it uses the other two.
ReflectionClient::~ReflectionClient() = default;

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  absl::StatusOr<std::vector<std::string>> names = database_->ListServices();
  if (names.ok()) std::sort(names->begin(), names->end());
  return names;
}

absl::Status ReflectionClient::Resolve(const std::string& symbol) {
  if (pool_->FindFileContainingSymbol(symbol) != nullptr) return absl::OkStatus();
  if (std::string errors = errors_->Take(); !errors.empty()) {
    return absl::InternalError(absl::StrCat("invalid descriptors from the server: ", errors));
  }
  if (!database_->error().ok()) return database_->error();
  return absl::NotFoundError(absl::StrCat("Symbol not found: ", symbol));
}

}  // namespace warden::tools::grpcurl
