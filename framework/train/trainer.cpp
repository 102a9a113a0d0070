#include "train/trainer.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "checkpoint/checkpoint.h"
#include "core/device.h"
#include "core/error.h"
#include "core/exact_sum.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/prefetch.h"
#include "episodes/sampler.h"
#include "train/decisions.h"
#include "train/faults.h"
#include "train/reducer.h"
#include "train/resume.h"
#include "train/run_dir.h"
#include "train/signals.h"
#include "train/sparse_tables.h"
#include "train/state.h"
#include "train/validation.h"
#include "train/watchdog.h"

namespace metacat {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

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

// Peak resident memory of this process (MiB), from /proc.
double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// The draw phase: this rank's episodes of each step, in (step, slot) order,
// prepared ahead by a prefetch thread when one is enabled; either way the
// same episodes in the same order, on the training device (uploaded by the
// prefetch thread, when one runs, while the device computes).
class EpisodeStream {
 public:
  EpisodeStream(const TaskSampler& sampler, const DataOptions& data, int local_ranks, int64_t start,
                int64_t steps, torch::Device device)
      : sampler_(sampler),
        per_step_(static_cast<int64_t>(sampler.my_slots(0).size())),
        device_(device) {
    // Measured (bench/perf.sh, conv4 FOMAML, 2 threads on 2 cores): a
    // prefetch thread competing with the compute threads costs 30-45% of
    // tasks/s, so by default it runs only when a core is left free.
    int64_t workers = data.prefetch_workers;
    if (workers < 0)
      workers = at::get_num_threads() * local_ranks <
                        static_cast<int>(std::thread::hardware_concurrency())
                    ? 1
                    : 0;
    if (workers > 0)
      prefetch_ = std::make_unique<Prefetcher>([this](int64_t i) { return at(i); },
                                               start * per_step_, steps * per_step_,
                                               static_cast<int>(workers), data.prefetch_depth);
  }
  EpisodeStream(const EpisodeStream&) = delete;  // the prefetcher holds `this`
  EpisodeStream& operator=(const EpisodeStream&) = delete;
  std::vector<Episode> step(int64_t s) {
    std::vector<Episode> eps;
    for (int64_t k = 0; k < per_step_; ++k) {
      eps.push_back(prefetch_ ? prefetch_->next() : at(s * per_step_ + k));
      use_on_current_stream(tensors_of(eps.back()), device_);
    }
    return eps;
  }
  // Seconds spent waiting for the prefetcher since the last call.
  double take_wait_seconds() {
    if (!prefetch_) return 0;
    const double w = prefetch_->wait_seconds() - waited_;
    waited_ += w;
    return w;
  }

 private:
  Episode at(int64_t i) const {
    const int64_t step = i / per_step_;
    return on_device(sampler_.draw(step, sampler_.my_slots(step)[i % per_step_]), device_);
  }
  const TaskSampler& sampler_;
  int64_t per_step_;
  torch::Device device_;
  std::unique_ptr<Prefetcher> prefetch_;
  double waited_ = 0;
};

// What is summed over a logging interval and reported at its end.
struct Interval {
  double loss = 0, metric = 0, comm_seconds = 0;
  int64_t tasks = 0, metric_tasks = 0;
  // comm.sparse_embeddings: rows exchanged and bytes this rank sent and
  // received, summed over the interval's steps.
  int64_t steps = 0, sparse_rows = 0, sparse_bytes = 0;
  Clock::time_point began = Clock::now();

  void add(const std::vector<TaskStats>& stats) {
    for (const TaskStats& st : stats) {
      loss += st.loss;
      // A metric undefined for one episode (AUC of a one-class query set)
      // is left out of the average rather than poisoning it.
      if (std::isfinite(st.metric)) metric += st.metric, ++metric_tasks;
      ++tasks;
    }
  }
};

// The coordinator's between-steps work: metrics records, progress lines,
// validation and best.h5, checkpoints. Every method is called on every rank
// (the collectives inside are taken together); files come from rank 0.
class Coordinator {
 public:
  Coordinator(const Experiment& ex, comm::Backend& comm, RunDirectory& dir, TrainState& state,
              bool verbose, int64_t start, double best_so_far)
      : ex_(ex),
        o_(ex.options),
        comm_(comm),
        dir_(dir),
        state_(state),
        verbose_(verbose),
        start_(start),
        validator_(ex, &comm, best_so_far) {}

