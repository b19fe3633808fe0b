// warden-control: parse configuration, start, wait for a signal, stop.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "controlplane/control_plane.h"
#include "controlplane/flags.h"

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below receives them.
  // A shell starts background jobs with SIGINT ignored; an ignored signal
  // never reaches sigwait(), so restore the default first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Abseil's lock-order graph costs a few percent on the admission path;
  // the tests, which run the same code in process, keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  warden::control::ControlPlaneConfig config;
  warden::control::LogFlags log_flags;
  CLI::App app{"warden-control: the Warden session control plane"};
  warden::control::AddControlFlags(app, config, log_flags);
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = warden::logging::Configure(log_flags.level, log_flags.format);
      !status.ok()) {
    std::cerr << "warden-control: " << status.message() << "\n";
    return 2;
  }
  auto log = warden::logging::Get("control.main");
  if (const char* key = std::getenv("WARDEN_ADMIN_KEY")) config.admin_key = key;

  auto plane = warden::control::ControlPlane::Start(config);
  if (!plane.ok()) {
    log->critical("cannot start: {}", plane.status().message());
    return 1;
  }
  if (config.migrate_only) {
    log->info("migrations done; exiting (--migrate-only)");
    return 0;
  }
  if (const auto& key = (*plane)->bootstrap().generated_key) {
    // Shown once, on stdout only: never through the logger.
    std::cout << "Admin API key (shown once";
    if (!config.admin_key_file.empty()) std::cout << "; saved in " << config.admin_key_file;
    std::cout << "): " << *key << std::endl;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("received {}; shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*plane)->Shutdown();
  log->info("stopped");
  return 0;
}
