#include "train/trainer.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "core/optimizer.h"
#include "core/rng.h"
#include "core/threads.h"
#include "data/prefetch.h"
#include "episodes/sampler.h"
#include "train/decisions.h"
#include "train/reducer.h"
#include "train/signals.h"

namespace metacat {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

void write_text(const fs::path& p, const std::string& text) { atomic_write_text(p.string(), text); }

}  // namespace

namespace {
std::shared_ptr<comm::Backend> g_backend;

// Peak resident memory of this process (MiB), from /proc.
double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// Aborts the job when a meta-step takes longer than the timeout (a stalled
// collective, a hung read): no rank waits forever.
class Watchdog {
 public:
  Watchdog(double timeout_s, std::shared_ptr<comm::Backend> comm)
      : timeout_(timeout_s), comm_(std::move(comm)) {
    if (timeout_ > 0) thread_ = std::thread([this] { loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void kick(int64_t step) {
    std::lock_guard<std::mutex> g(mu_);
    step_ = step;
    last_ = Clock::now();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(200));
      if (stop_) break;
      const double idle = std::chrono::duration<double>(Clock::now() - last_).count();
      if (idle > timeout_) {
        // No MPI call from this thread (MPI_THREAD_FUNNELED): print and exit;
        // mpirun/srun (--kill-on-bad-exit) end the other ranks.
        std::fprintf(
            stderr, "%s\n",
            ("watchdog: meta-step " + std::to_string(step_) + " has taken " +
             std::to_string(static_cast<int>(idle)) + " s (> comm.timeout_s) on rank " +
             std::to_string(comm_->rank()) + " (" + comm::hostname() + "); aborting the job")
                .c_str());
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
  }
  double timeout_;
  std::shared_ptr<comm::Backend> comm_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t step_ = 0;
  Clock::time_point last_ = Clock::now();
  std::thread thread_;
};
}  // namespace

std::shared_ptr<comm::Backend> active_backend() { return g_backend; }

Trainer::Trainer(const Experiment& ex, std::string run_dir, bool verbose,
                 std::shared_ptr<comm::Backend> comm, std::string resume)
    : ex_(ex),
      run_dir_(std::move(run_dir)),
      verbose_(verbose),
      comm_(std::move(comm)),
      resume_(std::move(resume)) {
  if (!comm_) comm_ = comm::make_backend("local");
}

bool resume_may_change(const std::string& key) {
  for (const char* prefix : {"train.steps", "train.log_every", "train.checkpoint_", "train.keep_",
                             "train.signals", "threads", "comm.", "eval.", "baselines.", "debug.",
                             "data.path", "data.cache_mb", "data.prefetch_",
                             // how, not what, is computed (rounding may differ, as with threads)
                             "learner.inner_loop", "learner.recompute", "learner.task_parallel"})
    if (key.rfind(prefix, 0) == 0) return true;
  return false;
}

namespace {

// Rank 0 picks the checkpoint to resume from; every rank gets its path.
std::string agree_on_resume(comm::Backend& comm, const std::string& resume,
                            const std::string& run_dir) {
  std::string path;
  if (comm.rank() == 0) {
    if (resume == "auto") {
      std::vector<std::string> warnings;
      path = newest_valid_checkpoint(run_dir, &warnings);
      for (const auto& w : warnings) log_warn() << w << "; falling back to an older checkpoint";
    } else if (resume != "none") {
      path = resume;
      load_checkpoint(path);  // a named file must be valid: no fallback
    }
  }
  int64_t n = static_cast<int64_t>(path.size());
  comm.broadcast(&n, sizeof n, 0);
  path.resize(n);
  comm.broadcast(path.data(), n, 0);
  return path;
}

// Keeps the metrics records of steps <= step (a resume appends after them).
void truncate_metrics(const fs::path& file, int64_t step) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::string kept, line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("step") && j["step"].get<int64_t>() <= step)
      kept += line + "\n";
  }
  in.close();
  atomic_write_text(file.string(), kept);
}

// The best validation value recorded so far (a resumed run keeps its best.h5
// unless it does better).
double best_from_metrics(const fs::path& file, const std::string& metric, bool higher_better) {
  double best = std::nan("");
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("split") || !j.contains("metrics")) continue;
    if (!j["metrics"].contains(metric) || !j["metrics"][metric].is_number()) continue;
    const double v = j["metrics"][metric].get<double>();
    if (!std::isfinite(best) || (higher_better ? v > best : v < best)) best = v;
  }
  return best;
}

}  // namespace

