// Backend collectives at whatever world size mpirun gives (CTest runs 1, 2, 4).
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "comm/backend.h"
#include "comm/heartbeat.h"
#include "mpi_main.h"

using metacat::comm::DType;
using metacat::comm::ReduceOp;
using metacat::testing::world;

TEST(Comm, AllreduceSumManySizes) {
  auto& w = *world();
  const int n = w.size(), r = w.rank();
  // 0, odd sizes, and one above 1 MiB of floats.
  for (size_t count : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(1 << 20) + 3}) {
    std::vector<float> f(count);
    for (size_t i = 0; i < count; ++i) f[i] = static_cast<float>((i % 97) * (r + 1));
    w.allreduce(f.data(), count);
    const float ranks_sum = n * (n + 1) / 2.0f;
    for (size_t i = 0; i < count; i += 997) ASSERT_FLOAT_EQ(f[i], (i % 97) * ranks_sum) << count;
    std::vector<double> d(count, 0.5 + r);
    w.allreduce(d.data(), count);
    for (size_t i = 0; i < count; i += 997) ASSERT_DOUBLE_EQ(d[i], 0.5 * n + n * (n - 1) / 2.0);
  }
  int64_t x = r + 1;
  w.allreduce(&x, 1);
  EXPECT_EQ(x, n * (n + 1) / 2);
}

