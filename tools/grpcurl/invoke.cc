#include "tools/grpcurl/invoke.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <iostream>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace warden::tools::grpcurl {
namespace {

namespace pb = ::google::protobuf;

// Splits -d data into the JSON values it holds. grpcurl reads request data as a stream of
// concatenated values, so `{"a":1}{"a":2}` is two messages; a unary call must get at most one.
// Only the value boundaries are found here; the protobuf parser judges the contents.
std::vector<std::string_view> SplitJsonValues(std::string_view data) {
  std::vector<std::string_view> values;
  size_t i = 0;
  while (true) {
    while (i < data.size() && std::isspace(static_cast<unsigned char>(data[i]))) ++i;
    if (i >= data.size()) break;  // past the end after a trailing backslash
    size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < data.size(); ++i) {
      char c = data[i];
      if (in_string) {
        if (c == '\\') {
          ++i;  // skip the escaped character, which may be a quote
        } else if (c == '"') {
          in_string = false;
          if (depth == 0) {
            ++i;
            break;
          }
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth <= 0) {
          ++i;
          break;
        }
      } else if (depth == 0 && std::isspace(static_cast<unsigned char>(c))) {
        break;  // the end of a bare scalar
      }
    }
    values.push_back(data.substr(start, std::min(i, data.size()) - start));
  }
  return values;
}

// protobuf's pretty JSON indents one space per level; grpcurl's (Go protojson) two. JSON strings
// cannot hold raw newlines, so every line's leading spaces are indentation and can be doubled.
std::string IndentLikeGrpcurl(std::string_view json) {
  while (!json.empty() && json.back() == '\n') json.remove_suffix(1);
  std::string out;
  out.reserve(json.size() * 2);
  bool line_start = true;
  for (char c : json) {
    if (line_start && c == ' ') {
      out += "  ";
      continue;
    }
    line_start = c == '\n';
    out += c;
  }
  return out;
}

absl::StatusOr<std::string> ToJson(const pb::Message& message, const InvokeOptions& options) {
  pb::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = options.emit_defaults;
  print.preserve_proto_field_names = options.keep_proto_names;
  std::string json;
  pb::util::Status status = pb::util::MessageToJsonString(message, &json, print);
  if (!status.ok()) return absl::InternalError(status.message().ToString());
  return IndentLikeGrpcurl(json);
}

grpc::ByteBuffer Serialize(const pb::Message& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

bool Parse(const grpc::ByteBuffer& buffer, pb::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return message->ParseFromString(bytes);
}

template <typename Map>
std::string FormatMetadata(const Map& metadata) {
  if (metadata.empty()) return "(empty)\n";
  std::string out;
  for (const auto& [key, value] : metadata) {
    std::string name(key.data(), key.size());
    std::string text(value.data(), value.size());
    if (absl::EndsWith(name, "-bin")) text = absl::Base64Escape(text);
    absl::StrAppend(&out, name, ": ", text, "\n");
  }
  return out;
}

// Prints responses as they arrive and counts them; -v adds the metadata on stderr.
class ResponsePrinter {
 public:
  ResponsePrinter(pb::DynamicMessageFactory& factory, const pb::MethodDescriptor& method,
                  const InvokeOptions& options, std::ostream& out)
      : prototype_(*factory.GetPrototype(method.output_type())),
        method_(method),
        options_(options),
        out_(out) {}

  absl::Status Print(const grpc::ByteBuffer& buffer) {
    std::unique_ptr<pb::Message> response(prototype_.New());
    if (!Parse(buffer, response.get())) {
      return absl::InternalError(absl::StrCat("grpc call for \"", method_.full_name(),
                                              "\" failed: cannot decode the response as ",
                                              prototype_.GetTypeName()));
    }
    absl::StatusOr<std::string> json = ToJson(*response, options_);
    if (!json.ok()) return json.status();
    // Flushed per message, so whoever reads a live stream sees each event as it comes.
    out_ << *json << '\n' << std::flush;
    ++count_;
    return absl::OkStatus();
  }

  void PrintHeaders(const grpc::ClientContext& context) const {
    if (!options_.verbose) return;
    std::cerr << "\nResponse headers received:\n"
              << FormatMetadata(context.GetServerInitialMetadata());
  }

  void PrintTrailers(const grpc::ClientContext& context) const {
    if (!options_.verbose) return;
    std::cerr << "\nResponse trailers received:\n"
              << FormatMetadata(context.GetServerTrailingMetadata())
              << "Sent 1 request and received " << count_
              << (count_ == 1 ? " response\n" : " responses\n");
  }

 private:
  const pb::Message& prototype_;
  const pb::MethodDescriptor& method_;
  const InvokeOptions& options_;
  std::ostream& out_;
  int count_ = 0;
};

absl::StatusOr<grpc::Status> CallUnary(grpc::GenericStub& stub, grpc::ClientContext& context,
                                       const std::string& path, const grpc::ByteBuffer& request,
                                       ResponsePrinter& printer) {
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, path, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  printer.PrintHeaders(context);
  if (status.ok()) {
    if (absl::Status printed = printer.Print(response); !printed.ok()) return printed;
  }
  printer.PrintTrailers(context);
  return status;
}

// A server-streaming call on a completion queue: start, send the one request and half-close,
// then read until the server ends the stream. Each step waits for its own completion, so at most
// one operation is ever pending and a single tag will do.
absl::StatusOr<grpc::Status> CallServerStreaming(grpc::GenericStub& stub,
                                                 grpc::ClientContext& context,
                                                 const std::string& path,
                                                 const grpc::ByteBuffer& request,
                                                 ResponsePrinter& printer) {
  grpc::CompletionQueue queue;
  void* const tag = &queue;
  auto await = [&queue]() {
    void* got = nullptr;
    bool ok = false;
    return queue.Next(&got, &ok) && ok;
  };

  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, path, &queue);
  call->StartCall(tag);
  bool ok = await();
  if (ok) {
    call->WriteLast(request, grpc::WriteOptions(), tag);
    ok = await();
  }
  if (ok) {
    call->ReadInitialMetadata(tag);
    ok = await();
    if (ok) printer.PrintHeaders(context);
  }
  absl::Status print_error;
  while (ok) {
    grpc::ByteBuffer response;
    call->Read(&response, tag);
    if (!await()) break;  // the server ended the stream (or it broke); Finish says which
    print_error = printer.Print(response);
    if (!print_error.ok()) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status;
  call->Finish(&status, tag);
  await();
  queue.Shutdown();
  void* got;
  bool ignored;
  while (queue.Next(&got, &ignored)) {
  }
  if (!print_error.ok()) return print_error;
  printer.PrintTrailers(context);
  return status;
}

}  // namespace