torch::Tensor Trainer::meta_gradient(const Params& theta, int64_t step) {
  const Config& c = ex_.config;
  TaskSampler sampler(*ex_.source, Split::kTrain, ex_.spec, c.get_int("seed"),
                      c.get_int("train.meta_batch"), c.get_int("train.partitions"), comm_->rank(),
                      comm_->size());
  Params t = theta.detached(true);
  torch::Tensor flat = torch::zeros({t.numel()}, t.tensors[0].options().requires_grad(false));
  std::vector<torch::Tensor> grads;
  int64_t off = 0;
  for (const auto& x : t.tensors) {
    grads.push_back(flat.narrow(0, off, x.numel()).view(x.sizes()));
    off += x.numel();
  }
  std::vector<Episode> eps;
  for (int64_t g : sampler.my_slots(step)) eps.push_back(sampler.draw(step, g));
  ex_.learner->accumulate_meta_gradients(t, eps, grads);
  Reducer(comm_, static_cast<int64_t>(c.get_float("comm.bucket_mb") * (1 << 20)))
      .allreduce_sum(flat);
  return flat.div_(static_cast<double>(c.get_int("train.meta_batch")));
}

TrainReport Trainer::run() {
  const Config& c = ex_.config;
  const int64_t steps = c.get_int("train.steps");
  const int64_t B = c.get_int("train.meta_batch");
  const int64_t log_every = c.get_int("train.log_every");
  const int64_t ckpt_every = c.get_int("train.checkpoint_every");
  const double clip = c.get_float("train.grad_clip");
  const uint64_t seed = c.get_int("seed");
  const int rank = comm_->rank();
  const bool lead = rank == 0;  // rank 0 coordinates: files, logs
  const int64_t check_every = c.get_int("comm.check_every");
  const int64_t fail_rank = c.get_int("debug.fail_rank"),
                fail_step = c.get_int("debug.fail_at_step");

  // Rank 0 owns the run directory; every rank learns its verdict.
  const bool occupied = lead && resume_ == "none" && !list_checkpoints(run_dir_).empty();
  if (comm_->any(occupied))
    throw UserError("run directory '" + run_dir_ +
                    "' already holds checkpoints; resume it with --resume auto, or use another "
                    "--run-dir");
  const std::string resume_from = agree_on_resume(*comm_, resume_, run_dir_);
  if (lead) {
    make_dirs(run_dir_);
    write_text(fs::path(run_dir_) / "config.yaml", c.to_yaml());
  }

  TaskSampler sampler(*ex_.source, Split::kTrain, ex_.spec, seed, B, c.get_int("train.partitions"),
                      rank, comm_->size());
  Params theta = ex_.learner->init(seed);

  // One flat buffer holds the summed meta-gradient; grads[i] are views of it,
  // so the all-reduce is one call and nothing is reallocated per step. The
  // parameters live in one flat buffer too (theta's tensors are leaves that
  // share its memory), so the outer optimiser updates everything in a few
  // operations instead of a few per tensor.
  torch::Tensor flat =
      torch::zeros({theta.numel()}, theta.tensors[0].options().requires_grad(false));
  torch::Tensor flat_theta = flatten(theta.tensors).detach().clone();
  std::vector<torch::Tensor> grads;
  int64_t off = 0;
  for (size_t i = 0; i < theta.size(); ++i) {
    const auto& t = theta.tensors[i];
    grads.push_back(flat.narrow(0, off, t.numel()).view(t.sizes()));
    theta.tensors[i] =
        flat_theta.narrow(0, off, t.numel()).view(t.sizes()).detach().set_requires_grad(true);
    off += t.numel();
  }
  int64_t start = 0;
  std::unique_ptr<Checkpoint> resumed;
  if (!resume_from.empty()) {
    resumed = std::make_unique<Checkpoint>(load_checkpoint(resume_from));
    const Config saved = Config::from_yaml(resumed->config_yaml, resume_from);
    std::vector<std::string> refused, allowed;
    for (const auto& k : Config::diff(saved, c))
      (resume_may_change(k) ? allowed : refused).push_back(k);
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s;
    };
    if (!refused.empty())
      throw UserError("cannot resume from '" + resume_from +
                      "': the config changes what the run "
                      "computes (" +
                      join(refused) + "); start a new --run-dir instead");
    if (resumed->data_checksum != 0 && ex_.source->data_checksum() != 0 &&
        resumed->data_checksum != ex_.source->data_checksum())
      throw UserError("cannot resume from '" + resume_from +
                      "': the dataset differs from the one "
                      "the run was trained on (manifest checksum)");
    if (resumed->params.names != theta.names)
      throw UserError("cannot resume from '" + resume_from +
                      "': its parameters do not match the model");
    if (lead && !allowed.empty())
      std::cout << "resume: config changes allowed on resume: " << join(allowed) << std::endl;
    for (size_t i = 0; i < theta.size(); ++i) {
      torch::NoGradGuard ng;
      theta.tensors[i].copy_(resumed->params.tensors[i]);
    }
    start = resumed->step;
    if (start > steps)
      throw UserError("cannot resume: the checkpoint is at step " + std::to_string(start) +
                      ", beyond train.steps = " + std::to_string(steps));
    if (lead) {
      std::cout << "resume: from " << resume_from << " (step " << start << ", saved by "
                << resumed->world_size << " rank" << (resumed->world_size > 1 ? "s" : "") << ")"
                << std::endl;
    }
  }

  if (lead) {
    // Records after the resumed step (or of a run that left no checkpoint)
    // are dropped, so metrics.jsonl never holds a step twice.
    truncate_metrics(fs::path(run_dir_) / "metrics.jsonl", start);
    // Step files beyond the starting point belong to an abandoned timeline
    // (corrupt, or newer than an explicitly named checkpoint): set aside.
    for (const auto& f : list_checkpoints(run_dir_)) {
      const int64_t st = std::stoll(fs::path(f).filename().string().substr(5, 8));
      if (st > start) {
        std::cerr << "warning: setting aside " << f << " (beyond the resumed step " << start << ")"
                  << std::endl;
        fs::rename(f, f + ".stale");
      }
    }
  }

  OptimizerSpec os;
  os.name = c.get_string("train.optimizer");
  os.lr = c.get_float("train.outer_lr");
  os.beta1 = c.get_float("train.beta1");
  os.beta2 = c.get_float("train.beta2");
  Optimizer opt(os, theta.tensors);
  if (resumed) {
    if (resumed->exp_avg.size() != opt.exp_avg().size())
      throw UserError(
          "cannot resume: the checkpoint's optimiser state does not match train.optimizer");
    for (size_t i = 0; i < opt.exp_avg().size(); ++i) {
      opt.exp_avg()[i].copy_(resumed->exp_avg[i]);
      opt.exp_avg_sq()[i].copy_(resumed->exp_avg_sq[i]);
    }
    opt.set_steps(resumed->optimizer_steps);
    resumed.reset();
  }

  auto make_checkpoint = [&](int64_t step) {
    Checkpoint ck;
    ck.step = step;
    ck.learner = ex_.learner->name();
    ck.config_yaml = c.to_yaml();
    ck.config_hash = c.hash();
    ck.params = theta.detached(false);
    ck.optimizer_steps = opt.steps();
    ck.exp_avg = opt.exp_avg();
    ck.exp_avg_sq = opt.exp_avg_sq();
    ck.world_size = comm_->size();
    ck.data_checksum = ex_.source->data_checksum();
    return ck;
  };
  auto save = [&](int64_t step) {
    Checkpoint ck = make_checkpoint(step);
    const std::string path = checkpoint_path(run_dir_, step);
    if (lead) save_checkpoint(path, ck, c.get_int("train.keep_checkpoints"));
    return path;
  };

  std::ofstream metrics;
  if (lead) metrics.open(fs::path(run_dir_) / "metrics.jsonl", std::ios::app);
  const auto t0 = Clock::now();
  auto last = t0;
  double sum_loss = 0, sum_metric = 0;
  int64_t tasks_in_interval = 0, metric_tasks = 0;
  const char* metric_name = primary_metric(ex_.source->kind());
  const bool talk = verbose_ && lead;
  if (talk)
    std::cout << "train: " << ex_.learner->name() << " on " << ex_.source->describe() << ", "
              << theta.numel() << " meta-parameters, " << steps << " steps x " << B << " tasks, "
              << sampler.partitions() << " partitions, " << comm_->size() << " rank"
              << (comm_->size() > 1 ? "s" : "") << " (" << comm_->name() << ")" << std::endl;
  Watchdog watchdog(c.get_float("comm.timeout_s"), comm_);
  Reducer reducer(comm_, static_cast<int64_t>(c.get_float("comm.bucket_mb") * (1 << 20)));
  double comm_seconds = 0;

  // Episodes are drawn in (step, slot) order, ahead of time by the
  // prefetcher when enabled; either way the same episodes in the same order.
  const int64_t per_step = static_cast<int64_t>(sampler.my_slots(0).size());
  auto episode_at = [&sampler, per_step](int64_t i) {
    const int64_t step = i / per_step;
    return sampler.draw(step, sampler.my_slots(step)[i % per_step]);
  };
  // Measured (bench/perf.sh, conv4 FOMAML, 2 threads on 2 cores): a prefetch
  // thread competing with the compute threads costs 30-45% of tasks/s, so
  // by default it runs only when a core is left free.
  int64_t workers = c.get_int("data.prefetch_workers");
  if (workers < 0)
    workers = at::get_num_threads() * comm_->local_size() <
                      static_cast<int>(std::thread::hardware_concurrency())
                  ? 1
                  : 0;
  std::unique_ptr<Prefetcher> prefetch;
  if (workers > 0)
    prefetch =
        std::make_unique<Prefetcher>(episode_at, start * per_step, steps * per_step,
                                     static_cast<int>(workers), c.get_int("data.prefetch_depth"));
  double wait_before = 0;

  std::string last_ckpt;
  const bool tty = isatty(STDOUT_FILENO);
  const int64_t val_every = c.get_int("eval.val_every");
  const int64_t val_shots =
      c.get_int("eval.val_shots") > 0 ? c.get_int("eval.val_shots") : ex_.spec.shots;
  std::string best_metric = c.get_string("eval.best_metric");
  if (best_metric.empty()) best_metric = primary_metric(ex_.source->kind());
  {
    const auto names = metric_names(ex_.source->kind());
    if (std::find(names.begin(), names.end(), best_metric) == names.end()) {
      std::string known;
      for (const auto& k : names) known += (known.empty() ? "" : ", ") + k;
      throw UserError("eval.best_metric: '" + best_metric + "' is not a metric of " +
                      to_string(ex_.source->kind()) + " tasks (" + known + ")");
    }
  }
  const bool higher_better = higher_is_better(best_metric);
  double best_value = std::nan("");
  if (val_every > 0) {
    EpisodeSpec vs = ex_.spec;
    vs.shots = val_shots;
    vs.queries = c.get_int("eval.queries");
    ex_.source->check(Split::kVal, vs);  // before training, not at the first validation
    if (lead && start > 0)
      best_value =
          best_from_metrics(fs::path(run_dir_) / "metrics.jsonl", best_metric, higher_better);
  }
  install_stop_signals(c.get_strings("train.signals"));
  const double ckpt_minutes = c.get_float("train.checkpoint_minutes");
  auto last_save = Clock::now();
  for (int64_t s = start; s < steps; ++s) {
    flat.zero_();
    std::vector<Episode> eps;
    for (int64_t k = 0; k < per_step; ++k)
      eps.push_back(prefetch ? prefetch->next() : episode_at(s * per_step + k));
    for (const TaskStats& st : ex_.learner->accumulate_meta_gradients(theta, eps, grads)) {
      sum_loss += st.loss;
      // A metric undefined for one episode (AUC of a one-class query set)
      // is left out of the average rather than poisoning it.
      if (std::isfinite(st.metric)) sum_metric += st.metric, ++metric_tasks;
      ++tasks_in_interval;
    }
    if (s == fail_step && rank == fail_rank && c.get_string("debug.fail_mode") == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    const bool diverge = c.get_string("debug.fail_mode") == "diverge";
    if (s == fail_step && rank == fail_rank && c.get_string("debug.fail_mode") == "signal") {
      std::raise(SIGTERM);
    } else if (s == fail_step && rank == fail_rank && !diverge)
      throw std::runtime_error("injected fault (debug.fail_rank=" + std::to_string(fail_rank) +
                               ", debug.fail_at_step=" + std::to_string(fail_step) + ")");
    const auto tc = Clock::now();
    reducer.allreduce_sum(flat);
    // The step's shared decisions (train/decisions.h): a non-finite loss on
    // any rank stops every rank (the gradient is identical everywhere after
    // the sum), a signal on any rank stops every rank at this boundary, and
    // rank 0's clock says when a periodic checkpoint is due.
    StepDecisions mine_d;
    mine_d.nonfinite = !std::isfinite(sum_loss);
    mine_d.stop = stop_requested();
    mine_d.checkpoint_due =
        lead && ckpt_minutes > 0 &&
        std::chrono::duration<double>(Clock::now() - last_save).count() > 60 * ckpt_minutes;
    const StepDecisions all = StepDecisions::share(*comm_, mine_d);
    const bool bad = all.nonfinite || !std::isfinite(flat.sum().item<double>());
    comm_seconds += std::chrono::duration<double>(Clock::now() - tc).count();
    if (bad)
      throw UserError("meta-loss or meta-gradient is not finite at step " + std::to_string(s) +
                      " (lower train.outer_lr or learner.inner_lr, or set train.grad_clip)");
    {
      torch::NoGradGuard ng;
      flat.div_(static_cast<double>(B));
    }
    if (clip > 0) clip_global_norm(grads, clip);
    opt.step_flat(flat_theta, flat);
    if (diverge && s == fail_step && rank == fail_rank) {
      torch::NoGradGuard ng;
      theta.tensors[0].view({-1})[0].add_(1e-3);
    }
    watchdog.kick(s + 1);

    const int64_t done = s + 1;
    if (check_every > 0 && done % check_every == 0) {
      // Invariant 3: every rank holds bit-identical parameters.
      uint64_t mine = checksum(theta), lead_sum = mine;
      comm_->broadcast(&lead_sum, sizeof lead_sum, 0);
      if (comm_->any(mine != lead_sum))
        throw std::runtime_error("parameters differ across ranks after step " +
                                 std::to_string(done) + " (rank " + std::to_string(rank) +
                                 " checksum " + std::to_string(mine) + ", rank 0 " +
                                 std::to_string(lead_sum) + ")");
    }
    if (done % log_every == 0 || done == steps) {
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last).count();
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      double totals[4] = {sum_loss, sum_metric, static_cast<double>(tasks_in_interval),
                          static_cast<double>(metric_tasks)};
      comm_->allreduce(totals, 4);
      const double loss = totals[0] / totals[2];
      const double metric = totals[3] > 0 ? totals[1] / totals[3] : std::nan("");
      const double tps = totals[2] / std::max(dt, 1e-9);
      const double waited = prefetch ? prefetch->wait_seconds() - wait_before : 0.0;
      wait_before += waited;
      double rss = peak_rss_mb();
      comm_->allreduce(&rss, 1);  // summed over ranks: the job's peak
      const double comm_share = comm_seconds / std::max(dt, 1e-9);
      nlohmann::json rec = {{"step", done},           {"time", elapsed},
                            {"meta_loss", loss},      {metric_name, metric},
                            {"tasks_per_s", tps},     {"lr", os.lr},
                            {"data_wait_s", waited},  {"comm_s", comm_seconds},
                            {"ranks", comm_->size()}, {"peak_rss_mb", rss}};
      comm_seconds = 0;
      if (lead) metrics << rec.dump() << "\n" << std::flush;
      if (talk) {
        char buf[256];
        std::snprintf(
            buf, sizeof buf,
            "step %lld/%lld  meta-loss %.4f  query %s %.4f  %.1f tasks/s  comm %.0f%%  eta %s",
            static_cast<long long>(done), static_cast<long long>(steps), loss, metric_name, metric,
            tps, 100 * comm_share,
            format_duration(elapsed / (done - start) * (steps - done)).c_str());
        // A terminal gets one live line; logs (Slurm, CI) get plain lines.
        if (tty)
          std::cout << "\r" << buf << "\x1b[K" << (done == steps ? "\n" : "") << std::flush;
        else
          std::cout << buf << std::endl;
      }
      last = now;
      sum_loss = sum_metric = 0;
      tasks_in_interval = metric_tasks = 0;
    }
    if (val_every > 0 && done % val_every == 0) {
      // Validation on fixed episodes of the val split, shared among ranks.
      EpisodeSpec vs = ex_.spec;
      vs.shots = val_shots;
      vs.queries = c.get_int("eval.queries");
      // The evaluation's seed and prediction seeds: `metacat eval` of this
      // checkpoint on the val split scores the same.
      const uint64_t vseed = c.get_int("eval.seed");
      EvalSummary v = evaluate(
          ex_.learner->name(), *ex_.source, Split::kVal, vs, c.get_int("eval.val_episodes"), vseed,
          [&](const Episode& e, int64_t i) {
            return ex_.learner->predict(theta, e, prediction_seed(vseed, i));
          },
          comm_.get());
      const double value = v.metrics.count(best_metric) ? v.metrics.at(best_metric) : v.mean;
      if (lead) {
        nlohmann::json rec = {{"step", done},        {"split", "val"}, {"metric", v.metric},
                              {v.metric, v.mean},    {"ci95", v.ci95}, {"episodes", v.episodes},
                              {"metrics", v.metrics}};
        metrics << rec.dump() << "\n" << std::flush;
        const bool better =
            !std::isfinite(best_value) || (higher_better ? value > best_value : value < best_value);
        if (better && std::isfinite(value)) {
          best_value = value;
          save_checkpoint((fs::path(run_dir_) / "best.h5").string(), make_checkpoint(done), 0,
                          /*update_latest=*/false);
        }
        if (talk)
          std::cout << (tty ? "\n" : "") << "validation at step " << done << ": " << v.metric << " "
                    << v.mean << " ± " << v.ci95 << " (" << v.episodes << " episodes)"
                    << (best_value == value ? ", best so far -> best.h5" : "") << std::endl;
      }
      watchdog.kick(done);  // validation is not part of the step's time budget
    }
    if (all.stop && done != steps) {
      // Preemption: checkpoint at this step boundary, then every rank exits.
      last_ckpt = save(done);
      comm_->barrier();
      if (talk)
        std::cout << "signal " << stop_signal() << ": checkpointed step " << done << " to "
                  << last_ckpt << "; exit " << kExitResume << " (resume with --resume auto)"
                  << std::endl;
      throw Preempted{done, last_ckpt};
    }
    if (((ckpt_every > 0 && done % ckpt_every == 0) || all.checkpoint_due) && done != steps) {
      last_ckpt = save(done);
      last_save = Clock::now();
      watchdog.kick(done);
    }
  }
  last_ckpt = save(steps);
  TrainReport r;
  r.theta = theta.detached(false);
  r.steps = steps;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.checkpoint = last_ckpt;
  if (talk)
    std::cout << "train: " << steps - start << " steps in " << format_duration(r.seconds) << " ("
              << (r.seconds > 0 ? (steps - start) / r.seconds : 0) << " steps/s), checkpoint "
              << last_ckpt << std::endl;
  return r;
}

