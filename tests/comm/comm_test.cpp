// Backend collectives at whatever world size mpirun gives (CTest runs 1, 2, 4).
#include <numeric>
#include <vector>

#include "comm/backend.h"
#include "mpi_main.h"

using metacat::comm::DType;
using metacat::testing::world;

TEST(Comm, AllreduceSumManySizes) {
  auto& w = *world();
  const int n = w.size(), r = w.rank();
  // 0, odd sizes, and one above 1 MiB of floats.
  for (size_t count : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(1 << 20) + 3}) {
    std::vector<float> f(count);
    for (size_t i = 0; i < count; ++i) f[i] = static_cast<float>((i % 97) * (r + 1));
    w.allreduce_sum(f.data(), count);
    const float ranks_sum = n * (n + 1) / 2.0f;
    for (size_t i = 0; i < count; i += 997) ASSERT_FLOAT_EQ(f[i], (i % 97) * ranks_sum) << count;
    std::vector<double> d(count, 0.5 + r);
    w.allreduce_sum(d.data(), count);
    for (size_t i = 0; i < count; i += 997) ASSERT_DOUBLE_EQ(d[i], 0.5 * n + n * (n - 1) / 2.0);
  }
  int64_t x = r + 1;
  w.allreduce_sum(&x, 1, DType::kInt64);
  EXPECT_EQ(x, n * (n + 1) / 2);
}

TEST(Comm, BroadcastFromEveryRoot) {
  auto& w = *world();
  for (int root = 0; root < w.size(); ++root) {
    std::vector<char> buf(1001, static_cast<char>(w.rank()));
    if (w.rank() == root)
      for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 7 + root);
    w.broadcast(buf.data(), buf.size(), root);
    for (size_t i = 0; i < buf.size(); ++i) ASSERT_EQ(buf[i], static_cast<char>(i * 7 + root));
  }
  w.broadcast(nullptr, 0, 0);
}

TEST(Comm, SharedDecisionsAndBarrier) {
  auto& w = *world();
  EXPECT_FALSE(w.any(false));
  EXPECT_TRUE(w.any(true));
  // Only the last rank raises the flag: every rank must see it.
  EXPECT_TRUE(w.any(w.rank() == w.size() - 1));
  EXPECT_EQ(w.max(w.rank() * 10), (w.size() - 1) * 10);
  EXPECT_EQ(w.max(-w.rank()), 0);
  w.barrier();
}

TEST(Comm, BackendMatchesLauncher) {
  auto& w = *world();
  if (metacat::comm::launched_by_launcher()) {
    EXPECT_EQ(w.name(), "mpi");
  } else {
    EXPECT_EQ(w.name(), "local");
    EXPECT_EQ(w.size(), 1);
  }
  EXPECT_GE(w.local_size(), 1);
}

TEST(Comm, NcclRefusedWithoutGpu) {
  if (world()->rank() != 0) return;
  // No GPU exists on these machines: asking for NCCL is a clear error.
  try {
    metacat::comm::make_backend("nccl");
    GTEST_SKIP() << "a GPU is visible here; NCCL run-time tests need a GPU machine";
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("needs a GPU") != std::string::npos ||
                msg.find("not in this build") != std::string::npos)
        << msg;
  }
}

TEST(Comm, NcclAllreduceOnGpus) {
  std::shared_ptr<metacat::comm::Backend> nccl;
  try {
    nccl = metacat::comm::make_backend("nccl");
  } catch (const std::exception& e) {
    GTEST_SKIP() << "NCCL run-time test skipped: " << e.what();
  }
  std::vector<float> v(1000, 1.0f);
  nccl->allreduce_sum(v.data(), v.size());
  EXPECT_FLOAT_EQ(v[999], static_cast<float>(nccl->size()));
}
