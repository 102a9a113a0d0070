// Preemption and crash safety through the real binary: signals, mpirun,
// kill -9 at random moments.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "checkpoint/checkpoint.h"
#include "core/params.h"
#include "test_util.h"

using namespace metacat;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
extern char** environ;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("preempt", name); }

std::string train_args(const std::string& dir, int64_t steps, const std::string& extra = "") {
  return std::string(" train --config ") + METACAT_SOURCE_DIR +
         "/configs/sinusoid.yaml --set eval.at_end=false --set train.log_every=1000 --set "
         "train.steps=" +
         std::to_string(steps) + " --run-dir " + dir + " " + extra;
}

int sh(const std::string& cmd) {
  const int status = std::system(
      ("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + cmd + " > /dev/null 2>&1")
          .c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string mpirun(int np) {
  return "timeout 300 mpirun --oversubscribe -np " + std::to_string(np) + " " + METACAT_BIN;
}

double rel_diff(const Params& a, const Params& b) {
  torch::Tensor fa = flatten(a.tensors), fb = flatten(b.tensors);
  return (fa - fb).norm().item<double>() / fb.norm().item<double>();
}

// stdout and stderr to `log` (default: discarded).
pid_t spawn(const std::vector<std::string>& args, const std::string& log = "/dev/null") {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

std::vector<std::string> train_argv(const std::string& dir, int64_t steps,
                                    const std::vector<std::string>& extra) {
  std::vector<std::string> a{
      METACAT_BIN, "train",
      "--config",  std::string(METACAT_SOURCE_DIR) + "/configs/sinusoid.yaml",
      "--run-dir", dir,
      "--set",     "eval.at_end=false",
      "--set",     "train.steps=" + std::to_string(steps)};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

// One owner per run directory: a second `train` on a directory whose owner
// is alive is refused, naming it, after train.lock_wait_s; one that waits
// takes over once the owner dies (SIGKILL: the kernel drops the lock).
TEST(RunLock, SecondTrainOnALiveRunDirectoryWaitsThenIsRefusedOrTakesOver) {
  const std::string dir = fresh_dir("owned");
  const pid_t first = spawn(train_argv(dir, 10000000, {"--set", "threads=1"}));
  struct Reap {  // never leave the long run behind, whatever fails below
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{first};
  std::string owner;
  for (int i = 0; i < 300 && owner.find("pid " + std::to_string(first)) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(dir + "/.owner");
    std::getline(in, owner);
  }
  ASSERT_NE(owner.find("pid " + std::to_string(first) + " on "), std::string::npos) << owner;
  const auto t0 = Clock::now();
  test::Result second = test::shell(std::string(METACAT_BIN) +
                                    train_args(dir, 20, "--set train.lock_wait_s=1 --resume auto"));
  EXPECT_EQ(second.code, 1) << second.output;
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  EXPECT_NE(second.output.find("is in use by pid " + std::to_string(first)), std::string::npos)
      << second.output;
  // A third waits (60 s at most) while the first is killed, then runs.
  const pid_t third =
      spawn(train_argv(dir, 20, {"--set", "train.lock_wait_s=60", "--resume", "auto"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int status = 0;
  EXPECT_EQ(waitpid(third, &status, WNOHANG), 0);  // still waiting
  kill(first, SIGKILL);
  ASSERT_EQ(waitpid(third, &status, 0), third);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(load_checkpoint(newest_checkpoint(dir)).step, 20);
  std::ifstream in(dir + "/.owner");
  std::getline(in, owner);
  EXPECT_NE(owner.find("pid " + std::to_string(third) + " on "), std::string::npos) << owner;
}

// A disk that fills (a 300 KiB tmpfs): the checkpoint write fails with a
// clear I/O error (exit 4, not a crash), the earlier checkpoints stay whole
// and resumable, and a pack that does not fit leaves the dataset already
// there as it was.
TEST(DiskFull, CheckpointAndPackFailCleanlyAndKeepWhatWasThere) {
  const std::string mnt = fresh_dir("tmpfs");
  fs::create_directories(mnt);
  if (std::system(("mount -t tmpfs -o size=300k tmpfs " + mnt + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root, or a container that allows mounts)";
  struct Unmount {
    std::string dir;
    ~Unmount() { std::system(("umount " + dir).c_str()); }
  } unmount{mnt};
  const std::string run_dir = mnt + "/run";
  EXPECT_EQ(sh(std::string(METACAT_BIN) +
               train_args(run_dir, 400,
                          "--set train.checkpoint_every=10 --set train.keep_checkpoints=1000")),
            4);
  const std::string newest = newest_checkpoint(run_dir);
  ASSERT_FALSE(newest.empty());
  const Checkpoint ck = load_checkpoint(newest);
  EXPECT_GE(ck.step, 10);
  EXPECT_LT(ck.step, 400);
  for (const auto& e : fs::directory_iterator(run_dir + "/checkpoints"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  fs::remove_all(run_dir);

  const std::string ds = mnt + "/ds";
  ASSERT_EQ(sh(std::string(METACAT_BIN) + " pack --source synthetic --out " + ds +
               " --categories 10 --max-items 100 --quiet"),
            0);
  const std::string verify = std::string(METACAT_BIN) + " inspect " + ds + " --verify";
  ASSERT_EQ(sh(verify), 0);
  EXPECT_EQ(sh(std::string(METACAT_BIN) + " pack --source synthetic --out " + ds +
               " --categories 300 --force --quiet"),
            4);
  EXPECT_EQ(sh(verify), 0);  // the first dataset, whole
  for (const auto& e : fs::directory_iterator(ds))
    EXPECT_EQ(e.path().filename().string().find(".packing-"), std::string::npos) << e.path();
}

// mpirun gives its ranks a pseudo-terminal even when its own output goes to
// a file: the progress must still be plain lines there, not a live line
// redrawn with terminal escapes.
TEST(Launch, ProgressUnderMpirunIsPlainLines) {
  const std::string dir = fresh_dir("progress"), log = dir + ".log";
  const int status =
      std::system(("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + mpirun(2) +
                   train_args(dir, 20) + " --set train.log_every=5 > " + log + " 2>&1")
                      .c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("step 10/20"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
}

// 2S steps uninterrupted vs S steps + SIGTERM + resume for S more, on 2
// ranks: parameters and optimiser state bit-identical.
TEST(Preemption, ResumeOnSameWorldSizeIsBitIdentical) {
  const std::string full = fresh_dir("full2"), cut = fresh_dir("cut2");
  ASSERT_EQ(sh(mpirun(2) + train_args(full, 120)), 0);
  // Rank 1 receives SIGTERM during step 59: all ranks checkpoint step 60 and exit 75.
  ASSERT_EQ(sh(mpirun(2) + train_args(cut, 120,
                                      "--set debug.fail_rank=1 --set debug.fail_at_step=59 "
                                      "--set debug.fail_mode=signal")),
            75);
  EXPECT_EQ(load_checkpoint(newest_checkpoint(cut)).step, 60);
  ASSERT_EQ(sh(mpirun(2) + train_args(cut, 120, "--resume auto")), 0);
  Checkpoint a = load_checkpoint(checkpoint_path(full, 120)),
             b = load_checkpoint(checkpoint_path(cut, 120));
  EXPECT_EQ(checksum(a.params), checksum(b.params));
  for (size_t i = 0; i < a.exp_avg.size(); ++i) {
    EXPECT_TRUE(torch::equal(a.exp_avg[i], b.exp_avg[i]));
    EXPECT_TRUE(torch::equal(a.exp_avg_sq[i], b.exp_avg_sq[i]));
  }
}

// Saved on 4 ranks, resumed on 2: the same task sequence continues; only the
// float summation order differs (tolerance: relative L2 1e-4).
TEST(Preemption, ResumeOnAnotherWorldSizeContinues) {
  const std::string full = fresh_dir("full4"), cut = fresh_dir("cut4");
  const std::string b8 = "--set train.meta_batch=8 ";  // divisible by 4 and 2
  ASSERT_EQ(sh(mpirun(4) + train_args(full, 80, b8)), 0);
  ASSERT_EQ(sh(mpirun(4) + train_args(cut, 80,
                                      b8 + "--set debug.fail_rank=3 --set debug.fail_at_step=39 "
                                           "--set debug.fail_mode=signal")),
            75);
  Checkpoint mid = load_checkpoint(newest_checkpoint(cut));
  EXPECT_EQ(mid.world_size, 4);
  ASSERT_EQ(sh(mpirun(2) + train_args(cut, 80, b8 + "--resume auto")), 0);
  Checkpoint a = load_checkpoint(checkpoint_path(full, 80)),
             b = load_checkpoint(checkpoint_path(cut, 80));
  EXPECT_EQ(b.world_size, 2);
  EXPECT_LT(rel_diff(b.params, a.params), 1e-4);
}

// A real SIGTERM to a single process: checkpoint, exit 75, promptly.
TEST(Preemption, SigtermCheckpointsAndExitsWithResumeCode) {
  const std::string dir = fresh_dir("sigterm");
  pid_t pid = spawn(train_argv(dir, 100000000, {}));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const auto t0 = Clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "signal to exit: " << s * 1000 << " ms\n";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_LT(s, 10);
  Checkpoint ck = load_checkpoint(newest_checkpoint(dir));
  EXPECT_GT(ck.step, 0);
}

// A signal after the last step, during the final evaluation: training is
// complete and checkpointed, so the run leaves the evaluation promptly with
// 75 and writes no eval.json; resumed, it finds training done and writes
// what a run that was never stopped writes. (No baselines: the finetune
// baseline's pre-training would stop at its own step boundary instead.)
TEST(Preemption, SignalDuringFinalEvaluationExitsToResume) {
  const std::string dir = fresh_dir("evalstop"), full = fresh_dir("evalfull");
  const std::string log = dir + ".log";
  // Long enough that the signal lands inside it (ms per episode here).
  const pid_t pid = spawn(train_argv(dir, 30,
                                     {"--set", "eval.at_end=true", "--set", "eval.baselines=[]",
                                      "--set", "eval.episodes=2000000"}),
                          log);
  struct Reap {  // never leave the long run behind, whatever fails below
    pid_t pid;
    bool done = false;
    ~Reap() {
      if (done) return;
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  const auto text = [&] {
    std::ifstream f(log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const auto began = Clock::now();
  while (text().find("evaluation: 2000000") == std::string::npos &&
         Clock::now() - began < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(text().find("evaluation: 2000000"), std::string::npos) << text();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = Clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    ASSERT_LT(Clock::now() - t0, std::chrono::seconds(30))
        << "the evaluation went on 30 s after SIGTERM";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  reap.done = true;
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_LT(s, 10);
  EXPECT_NE(text().find("stop requested during the final evaluation"), std::string::npos) << text();
  EXPECT_FALSE(fs::exists(dir + "/eval.json"));
  EXPECT_EQ(load_checkpoint(newest_checkpoint(dir)).step, 30);

  const std::string brief = "--set eval.at_end=true --set eval.baselines=[] --set eval.episodes=40";
  ASSERT_EQ(sh(METACAT_BIN + train_args(dir, 30, "--resume auto " + brief)), 0);
  ASSERT_EQ(sh(METACAT_BIN + train_args(full, 30, brief)), 0);
  const auto results = [](const std::string& d) {
    std::ifstream f(d + "/eval.json");
    return nlohmann::json::parse(f).at("results");
  };
  ASSERT_FALSE(results(full).empty());
  EXPECT_EQ(results(dir), results(full));
}

// On 2 ranks, SIGTERM to rank 1 alone during the last step: training ends
// (the step is the last), and the evaluation's agreed stop check sends
// both ranks out with 75 before any episode; the resume evaluates.
TEST(Preemption, SignalOnOneRankAtTheLastStepStopsEveryRankBeforeEvaluating) {
  const std::string dir = fresh_dir("evalstop2");
  const std::string brief =
      "--set eval.at_end=true --set eval.baselines=[] --set eval.episodes=40 ";
  const test::Result r =
      test::shell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + mpirun(2) +
                  train_args(dir, 30,
                             brief + "--set debug.fail_rank=1 --set debug.fail_at_step=29 "
                                     "--set debug.fail_mode=signal"));
  ASSERT_EQ(r.code, 75) << r.output;
  EXPECT_NE(r.output.find("stop requested during the final evaluation"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir + "/eval.json"));
  EXPECT_EQ(load_checkpoint(newest_checkpoint(dir)).step, 30);
  ASSERT_EQ(sh(mpirun(2) + train_args(dir, 30, brief + "--resume auto")), 0);
  EXPECT_TRUE(fs::exists(dir + "/eval.json"));
}

// kill -9 at random moments (during steps and during checkpoint writes, which
// happen every step here): the newest surviving checkpoint always verifies
// and the run resumes from it.
TEST(CrashSafety, KillNineAtRandomMomentsThenResume) {
  const std::string dir = fresh_dir("kill9");
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> ms(1200, 2600);  // start-up is ~1 s
  std::vector<std::string> extra{
      "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2", "--resume", "auto"};
  int64_t last = 0;
  for (int round = 0; round < 5; ++round) {
    pid_t pid = spawn(train_argv(dir, 100000000, extra));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(gen)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    std::vector<std::string> warnings;
    const std::string newest = newest_valid_checkpoint(dir, &warnings);
    ASSERT_FALSE(newest.empty()) << "round " << round;
    const int64_t step = load_checkpoint(newest).step;
    EXPECT_GE(step, last) << "round " << round;
    last = step;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "checkpoints"))
      if (e.path().string().find(".tmp.") != std::string::npos)
        fs::remove(e.path());  // debris only
  }
  // The last survivor resumes and finishes.
  ASSERT_EQ(sh(std::string(METACAT_BIN) + train_args(dir, last + 5, "--resume auto")), 0);
  EXPECT_EQ(load_checkpoint(newest_checkpoint(dir)).step, last + 5);
}
