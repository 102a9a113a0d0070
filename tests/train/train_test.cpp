#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "core/device.h"
#include "core/error.h"
#include "core/threads.h"
#include "datasets/fashion_mnist.h"
#include "test_util.h"
#include "train/experiment.h"
#include "train/options.h"
#include "train/resume.h"
#include "train/run_dir.h"
#include "train/trainer.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("test", name); }

// Fashion-MNIST packed into HDF5 shards once for this test program.
std::string packed_fashion_mnist() {
  static const std::string dir = [] {
    std::string d = fresh_dir("fmnist-shards");
    PackOptions o;
    o.out = d;
    o.progress = false;
    pack_fashion_mnist(kFashionMnistDefaultPath, {{0, 1, 2, 3, 4, 5}, {}, {6, 7, 8, 9}}, o);
    return d;
  }();
  return dir;
}

Config sinusoid_config() {
  return Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/sinusoid.yaml");
}

}  // namespace

// The correctness workload: after a short meta-training, MAML adapts to new
// sinusoids from 10 points clearly better than joint pre-training + fine-tuning
// and than training from scratch, on the same fixed test tasks.
TEST(Sinusoid, MamlBeatsFinetuneAndScratchOnTheSameTestTasks) {
  apply_threads(1);
  Config c = sinusoid_config();
  auto ex = build_experiment(c);
  TrainReport r = Trainer(*ex, fresh_dir("sin-maml"), false).run();

  Config fc = c;
  fc.set("learner.name=finetune");
  fc.set("train.steps=" + std::to_string(c.get_int("baselines.finetune.pretrain_steps")));
  auto fex = build_experiment(fc);
  TrainReport fr = Trainer(*fex, fresh_dir("sin-ft"), false).run();

  auto results = evaluate_methods(*ex,
                                  {{"maml", ex->learner.get(), r.theta},
                                   {"finetune", fex->learner.get(), fr.theta},
                                   {"scratch", nullptr, {}}},
                                  false);
  ASSERT_EQ(results.size(), 3u);
  const auto &maml = results[0], &ft = results[1], &scratch = results[2];
  std::cout << format_summary(maml) << "\n"
            << format_summary(ft) << "\n"
            << format_summary(scratch) << "\n";
  // Lower MSE is better; "clearly": the 95% intervals do not overlap.
  EXPECT_LT(maml.mean + maml.ci95, ft.mean - ft.ci95);
  EXPECT_LT(maml.mean + maml.ci95, scratch.mean - scratch.ci95);
}

TEST(Determinism, SameSeedSameThreadsSameBits) {
  apply_threads(2);
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist.yaml");
  c.set("train.steps=4");
  c.set("train.meta_batch=2");
  c.set("model.width=8");
  c.set("data.path=" + packed_fashion_mnist());  // through the HDF5 reader and the prefetcher
  c.set("data.prefetch_workers=2");
  auto run = [&](const Config& cfg, const std::string& tag) {
    auto ex = build_experiment(cfg);
    return checksum(Trainer(*ex, fresh_dir(tag), false).run().theta);
  };
  const uint64_t a = run(c, "det-a"), b = run(c, "det-b");
  EXPECT_EQ(a, b);
  Config other = c;
  other.set("seed=1");
  EXPECT_NE(run(other, "det-c"), a);  // the check can fail
  apply_threads(1);
}

TEST(Checkpoint, RoundTripsParamsOptimizerAndConfig) {
  apply_threads(1);
  Config c = sinusoid_config();
  c.set("train.steps=20");
  c.set("train.checkpoint_every=10");
  auto ex = build_experiment(c);
  const std::string dir = fresh_dir("ckpt");
  TrainReport r = Trainer(*ex, dir, false).run();
  EXPECT_TRUE(fs::exists(checkpoint_path(dir, 10)));
  EXPECT_EQ(newest_checkpoint(dir), checkpoint_path(dir, 20));
  EXPECT_EQ(resolve_checkpoint(dir), r.checkpoint);
  Checkpoint ck = load_checkpoint(r.checkpoint);
  EXPECT_EQ(ck.step, 20);
  EXPECT_EQ(ck.learner, "maml");
  EXPECT_EQ(ck.optimizer_steps, 20);
  EXPECT_EQ(ck.params.names, r.theta.names);
  EXPECT_EQ(checksum(ck.params), checksum(r.theta));
  ASSERT_EQ(ck.exp_avg.size(), r.theta.size());
  EXPECT_GT(ck.exp_avg_sq[0].abs().sum().item<double>(), 0);
  Config back = Config::from_yaml(ck.config_yaml, "checkpoint");
  EXPECT_TRUE(Config::diff(back, c).empty());
  EXPECT_EQ(ck.config_hash, c.hash());
  // No temporary files left behind.
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "checkpoints"))
    EXPECT_TRUE(e.path().extension() == ".h5" || e.path().filename() == "latest") << e.path();
  // Training again into the same run directory must not overwrite it.
  EXPECT_THROW(Trainer(*ex, dir, false).run(), UserError);
}

