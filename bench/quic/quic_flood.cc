// quic_flood: many QUIC handshakes from one UDP socket (one address) to a
// warden-agent, each finishing TLS where the agent lets it and then saying
// nothing: the cheap caller the endpoint must turn away. Prints "opened N"
// once every Initial is out, then the tally when the hold time is over:
//   quic_flood --server 10.201.2.1:4433 --ca quic.crt --server-name bench
//              --count 4096 --hold-seconds 12

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/quic_probe.h"

int main(int argc, char** argv) {
  std::string server;
  std::string ca_file;
  std::string server_name = "localhost";
  int count = 4096;
  int wave = 256;
  int wave_ms = 20;
  double hold_seconds = 12;
  CLI::App app{"quic_flood: idle QUIC handshakes from one address"};
  app.add_option("--server", server, "the agent's QUIC address, IPv4:port")->required();
  app.add_option("--ca", ca_file, "CA (PEM) of the agent's certificate")->required();
  app.add_option("--server-name", server_name, "the name in the agent's certificate");
  app.add_option("--count", count, "handshakes to start")->check(CLI::Range(1, 1 << 20));
  app.add_option("--wave", wave, "handshakes started together")->check(CLI::Range(1, 1 << 20));
  app.add_option("--wave-ms", wave_ms, "between waves")->check(CLI::Range(0, 10000));
  app.add_option("--hold-seconds", hold_seconds, "keep driving them this long after the last wave");
  CLI11_PARSE(app, argc, argv);

  const size_t colon = server.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(server.substr(colon + 1), &port)) {
    std::fprintf(stderr, "quic_flood: --server %s is not IPv4:port\n", server.c_str());
    return 2;
  }
  warden::testing::QuicProbe::Options options{.host = server.substr(0, colon),
                                              .port = port,
                                              .ca_file = ca_file,
                                              .server_name = server_name};
  auto crowd = warden::testing::QuicCrowd::Create(options, absl::Seconds(120));
  if (!crowd.ok()) {
    std::fprintf(stderr, "quic_flood: %s\n", std::string(crowd.status().message()).c_str());
    return 1;
  }
  const absl::Time started = absl::Now();
  for (int opened = 0; opened < count;) {
    const int now = std::min(wave, count - opened);
    if (absl::Status s = (*crowd)->Open(now); !s.ok()) {
      std::fprintf(stderr, "quic_flood: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    opened += now;
    (*crowd)->Run(absl::Milliseconds(wave_ms));
  }
  std::printf("opened %d in %.0f ms from port %d\n", count,
              absl::ToDoubleMilliseconds(absl::Now() - started), (*crowd)->local_port());
  std::fflush(stdout);
  const absl::Time end = absl::Now() + absl::Seconds(hold_seconds);
  while (absl::Now() < end) {
    (*crowd)->Run(absl::Seconds(1));
    const auto t = (*crowd)->tally();
    std::printf("at %.1f s: open=%d idle=%d refused=%d retried=%d handshakes=%d\n",
                absl::ToDoubleSeconds(absl::Now() - started), t.open, t.idle, t.refused, t.retried,
                t.handshakes);
    std::fflush(stdout);
  }
  const auto t = (*crowd)->tally();
  std::string closed;
  for (const auto& [code, n] : t.closed_by_code) {
    absl::StrAppend(&closed, " closed_0x", absl::Hex(code), "=", n, " (\"",
                    t.sample_reason.at(code), "\")");
  }
  std::printf(
      "tally started=%d retried=%d handshakes=%d refused=%d timed_out=%d other=%d still_open=%d "
      "idle=%d%s\n",
      t.started, t.retried, t.handshakes, t.refused, t.timed_out, t.other, t.open, t.idle,
      closed.c_str());
  return 0;
}