absl::StatusOr<grpc::Status> Invoke(const std::shared_ptr<grpc::Channel>& channel,
                                    ReflectionClient& reflection, const std::string& method_name,
                                    std::string_view request_data, const InvokeOptions& options,
                                    std::ostream& out) {
  size_t split = method_name.rfind('/');
  if (split == std::string::npos) split = method_name.rfind('.');
  if (split == std::string::npos || split == 0 || split + 1 == method_name.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("given method name \"", method_name,
                     "\" is not in expected format: 'service/method' or 'service.method'"));
  }
  std::string service_name = method_name.substr(0, split);
  std::string short_name = method_name.substr(split + 1);

  if (absl::Status status = reflection.Resolve(service_name); !status.ok()) {
    if (absl::IsNotFound(status)) {
      return absl::NotFoundError(
          absl::StrCat("target server does not expose service \"", service_name, "\""));
    }
    return absl::Status(status.code(), absl::StrCat("failed to query for service descriptor \"",
                                                    service_name, "\": ", status.message()));
  }
  const pb::ServiceDescriptor* service = reflection.pool().FindServiceByName(service_name);
  if (service == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("target server does not expose service \"", service_name, "\""));
  }
  const pb::MethodDescriptor* method = service->FindMethodByName(short_name);
  if (method == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "service \"", service_name, "\" does not include a method named \"", short_name, "\""));
  }
  if (method->client_streaming()) {
    return absl::UnimplementedError(
        absl::StrCat("method \"", method->full_name(), "\" is ",
                     method->server_streaming() ? "bidi-streaming" : "client-streaming",
                     "; grpcurl-compat only calls unary and server-streaming methods"));
  }
  const char* shape = method->server_streaming() ? "a server-streaming RPC" : "a unary RPC";

  // Request: zero or one JSON value; zero sends an empty message, as grpcurl does.
  pb::DynamicMessageFactory factory(&reflection.pool());
  const pb::Message* prototype = factory.GetPrototype(method->input_type());
  std::unique_ptr<pb::Message> request(prototype->New());
  pb::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = options.allow_unknown_fields;
  std::vector<std::string_view> values = SplitJsonValues(request_data);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i == 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("method \"", method->full_name(), "\" is ", shape,
                       ", but request data contained more than 1 message"));
    }
    pb::util::Status parsed = pb::util::JsonStringToMessage(
        pb::StringPiece(values[i].data(), values[i].size()), request.get(), parse);
    if (!parsed.ok()) {
      // protobuf appends an excerpt of the input on further lines; the first line says it.
      std::string message = parsed.message().ToString();
      message = message.substr(0, message.find('\n'));
      return absl::InvalidArgumentError(absl::StrCat("error getting request data: ", message));
    }
  }

  if (options.verbose) {
    std::cerr << "\nResolved method descriptor:\n"
              << method->DebugString() << "\nRequest metadata to send:\n"
              << FormatMetadata(options.headers);
  }

  grpc::ClientContext context;
  for (const auto& [name, value] : options.headers) context.AddMetadata(name, value);
  if (options.deadline) context.set_deadline(*options.deadline);
  grpc::GenericStub stub(channel);
  const std::string path = absl::StrCat("/", service->full_name(), "/", method->name());
  grpc::ByteBuffer request_buffer = Serialize(*request);
  ResponsePrinter printer(factory, *method, options, out);
  return method->server_streaming()
             ? CallServerStreaming(stub, context, path, request_buffer, printer)
             : CallUnary(stub, context, path, request_buffer, printer);
}

}  // namespace warden::tools::grpcurl