  // Logs the interval ending at step `done` (a collective: the sums are
  // over ranks); resets it.
  void log_interval(int64_t done, Interval& iv, double data_wait_s) {
    const double dt = std::max(seconds_since(iv.began), 1e-9);
    double totals[4] = {iv.loss, iv.metric, static_cast<double>(iv.tasks),
                        static_cast<double>(iv.metric_tasks)};
    comm_.allreduce(totals, 4);
    double rss = peak_rss_mb();
    comm_.allreduce(&rss, 1);  // summed over ranks: the job's peak
    const double loss = totals[0] / totals[2];
    const double metric = totals[3] > 0 ? totals[1] / totals[3] : std::nan("");
    const double tps = totals[2] / dt;
    const char* metric_name = primary_metric(ex_.source->kind());
    const double elapsed = seconds_since(t0_);
    dir_.record({{"step", done},
                 {"time", elapsed},
                 {"meta_loss", loss},
                 {metric_name, metric},
                 {"tasks_per_s", tps},
                 {"lr", o_.train.optimizer.lr_at(done - 1)},  // the last step's rate
                 {"data_wait_s", data_wait_s},
                 {"comm_s", iv.comm_seconds},
                 {"sparse_rows_per_step", iv.steps ? iv.sparse_rows / iv.steps : 0},
                 {"sparse_bytes_per_step", iv.steps ? iv.sparse_bytes / iv.steps : 0},
                 {"ranks", comm_.size()},
                 {"peak_rss_mb", rss}});
    if (verbose_) {
      char buf[256];
      std::snprintf(
          buf, sizeof buf,
          "step %lld/%lld  meta-loss %.4f  query %s %.4f  %.1f tasks/s  comm %.0f%%  eta %s",
          static_cast<long long>(done), static_cast<long long>(o_.train.steps), loss, metric_name,
          metric, tps, 100 * iv.comm_seconds / dt,
          format_duration(elapsed / (done - start_) * (o_.train.steps - done)).c_str());
      log_progress(buf, done == o_.train.steps);
    }
    iv = Interval{};
  }

  bool validation_due(int64_t done) const { return validator_.due(done); }

  // Validation at step `done` (a collective); best.h5 when it is the best.
  void validate(int64_t done) {
    const Validator::Result r = validator_.run(state_.theta);
    const EvalSummary& v = r.summary;
    dir_.record({{"step", done},
                 {"split", "val"},
                 {"metric", v.metric},
                 {v.metric, v.mean},
                 {"ci95", v.ci95},
                 {"episodes", v.episodes},
                 {"metrics", v.metrics}});
    if (r.best) dir_.save_best(state_.checkpoint(ex_, done, comm_.size()));
    if (verbose_)
      log_info() << "validation at step " << done << ": " << v.metric << " " << v.mean << " ± "
                 << v.ci95 << " (" << v.episodes << " episodes)"
                 << (r.best ? ", best so far -> best.h5" : "");
  }

  // Writes the checkpoint of step `done` (rank 0) and returns its path.
  std::string checkpoint(int64_t done) {
    last_checkpoint_ =
        dir_.save_checkpoint(state_.checkpoint(ex_, done, comm_.size()), o_.train.keep_checkpoints);
    last_save_ = Clock::now();
    return last_checkpoint_;
  }
  bool checkpoint_clock_due() const {
    return comm_.rank() == 0 && o_.train.checkpoint_minutes > 0 &&
           seconds_since(last_save_) > 60 * o_.train.checkpoint_minutes;
  }

  // Preemption: checkpoint at this step boundary; every rank then throws.
  [[noreturn]] void preempt(int64_t done) {
    const std::string path = checkpoint(done);
    comm_.barrier();
    if (verbose_)
      log_info() << "signal " << stop_signal() << ": checkpointed step " << done << " to " << path
                 << "; exit " << kExitResume << " (resume with --resume auto)";
    throw Preempted{done, path};
  }

  void say_started(const TaskSampler& sampler, const std::string& device) const {
    if (!verbose_) return;
    log_info() << "device: " << device;
    const int n = comm_.size();
    log_info() << "train: " << ex_.learner->name() << " on " << ex_.source->describe() << ", "
               << state_.theta.numel() << " meta-parameters, " << o_.train.steps << " steps x "
               << sampler.meta_batch() << " tasks, " << sampler.partitions() << " partitions, " << n
               << " rank" << (n > 1 ? "s" : "") << " (" << comm_.name() << ")";
    // Launchers name a lost host; this line names its ranks.
    if (n > 1) log_info() << "placement: " << comm_.placement();
  }

