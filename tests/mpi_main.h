#pragma once
// main() for tests that run under mpirun: one backend for the whole program
// (MPI when started by a launcher, else local), GoogleTest on every rank;
// a failure on any rank makes mpirun exit non-zero.
#include <gtest/gtest.h>

#include <cstdio>

#include "comm/backend.h"

namespace metacat::testing {
inline std::shared_ptr<comm::Backend>& world() {
  static std::shared_ptr<comm::Backend> w;
  return w;
}
}  // namespace metacat::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  metacat::testing::world() = metacat::comm::make_backend("auto");
  auto& w = metacat::testing::world();
  if (w->rank() != 0) {
    // Only rank 0 prints the progress; every rank still asserts.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  // A failure on a rank that prints no progress still says so, in the
  // words gtest uses (scripts/lsan-rerun-check reads them before a rerun).
  if (rc != 0 && w->rank() != 0)
    std::fprintf(stderr, "[  FAILED  ] rank %d: a test failed on this rank (only rank 0 prints)\n",
                 static_cast<int>(w->rank()));
  // Every rank's verdict decides the exit code of every rank.
  rc = w->any(rc != 0) ? 1 : 0;
  w.reset();
  return rc;
}