namespace {

// Pre-trains the joint model of the finetune baseline for `config`.
std::pair<std::unique_ptr<Experiment>, Params> pretrain_finetune(
    const Config& config, const std::string& run_dir, std::shared_ptr<comm::Backend> comm) {
  Config fc = config;
  fc.set("learner.name", "finetune", "finetune baseline");
  fc.set("learner.descriptor_init", "false", "finetune baseline");
  fc.set("train.steps", std::to_string(config.get_int("baselines.finetune.pretrain_steps")),
         "finetune baseline");
  fc.set("train.optimizer", "adam", "finetune baseline");
  auto ex = build_experiment(fc);
  if (comm->rank() == 0)
    std::cout << "baseline finetune: joint pre-training for " << fc.get_int("train.steps")
              << " steps" << std::endl;
  // "auto": a resumed run reuses (or completes) its baseline's pre-training.
  TrainReport r = Trainer(*ex, run_dir, /*verbose=*/true, comm, "auto").run();
  return {std::move(ex), r.theta};
}

// The name results carry: the learner, marked when it starts from descriptors.
std::string method_label(const Config& c) {
  return c.get_string("learner.name") +
         (c.get_bool("learner.descriptor_init") ? "+descriptor" : "");
}

nlohmann::json results_json(const std::vector<EvalSummary>& rs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : rs) a.push_back(to_json(r));
  return a;
}

}  // namespace

