// Runs the real `metacat` binary on bad input: each case must exit with the
// user-error code 1 and one message naming the offending thing, no crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

using metacat::test::Result;

Result run(const std::string& args) {
  return metacat::test::shell(std::string(METACAT_BIN) + " " + args);
}

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("metacat-cli-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

// The demo config, reading the idx files directly (no packing needed).
std::string config(const std::string& extra = "") {
  return std::string(" --config ") + METACAT_SOURCE_DIR +
         "/configs/fashion-mnist.yaml --set data.source=fashion-mnist "
         "--set data.path=/usr/share/datasets/fashion-mnist --set train.steps=1 "
         "--set eval.at_end=false " +
         extra;
}

void expect_user_error(const Result& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("fatal"), std::string::npos) << r.output;
}

}  // namespace

TEST(Cli, HelpListsSubcommandsAndExitsZero) {
  Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("train"), std::string::npos);
  EXPECT_NE(r.output.find("eval"), std::string::npos);
  r = run("train --help-config");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("learner.inner_lr"), std::string::npos);
}

TEST(Cli, MoreWaysThanCategories) {
  expect_user_error(
      run("train" +
          config("--set task.ways=3 --set data.train_classes=[0,1] --run-dir " + tmp("w"))),
      "the train split has 2");
  // The evaluation split is checked before training starts, not hours later.
  const std::string dir = tmp("w2");
  Result r = run("train" + config("--set eval.at_end=true --set task.ways=5 --run-dir " + dir));
  expect_user_error(r, "the test split has 4");
  EXPECT_FALSE(fs::exists(dir + "/checkpoints"));
}

TEST(Cli, ShotsPlusQueriesLargerThanACategory) {
  expect_user_error(
      run("train" + config("--set task.shots=6990 --set task.queries=20 --run-dir " + tmp("k"))),
      "fewer than shots + queries = 7010");
}

TEST(Cli, MissingDataFiles) {
  expect_user_error(
      run("train" + config("--set data.path=/nonexistent/fmnist --run-dir " + tmp("d"))),
      "/nonexistent/fmnist");
  const std::string empty = tmp("empty");
  fs::create_directories(empty);
  expect_user_error(run("train" + config("--set data.path=" + empty + " --run-dir " + tmp("d2"))),
                    "train-images-idx3-ubyte");
}

TEST(Cli, MissingPackedDataset) {
  expect_user_error(
      run("train" + config("--set data.source=shards --set data.path=/nonexistent/packed")),
      "no manifest at '/nonexistent/packed/manifest.h5'");
  expect_user_error(run("inspect /nonexistent/packed --verify"), "does not exist");
  const std::string half = tmp("half-packed");
  fs::create_directories(half);
  std::ofstream(half + "/shard-00000.h5.tmp") << "partial";
  expect_user_error(run("inspect --verify " + half), "no manifest");
}

TEST(Cli, PackInspectEpisodesAndEvalFromFile) {
  const std::string data = tmp("packed"), run_dir = tmp("run"), eps = tmp("eps.h5");
  Result r =
      run("pack --source synthetic --categories 30 --feature-dim 4 --min-items 40 --max-items 80 "
          "--shards 3 --quiet --out " +
          data);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("inspect --verify " + data);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("verify: OK"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("shards: 3"), std::string::npos) << r.output;
  r = run("episodes --data " + data + " --shots 5 --queries 10 --count 20 --out " + eps);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(std::string("train --config ") + METACAT_SOURCE_DIR +
          "/configs/preference.yaml --set data.source=shards --set data.path=" + data +
          " --set model.hidden=[8] --set train.steps=5 --set eval.at_end=false --run-dir " +
          run_dir);
  ASSERT_EQ(r.code, 0) << r.output;
  // inspect --verify: a checkpoint (its checksums), a dataset through its
  // manifest; a damaged checkpoint fails naming it; an episode file has
  // nothing to verify, and says so.
  const std::string ck = run_dir + "/checkpoints/step-00000005.h5";
  r = run("inspect --verify " + ck);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("verify: OK (content xxh64 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("; parameters "), std::string::npos) << r.output;
  r = run("inspect --verify " + data + "/manifest.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("verify: OK"), std::string::npos) << r.output;
  const std::string damaged = tmp("damaged.h5");
  fs::copy_file(ck, damaged);
  fs::resize_file(damaged, fs::file_size(ck) / 2);
  r = run("inspect --verify " + damaged);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(damaged), std::string::npos) << r.output;
  expect_user_error(run("inspect --verify " + eps), "no checksum to verify");
  const std::string json = tmp("eval.json");
  r = run("eval --checkpoint " + run_dir + " --episodes " + eps + " --baseline scratch --json " +
          json);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("maml+descriptor" + std::string(4, ' ') + "5-shot  auc"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(20 episodes)"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(json));
  // Packing again into the same folder needs --force.
  expect_user_error(run("pack --source synthetic --categories 30 --quiet --out " + data),
                    "--force");
}

TEST(Cli, MalformedYamlAndBadKeys) {
  const std::string bad = tmp("bad.yaml");
  std::ofstream(bad) << "seed: 1\nlearner: {name: maml\n";
  expect_user_error(run("train --config " + bad + " --run-dir " + tmp("y")), bad);
  std::ofstream(bad) << "seed: 1\nlearner:\n  inner_stepz: 3\n";
  expect_user_error(run("train --config " + bad + " --run-dir " + tmp("y")), "learner.inner_stepz");
  expect_user_error(run("train" + config("--set model.width=wide")), "model.width");
  expect_user_error(run("train --config /nonexistent.yaml"), "/nonexistent.yaml");
  expect_user_error(run("train --bogus-flag"), "bogus-flag");
}

// A file or folder that cannot be written is an I/O failure: exit code 4,
// the path in the message, at every writer the commands reach.
TEST(Cli, UnwritablePathsAreIoErrors) {
  const std::string file = tmp("plain-file");
  std::ofstream(file) << "not a folder\n";
  Result r = run("train" + config() + " --run-dir " + file + "/run");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find(file + "/run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error: I/O"), std::string::npos) << r.output;
  r = run("pack --source fashion-mnist --input /usr/share/datasets/fashion-mnist --out " + file +
          "/data");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find(file + "/data"), std::string::npos) << r.output;
  const std::string run_dir = tmp("io-run");
  fs::remove_all(run_dir);
  ASSERT_EQ(run("train" + config() + " --run-dir " + run_dir).code, 0);
  r = run("report " + run_dir + " --out " + file + "/report.html");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find(file + "/report.html"), std::string::npos) << r.output;
}

