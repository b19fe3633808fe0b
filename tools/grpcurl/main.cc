// grpcurl-compat: the subset of fullstorydev/grpcurl that administering Warden needs, for
// machines where grpcurl is not packaged (Debian 12). Same command lines, same output:
//
//   grpcurl-compat [flags] ADDRESS list [SERVICE]
//   grpcurl-compat [flags] ADDRESS describe [SYMBOL]
//   grpcurl-compat [flags] ADDRESS pkg.Service/Method
//
// Schemas come only from server reflection. Exit status follows grpcurl: 0 on success, 1 when
// something failed before or outside the call, 2 for bad usage, 64 + the gRPC code when the call
// ended with an error status.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tools/grpcurl/connection.h"
#include "tools/grpcurl/describe.h"
#include "tools/grpcurl/invoke.h"
#include "tools/grpcurl/reflection_client.h"

#ifndef GRPCURL_COMPAT_VERSION
#define GRPCURL_COMPAT_VERSION "dev"
#endif

namespace warden::tools::grpcurl {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// grpcurl offsets status codes so that Canceled (1) and Unknown (2) do not look like its own.
constexpr int kStatusCodeOffset = 64;

struct Flags {
  bool help = false;
  bool version = false;
  bool plaintext = false;
  bool insecure = false;
  std::string cacert;
  std::string cert;
  std::string key;
  std::string servername;
  std::string authority;
  std::string user_agent;
  std::vector<std::string> headers;          // -H: reflection and the call
  std::vector<std::string> rpc_headers;      // the call only
  std::vector<std::string> reflect_headers;  // reflection only
  bool expand_headers = false;
  std::string data;
  std::string format = "json";
  double connect_timeout = 0;
  double max_time = 0;
  double keepalive_time = 0;
  int max_msg_sz = 0;
  bool emit_defaults = false;
  bool keep_proto_names = false;
  bool allow_unknown_fields = false;
  bool unix_socket = false;
  bool verbose = false;
  bool very_verbose = false;
};

using FlagTarget = std::variant<bool*, std::string*, double*, int*, std::vector<std::string>*>;

struct FlagSpec {
  std::string_view name;
  FlagTarget target;
  std::string_view help;
};

std::vector<FlagSpec> FlagSpecs(Flags& f) {
  return {
      {"H", &f.headers,
       "Additional headers in 'name: value' format. May specify more than one via multiple "
       "flags. These headers will also be included in reflection requests to a server."},
      {"allow-unknown-fields", &f.allow_unknown_fields,
       "When true, unknown fields in the JSON request are ignored instead of rejected."},
      {"authority", &f.authority,
       "The value of the :authority pseudo-header. With TLS, also the server name the "
       "certificate must carry."},
      {"cacert", &f.cacert,
       "File containing trusted root certificates for verifying the server. Ignored with "
       "-insecure."},
      {"cert", &f.cert,
       "File containing the client certificate (public key), to present to the server. Not "
       "valid with -plaintext. Must also provide -key."},
      {"connect-timeout", &f.connect_timeout,
       "The maximum time, in seconds, to wait for the connection to be established. Defaults "
       "to 10 seconds."},
      {"d", &f.data,
       "Data for the request contents. If the value is '@' the request contents are read from "
       "stdin."},
      {"emit-defaults", &f.emit_defaults, "Emit default values for JSON-encoded responses."},
      {"expand-headers", &f.expand_headers,
       "If set, header values may use '${NAME}' to refer to environment variables."},
      {"format", &f.format, "The format of request data. Only 'json' is supported."},
      {"help", &f.help, "Print usage instructions and exit."},
      {"insecure", &f.insecure,
       "Skip server certificate and domain verification. (NOT SECURE!) Not valid with "
       "-plaintext."},
      {"keep-proto-names", &f.keep_proto_names,
       "Use the original protobuf field names instead of lowerCamelCase in responses."},
      {"keepalive-time", &f.keepalive_time,
       "If present, the maximum idle time in seconds after which a keepalive probe is sent."},
      {"key", &f.key,
       "File containing the client private key, to present to the server. Not valid with "
       "-plaintext. Must also provide -cert."},
      {"max-msg-sz", &f.max_msg_sz,
       "The maximum encoded size of a response message, in bytes. Defaults to 4,194,304."},
      {"max-time", &f.max_time, "The maximum total time the operation can take, in seconds."},
      {"plaintext", &f.plaintext, "Use plain-text HTTP/2 when connecting to the server (no TLS)."},
      {"reflect-header", &f.reflect_headers,
       "Additional reflection headers in 'name: value' format, used only for reflection "
       "requests."},
      {"rpc-header", &f.rpc_headers,
       "Additional RPC headers in 'name: value' format, used only when invoking the method."},
      {"servername", &f.servername,
       "Override the server name when validating the TLS certificate. Prefer -authority."},
      {"unix", &f.unix_socket, "Indicates that the server address is the path to a Unix socket."},
      {"user-agent", &f.user_agent, "If set, the value is prepended to the User-Agent header."},
      {"v", &f.verbose, "Enable verbose output (on stderr)."},
      {"version", &f.version, "Print version."},
      {"vv", &f.very_verbose, "Same as -v."},
  };
}

// grpcurl flags this client deliberately lacks: it learns schemas only through reflection and
// prints only JSON.
constexpr std::string_view kUnsupportedFlags[] = {
    "proto",
    "protoset",
    "import-path",
    "protoset-out",
    "proto-out-dir",
    "use-reflection",
    "msg-template",
    "format-error",
    "alts",
    "alts-handshaker-service",
    "alts-target-service-account",
};

void PrintUsage(std::ostream& out, Flags& flags) {
  out << "Usage:\n\tgrpcurl-compat [flags] address [list|describe] [symbol]\n\n"
         "A grpcurl-compatible client: the same flags and output for 'list', 'describe' and\n"
         "unary or server-streaming calls, using server reflection (no -proto/-protoset).\n\n"
         "If 'list' is indicated, the symbol (if present) should be a fully-qualified service\n"
         "name; all its methods are listed. Otherwise all exposed services are listed.\n\n"
         "If 'describe' is indicated, the descriptor for the given symbol is shown. If no\n"
         "symbol is given, all exposed services are described.\n\n"
         "If neither verb is present, the symbol must be a fully-qualified method name in\n"
         "'service/method' or 'service.method' format, invoked with the request from -d (an\n"
         "empty message if none).\n\n"
         "Available flags:\n";
  for (const FlagSpec& spec : FlagSpecs(flags)) {
    const char* value = std::visit(
        [](auto* target) -> const char* {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, bool>) return "";
          if constexpr (std::is_same_v<T, double>) return " float";
          if constexpr (std::is_same_v<T, int>) return " int";
          return " string";
        },
        spec.target);
    out << "  -" << spec.name << value << "\n    \t" << spec.help << "\n";
  }
}