// Item-id dropout, the run's or the finetune pre-training's, on data
// without item ids (regression, an in-memory catalogue of dense features)
// is refused when the experiment is built, before any training.
TEST(Options, IdDropoutIsRefusedOnDataWithoutItemIds) {
  for (const std::string source : {"sinusoid", "synthetic"})
    for (const std::string key : {"data.id_dropout", "baselines.finetune.id_dropout"}) {
      Config c = sinusoid_config();
      c.set("data.source=" + source);
      if (source == "synthetic") c.set("model.name=mlp");
      EXPECT_NO_THROW(build_experiment(c)) << source;
      c.set(key + "=0.3");
      try {
        build_experiment(c);
        ADD_FAILURE() << source << " " << key << ": not refused";
      } catch (const UserError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(key + ": drops the item ids", 0), 0u) << e.what();
      }
    }
}

TEST(Checkpoint, ReadableByStandardHdf5Tools) {
  Config c = sinusoid_config();
  c.set("train.steps=2");
  auto ex = build_experiment(c);
  const std::string dir = fresh_dir("h5dump");
  TrainReport r = Trainer(*ex, dir, false).run();
  const std::string out = dir + "/dump.txt";
  ASSERT_EQ(std::system(("h5dump -d /params/head.bias " + r.checkpoint + " > " + out).c_str()), 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const float bias = r.theta.at("head.bias").item<float>();
  // h5dump prints the value; compare the parsed number.
  auto pos = text.find("(0): ");
  ASSERT_NE(pos, std::string::npos) << text;
  EXPECT_NEAR(std::stod(text.substr(pos + 5)), bias, 1e-6 * std::max(1.0f, std::abs(bias)));
}

// Periodic validation on fixed val episodes: one record per validation in
// metrics.jsonl, and best.h5 holds the step with the best metric.
TEST(Validation, RecordsAndKeepsTheBestCheckpoint) {
  apply_threads(1);
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/preference.yaml");
  c.set("train.steps=120");
  c.set("eval.val_every=30");
  c.set("eval.val_episodes=40");
  c.set("eval.at_end=false");
  const std::string dir = fresh_dir("val");
  auto ex = build_experiment(c);
  Trainer(*ex, dir, false).run();
  std::ifstream in(dir + "/metrics.jsonl");
  int64_t best_step = -1, vals = 0;
  double best = -1;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("peak_rss_mb") || j.contains("split")) << line;
    if (!j.contains("split")) continue;
    ++vals;
    EXPECT_EQ(j["episodes"].get<int64_t>(), 40);
    if (j["auc"].get<double>() > best)
      best = j["auc"].get<double>(), best_step = j["step"].get<int64_t>();
  }
  EXPECT_EQ(vals, 4);
  Checkpoint b = load_checkpoint(dir + "/best.h5");
  EXPECT_EQ(b.step, best_step);
  // best.h5 is not where `latest` points.
  EXPECT_EQ(newest_checkpoint(dir), checkpoint_path(dir, 120));
}

