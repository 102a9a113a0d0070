#include "train/watchdog.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "comm/backend.h"
#include "core/error.h"

namespace metacat {

Watchdog::Watchdog(double timeout_s, int rank, std::function<std::string()> witness, double grace_s)
    : timeout_(timeout_s + (rank == 0 ? 0 : grace_s)), rank_(rank), witness_(std::move(witness)) {
  if (timeout_ > 0) thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::kick(int64_t step) {
  std::lock_guard<std::mutex> g(mu_);
  step_ = step;
  last_ = Clock::now();
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, std::chrono::milliseconds(200));
    if (stop_) break;
    const double idle = std::chrono::duration<double>(Clock::now() - last_).count();
    if (idle > timeout_) {
      const std::string seen = witness_ ? witness_() : "";
      const std::string msg = "watchdog: meta-step " + std::to_string(step_) + " has taken " +
                              std::to_string(static_cast<int>(idle)) +
                              " s (> comm.timeout_s) on rank " + std::to_string(rank_) + " (" +
                              comm::hostname() + ")" + (seen.empty() ? "" : "; " + seen) +
                              "; aborting the job";
      std::fprintf(stderr, "%s\n", msg.c_str());
      std::fflush(stderr);
      std::_Exit(kExitWatchdog);
    }
  }
}

}  // namespace metacat