void train_command(const Config& config, const std::string& run_dir, const std::string& resume) {
  std::string why;
  auto comm = comm::make_backend(config.get_string("comm.backend"), &why);
  g_backend = comm;
  const bool lead = comm->rank() == 0;
  const std::string threads =
      apply_threads(resolve_threads(config.get_int("threads"), comm->local_size()));
  if (lead) std::cout << "comm: " << why << "\nthreads: " << threads << " per rank" << std::endl;
  auto ex = build_experiment(config);
  if (config.get_bool("eval.at_end")) {
    // Refuse an impossible evaluation now rather than after the training.
    EpisodeSpec spec = ex->spec;
    spec.queries = config.get_int("eval.queries");
    for (int64_t shots : config.get_ints("eval.shots")) {
      spec.shots = shots;
      ex->source->check(parse_split(config.get_string("eval.split")), spec);
      if (config.get_bool("eval.warm")) ex->source->check(Split::kTrain, spec);
    }
  }
  TrainReport r = Trainer(*ex, run_dir, true, comm, resume).run();
  if (!config.get_bool("eval.at_end")) return;

  std::vector<EvalMethod> methods{{method_label(config), ex->learner.get(), r.theta}};
  std::unique_ptr<Experiment> ft;
  for (const auto& b : config.get_strings("eval.baselines")) {
    if (b == "scratch") {
      methods.push_back({"scratch", nullptr, {}});
    } else if (b == "finetune" && ex->learner->name() != "finetune") {
      // Pre-training is a training run: every rank takes part.
      auto [fex, theta] =
          pretrain_finetune(config, (fs::path(run_dir) / "baselines" / "finetune").string(), comm);
      ft = std::move(fex);
      methods.push_back({"finetune", ft->learner.get(), theta});
    }
  }
  // Every rank evaluates its share of the episodes; rank 0 reports.
  if (lead)
    std::cout << "evaluation: " << config.get_int("eval.episodes") << " fixed "
              << config.get_string("eval.split") << " episodes per setting (seed "
              << config.get_int("eval.seed") << "), mean ± 95% CI, over " << comm->size() << " rank"
              << (comm->size() > 1 ? "s" : "") << std::endl;
  auto results = evaluate_methods(*ex, methods, lead, comm.get());
  if (!lead) return;
  nlohmann::json j = {{"checkpoints", {r.checkpoint}}, {"results", results_json(results)}};
  write_text(fs::path(run_dir) / "eval.json", j.dump(2) + "\n");
  std::cout << "evaluation written to " << (fs::path(run_dir) / "eval.json").string() << std::endl;
}