// The finetune baseline's pre-training is a typed change of the run's
// options; its record (config.yaml, checkpoints) reads back as the same
// options, and differs from the run's (its own config hash).
TEST(Options, FinetunePretrainingRecordReadsBackAsItsOptions) {
  Config c = sinusoid_config();
  c.set("learner.descriptor_init=false");
  c.set("train.optimizer=sgd");
  c.set("baselines.finetune.pretrain_steps=700");
  const RunOptions run = read_options(c);
  const RunOptions ft = finetune_pretraining(run);
  EXPECT_EQ(ft.learner.name, "finetune");
  EXPECT_EQ(ft.train.steps, c.get_int("baselines.finetune.pretrain_steps"));
  EXPECT_EQ(ft.train.optimizer.name, "adam");
  const Config record = finetune_record(c, ft);
  const RunOptions back = read_options(record);
  EXPECT_EQ(back.learner.name, ft.learner.name);
  EXPECT_EQ(back.learner.descriptor_init, ft.learner.descriptor_init);
  EXPECT_EQ(back.train.steps, ft.train.steps);
  EXPECT_EQ(back.train.optimizer.name, ft.train.optimizer.name);
  EXPECT_EQ(back.learner.finetune_lr, run.learner.finetune_lr);  // the rest is the run's
  EXPECT_NE(record.hash(), c.hash());
  EXPECT_EQ(Config::diff(c, record),
            (std::vector<std::string>{"learner.name", "train.steps", "train.optimizer"}));
  // baselines.finetune.id_dropout: the pre-training's data.id_dropout, in
  // its record too; -1 (the default) keeps the run's.
  EXPECT_EQ(ft.data.id_dropout, 0);
  c.set("data.id_dropout=0.1");
  EXPECT_EQ(finetune_pretraining(read_options(c)).data.id_dropout, 0.1);
  c.set("baselines.finetune.id_dropout=0.3");
  const RunOptions own = finetune_pretraining(read_options(c));
  EXPECT_EQ(own.data.id_dropout, 0.3);
  EXPECT_EQ(read_options(c).data.id_dropout, 0.1);  // the run's own is unchanged
  EXPECT_EQ(read_options(finetune_record(c, own)).data.id_dropout, 0.3);
  c.set("baselines.finetune.id_dropout=-0.5");
  EXPECT_THROW(read_options(c), UserError);
}

