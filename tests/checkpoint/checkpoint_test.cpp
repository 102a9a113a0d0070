#include "checkpoint/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/threads.h"
#include "test_util.h"
#include "train/experiment.h"
#include "train/trainer.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("ckpt", name); }

Config small(int64_t steps) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/sinusoid.yaml");
  c.set("train.steps=" + std::to_string(steps));
  c.set("train.checkpoint_every=10");
  c.set("eval.at_end=false");
  return c;
}

TrainReport train(const Config& c, const std::string& dir, const std::string& resume = "none") {
  apply_threads(1);
  auto ex = build_experiment(c);
  return Trainer(*ex, dir, false, nullptr, resume).run();
}

void flip_byte(const std::string& path, double where) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto n = fs::file_size(path);
  const std::streamoff off = static_cast<std::streamoff>(n * where);
  f.seekg(off);
  char b;
  f.read(&b, 1);
  b ^= 0x40;
  f.seekp(off);
  f.write(&b, 1);
}

}  // namespace

TEST(Checkpoint, RetentionKeepsTheNewestAndLatestPointsAtIt) {
  Config c = small(50);
  c.set("train.keep_checkpoints=2");
  const std::string dir = fresh_dir("keep");
  train(c, dir);
  auto files = list_checkpoints(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], checkpoint_path(dir, 50));
  EXPECT_EQ(files[1], checkpoint_path(dir, 40));
  std::ifstream latest(dir + "/checkpoints/latest");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step-00000050.h5");
}

TEST(Checkpoint, CorruptNewestFallsBackTruncatedOrFlipped) {
  for (const char* damage : {"truncate", "flip"}) {
    const std::string dir = fresh_dir(std::string("corrupt-") + damage);
    train(small(30), dir);
    const std::string newest = checkpoint_path(dir, 30);
    if (std::string(damage) == "truncate")
      fs::resize_file(newest, fs::file_size(newest) * 2 / 3);
    else
      flip_byte(newest, 0.6);
    std::vector<std::string> warnings;
    EXPECT_EQ(newest_valid_checkpoint(dir, &warnings), checkpoint_path(dir, 20)) << damage;
    ASSERT_EQ(warnings.size(), 1u) << damage;
    EXPECT_NE(warnings[0].find(newest), std::string::npos) << warnings[0];
    // Named explicitly, the broken file is an error, not a silent fallback.
    EXPECT_THROW(load_checkpoint(newest), UserError) << damage;
    // --resume auto continues from step 20 and reaches 40.
    Config more = small(40);
    TrainReport r = train(more, dir, "auto");
    EXPECT_EQ(load_checkpoint(r.checkpoint).step, 40);
  }
}

TEST(Checkpoint, OnlyCheckpointCorruptIsAClearError) {
  Config c = small(10);
  const std::string dir = fresh_dir("only");
  train(c, dir);
  flip_byte(checkpoint_path(dir, 10), 0.7);
  try {
    resolve_checkpoint(dir);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no valid checkpoint"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train(small(20), dir, checkpoint_path(dir, 10)), UserError);
}

TEST(Checkpoint, ResumeRefusesChangesThatMatterAndAllowsHarmlessOnes) {
  const std::string dir = fresh_dir("diff");
  train(small(10), dir);
  Config changed = small(20);
  changed.set("model.hidden=[40, 41]");
  changed.set("learner.inner_lr=0.02");
  try {
    train(changed, dir, "auto");
    FAIL() << "no error";
  } catch (const UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("model.hidden"), std::string::npos) << m;
    EXPECT_NE(m.find("learner.inner_lr"), std::string::npos) << m;
  }
  Config harmless = small(20);
  harmless.set("train.log_every=7");
  EXPECT_EQ(train(harmless, dir, "auto").steps, 20);
  // Without --resume a run directory with checkpoints is refused.
  EXPECT_THROW(train(small(30), dir), UserError);
}