void eval_command(const std::vector<std::string>& checkpoints,
                  const std::vector<std::string>& baselines,
                  const std::vector<std::string>& overrides, const std::string& json_out) {
  if (checkpoints.empty()) throw UserError("eval: give at least one --checkpoint");
  std::vector<std::unique_ptr<Experiment>> exps;
  std::vector<EvalMethod> methods;
  std::vector<std::string> paths;
  for (const auto& c : checkpoints) {
    const std::string path = resolve_checkpoint(c);
    Checkpoint ck = load_checkpoint(path);
    Config cfg = Config::from_yaml(ck.config_yaml, path);
    for (const auto& o : overrides) cfg.set(o);
    if (exps.empty())
      std::cout << "threads: " << apply_threads(resolve_threads(cfg.get_int("threads")))
                << std::endl;
    exps.push_back(build_experiment(cfg));
    Params theta = ck.params;
    const Params expected = exps.back()->learner->init(0);
    if (expected.names != theta.names)
      throw UserError("checkpoint '" + path + "' does not match its config's model/learner");
    methods.push_back({method_label(cfg), exps.back()->learner.get(), theta});
    paths.push_back(path);
  }
  const Experiment& first = *exps.front();
  for (const auto& b : baselines) {
    if (b == "scratch") {
      methods.push_back({"scratch", nullptr, {}});
    } else {
      throw UserError(
          "eval: unknown baseline '" + b +
          "' (scratch; evaluate a finetune run's checkpoint for the finetune baseline)");
    }
  }
  std::cout << "evaluation: " << first.config.get_int("eval.episodes") << " fixed "
            << first.config.get_string("eval.split") << " episodes per setting (seed "
            << first.config.get_int("eval.seed") << "), mean ± 95% CI" << std::endl;
  // All methods run on the first experiment's episodes (same data and seed).
  std::vector<EvalSummary> results;
  for (size_t i = 0; i < methods.size(); ++i) {
    const Experiment& ex = (methods[i].learner && i < exps.size()) ? *exps[i] : first;
    if (ex.config.get_int("eval.seed") != first.config.get_int("eval.seed") ||
        ex.config.get_string("data.source") != first.config.get_string("data.source"))
      throw UserError(
          "eval: checkpoints were trained on different data or evaluation seeds; "
          "pass --set eval.seed=... to align them");
    auto rs = evaluate_methods(ex, {methods[i]}, true);
    results.insert(results.end(), rs.begin(), rs.end());
  }
  if (!json_out.empty()) {
    nlohmann::json j = {{"checkpoints", paths}, {"results", results_json(results)}};
    write_text(fs::absolute(json_out), j.dump(2) + "\n");
    std::cout << "evaluation written to " << json_out << std::endl;
  }
}

}  // namespace metacat