  TrainReport finish() {
    TrainReport r;
    r.theta = state_.theta.detached(false);
    r.steps = o_.train.steps;
    r.checkpoint = checkpoint(o_.train.steps);
    r.seconds = seconds_since(t0_);
    const int64_t ran = o_.train.steps - start_;
    if (verbose_)
      log_info() << "train: " << ran << " steps in " << format_duration(r.seconds) << " ("
                 << (r.seconds > 0 ? ran / r.seconds : 0) << " steps/s), checkpoint "
                 << r.checkpoint;
    return r;
  }

 private:
  const Experiment& ex_;
  const RunOptions& o_;
  comm::Backend& comm_;
  RunDirectory& dir_;
  TrainState& state_;
  bool verbose_;
  int64_t start_;
  Validator validator_;
  Clock::time_point t0_ = Clock::now(), last_save_ = Clock::now();
  std::string last_checkpoint_;
};

// Invariant 3: every rank holds bit-identical parameters.
void check_replicas(comm::Backend& comm, const Params& theta, int64_t done) {
  uint64_t mine = checksum(theta), lead = mine;
  comm.broadcast(&lead, sizeof lead, 0);
  if (comm.any(mine != lead))
    throw std::runtime_error("parameters differ across ranks after step " + std::to_string(done) +
                             " (rank " + std::to_string(comm.rank()) + " checksum " +
                             std::to_string(mine) + ", rank 0 " + std::to_string(lead) + ")");
}

// comm.reduction: exact: the all-reduced exact sum into the flat gradient.
// Its out-of-range count was summed with it, so every rank decides alike.
void exact_into(const ExactSum& sum, torch::Tensor& flat, int64_t step) {
  if (sum.out_of_range() > 0)
    throw UserError("meta-gradient at step " + std::to_string(step) + ": " +
                    std::to_string(sum.out_of_range()) +
                    " task gradient values are not finite or beyond +-2^40, the range of "
                    "comm.reduction: exact (lower train.outer_lr or learner.inner_lr; "
                    "train.grad_clip does not help: the range applies before clipping)");
  if (flat.scalar_type() == torch::kFloat64)
    sum.to(flat.data_ptr<double>());
  else
    sum.to(flat.data_ptr<float>());
}

// The flat gradient's part that the all-reduce carries: all of it, or with
// sparse embedding tables the dense parameters after them.
torch::Tensor dense_part(TrainState& state, const SparseTables* sparse) {
  if (!sparse) return state.flat_grad;
  const int64_t off = sparse->dense_offset();
  return state.flat_grad.narrow(0, off, state.flat_grad.numel() - off);
}

// accumulate: this rank's episodes into flat_grad (views: state.grads), or,
// with comm.reduction: exact, into `exact`; with sparse tables, their rows
// into `sparse`.
std::vector<TaskStats> accumulate(const Learner& learner, TrainState& state,
                                  const std::vector<Episode>& eps, ExactSum* exact,
                                  SparseTables* sparse) {
  dense_part(state, sparse).zero_();
  if (sparse) {
    sparse->clear();
    return sparse->accumulate(learner, state.theta, eps, state.grads);
  }
  if (!exact) return learner.accumulate_meta_gradients(state.theta, eps, state.grads);
  exact->clear();
  return learner.accumulate_exact(state.theta, eps, *exact);
}

// reduce: the sum over ranks, in flat_grad either way (and in `sparse`).
SparseTables::Traffic reduce(Reducer& reducer, TrainState& state, ExactSum* exact, int64_t step,
                             SparseTables* sparse, comm::Backend& comm) {
  if (sparse) {
    torch::Tensor dense = dense_part(state, sparse);
    reducer.allreduce_sum(dense);
    return sparse->allgather_sum(comm);
  }
  if (!exact) {
    reducer.allreduce_sum(state.flat_grad);
    return {};
  }
  reducer.allreduce_sum(*exact);
  exact_into(*exact, state.flat_grad, step);
  return {};
}

// The outer step on the summed gradient: divided by the meta-batch, norm
// clipped, the optimiser's update (with sparse tables: the dense part's,
// then the touched rows' lazy one).
void outer_step(TrainState& state, SparseTables* sparse, const TrainOptions& t, int64_t step,
                int64_t meta_batch) {
  torch::NoGradGuard ng;
  const double inv = 1.0 / static_cast<double>(meta_batch);
  state.optimizer->set_lr(t.optimizer.lr_at(step));
  if (!sparse) {
    state.flat_grad.div_(static_cast<double>(meta_batch));
    if (t.grad_clip > 0) clip_global_norm(state.grads, t.grad_clip);
    state.optimizer->step_flat(state.flat_theta, state.flat_grad);
    return;
  }
  torch::Tensor dense = dense_part(state, sparse);
  dense.mul_(inv);
  sparse->scale(inv);
  if (t.grad_clip > 0) {
    const double norm = std::sqrt(dense.pow(2).sum().item<double>() + sparse->squared_norm());
    if (norm > t.grad_clip) {
      const double f = t.grad_clip / (norm + 1e-6);
      dense.mul_(f);
      sparse->scale(f);
    }
  }
  state.optimizer->step_flat_range(state.flat_theta, state.flat_grad, sparse->dense_offset(),
                                   state.flat_grad.numel());
  sparse->step(*state.optimizer, state.theta);
}

}  // namespace

