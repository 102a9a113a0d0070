#include "train/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

#include "core/error.h"

namespace metacat {

namespace {
std::atomic<int> g_signal{0};
std::atomic<int> g_interrupts{0};

extern "C" void on_stop(int sig) {
  if (sig == SIGINT && g_interrupts.fetch_add(1) >= 1) _exit(130);  // second Ctrl-C
  g_signal.store(sig);
}
}  // namespace

void install_stop_signals(const std::vector<std::string>& names) {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (const auto& n : names) {
    int sig = n == "SIGUSR1"   ? SIGUSR1
              : n == "SIGUSR2" ? SIGUSR2
              : n == "SIGTERM" ? SIGTERM
              : n == "SIGINT"  ? SIGINT
                               : 0;
    if (sig == 0) throw UserError("train.signals: unknown signal '" + n + "'");
    sigaction(sig, &sa, nullptr);
  }
  // Ctrl-C at a terminal: checkpoint once, exit at once on the second.
  if (isatty(STDIN_FILENO)) sigaction(SIGINT, &sa, nullptr);
}

bool stop_requested() { return g_signal.load() != 0; }
int stop_signal() { return g_signal.load(); }
void clear_stop_request() {
  g_signal.store(0);
  g_interrupts.store(0);
}

}  // namespace metacat