// Max and min per element, for every dtype: element i is largest on rank
// i mod N and smallest on rank (i + 1) mod N, so a reduction that only looks
// at one rank, or sums, gives a wrong answer somewhere.
TEST(Comm, AllreduceMaxMinEveryDtype) {
  auto& w = *world();
  const int n = w.size(), r = w.rank();
  const size_t count = 11;
  auto value = [&](size_t i, int rank) -> double {
    if (rank == static_cast<int>(i % n)) return 100.0 + i;
    if (rank == static_cast<int>((i + 1) % n) && n > 1) return -100.0 - i;
    return 0.5 * rank;
  };
  for (ReduceOp op : {ReduceOp::kMax, ReduceOp::kMin}) {
    std::vector<float> f(count);
    std::vector<double> d(count);
    std::vector<int64_t> q(count);
    for (size_t i = 0; i < count; ++i) {
      f[i] = static_cast<float>(value(i, r));
      d[i] = value(i, r);
      q[i] = static_cast<int64_t>(2 * value(i, r));
    }
    w.allreduce(f.data(), count, op);
    w.allreduce(d.data(), count, op);
    w.allreduce(q.data(), count, op);
    for (size_t i = 0; i < count; ++i) {
      double expect = value(i, 0);
      for (int k = 1; k < n; ++k)
        expect =
            op == ReduceOp::kMax ? std::max(expect, value(i, k)) : std::min(expect, value(i, k));
      ASSERT_EQ(f[i], static_cast<float>(expect)) << metacat::comm::to_string(op) << " " << i;
      ASSERT_EQ(d[i], expect) << metacat::comm::to_string(op) << " " << i;
      ASSERT_EQ(q[i], static_cast<int64_t>(2 * expect)) << metacat::comm::to_string(op) << " " << i;
    }
  }
  EXPECT_EQ(w.min(r + 5), 5);
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

// The arrival check: while the last rank is late, rank 0 waits in arrive()
// and whereabouts() (read from another thread, as the watchdog does) names that
// rank and its host; once it arrives, every rank has. A token for another
// step is refused on rank 0.
TEST(Comm, ArrivalsNameTheRanksThatHaveNotArrived) {
  auto& w = *world();
  const int last = w.size() - 1;
  if (w.size() == 1) {
    w.arrive(0);
    EXPECT_EQ(w.whereabouts(), "");
    return;
  }
  const std::string late = "rank " + std::to_string(last) + " (" + metacat::comm::hostname() +
                           ") has not reached step 0";
  std::atomic<bool> seen{false};
  std::thread watcher;
  if (w.rank() == 0)
    watcher = std::thread([&] {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!seen && std::chrono::steady_clock::now() < end) {
        if (w.whereabouts() == late) seen = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  if (w.rank() == last) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  w.arrive(0);
  if (w.rank() == 0) {
    watcher.join();
    EXPECT_TRUE(seen) << "never saw: " << late;
    EXPECT_EQ(w.whereabouts(), "every rank reached step 0 and is heard from");
  } else {
    EXPECT_EQ(w.whereabouts(), "");
  }
  w.arrive(1);
  if (w.rank() == 0) EXPECT_EQ(w.whereabouts(), "every rank reached step 1 and is heard from");
  if (w.size() == 2) {  // one other rank: no receive is left posted after the error
    if (w.rank() == 0) {
      try {
        w.arrive(2);
        ADD_FAILURE() << "a token for step 3 was taken for step 2";
      } catch (const metacat::comm::CommError& e) {
        EXPECT_NE(std::string(e.what()).find("rank 1 (" + metacat::comm::hostname() +
                                             ") reached step 3 while rank 0 is at step 2"),
                  std::string::npos)
            << e.what();
      }
    } else {
      w.arrive(3);
    }
  }
  w.barrier();
}

// Heartbeats, in one process: a listener hears a sender on its loopback
// address within an interval or two; once the sender is gone, silence grows
// and the alarm is raised once; a sender that comes back is heard again; a
// datagram with another job's nonce is not heard.
TEST(Comm, HeartbeatsAreHeardAndTheirSilenceRaisesTheAlarm) {
  using metacat::comm::Heartbeat;
  if (world()->rank() != 0) return;
  std::mutex mu;
  std::vector<std::tuple<int, double, bool>> events;
  auto listener = Heartbeat::listen(3, 42, [&](int r, double s, bool again) {
    std::lock_guard<std::mutex> g(mu);
    events.emplace_back(r, s, again);
  });
  ASSERT_TRUE(listener) << "no UDP socket";
  listener->set_alarm(1.5);
  EXPECT_LT(listener->silent_for(1), 0);  // never heard
  auto one = Heartbeat::send(1, 42, listener->address(), true);
  auto stranger = Heartbeat::send(2, 43, listener->address(), true);  // another job
  ASSERT_TRUE(one && stranger);
  // Another host's ranks do not use the listener's loopback address.
  Heartbeat::Address loopback_only = listener->address();
  loopback_only.ipv4.erase(std::remove_if(loopback_only.ipv4.begin(), loopback_only.ipv4.end(),
                                          [](uint32_t ip) { return (ntohl(ip) >> 24) != 127; }),
                           loopback_only.ipv4.end());
  EXPECT_FALSE(Heartbeat::send(2, 42, loopback_only, false));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_GE(listener->silent_for(1), 0);
  EXPECT_LT(listener->silent_for(1), 1.0);
  EXPECT_LT(listener->silent_for(2), 0) << "a datagram with another nonce was heard";
  {
    std::lock_guard<std::mutex> g(mu);
    EXPECT_TRUE(events.empty()) << "an alarm while every rank was heard";
  }
  one.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_GT(listener->silent_for(1), 2.0);
  one = Heartbeat::send(1, 42, listener->address(), true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(events.size(), 2u);  // raised once, then cleared
  EXPECT_EQ(std::get<0>(events[0]), 1);
  EXPECT_GT(std::get<1>(events[0]), 1.5);
  EXPECT_FALSE(std::get<2>(events[0]));
  EXPECT_EQ(std::get<0>(events[1]), 1);
  EXPECT_GT(std::get<1>(events[1]), 2.0);
  EXPECT_TRUE(std::get<2>(events[1]));
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
  nccl->allreduce(v.data(), v.size());
  EXPECT_FLOAT_EQ(v[999], static_cast<float>(nccl->size()));
  // max and min, and the shared decisions built on them, through the same
  // staging path; broadcast from the last rank.
  EXPECT_EQ(nccl->max(nccl->rank() * 3), (nccl->size() - 1) * 3);
  EXPECT_EQ(nccl->min(nccl->rank() + 2), 2);
  EXPECT_TRUE(nccl->any(nccl->rank() == nccl->size() - 1));
  double d = nccl->rank() == nccl->size() - 1 ? 2.5 : 0.0;
  nccl->broadcast(&d, sizeof d, nccl->size() - 1);
  EXPECT_EQ(d, 2.5);
}