Trainer::Trainer(const Experiment& ex, std::string run_dir, bool verbose,
                 std::shared_ptr<comm::Backend> comm, std::string resume)
    : ex_(ex),
      run_dir_(std::move(run_dir)),
      verbose_(verbose),
      comm_(std::move(comm)),
      resume_(std::move(resume)) {
  if (!comm_) comm_ = comm::make_backend("local");
}

torch::Tensor Trainer::meta_gradient(const Params& theta, int64_t step) {
  const TrainOptions& t = ex_.options.train;
  TaskSampler sampler(*ex_.source, Split::kTrain, ex_.spec, t.seed, t.meta_batch, t.partitions,
                      comm_->rank(), comm_->size());
  TrainState state(theta.detached(true), t.optimizer);
  std::vector<Episode> eps;
  for (int64_t g : sampler.my_slots(step)) eps.push_back(sampler.draw(step, g));
  ex_.learner->set_meta_step(step);
  Reducer reducer(comm_, ex_.options.comm.bucket_bytes);
  ExactSum exact(ex_.options.comm.exact ? static_cast<size_t>(state.flat_grad.numel()) : 0);
  ExactSum* sum = ex_.options.comm.exact ? &exact : nullptr;
  std::optional<SparseTables> tables;
  if (ex_.options.comm.sparse_embeddings)
    tables.emplace(state.theta, read_fields(ex_.model->spec()));
  SparseTables* sparse = tables ? &*tables : nullptr;
  accumulate(*ex_.learner, state, eps, sum, sparse);
  reduce(reducer, state, sum, step, sparse, *comm_);
  if (sparse) sparse->add_into(state.grads);  // rows into their tables' places
  return state.flat_grad.div_(static_cast<double>(sampler.meta_batch()));
}

