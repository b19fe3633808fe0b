// A throwaway server for grpcurl_test.sh: the echo service from echo_test.proto plus server
// reflection and the default health service, the same surface warden-control exposes to grpcurl.
//
// usage: grpcurl_test_server [--tls CERT KEY [--client-ca CA]]
// Binds 127.0.0.1 on a free port and prints the port on the first line of stdout.

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "echo_test.grpc.pb.h"

namespace warden::tools::grpcurl {
namespace {

using ::warden::grpcurltest::v1::EchoRequest;
using ::warden::grpcurltest::v1::EchoResponse;
using ::warden::grpcurltest::v1::EchoService;
using ::warden::grpcurltest::v1::StreamRequest;
using ::warden::grpcurltest::v1::StreamResponse;

class EchoServiceImpl final : public EchoService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    if (request->message_text() == "missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "message missing not found");
    }
    *response->mutable_echo() = *request;
    // Echoed back so the test can see that -H reached the server.
    auto header = context->client_metadata().find("authorization");
    if (header != context->client_metadata().end()) {
      response->set_authorization(std::string(header->second.data(), header->second.size()));
    }
    return grpc::Status::OK;
  }

  grpc::Status StreamEcho(grpc::ServerContext* context, const StreamRequest* request,
                          grpc::ServerWriter<StreamResponse>* writer) override {
    if (request->count() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "count must not be negative");
    }
    for (int i = 0; i < request->count(); ++i) {
      if (i > 0 && request->interval_ms() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(request->interval_ms()));
      }
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      StreamResponse response;
      response.set_index(i);
      response.set_text(request->prefix() + std::to_string(i));
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

int Main(int argc, char** argv) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (argc >= 4 && std::strcmp(argv[1], "--tls") == 0) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({ReadFile(argv[3]), ReadFile(argv[2])});
    if (argc >= 6 && std::strcmp(argv[4], "--client-ca") == 0) {
      options.pem_root_certs = ReadFile(argv[5]);
      options.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(options);
  } else if (argc != 1) {
    std::cerr << "usage: " << argv[0] << " [--tls CERT KEY [--client-ca CA]]\n";
    return 2;
  }

  // Both must happen before the ServerBuilder exists: it picks up plugins when constructed.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  EchoServiceImpl service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "failed to start the server\n";
    return 1;
  }
  std::cout << port << std::endl;
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace warden::tools::grpcurl

int main(int argc, char** argv) { return warden::tools::grpcurl::Main(argc, argv); }
