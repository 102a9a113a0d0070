#pragma once
// The watchdog: ends the job when a meta-step stalls (a hung collective, a
// hung read), so that no rank waits forever (docs/ARCHITECTURE.md,
// invariant "fail loud and together").
//
// Contract: kick(step) marks progress; when more than `timeout_s` passes
// without a kick, the watchdog thread prints one line naming the step, the
// rank and the host to stderr and ends this process with kExitWatchdog (3).
// It makes no MPI call (MPI_THREAD_FUNNELED): the launcher (mpirun, srun
// --kill-on-bad-exit) ends the other ranks. timeout_s <= 0: no thread.
//
// `witness` (optional) is called by the watchdog thread when it fires and
// its answer is added to the line: on rank 0, the arrival check's record of
// which ranks (and hosts) never reached the step (comm::Backend::arrivals).
// So that this line is the one printed, ranks other than 0 wait `grace_s`
// longer before they fire.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace metacat {

class Watchdog {
 public:
  Watchdog(double timeout_s, int rank, std::function<std::string()> witness = {},
           double grace_s = 0);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  void kick(int64_t step);

 private:
  using Clock = std::chrono::steady_clock;
  void loop();
  double timeout_;
  int rank_;
  std::function<std::string()> witness_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t step_ = 0;
  Clock::time_point last_ = Clock::now();
  std::thread thread_;
};

}  // namespace metacat
