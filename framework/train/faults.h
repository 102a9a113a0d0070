#pragma once
// Test-only fault injection (debug.fail_rank / fail_at_step / fail_mode),
// so that the tests can make one rank fail the way real ranks fail.
//
// Contract: with FaultOptions unarmed (the default) both hooks are a
// compare of two integers and do nothing. Armed, on rank `rank` at step
// `step`: after_accumulate() throws (throw), sleeps forever (hang, for the
// watchdog) or raises SIGTERM (signal, for preemption); after_update()
// nudges one parameter (diverge, for the cross-rank checksum).
#include <cstdint>

#include "core/params.h"
#include "train/options.h"

namespace metacat {

class FaultInjector {
 public:
  FaultInjector(const FaultOptions& opt, int rank)
      : opt_(opt), here_(opt.armed() && opt.rank == rank) {}
  // Between the local meta-gradient and the all-reduce of step `step`.
  void after_accumulate(int64_t step) const {
    if (here_ && step == opt_.step) fire_before_reduce();
  }
  // After the outer update of step `step`.
  void after_update(int64_t step, Params& theta) const {
    if (here_ && step == opt_.step && opt_.mode == FaultOptions::Mode::kDiverge) diverge(theta);
  }

 private:
  void fire_before_reduce() const;
  static void diverge(Params& theta);
  FaultOptions opt_;
  bool here_;
};

}  // namespace metacat
