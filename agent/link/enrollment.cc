#include "agent/link/enrollment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/link/call_timeout.h"
#include "agent/link/control_endpoints.h"
#include "common/backoff.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::agent {
namespace {

const logging::Logger Log("agent.enroll");

absl::Status WritePrivateFile(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", temporary, ": ", std::strerror(errno)));
  }
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

std::string ReadTrimmed(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream content;
  content << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(content.str()));
}

}  // namespace

absl::StatusOr<std::string> EnsureCredential(const std::string& state_dir,
                                             const std::string& enroll_ticket,
                                             const std::vector<std::string>& targets,
                                             std::shared_ptr<grpc::ChannelCredentials> credentials,
                                             const std::string& server_name,
                                             const v1::NodeFacts& facts, absl::Duration patience) {
  const std::string path = absl::StrCat(state_dir, "/credential");
  if (std::string credential = ReadTrimmed(path); !credential.empty()) return credential;
  if (enroll_ticket.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no node credential in ", path,
        " and no --enroll-ticket to obtain one; ask an "
        "administrator for an enrolment ticket (AdminService.CreateEnrollmentTicket)"));
  }
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create state directory ", state_dir, ": ", std::strerror(errno)));
  }
  if (targets.empty()) return absl::InvalidArgumentError("no control plane address to enrol at");
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs;
  for (const std::string& target : targets) {
    stubs.push_back(v1::AgentService::NewStub(
        MakeControlChannel(target, credentials, server_name, /*keepalive=*/false)));
  }
  // This enrolment's id, kept until it succeeds: if an answer is lost (even
  // across a restart), the same id redeems the same ticket again.
  const std::string request_path = absl::StrCat(state_dir, "/enroll-request");
  std::string request_id = ReadTrimmed(request_path);
  if (request_id.empty()) {
    request_id = secrets::NewToken("");
    if (absl::Status saved = WritePrivateFile(request_path, request_id + "\n"); !saved.ok()) {
      return saved;
    }
  }
  v1::EnrollRequest request;
  request.set_ticket(enroll_ticket);
  request.set_request_id(request_id);
  *request.mutable_facts() = facts;
  Backoff backoff(absl::Milliseconds(200), absl::Seconds(10));
  const absl::Time give_up = absl::Now() + patience;
  for (size_t attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    SetCallTimeout(context, absl::Seconds(10));
    v1::EnrollResponse response;
    // The same request id at every replica: a lost answer is redeemed again.
    grpc::Status status = stubs[attempt % stubs.size()]->Enroll(&context, request, &response);
    if (status.ok()) {
      if (absl::Status saved = WritePrivateFile(path, response.credential() + "\n"); !saved.ok()) {
        return saved;
      }
      ::unlink(request_path.c_str());
      Log()->info("enrolled as node={} id={}", response.node_name(), response.node_id());
      return response.credential();
    }
    const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!retry || absl::Now() >= give_up) return FromGrpcStatus(status);
    const absl::Duration delay = backoff.Next();
    Log()->warn("enrolment: control plane unreachable ({}); retrying in {}", status.error_message(),
                absl::FormatDuration(delay));
    absl::SleepFor(delay);
  }
}

}  // namespace warden::agent