// Like grpcurl's fail(nil, ...): a usage problem.
int UsageError(absl::string_view message) {
  std::cerr << message << "\nTry 'grpcurl-compat -help' for more details.\n";
  return kExitUsage;
}

// Like grpcurl's fail(err, ...): something went wrong doing what was asked.
int Failure(absl::string_view message, absl::string_view error) {
  std::cerr << message << ": " << error << "\n";
  return kExitFailure;
}

void Warn(absl::string_view message) { std::cerr << "Warning: " << message << "\n"; }

std::optional<bool> ParseBool(std::string_view text) {
  for (std::string_view yes : {"1", "t", "T", "true", "TRUE", "True"}) {
    if (text == yes) return true;
  }
  for (std::string_view no : {"0", "f", "F", "false", "FALSE", "False"}) {
    if (text == no) return false;
  }
  return std::nullopt;
}

// Go's flag package rules, which grpcurl uses: flags come before positional arguments, "-x" and
// "--x" are the same, a value follows as "-x=v" or as the next argument (booleans take only
// "-x=v"), and "--" ends the flags. Returns the index of the first positional argument, or an
// error message.
std::variant<int, std::string> ParseFlags(int argc, char** argv, Flags& flags) {
  std::vector<FlagSpec> specs = FlagSpecs(flags);
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') break;
    if (arg == "--") return i + 1;
    std::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return absl::StrCat("bad flag syntax: ", std::string(arg));
    }
    std::optional<std::string_view> value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "h") name = "help";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      for (std::string_view unsupported : kUnsupportedFlags) {
        if (name == unsupported) {
          return absl::StrCat("The -", std::string(name),
                              " flag is not supported by grpcurl-compat, which uses server "
                              "reflection only.");
        }
      }
      return absl::StrCat("flag provided but not defined: -", std::string(name));
    }
    auto invalid = [&](std::string_view text) {
      return absl::StrCat("invalid value \"", std::string(text), "\" for flag -", std::string(name),
                          ": parse error");
    };
    if (auto* target = std::get_if<bool*>(&spec->target)) {
      std::optional<bool> parsed = value ? ParseBool(*value) : true;
      if (!parsed) return invalid(*value);
      **target = *parsed;
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) return absl::StrCat("flag needs an argument: -", std::string(name));
      value = argv[++i];
    }
    if (auto* target = std::get_if<std::string*>(&spec->target)) {
      **target = std::string(*value);
    } else if (auto* target = std::get_if<std::vector<std::string>*>(&spec->target)) {
      (*target)->emplace_back(*value);
    } else if (auto* target = std::get_if<double*>(&spec->target)) {
      std::string text(*value);
      char* end = nullptr;
      double parsed = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0') return invalid(text);
      **target = parsed;
    } else if (auto* target = std::get_if<int*>(&spec->target)) {
      auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), **target);
      if (error != std::errc() || end != value->data() + value->size()) return invalid(*value);
    }
  }
  return i;
}