TrainReport Trainer::run() {
  const RunOptions& o = ex_.options;
  comm::Backend& comm = *comm_;
  std::string device_why;  // before anything is written: device cuda may be refused
  const torch::Device device = pick_device(o.device, comm.rank(), &device_why);
  if (o.comm.exact && !device.is_cpu())
    throw UserError("comm.reduction: exact runs on the CPU only; set device: cpu");
  RunDirectory dir(run_dir_, comm.rank() == 0);
  const std::string resume_from = agree_on_resume(comm, resume_, run_dir_, dir.has_checkpoints());
  dir.write_config(ex_.config, ex_.role);

  TaskSampler sampler(*ex_.source, Split::kTrain, ex_.spec, o.train.seed, o.train.meta_batch,
                      o.train.partitions, comm.rank(), comm.size());
  TrainState state(ex_.learner->init(o.train.seed).on(device), o.train.optimizer);
  const int64_t start = resume_from.empty() ? 0 : resume_state(resume_from, ex_, state);
  double best_so_far = dir.start_at(start, ex_.best_metric, higher_is_better(ex_.best_metric));
  comm.broadcast(&best_so_far, sizeof best_so_far, 0);  // every rank's Validator agrees
  Coordinator coord(ex_, comm, dir, state, verbose_, start, best_so_far);
  coord.say_started(sampler, device_why);
  EpisodeStream episodes(sampler, o.data, comm.local_size(), start, o.train.steps, device);
  Reducer reducer(comm_, o.comm.bucket_bytes);
  // With the arrival check, rank 0's watchdog line names the ranks that
  // never reached the step; the others wait 5 s longer, so that it is heard.
  const bool arrivals = o.comm.arrivals && comm.size() > 1;
  // Only while every rank trains: after it, ranks end at different times.
  struct SilenceAlarm {
    comm::Backend& c;
    SilenceAlarm(comm::Backend& backend, double s) : c(backend) { c.set_silence_alarm(s); }
    ~SilenceAlarm() { c.set_silence_alarm(0); }
  } silence_alarm(comm, o.comm.silence_s);
  Watchdog watchdog(o.comm.timeout_s, comm.rank(),
                    arrivals ? std::function<std::string()>([&comm] { return comm.whereabouts(); })
                             : std::function<std::string()>(),
                    arrivals ? 5.0 : 0.0);
  const FaultInjector faults(o.faults, comm.rank());
  install_stop_signals(o.train.signals);
  Interval interval;
  ExactSum exact(o.comm.exact ? static_cast<size_t>(state.flat_grad.numel()) : 0);
  ExactSum* sum = o.comm.exact ? &exact : nullptr;
  std::optional<SparseTables> tables;
  if (o.comm.sparse_embeddings) {
    if (o.comm.exact)
      throw UserError(
          "comm.sparse_embeddings: not with comm.reduction: exact (the rows are "
          "summed in float)");
    tables.emplace(state.theta, read_fields(ex_.model->spec()));
  }
  SparseTables* sparse = tables ? &*tables : nullptr;

  for (int64_t s = start; s < o.train.steps; ++s) {
    // draw
    const std::vector<Episode> eps = episodes.step(s);
    // accumulate
    ex_.learner->set_meta_step(s);
    interval.add(accumulate(*ex_.learner, state, eps, sum, sparse));
    faults.after_accumulate(s);
    // reduce
    const auto reduce_began = Clock::now();
    if (arrivals) comm.arrive(s);
    const SparseTables::Traffic traffic = reduce(reducer, state, sum, s, sparse, comm);
    ++interval.steps;
    interval.sparse_rows += traffic.rows;
    interval.sparse_bytes += traffic.bytes_sent + traffic.bytes_received;
    // decide
    StepDecisions mine;
    mine.nonfinite = !std::isfinite(interval.loss);
    mine.stop = stop_requested();
    mine.checkpoint_due = coord.checkpoint_clock_due();
    const StepDecisions all = StepDecisions::share(comm, mine);
    interval.comm_seconds += seconds_since(reduce_began);
    // The gradient is identical on every rank after the sum, so this test
    // agrees everywhere too.
    if (all.nonfinite || !std::isfinite(dense_part(state, sparse).sum().item<double>()) ||
        (sparse && !sparse->finite()))
      throw UserError("meta-loss or meta-gradient is not finite at step " + std::to_string(s) +
                      " (lower train.outer_lr or learner.inner_lr, or set train.grad_clip)");
    // step
    const auto update = [&](int) { outer_step(state, sparse, o.train, s, sampler.meta_batch()); };
    // Exact: on one thread, so that the norm's reduction and the update's
    // kernels see the same split on every world size.
    if (o.comm.exact)
      run_workers(1, update);
    else
      update(0);
    faults.after_update(s, state.theta);
    watchdog.kick(s + 1);

    // between steps
    const int64_t done = s + 1;
    if (o.comm.check_every > 0 && done % o.comm.check_every == 0)
      check_replicas(comm, state.theta, done);
    if (done % o.train.log_every == 0 || done == o.train.steps)
      coord.log_interval(done, interval, episodes.take_wait_seconds());
    if (coord.validation_due(done)) {
      coord.validate(done);
      watchdog.kick(done);  // validation is not part of the step's time budget
    }
    if (done == o.train.steps) break;
    if (all.stop) coord.preempt(done);
    if ((o.train.checkpoint_every > 0 && done % o.train.checkpoint_every == 0) ||
        all.checkpoint_due) {
      coord.checkpoint(done);
      watchdog.kick(done);
    }
  }
  return coord.finish();
}

}  // namespace metacat