// Validation during training and `metacat eval` on the val split score a
// checkpoint with the same per-episode seeds: the same numbers. The
// finetune learner draws a fresh head per episode from that seed, so a
// different seed formula on either side changes the result.
TEST(Cli, ValidationAndEvalScoreACheckpointAlike) {
  const std::string run_dir = tmp("val-eval");
  fs::remove_all(run_dir);
  const std::string common =
      " --set data.train_classes=[0,1,2,3] --set data.val_classes=[4,5,6]"
      " --set data.test_classes=[7,8,9] --set task.shots=1 --set eval.queries=5";
  Result r = run("train" + config(common) +
                 " --set learner.name=finetune --set model.width=8 --set train.steps=3"
                 " --set eval.val_every=3 --set eval.val_episodes=12"
                 " --set baselines.finetune.steps=3 --run-dir " +
                 run_dir);
  ASSERT_EQ(r.code, 0) << r.output;
  double val = -1;
  {
    std::ifstream in(run_dir + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("split")) val = j["accuracy"].get<double>();
    }
  }
  ASSERT_GE(val, 0) << "no validation record";
  const std::string out = tmp("val-eval.json");
  r = run("eval --checkpoint " + run_dir + "/checkpoints/step-00000003.h5" +
          " --set eval.split=val --set eval.shots=[1] --set eval.episodes=12 --json " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_DOUBLE_EQ(j["results"][0]["mean"].get<double>(), val) << j.dump(1);
}