std::chrono::system_clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(seconds));
}

// Parses the given header flags (in order) into metadata, or says which one is wrong.
std::variant<Metadata, std::string> ParseHeaders(
    std::initializer_list<const std::vector<std::string>*> groups, bool expand_env) {
  Metadata metadata;
  for (const std::vector<std::string>* group : groups) {
    for (const std::string& header : *group) {
      absl::StatusOr<std::pair<std::string, std::string>> parsed = ParseHeader(header, expand_env);
      if (!parsed.ok()) {
        return absl::StrCat("Failed to parse header \"", header, "\": ", parsed.status().message());
      }
      metadata.push_back(*std::move(parsed));
    }
  }
  return metadata;
}

int ListCommand(ReflectionClient& reflection, const std::string& service_name) {
  if (service_name.empty()) {
    absl::StatusOr<std::vector<std::string>> services = reflection.ListServices();
    if (!services.ok()) return Failure("Failed to list services", services.status().message());
    if (services->empty()) std::cout << "(No services)\n";
    for (const std::string& service : *services) std::cout << service << "\n";
    return 0;
  }
  std::string failure = absl::StrCat("Failed to list methods for service \"", service_name, "\"");
  if (absl::Status status = reflection.Resolve(service_name); !status.ok()) {
    return Failure(failure, status.message());
  }
  const google::protobuf::ServiceDescriptor* service =
      reflection.pool().FindServiceByName(service_name);
  if (service == nullptr) {
    return Failure(failure, absl::StrCat("Symbol \"", service_name, "\" is not a service"));
  }
  std::vector<std::string> methods;
  for (int i = 0; i < service->method_count(); ++i) {
    methods.push_back(service->method(i)->full_name());
  }
  std::sort(methods.begin(), methods.end());
  if (methods.empty()) std::cout << "(No methods)\n";
  for (const std::string& method : methods) std::cout << method << "\n";
  return 0;
}