TEST(Checkpoint, ResumeIsBitIdenticalAndMetricsHaveNoDuplicateSteps) {
  Config c = small(40);
  c.set("train.log_every=5");
  const std::string full = fresh_dir("full"), cut = fresh_dir("cut");
  TrainReport a = train(c, full);
  Config first = small(25);  // stops at 25; checkpoints at 10, 20, 25
  first.set("train.log_every=5");
  train(first, cut);
  fs::remove(checkpoint_path(cut, 25));  // as if preempted after step 20 was saved
  fs::remove(cut + "/checkpoints/latest");
  TrainReport b = train(c, cut, "auto");
  EXPECT_EQ(checksum(a.theta), checksum(b.theta));
  Checkpoint ca = load_checkpoint(a.checkpoint), cb = load_checkpoint(b.checkpoint);
  for (size_t i = 0; i < ca.exp_avg.size(); ++i) {
    EXPECT_TRUE(torch::equal(ca.exp_avg[i], cb.exp_avg[i]));
    EXPECT_TRUE(torch::equal(ca.exp_avg_sq[i], cb.exp_avg_sq[i]));
  }
  EXPECT_EQ(ca.optimizer_steps, cb.optimizer_steps);
  std::ifstream in(cut + "/metrics.jsonl");
  std::vector<int64_t> steps;
  for (std::string line; std::getline(in, line);) {
    auto p = line.find("\"step\":");
    steps.push_back(std::stoll(line.substr(p + 7)));
  }
  std::vector<int64_t> expect{5, 10, 15, 20, 25, 30, 35, 40};
  EXPECT_EQ(steps, expect);
}

TEST(Checkpoint, PeriodicByTime) {
  Config c = small(60);
  c.set("train.checkpoint_every=0");
  c.set("train.checkpoint_minutes=0.00001");  // < 1 ms: every step boundary
  c.set("train.keep_checkpoints=100");
  const std::string dir = fresh_dir("minutes");
  train(c, dir);
  EXPECT_GT(list_checkpoints(dir).size(), 10u);
}

TEST(Checkpoint, H5pyReadsTheSameParameters) {
  const std::string dir = fresh_dir("h5py");
  TrainReport r = train(small(10), dir);
  const std::string script = dir + "/dump.py";
  std::ofstream(script) << "import h5py, sys\n"
                        << "f = h5py.File(sys.argv[1], 'r')\n"
                        << "for k in f['params']:\n"
                        << "    d = f['params'][k][()].ravel()\n"
                        << "    print(k, d.size, ' '.join(repr(float(x)) for x in d[:5]))\n";
  FILE* p = popen(
      (std::string(METACAT_PYTHON) + " " + script + " " + r.checkpoint + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  std::istringstream in(out);
  int lines = 0;
  for (std::string name; in >> name;) {
    int64_t n;
    in >> n;
    const torch::Tensor t = r.theta.at(name).reshape({-1});
    EXPECT_EQ(n, t.numel()) << name;
    for (int64_t i = 0; i < std::min<int64_t>(5, n); ++i) {
      double v;
      in >> v;
      EXPECT_EQ(static_cast<float>(v), t[i].item<float>()) << name << "[" << i << "]";
    }
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<int>(r.theta.size()));
}

// A run that left metrics but no checkpoint (crashed before the first one)
// starts over: its records are not kept next to the new ones.
TEST(Checkpoint, FreshStartDropsOrphanMetrics) {
  const std::string dir = fresh_dir("orphan");
  fs::create_directories(dir);
  std::ofstream(dir + "/metrics.jsonl")
      << "{\"step\":10,\"meta_loss\":1}\n{\"step\":20,\"meta_loss\":1}\n";
  Config c = small(20);
  c.set("train.log_every=10");
  train(c, dir, "auto");
  std::ifstream in(dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_NE(line.find("tasks_per_s"), std::string::npos) << line;  // only the new run's records
  }
  EXPECT_EQ(lines, 2);
}

TEST(Checkpoint, UnknownBestMetricIsRefused) {
  Config c = small(10);
  c.set("eval.best_metric=accuracy");  // regression tasks have mse and loss
  try {
    train(c, fresh_dir("best-metric"));
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("eval.best_metric"), std::string::npos) << e.what();
  }
}