// The finetune baseline's pre-training directory is a run of its own: its
// config.yaml says what ran, `metacat eval` of it gives the finetune row of
// the run's eval.json, and the run itself refuses to resume from it.
TEST(Cli, FinetuneBaselineRunIsSelfDescribing) {
  const std::string run_dir = tmp("ft-baseline");
  fs::remove_all(run_dir);
  Result r = run("train" + config() +
                 " --set eval.at_end=true --set eval.baselines=[finetune] --set eval.shots=[1]"
                 " --set eval.episodes=6 --set eval.queries=5 --set model.width=8"
                 " --set train.steps=2 --set baselines.finetune.pretrain_steps=3"
                 " --set baselines.finetune.steps=3 --run-dir " +
                 run_dir);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string ft = run_dir + "/baselines/finetune";
  std::ifstream cfg(ft + "/config.yaml");
  const std::string yaml((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(yaml.find("name: finetune"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("steps: 3"), std::string::npos) << yaml;
  double expected = -1;
  {
    std::ifstream in(run_dir + "/eval.json");
    const auto ej = nlohmann::json::parse(in);
    for (const auto& res : ej["results"])
      if (res["method"] == "finetune") expected = res["mean"].get<double>();
  }
  ASSERT_GE(expected, 0);
  const std::string out = tmp("ft-baseline.json");
  r = run("eval --checkpoint " + ft + " --json " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["results"][0]["method"], "finetune");
  EXPECT_DOUBLE_EQ(j["results"][0]["mean"].get<double>(), expected);
  const std::string other = tmp("ft-resume");
  fs::remove_all(other);
  r = run("train" + config(" --set model.width=8 --set train.steps=4") + " --run-dir " + other +
          " --resume " + ft + "/checkpoints/step-00000003.h5");
  expect_user_error(r, "holds a 'finetune' learner");
}

// Class augmentation is for image classification: anything else is refused.
TEST(Cli, ClassAugmentOnNonImageDataIsAUserError) {
  Result r = run("train --config " + std::string(METACAT_SOURCE_DIR) +
                 "/configs/sinusoid.yaml --set data.class_augment=rotations --set train.steps=1"
                 " --set eval.at_end=false --run-dir " +
                 tmp("aug-sinusoid"));
  expect_user_error(r, "data.class_augment");
  r = run("train" + config("--set data.class_augment=rotate") + " --run-dir " + tmp("aug-bad"));
  expect_user_error(r, "data.class_augment");
}

// device: cuda on a machine where LibTorch sees no GPU is exit 1 with the
// reason, before anything is trained; auto says it fell back to the CPU.
TEST(Cli, DeviceCudaWithoutAGpuIsAUserError) {
  Result probe = run("train" + config("--set device=auto") + " --run-dir " + tmp("dev-auto"));
  ASSERT_EQ(probe.code, 0) << probe.output;
  if (probe.output.find("device: cpu (auto: no GPU visible)") == std::string::npos)
    GTEST_SKIP() << "a GPU is visible here";
  expect_user_error(run("train" + config("--set device=cuda") + " --run-dir " + tmp("dev-cuda")),
                    "device: cuda, but LibTorch sees no GPU");
  EXPECT_FALSE(fs::exists(tmp("dev-cuda") + "/checkpoints"));
}

TEST(Cli, EvalOfMissingCheckpoint) {
  expect_user_error(run("eval --checkpoint " + tmp("nothing-here")), "does not exist");
  const std::string d = tmp("emptyrun");
  fs::create_directories(d);
  expect_user_error(run("eval --checkpoint " + d), "no checkpoint");
  // train's lists are refused, not silently left unread.
  expect_user_error(run("eval --checkpoint " + d + " --set eval.baselines=[oracle]"),
                    "--baseline NAME");
  expect_user_error(run("eval --checkpoint " + d + " --set eval.learners=[protonet]"),
                    "read by train, not by eval");
}

namespace {
std::string mpirun(int np) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun "
         "--oversubscribe -np " +
         std::to_string(np) + " " + METACAT_BIN;
}
Result run_raw(const std::string& cmd) { return metacat::test::shell(cmd); }
}  // namespace

// A rank that throws ends the job on every rank, promptly, with its message.
TEST(Distributed, FailingRankEndsTheJob) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r = run_raw(mpirun(2) + " train --config " + METACAT_SOURCE_DIR +
                     "/configs/sinusoid.yaml --set train.steps=1000000 --set eval.at_end=false "
                     "--set debug.fail_rank=1 --set debug.fail_at_step=20 --run-dir " +
                     tmp("fail"));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.code, 124) << "timed out: the job hung\n" << r.output;
  EXPECT_NE(r.output.find("injected fault"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 of 2"), std::string::npos) << r.output;
  EXPECT_LT(s, 30) << r.output;
}

// A rank that hangs (a stalled collective for the others) is caught by the
// watchdog, which ends the job.
TEST(Distributed, WatchdogEndsAHungJob) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r =
      run_raw(mpirun(2) + " train --config " + METACAT_SOURCE_DIR +
              "/configs/sinusoid.yaml --set train.steps=1000000 --set eval.at_end=false "
              "--set debug.fail_rank=0 --set debug.fail_at_step=20 --set debug.fail_mode=hang "
              "--set comm.timeout_s=3 --run-dir " +
              tmp("hang"));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.code, 124) << "timed out: the watchdog did not fire\n" << r.output;
  EXPECT_NE(r.output.find("watchdog"), std::string::npos) << r.output;
  EXPECT_LT(s, 60) << r.output;
}