int DescribeCommand(ReflectionClient& reflection, const std::string& symbol) {
  std::vector<std::string> symbols;
  if (!symbol.empty()) {
    symbols.push_back(symbol);
  } else {
    absl::StatusOr<std::vector<std::string>> services = reflection.ListServices();
    if (!services.ok()) return Failure("Failed to list services", services.status().message());
    if (services->empty()) std::cout << "Server returned an empty list of exposed services\n";
    symbols = *std::move(services);
  }
  for (const std::string& name : symbols) {
    absl::StatusOr<std::string> description = Describe(reflection, name);
    if (!description.ok()) {
      return Failure(absl::StrCat("Failed to resolve symbol \"", name, "\""),
                     description.status().message());
    }
    std::cout << *description;
  }
  return 0;
}

int InvokeCommand(const std::shared_ptr<grpc::Channel>& channel, ReflectionClient& reflection,
                  const std::string& method, const std::string& data,
                  const InvokeOptions& options) {
  std::string request_data = data;
  if (data == "@") {
    request_data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  absl::StatusOr<grpc::Status> outcome =
      Invoke(channel, reflection, method, request_data, options, std::cout);
  if (!outcome.ok()) {
    return Failure(absl::StrCat("Error invoking method \"", method, "\""),
                   outcome.status().message());
  }
  if (outcome->ok()) return 0;
  std::cerr << "ERROR:\n  Code: " << StatusCodeName(outcome->error_code())
            << "\n  Message: " << outcome->error_message() << "\n";
  return kStatusCodeOffset + static_cast<int>(outcome->error_code());
}

int Main(int argc, char** argv) {
  // gRPC logs transport errors (a failed TLS handshake...) on stderr, and so would repeat what
  // the error message already says. GRPC_VERBOSITY=ERROR in the environment brings them back.
  setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);

  Flags flags;
  std::variant<int, std::string> parsed = ParseFlags(argc, argv, flags);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::cerr << *error << "\n";
    PrintUsage(std::cerr, flags);
    return kExitUsage;
  }
  if (flags.help) {
    PrintUsage(std::cout, flags);
    return 0;
  }
  if (flags.version) {
    std::cerr << "grpcurl-compat " << GRPCURL_COMPAT_VERSION << "\n";
    return 0;
  }
  std::vector<std::string> args(argv + std::get<int>(parsed), argv + argc);

  // The same checks, in the same order and words, as grpcurl.
  if (flags.connect_timeout < 0) {
    return UsageError("The -connect-timeout argument must not be negative.");
  }
  if (flags.keepalive_time < 0) {
    return UsageError("The -keepalive-time argument must not be negative.");
  }
  if (flags.max_time < 0) return UsageError("The -max-time argument must not be negative.");
  if (flags.max_msg_sz < 0) return UsageError("The -max-msg-sz argument must not be negative.");
  if (flags.insecure && flags.plaintext) {
    return UsageError("The -insecure argument can only be used with TLS.");
  }
  if (!flags.cert.empty() && flags.plaintext) {
    return UsageError("The -cert argument can only be used with TLS.");
  }
  if (!flags.key.empty() && flags.plaintext) {
    return UsageError("The -key argument can only be used with TLS.");
  }
  if (flags.key.empty() != flags.cert.empty()) {
    return UsageError("The -cert and -key arguments must be used together and both be present.");
  }
  if (flags.format == "text") {
    return UsageError("The -format text is not supported by grpcurl-compat; use json.");
  }
  if (flags.format != "json") return UsageError("The -format option must be 'json' or 'text'.");

  if (args.empty()) return UsageError("Too few arguments.");
  std::string target;
  if (args.front() != "list" && args.front() != "describe") {
    target = args.front();
    args.erase(args.begin());
  }
  if (args.empty()) return UsageError("Too few arguments.");
  enum class Verb { kList, kDescribe, kInvoke } verb = Verb::kInvoke;
  if (args.front() == "list" || args.front() == "describe") {
    verb = args.front() == "list" ? Verb::kList : Verb::kDescribe;
    args.erase(args.begin());
  }
  std::string symbol;
  if (verb == Verb::kInvoke) {
    symbol = args.front();
    args.erase(args.begin());
  } else {
    if (!flags.data.empty()) Warn("The -d argument is not used with 'list' or 'describe' verb.");
    if (!flags.rpc_headers.empty()) {
      Warn("The -rpc-header argument is not used with 'list' or 'describe' verb.");
    }
    if (!args.empty()) {
      symbol = args.front();
      args.erase(args.begin());
    }
  }
  if (!args.empty()) return UsageError("Too many arguments.");
  if (target.empty()) {
    return UsageError(verb == Verb::kInvoke
                          ? "No host:port specified."
                          : "No host:port specified, no protoset specified, and no proto "
                            "sources specified.");
  }
  if (!flags.plaintext && !flags.servername.empty() && !flags.authority.empty()) {
    if (flags.servername != flags.authority) {
      return UsageError("Cannot specify different values for -servername and -authority.");
    }
    Warn("Both -servername and -authority are present; prefer only -authority.");
  }

  std::variant<Metadata, std::string> reflect_headers =
      ParseHeaders({&flags.headers, &flags.reflect_headers}, flags.expand_headers);
  std::variant<Metadata, std::string> rpc_headers =
      ParseHeaders({&flags.headers, &flags.rpc_headers}, flags.expand_headers);
  for (const auto* headers : {&reflect_headers, &rpc_headers}) {
    if (auto* error = std::get_if<std::string>(headers)) {
      std::cerr << *error << "\n";
      return kExitFailure;
    }
  }

  // -max-time bounds everything from the dial on; -connect-timeout only the dial.
  const auto start = std::chrono::system_clock::now();
  std::optional<Deadline> deadline;
  if (flags.max_time > 0) deadline = start + Seconds(flags.max_time);
  Deadline dial_deadline = start + Seconds(flags.connect_timeout > 0 ? flags.connect_timeout : 10);
  if (deadline && *deadline < dial_deadline) dial_deadline = *deadline;

  ConnectionOptions connection;
  connection.target = target;
  if (flags.unix_socket && target.rfind("unix:", 0) != 0) connection.target = "unix:" + target;
  connection.plaintext = flags.plaintext;
  connection.insecure = flags.insecure;
  connection.cacert_file = flags.cacert;
  connection.cert_file = flags.cert;
  connection.key_file = flags.key;
  connection.server_name = flags.servername;
  connection.authority = flags.authority;
  connection.user_agent = flags.user_agent;
  connection.max_receive_message_size = flags.max_msg_sz;
  connection.keepalive_seconds = flags.keepalive_time;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = CreateChannel(connection);
  if (!channel.ok()) return Failure("Failed to create TLS config", channel.status().message());
  if (absl::Status dialed = WaitForConnection(*channel, dial_deadline); !dialed.ok()) {
    return Failure(absl::StrCat("Failed to dial target host \"", target, "\""), dialed.message());
  }

  ReflectionClient reflection(*channel, std::get<Metadata>(std::move(reflect_headers)), deadline);
  switch (verb) {
    case Verb::kList:
      return ListCommand(reflection, symbol);
    case Verb::kDescribe:
      return DescribeCommand(reflection, symbol);
    case Verb::kInvoke: {
      InvokeOptions options;
      options.headers = std::get<Metadata>(std::move(rpc_headers));
      options.deadline = deadline;
      options.emit_defaults = flags.emit_defaults;
      options.keep_proto_names = flags.keep_proto_names;
      options.allow_unknown_fields = flags.allow_unknown_fields;
      options.verbose = flags.verbose || flags.very_verbose;
      return InvokeCommand(*channel, reflection, symbol, flags.data, options);
    }
  }
  return kExitFailure;
}

}  // namespace
}  // namespace warden::tools::grpcurl

int main(int argc, char** argv) { return warden::tools::grpcurl::Main(argc, argv); }
