// Reader benchmark: how fast the HDF5 reader serves episodes (cold and warm
// cache, 1 and 2 prefetch threads) against how fast MAML consumes them on the
// same data, plus the cost of opening the manifest and computing a rank's
// partition, and the peak memory. One JSON line per measurement.
//
//   reader_bench DATA_DIR [--ways N] [--shots K] [--queries Q] [--episodes E]
//                [--cache-mb M] [--world N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "core/threads.h"
#include "data/prefetch.h"
#include "data/shard_store.h"
#include "episodes/classification_source.h"
#include "episodes/preference_source.h"
#include "episodes/sampler.h"
#include "learners/learner.h"

using namespace metacat;
using Clock = std::chrono::steady_clock;

namespace {
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
}  // namespace

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: reader_bench DATA_DIR [--ways N] [--shots K] [--queries Q] [--episodes E] "
                 "[--cache-mb M] [--world N]\n";
    return 1;
  }
  std::string dir = argv[1];
  int64_t ways = 3, shots = 5, queries = 15, episodes = 2000, cache_mb = 256, world = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int64_t v = std::stoll(argv[i + 1]);
    if (k == "--ways")
      ways = v;
    else if (k == "--shots")
      shots = v;
    else if (k == "--queries")
      queries = v;
    else if (k == "--episodes")
      episodes = v;
    else if (k == "--cache-mb")
      cache_mb = v;
    else if (k == "--world")
      world = v;
  }
  apply_threads(1);
  const ReaderOptions ro{cache_mb << 20};
  const double base_rss_mb = peak_rss_kb() / 1024.0;  // the process before any data

  // Opening the manifest and computing rank 0's partition.
  auto t0 = Clock::now();
  auto probe = std::make_shared<ShardStore>(dir, ro);
  const double open_s = since(t0);
  const bool cls = probe->manifest().kind == "classification";
  auto make_source = [&](std::shared_ptr<ShardStore> store) -> std::shared_ptr<TaskSource> {
    if (cls) return std::make_shared<ClassificationSource>(store, ways);
    return std::make_shared<PreferenceSource>(store);
  };
  const EpisodeSpec spec{cls ? ways : 0, shots, queries};
  t0 = Clock::now();
  auto src0 = make_source(probe);
  TaskSampler s0(*src0, Split::kTrain, spec, 1, 2 * world, 0, 0, static_cast<int>(world));
  const double partition_s = since(t0);
  std::printf(
      "{\"bench\":\"reader_open\",\"categories\":%lld,\"open_manifest_s\":%.3f,"
      "\"partition_s\":%.3f,\"partitions\":%lld,\"world\":%lld,\"base_rss_mb\":%.1f}\n",
      static_cast<long long>(probe->num_categories()), open_s, partition_s,
      static_cast<long long>(s0.partitions()), static_cast<long long>(world), base_rss_mb);

  // Episodes/s served: the training sequence of rank 0, cold then warm cache.
  for (int workers : {1, 2}) {
    auto store = std::make_shared<ShardStore>(dir, ro);
    auto src = make_source(store);
    TaskSampler sampler(*src, Split::kTrain, spec, 1, 2 * world, 0, 0, static_cast<int>(world));
    const int64_t per_step = static_cast<int64_t>(sampler.my_slots(0).size());
    auto at = [&](int64_t i) {
      const int64_t step = i / per_step;
      return sampler.draw(step, sampler.my_slots(step)[i % per_step]);
    };
    for (const char* phase : {"cold", "warm"}) {
      t0 = Clock::now();
      Prefetcher p(at, 0, episodes, workers, 64);
      for (int64_t i = 0; i < episodes; ++i) p.next();
      const double s = since(t0);
      ReaderStats st = store->stats();
      std::printf(
          "{\"bench\":\"reader_serve\",\"cache\":\"%s\",\"threads\":%d,\"episodes\":%lld,"
          "\"episodes_per_s\":%.1f,\"cache_budget_mb\":%lld,\"peak_cached_mb\":%.1f,"
          "\"shards_opened\":%lld,\"peak_rss_mb\":%.1f}\n",
          phase, workers, static_cast<long long>(episodes), episodes / s,
          static_cast<long long>(cache_mb), st.peak_cached_bytes / 1048576.0,
          static_cast<long long>(st.shards_opened), peak_rss_kb() / 1024.0);
      std::fflush(stdout);
    }
  }

  // Episodes/s consumed by second-order MAML on the same episodes (1 thread).
  ModelSpec ms;
  ms.name = cls ? "conv4" : "preference";
  ms.input_shape = src0->input_shape();
  ms.outputs = src0->outputs(spec);
  ms.width = 32;
  ms.hidden = {40, 40};
  auto model = make_model(ms);
  LearnerOptions lo;
  lo.name = "maml";
  lo.inner_lr = cls ? 0.4 : 0.1;
  lo.inner_steps = 1;
  auto learner = make_learner(*model, src0->kind(), lo);
  Params theta = learner->init(0).detached(true);
  std::vector<torch::Tensor> grads;
  for (const auto& t : theta.tensors) grads.push_back(torch::zeros_like(t).detach());
  const int64_t n = cls ? 40 : 400;
  std::vector<Episode> eps;
  for (int64_t i = 0; i < n; ++i) eps.push_back(s0.draw(i / 2, i % 2));
  t0 = Clock::now();
  for (const auto& e : eps) learner->accumulate_meta_gradient(theta, e, grads);
  const double s = since(t0);
  std::printf(
      "{\"bench\":\"maml_consume\",\"model\":\"%s\",\"threads\":1,\"episodes\":%lld,"
      "\"episodes_per_s\":%.1f}\n",
      ms.name.c_str(), static_cast<long long>(n), n / s);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "reader_bench: " << e.what() << "\n";
    return 1;
  }
}