// A rank that never reaches a step (as when its host is cut off): rank 0's
// watchdog names it and its host, from the arrival check, before the other
// ranks' watchdogs (5 s later) speak.
TEST(Distributed, WatchdogNamesTheRankThatNeverArrived) {
  Result r =
      run_raw(mpirun(2) + " train --config " + METACAT_SOURCE_DIR +
              "/configs/sinusoid.yaml --set train.steps=1000000 --set eval.at_end=false "
              "--set debug.fail_rank=1 --set debug.fail_at_step=20 --set debug.fail_mode=hang "
              "--set comm.timeout_s=3 --run-dir " +
              tmp("hang1"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.code, 124) << "timed out: the watchdog did not fire\n" << r.output;
  EXPECT_NE(r.output.find("on rank 0 (" + metacat::hostname() + "); rank 1 (" +
                          metacat::hostname() + ") has not reached step 20"),
            std::string::npos)
      << r.output;
  // Without the arrival check, rank 0 can only say that it timed out.
  r = run_raw(mpirun(2) + " train --config " + METACAT_SOURCE_DIR +
              "/configs/sinusoid.yaml --set train.steps=1000000 --set eval.at_end=false "
              "--set debug.fail_rank=1 --set debug.fail_at_step=20 --set debug.fail_mode=hang "
              "--set comm.timeout_s=3 --set comm.arrivals=false --run-dir " +
              tmp("hang1b"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("watchdog"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("has not reached"), std::string::npos) << r.output;
}

TEST(Distributed, RefusesWorldSizesThatDoNotDivide) {
  Result r = run_raw(mpirun(3) + " train --config " + METACAT_SOURCE_DIR +
                     "/configs/sinusoid.yaml --set eval.at_end=false --run-dir " + tmp("ws3"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("world sizes that work: 1, 2, 5, 10"), std::string::npos) << r.output;
}

// Invariant 3: a rank whose parameters drift is caught by the periodic check.
TEST(Distributed, ParameterMismatchStopsTheJob) {
  Result r =
      run_raw(mpirun(2) + " train --config " + METACAT_SOURCE_DIR +
              "/configs/sinusoid.yaml --set train.steps=1000 --set eval.at_end=false "
              "--set debug.fail_rank=1 --set debug.fail_at_step=12 --set debug.fail_mode=diverge "
              "--set comm.check_every=10 --run-dir " +
              tmp("diverge"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters differ across ranks after step 20"), std::string::npos)
      << r.output;
}

// eval.learners: the compared learner trains in RUN_DIR/learners/<name>
// with a record that says so, and is evaluated next to the run's own
// learner on the same episodes (the table ends with its verdict line); a
// standalone eval of its checkpoint gives the same number. finetune is a
// baseline, not a compared learner.
TEST(Cli, ComparedLearnerTrainsAndIsEvaluatedOnTheSameEpisodes) {
  const std::string run_dir = tmp("compared");
  fs::remove_all(run_dir);
  Result r = run("train" + config() +
                 " --set eval.at_end=true --set eval.learners=[protonet] --set eval.shots=[1]"
                 " --set eval.baselines=[scratch] --set eval.episodes=6 --set eval.queries=5"
                 " --set model.width=8 --set train.steps=2 --set baselines.scratch.steps=2"
                 " --run-dir " +
                 run_dir);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1-shot: "), std::string::npos) << r.output;  // the verdict
  const std::string pn = run_dir + "/learners/protonet";
  std::ifstream cfg(pn + "/config.yaml");
  const std::string yaml((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(yaml.find("name: protonet"), std::string::npos) << yaml;
  std::map<std::string, double> means;
  {
    std::ifstream in(run_dir + "/eval.json");
    const auto ej = nlohmann::json::parse(in);
    for (const auto& res : ej["results"])
      means[res["method"].get<std::string>()] = res["mean"].get<double>();
  }
  ASSERT_EQ(means.size(), 3u);
  ASSERT_TRUE(means.count("maml") && means.count("protonet") && means.count("scratch"));
  const std::string out = tmp("compared.json");
  r = run("eval --checkpoint " + pn + " --json " + out +
          " --set eval.episodes=6 --set eval.queries=5 --set eval.shots=[1]");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["results"][0]["method"], "protonet");
  EXPECT_DOUBLE_EQ(j["results"][0]["mean"].get<double>(), means["protonet"]);
  r = run("train" + config("--set eval.learners=[finetune]") + " --run-dir " + tmp("cmp-ft"));
  expect_user_error(r, "eval.learners");
}

// Heldout validation classes (rot270 of the training categories) must not
// reach training as mirrored images: flips and dihedral classes are refused
// with them; shifts are fine.
TEST(Cli, HeldoutValidationRefusesMirroredTrainingImages) {
  const std::string held = " --set data.class_augment=rotations --set data.val_augment=heldout";
  for (const char* bad : {" --set data.item_augment=flip", " --set data.item_augment=flip+shift"}) {
    Result r = run("train" + config(held + bad) + " --run-dir " + tmp("held-flip"));
    expect_user_error(r, "data.val_augment");
  }
  Result r =
      run("train" + config(" --set data.class_augment=dihedral --set data.val_augment=heldout") +
          " --run-dir " + tmp("held-dihedral"));
  expect_user_error(r, "dihedral");
  r = run("train" + config(held + " --set data.item_augment=shift --set model.width=4") +
          " --run-dir " + tmp("held-shift"));
  EXPECT_EQ(r.code, 0) << r.output;
}