// A resume cuts metrics.jsonl back to the resumed step, reads the best
// validation value of what it keeps, and sets newer step files aside.
TEST(RunDirectory, StartAtCutsMetricsKeepsBestAndSetsNewerFilesAside) {
  const std::string dir = fresh_dir("rundir");
  fs::create_directories(dir + "/checkpoints");
  {
    std::ofstream m(dir + "/metrics.jsonl");
    m << R"({"step": 10, "meta_loss": 1.0})"
      << "\n"
      << R"({"step": 10, "split": "val", "metrics": {"auc": 0.61}})"
      << "\n"
      << R"({"step": 20, "split": "val", "metrics": {"auc": 0.70}})"
      << "\n"
      << R"({"step": 30, "split": "val", "metrics": {"auc": 0.90}})"
      << "\n"
      << "not json\n";
  }
  for (int s : {20, 30}) std::ofstream(checkpoint_path(dir, s)) << "x";
  RunDirectory rd(dir, /*lead=*/true);
  EXPECT_DOUBLE_EQ(rd.start_at(20, "auc", true), 0.70);  // not 0.90: step 30 is dropped
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<int64_t> steps;
  for (std::string line; std::getline(in, line);)
    steps.push_back(nlohmann::json::parse(line)["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 10, 20}));
  EXPECT_TRUE(fs::exists(checkpoint_path(dir, 20)));
  EXPECT_FALSE(fs::exists(checkpoint_path(dir, 30)));
  EXPECT_TRUE(fs::exists(checkpoint_path(dir, 30) + ".stale"));
  RunDirectory lower(dir, true);
  EXPECT_DOUBLE_EQ(lower.start_at(20, "auc", false), 0.61);  // lower is better: the smallest
  RunDirectory other_rank(dir, /*lead=*/false);
  EXPECT_TRUE(std::isnan(other_rank.start_at(0, "auc", true)));  // touches nothing
  EXPECT_TRUE(fs::exists(checkpoint_path(dir, 20)));
}

// Every shipped config loads and reads as options, and so does the record
// of every learner it compares (eval.learners): the demo's ProtoNet drops
// the MAML++ options, which only gradient learners take.
TEST(Options, ShippedConfigsAndTheirComparedLearnersRead) {
  int n = 0;
  for (const auto& f : fs::directory_iterator(std::string(METACAT_SOURCE_DIR) + "/configs")) {
    SCOPED_TRACE(f.path().string());
    const Config c = Config::load_file(f.path().string());
    const RunOptions o = read_options(c);
    for (const auto& name : o.eval.learners) {
      const RunOptions l = read_options(compared_learner_record(c, name));
      EXPECT_EQ(l.learner.name, name);
      EXPECT_FALSE(l.eval.at_end);
      EXPECT_TRUE(l.eval.learners.empty());
    }
    ++n;
  }
  EXPECT_GE(n, 4);
  const RunOptions demo = read_options(
      Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist-demo.yaml"));
  EXPECT_EQ(demo.eval.learners, std::vector<std::string>{"protonet"});
  EXPECT_TRUE(demo.learner.per_step_rates);
  Config steps =
      Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist-demo.yaml");
  steps.set("eval.learners_steps=1234");
  EXPECT_EQ(read_options(compared_learner_record(steps, "protonet")).train.steps, 1234);
  steps.set("eval.learners_steps=0");
  EXPECT_EQ(read_options(compared_learner_record(steps, "protonet")).train.steps,
            read_options(steps).train.steps);
  // The finetune baseline's pre-training: its own cosine horizon, and a
  // record that reads back (finetune takes no MAML++ options).
  const Config demo_config =
      Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist-demo.yaml");
  const RunOptions ft = finetune_pretraining(demo);
  EXPECT_EQ(ft.train.optimizer.total_steps, 300);
  EXPECT_EQ(read_options(finetune_record(demo_config, ft)).train.steps, 300);
  Config bad =
      Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist-demo.yaml");
  bad.set("learner.name=protonet");  // MAML++ options on a learner without an inner loop
  EXPECT_THROW(read_options(bad), UserError);
  // learner.embedding_norm is ProtoNet's: beside MAML it reaches only the
  // compared ProtoNet run (and neither the MAML run nor finetune's).
  Config norm = demo_config;
  norm.set("learner.embedding_norm=centered_l2");
  EXPECT_EQ(read_options(norm).learner.embedding_norm, "none");
  EXPECT_EQ(read_options(compared_learner_record(norm, "protonet")).learner.embedding_norm,
            "centered_l2");
  EXPECT_EQ(read_options(compared_learner_record(norm, "anil")).learner.embedding_norm, "none");
  EXPECT_EQ(finetune_pretraining(read_options(norm)).learner.embedding_norm, "none");
  EXPECT_EQ(read_options(finetune_record(norm, ft)).learner.embedding_norm, "none");
  norm.set("eval.learners=[]");  // nothing would use it: refused, not ignored
  EXPECT_THROW(read_options(norm), UserError);
  norm.set("eval.learners=[protonet]");
  norm.set("eval.at_end=false");  // the compared runs happen only at the end
  EXPECT_THROW(read_options(norm), UserError);
}

// learner.inner_params / inner_loss belong to the gradient learners: read
// for them, refused for a learner without an inner loop of that kind, and
// reset in the records of the runs that have none (the finetune
// pre-training, a compared protonet) so that those records read back.
TEST(Options, InnerParamsAndInnerLossReachOnlyTheGradientLearners) {
  Config c = sinusoid_config();
  c.set("learner.inner_params=context");
  c.set("learner.inner_loss=sum");
  const RunOptions o = read_options(c);
  EXPECT_EQ(o.learner.inner_params, "context");
  EXPECT_EQ(o.learner.inner_loss, "sum");
  const LearnerOptions proto = read_options(compared_learner_record(c, "protonet")).learner;
  EXPECT_EQ(proto.inner_params, "dense");
  EXPECT_EQ(proto.inner_loss, "mean");
  const LearnerOptions anil = read_options(compared_learner_record(c, "anil")).learner;
  EXPECT_EQ(anil.inner_params, "dense");  // anil adapts the head
  EXPECT_EQ(anil.inner_loss, "sum");
  const LearnerOptions fomaml = read_options(compared_learner_record(c, "fomaml")).learner;
  EXPECT_EQ(fomaml.inner_params, "context");
  const LearnerOptions ft = read_options(finetune_record(c, finetune_pretraining(o))).learner;
  EXPECT_EQ(ft.inner_params, "dense");
  EXPECT_EQ(ft.inner_loss, "mean");
  for (const char* key : {"learner.inner_params=dense", "learner.inner_loss=mean"}) {
    Config r = c;
    r.set("learner.name=reptile");
    r.set(key);  // the other one is still set: refused
    EXPECT_THROW(read_options(r), UserError) << key;
  }
}

// Options that only mean something beside another are refused without it,
// not silently ignored.
TEST(Options, DependentOptionsRefusedWithoutWhatTheyModify) {
  Config c = sinusoid_config();
  c.set("train.min_lr=0.0001");
  EXPECT_THROW(read_options(c), UserError);  // the schedule is constant
  c.set("train.lr_schedule=cosine");
  EXPECT_DOUBLE_EQ(read_options(c).train.optimizer.min_lr, 0.0001);
  c.set("data.item_shift=3");
  EXPECT_THROW(read_options(c), UserError);  // no shifts
  c.set("data.item_augment=flip");
  EXPECT_THROW(read_options(c), UserError);  // flips only
  c.set("data.item_augment=shift");
  EXPECT_EQ(read_options(c).data.item_shift, 3);
}

// What a resume may change: how the run is operated, not what it computes.
TEST(Resume, MayChangeOperationNotComputation) {
  for (const char* key : {"train.steps", "train.lock_wait_s", "train.keep_checkpoints", "threads",
                          "comm.backend", "eval.episodes", "learner.inner_loop"})
    EXPECT_TRUE(resume_may_change(key)) << key;
  for (const char* key : {"learner.embedding_norm", "learner.inner_lr", "train.outer_lr",
                          "train.lr_schedule", "data.item_augment", "seed", "model.width"})
    EXPECT_FALSE(resume_may_change(key)) << key;
}

// --- device: auto | cpu | cuda (core/device.h) ---------------------------

namespace {
bool have_gpu() { return torch::cuda::device_count() > 0; }

// Relative difference of two meta-gradients (cuda's brought to the host).
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor x = a.cpu().to(torch::kFloat64), y = b.cpu().to(torch::kFloat64);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-30);
}

Config conv4_device_config(const std::string& learner) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist.yaml");
  c.set("learner.name=" + learner);
  c.set("train.meta_batch=4");
  c.set("task.shots=5");
  c.set("data.path=" + packed_fashion_mnist());
  return c;
}
}  // namespace

