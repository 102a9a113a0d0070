#include "train/faults.h"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

namespace metacat {

void FaultInjector::fire_before_reduce() const {
  switch (opt_.mode) {
    case FaultOptions::Mode::kHang:
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    case FaultOptions::Mode::kSignal:
      std::raise(SIGTERM);
      return;
    case FaultOptions::Mode::kDiverge:
      return;  // after the update
    case FaultOptions::Mode::kThrow:
      throw std::runtime_error("injected fault (debug.fail_rank=" + std::to_string(opt_.rank) +
                               ", debug.fail_at_step=" + std::to_string(opt_.step) + ")");
  }
}

void FaultInjector::diverge(Params& theta) {
  torch::NoGradGuard ng;
  theta.tensors[0].view({-1})[0].add_(1e-3);
}

}  // namespace metacat
