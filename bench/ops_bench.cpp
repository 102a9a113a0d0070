// metacat's own kernels against the LibTorch ops they replace, side by side
// in one process: forward + backward (+ double backward) time per call.
//   build/bench/ops_bench [THREADS]
// One JSON line per op and shape.
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "core/batched_matmul.h"
#include "core/pool.h"
#include "core/threads.h"

using namespace metacat;

namespace {

double time_us(const std::function<void()>& f, int reps) {
  f();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         reps;
}

// y = op(x); d(sum y^2)/dx with create_graph; then d(sum of that)/dx.
std::function<void()> second_order(std::function<torch::Tensor(const torch::Tensor&)> op,
                                   torch::Tensor x) {
  return [op, x] {
    torch::Tensor y = op(x);
    auto g = torch::autograd::grad({y.pow(2).sum()}, {x}, {}, true, true);
    torch::autograd::grad({g[0].sum()}, {x});
  };
}

void report(const std::string& op, const std::string& shape, double ours, double theirs,
            int threads) {
  std::printf(
      "{\"bench\": \"ops\", \"op\": \"%s\", \"shape\": \"%s\", \"threads\": %d, \"metacat_us\": "
      "%.1f, "
      "\"libtorch_us\": %.1f, \"speedup\": %.2f}\n",
      op.c_str(), shape.c_str(), threads, ours, theirs, theirs / ours);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  apply_threads(threads);
  torch::manual_seed(0);
  // Task-batched linear layers: T tasks x n items x 40 -> 40 (sinusoid MLP).
  for (int64_t T : {4, 25}) {
    torch::Tensor x = torch::randn({T, 10, 40}).requires_grad_();
    torch::Tensor w = torch::randn({40, 40}).requires_grad_();
    auto ours = [w](const torch::Tensor& a) {
      return batched_matmul(a, w.expand({a.size(0), 40, 40}));
    };
    auto theirs = [w](const torch::Tensor& a) {
      return torch::bmm(a, w.expand({a.size(0), 40, 40}));
    };
    report("batched_matmul vs bmm", std::to_string(T) + "x10x40 @ 40x40",
           time_us(second_order(ours, x), 300), time_us(second_order(theirs, x), 300), threads);
  }
  // conv4 pooling: the first block of a 3-way 1-shot 15-query episode.
  for (int64_t c : {32, 64}) {
    torch::Tensor x = torch::randn({48, c, 28, 28}).requires_grad_();
    auto ours = [](const torch::Tensor& a) { return max_pool_2x2(a); };
    auto theirs = [](const torch::Tensor& a) { return torch::max_pool2d(a, 2); };
    report("max_pool_2x2 vs max_pool2d", "48x" + std::to_string(c) + "x28x28",
           time_us(second_order(ours, x), 20), time_us(second_order(theirs, x), 20), threads);
  }
  return 0;
}
