// Checkpoint size, save time (write + fsync + rename + latest) and load
// time (read + verify) for the demo model and a ~10M-parameter model, with
// Adam state. One JSON line per model; median of 5 saves.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/model.h"

using namespace metacat;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int main() {
  const fs::path dir =
      fs::temp_directory_path() / ("metacat-ckpt-bench-" + std::to_string(::getpid()));
  struct Case {
    const char* name;
    ModelSpec spec;
  };
  ModelSpec demo;
  demo.name = "conv4";
  demo.input_shape = {1, 28, 28};
  demo.outputs = 3;
  demo.width = 32;
  ModelSpec big;
  big.name = "mlp";
  big.input_shape = {1000};
  big.hidden = {2000, 2000, 2000};
  big.outputs = 10;
  for (const Case& c : {Case{"demo conv4", demo}, Case{"mlp 10M", big}}) {
    auto m = make_model(c.spec);
    Checkpoint ck;
    ck.params = m->init(1);
    ck.learner = "maml";
    ck.config_yaml = "seed: 0\n";
    for (const auto& t : ck.params.tensors) {
      ck.exp_avg.push_back(torch::rand_like(t));
      ck.exp_avg_sq.push_back(torch::rand_like(t));
    }
    std::vector<double> save_s, load_s;
    std::string path;
    for (int i = 1; i <= 5; ++i) {
      ck.step = i;
      path = checkpoint_path(dir.string(), i);
      auto t0 = Clock::now();
      save_checkpoint(path, ck, 2);
      save_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      t0 = Clock::now();
      load_checkpoint(path);
      load_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(save_s.begin(), save_s.end());
    std::sort(load_s.begin(), load_s.end());
    std::printf(
        "{\"bench\":\"checkpoint\",\"model\":\"%s\",\"params\":%lld,\"file_mb\":%.2f,"
        "\"save_ms\":%.1f,\"load_verify_ms\":%.1f}\n",
        c.name, static_cast<long long>(ck.params.numel()), fs::file_size(path) / 1e6,
        save_s[2] * 1e3, load_s[2] * 1e3);
    fs::remove_all(dir);
  }
}
