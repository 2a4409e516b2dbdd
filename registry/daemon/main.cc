// regcache: a pull-through cache for container registries.
#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <span>

#include "core/log_file.h"
#include "core/log_style.h"
#include "registry/config/options.h"
#include "registry/daemon/server.h"
#include "registry/daemon/service_notify.h"
#include "registry/daemon/service_status.h"

namespace {

using regcache::core::log_message;

// SIGUSR1: logrotate has moved the file away; new lines go to a new file of the same name. A
// file that cannot be opened now keeps the log where it was, and says so there.
void reopen_log_file(const std::string &log_file) {
  if (log_file.empty()) {
    log_message("SIGUSR1 received: there is no --log-file to reopen");
    return;
  }
  std::string error;
  if (regcache::core::redirect_stderr_to(log_file, &error))
    log_message("SIGUSR1 received: log file reopened");
  else
    log_message(fmt::format("SIGUSR1 received: {}; logging on to the file already open", error));
}

// SIGHUP (systemd's ExecReload=): the configuration read again as start-up read it (the same
// command line, the environment, the --config file and the Docker config file) and swapped in
// whole, or refused whole. systemd hears RELOADING=1 first and READY=1 when it is over, either
// way: a refused reload leaves the service running as it was.
void reload_configuration(std::span<const char *const> argv, regcache::registry::Server &server,
                          regcache::registry::ServiceNotifier &notifier) {
  notifier.reloading();
  log_message("SIGHUP received: reloading the configuration");
  regcache::registry::ParsedOptions options = regcache::registry::parse_options(argv);
  for (const std::string &warning : options.warnings)
    log_message(fmt::format("warning: {}", warning));
  regcache::registry::ReloadReport report = server.reload(options);
  log_message(report.line);
  notifier.ready(format_status_line(server.summary()));
}

int run(std::span<const char *const> argv) {
  using regcache::registry::ParsedOptions;
  ParsedOptions options = regcache::registry::parse_options(argv);
  switch (options.outcome) {
  case ParsedOptions::Outcome::Help:
  case ParsedOptions::Outcome::Version:
    fmt::print("{}", options.message);
    if (!options.message.empty() && options.message.back() != '\n')
      fmt::print("\n");
    return 0;
  case ParsedOptions::Outcome::Error:
    fmt::print(stderr, "regcache: {}\nTry 'regcache --help'.\n", options.message);
    return 2;
  case ParsedOptions::Outcome::Run:
    break;
  }
  // The log's form and place come first, so everything after goes there in that form.
  const regcache::registry::Config &settings = options.config;
  regcache::core::set_log_style(
      {.format = settings.log_format, .timestamps = !settings.log_file.empty()});
  std::string error;
  if (!settings.log_file.empty() &&
      !regcache::core::redirect_stderr_to(settings.log_file, &error)) {
    fmt::print(stderr, "regcache: {}\n", error);
    return 1;
  }
  const std::string log_file = settings.log_file; // the config moves into the server
  for (const std::string &warning : options.warnings)
    log_message(fmt::format("warning: {}", warning));

  // Signals are taken synchronously by this thread; workers never see them. SIGPIPE is ignored:
  // a client that goes away must be an error result, not the end of the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // SIGHUP is systemd's ExecReload=; its default action would end the process.
  sigaddset(&signals, SIGHUP);
  // SIGUSR1 reopens --log-file (logrotate's postrotate); its default action would end the process.
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  regcache::registry::Server server(std::move(options.config));
  regcache::registry::ServiceNotifier notifier;
  if (!server.start(&error)) {
    log_message(error);
    return 1;
  }
  // start() returns once every worker listens: that is what READY=1 promises.
  notifier.ready(format_status_line(server.summary()));
  using Clock = std::chrono::steady_clock;
  constexpr auto kStatusInterval = std::chrono::seconds(5);
  // systemd restarts the service when WATCHDOG=1 is late by WatchdogSec; asking the workers
  // four times per interval leaves each answer three quarters of it.
  const auto watchdog_interval = std::chrono::microseconds(notifier.watchdog_usec() / 4);
  Clock::time_point next_status = Clock::now() + kStatusInterval;
  Clock::time_point next_watchdog = Clock::now();
  bool stopping = false;
  // Bounded by the workers: they end by themselves after the shutdown grace period.
  while (!server.finished()) {
    timespec tick{0, 100 * 1000 * 1000};
    int signal_number = sigtimedwait(&signals, nullptr, &tick);
    Clock::time_point now = Clock::now();
    if (!stopping && notifier.watchdog_usec() > 0 && now >= next_watchdog) {
      if (server.workers_answered())
        notifier.watchdog();
      server.ask_workers();
      next_watchdog = now + watchdog_interval;
    }
    if (!stopping && now >= next_status) {
      notifier.status(format_status_line(server.summary()));
      next_status = now + kStatusInterval;
    }
    if (signal_number < 0)
      continue;
    if (signal_number == SIGUSR1) {
      reopen_log_file(log_file);
      continue;
    }
    if (signal_number == SIGHUP) {
      if (!stopping)
        reload_configuration(argv, server, notifier);
      continue;
    }
    if (stopping) {
      log_message("second signal, exiting now");
      std::fflush(stderr);
      std::_Exit(1);
    }
    log_message(fmt::format("{} received, finishing in-flight responses",
                            signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
    stopping = true;
    notifier.stopping("stopping: finishing in-flight responses");
    server.request_stop();
  }
  server.join();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  return run(std::span<const char *const>(argv, static_cast<size_t>(argc)));
}