TEST(Device, AutoPicksTheCpuWithoutAGpuAndCudaIsThenAnError) {
  if (have_gpu()) GTEST_SKIP() << "a GPU is visible: auto picks it (Device.Cuda* tests cover it)";
  std::string why;
  EXPECT_EQ(pick_device("auto", 0, &why), torch::Device(torch::kCPU));
  EXPECT_NE(why.find("no GPU visible"), std::string::npos) << why;
  EXPECT_EQ(pick_device("cpu", 0), torch::Device(torch::kCPU));
  try {
    pick_device("cuda", 0);
    FAIL() << "device cuda without a GPU was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("device: cuda"), std::string::npos) << e.what();
  }
}

// The meta-gradient of conv4 MAML (second order) and ProtoNet computed on
// the GPU equals the CPU's within float32 rounding: same parameters, same
// episodes, one meta-step.
TEST(Device, CudaMetaGradientsEqualTheCpuOnes) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU visible to LibTorch";
  apply_threads(1);
  for (const std::string learner : {"maml", "protonet"}) {
    auto ex = build_experiment(conv4_device_config(learner));
    const Params theta = ex->learner->init(0);
    const torch::Tensor cpu =
        Trainer(*ex, fresh_dir("dev-cpu-" + learner), false).meta_gradient(theta, 3);
    const torch::Tensor gpu = Trainer(*ex, fresh_dir("dev-gpu-" + learner), false)
                                  .meta_gradient(theta.on(torch::Device(torch::kCUDA, 0)), 3);
    EXPECT_TRUE(gpu.is_cuda());
    const double rel = relative_difference(gpu, cpu);
    std::cout << learner << ": relative difference cuda vs cpu " << rel << "\n";
    EXPECT_LT(rel, 1e-4) << learner;
  }
}

// Device-resident training checkpoints host tensors: a run trained on the
// GPU resumes on the CPU (and the other way) and finishes.
TEST(Device, CheckpointsFromEitherDeviceResumeOnTheOther) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU visible to LibTorch";
  apply_threads(1);
  for (const auto& [first, second] : {std::pair<std::string, std::string>{"cuda", "cpu"},
                                      std::pair<std::string, std::string>{"cpu", "cuda"}}) {
    Config c = conv4_device_config("maml");
    c.set("train.steps=4");
    c.set("train.checkpoint_every=2");
    c.set("eval.at_end=false");
    c.set("device=" + first);
    const std::string dir = fresh_dir("dev-resume-" + first);
    {
      Config stop = c;
      stop.set("train.steps=2");
      auto ex = build_experiment(stop);
      Trainer(*ex, dir, false).run();
    }
    Config again = c;
    again.set("device=" + second);
    auto ex = build_experiment(again);
    TrainReport r = Trainer(*ex, dir, false, nullptr, "auto").run();
    EXPECT_EQ(r.steps, 4);
    for (const auto& t : r.theta.tensors) EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
  }
}
