// Training across ranks, under mpirun (CTest runs 1, 2 and 4 ranks): the
// all-reduced meta-gradient equals the single-process one, training matches,
// and task ownership is disjoint, balanced and world-size invariant.
#include <filesystem>
#include <set>

#include "checkpoint/checkpoint.h"
#include "core/threads.h"
#include "data/pack.h"
#include "datasets/schema.h"
#include "datasets/synthetic_logs.h"
#include "episodes/sampler.h"
#include "mpi_main.h"
#include "train/decisions.h"
#include "train/experiment.h"
#include "train/reducer.h"
#include "train/trainer.h"

using namespace metacat;
using metacat::testing::world;
namespace fs = std::filesystem;

namespace {

std::string run_dir(const std::string& tag) {
  // Same path on every rank (rank 0 writes it); unique per test program run.
  int64_t stamp = world()->rank() == 0 ? static_cast<int64_t>(::getpid()) : 0;
  stamp = world()->max(stamp);
  const fs::path dir =
      fs::temp_directory_path() / ("metacat-dist-" + tag + "-" + std::to_string(stamp));
  // A directory left by an earlier program with the same pid would hold
  // checkpoints and be refused: rank 0 clears it before any rank uses it.
  if (world()->rank() == 0) fs::remove_all(dir);
  world()->barrier();
  return dir.string();
}

Config sinusoid(const std::string& learner) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/sinusoid.yaml");
  c.set("learner.name=" + learner);
  c.set("train.meta_batch=8");
  c.set("eval.at_end=false");
  c.set("comm.check_every=5");
  return c;
}

Config fashion(const std::string& learner) {
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/fashion-mnist.yaml");
  c.set("data.source=fashion-mnist");
  c.set("data.path=/usr/share/datasets/fashion-mnist");
  c.set("model.width=4");
  c.set("learner.name=" + learner);
  c.set("train.meta_batch=4");
  c.set("eval.at_end=false");
  return c;
}

// A small interaction log packed per user with its schema, made by rank 0
// (the same folder on every rank), and a small embedding-model config on it.
Config catalogue(const std::string& tag) {
  const std::string dir = run_dir("logs-" + tag);
  if (world()->rank() == 0) {
    LogsSpec spec;
    spec.users = 80;
    spec.categories = 10;
    spec.max_items = 40;
    spec.min_impressions = 24;
    spec.max_impressions = 40;
    write_synthetic_logs(spec, 4, dir + "/logs");
    CsvSplit split;
    split.ratios = {0.6, 0.2, 0.2};
    PackOptions o;
    o.out = dir + "/users";
    o.progress = false;
    pack_csv_schema(dir + "/logs/log.csv", load_schema(dir + "/logs/schema-user.yaml"), split, o);
  }
  world()->barrier();
  Config c = Config::load_file(std::string(METACAT_SOURCE_DIR) + "/configs/catalogue-users.yaml");
  c.set("data.path=" + dir + "/users");
  c.set("model.hidden=[8]");
  c.set("model.embedding_dim=4");
  c.set("model.gru_hidden=4");
  c.set("task.shots=5");
  c.set("task.queries=5");
  c.set("train.meta_batch=4");
  c.set("eval.at_end=false");
  c.set("eval.val_every=0");
  return c;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
}

}  // namespace

class Equivalence : public ::testing::TestWithParam<std::string> {};

// The meta-gradient of step s with B tasks on one process equals the one
// all-reduced over the ranks (same seed), to float tolerance.
TEST_P(Equivalence, MetaGradientMatchesSingleProcess) {
  apply_threads(1);
  const std::string learner = GetParam();
  Config c = learner == "protonet" ? fashion(learner) : sinusoid(learner);
  auto ex = build_experiment(c);
  Params theta = ex->learner->init(3);
  const std::string dir = run_dir("eq");
  for (int64_t step : {0, 7}) {
    torch::Tensor dist = Trainer(*ex, dir, false, world()).meta_gradient(theta, step);
    torch::Tensor local = Trainer(*ex, dir, false).meta_gradient(theta, step);
    EXPECT_LT(rel_diff(dist, local), 1e-5) << learner << " step " << step;
    EXPECT_GT(local.norm().item<double>(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Learners, Equivalence,
                         ::testing::Values("maml", "fomaml", "reptile", "protonet"));

// 20 steps on N ranks end where 20 steps on one process end. Tolerance:
// relative L2 difference 1e-4 (only the float summation order differs).
TEST(Training, TwentyStepsMatchSingleProcess) {
  apply_threads(1);
  Config c = sinusoid("maml");
  c.set("train.steps=20");
  auto ex = build_experiment(c);
  const std::string dist_dir = run_dir("t20-dist"), local_dir = run_dir("t20-local");
  TrainReport dist = Trainer(*ex, dist_dir, false, world()).run();
  // Every rank holds the same parameters (checked every 5 steps in the run too).
  uint64_t mine = checksum(dist.theta), lead = mine;
  world()->broadcast(&lead, sizeof lead, 0);
  EXPECT_EQ(mine, lead);
  if (world()->rank() == 0) {
    TrainReport local = Trainer(*ex, local_dir, false).run();
    EXPECT_LT(rel_diff(flatten(dist.theta.tensors), flatten(local.theta.tensors)), 1e-4);
    if (world()->size() == 1) EXPECT_EQ(checksum(dist.theta), checksum(local.theta));
  }
}

// comm.reduction: exact: the all-reduced meta-gradient is the same bits as
// the single-process one, whatever the world size, and whatever the thread
// count (the single process runs with 2 threads, each rank with 1).
TEST_P(Equivalence, ExactMetaGradientIsBitIdentical) {
  const std::string learner = GetParam();
  Config c = learner == "protonet" ? fashion(learner) : sinusoid(learner);
  c.set("comm.reduction=exact");
  auto ex = build_experiment(c);
  Params theta = ex->learner->init(3);
  const std::string dir = run_dir("exact");
  for (int64_t step : {0, 7}) {
    apply_threads(1);
    torch::Tensor dist = Trainer(*ex, dir, false, world()).meta_gradient(theta, step);
    apply_threads(2);
    torch::Tensor local = Trainer(*ex, dir, false).meta_gradient(theta, step);
    apply_threads(1);
    EXPECT_TRUE(torch::equal(dist, local))
        << learner << " step " << step << ": relative difference " << rel_diff(dist, local);
    EXPECT_GT(local.norm().item<double>(), 0);
  }
}

// comm.reduction: exact: training on N ranks ends with the same bits as on
// one process (at 2 threads), and so does a run resumed on N ranks from the
// single-process run's checkpoint halfway: sinusoid MAML (second order) and
// a conv4 FOMAML with batch norm on Fashion-MNIST, the meta-gradient clipped
// and all-reduced in 1 KiB buckets.
TEST(Training, ExactReductionBitIdenticalOnAnyWorldSizeAndAfterResume) {
  for (const std::string which : {"sinusoid", "fashion"}) {
    Config c = which == "sinusoid" ? sinusoid("maml") : fashion("fomaml");
    c.set("comm.reduction=exact");
    // The clipped step and a many-bucket integer all-reduce are on the path.
    c.set("train.grad_clip=0.5");
    c.set("comm.bucket_mb=0.001");
    c.set(which == "sinusoid" ? "train.steps=16" : "train.steps=6");
    c.set(which == "sinusoid" ? "train.checkpoint_every=8" : "train.checkpoint_every=3");
    const int64_t half = which == "sinusoid" ? 8 : 3;
    auto ex = build_experiment(c);
    const std::string local_dir = run_dir("x-local-" + which);
    const std::string dist_dir = run_dir("x-dist-" + which);
    const std::string resumed_dir = run_dir("x-resumed-" + which);
    uint64_t local = 0;
    if (world()->rank() == 0) {
      apply_threads(2);
      local = checksum(Trainer(*ex, local_dir, false).run().theta);
    }
    world()->broadcast(&local, sizeof local, 0);
    apply_threads(1);
    EXPECT_EQ(checksum(Trainer(*ex, dist_dir, false, world()).run().theta), local) << which;
    const std::string from = checkpoint_path(local_dir, half);
    EXPECT_EQ(checksum(Trainer(*ex, resumed_dir, false, world(), from).run().theta), local)
        << which << ": resumed from " << from;
  }
}

// Across ranks the sampled task sources never overlap, each rank computes
// exactly B/N slots per step, together they cover the training split, and the
// task sequence is the single-process one.
// comm.sparse_embeddings: the meta-gradient of the touched rows, exchanged
// by allgather and put back into full-size tables, equals the dense
// meta-gradient of one process (float tolerance): with the catalogue
// config's task context adapted alone, with the dense layers adapted, and
// with inner_embeddings too (the local rows adapt in the inner loop). Only
// touched rows are nonzero in either.
TEST(Sparse, MetaGradientEqualsTheDenseOneOnAnyWorldSize) {
  apply_threads(1);
  for (const std::string inner : {"context", "dense", "tables"}) {
    Config dense = catalogue("mg");
    ASSERT_EQ(dense.get_string("learner.inner_params"), "context");
    if (inner != "context") dense.set("learner.inner_params=dense");
    if (inner == "tables") dense.set("learner.inner_embeddings=true");
    Config sparse = dense;
    sparse.set("comm.sparse_embeddings=true");
    auto ex_dense = build_experiment(dense), ex_sparse = build_experiment(sparse);
    Params theta = ex_dense->learner->init(3);
    const std::string dir = run_dir("sparse-mg");
    for (int64_t step : {0, 5}) {
      torch::Tensor d = Trainer(*ex_dense, dir, false).meta_gradient(theta, step);
      torch::Tensor s = Trainer(*ex_sparse, dir, false, world()).meta_gradient(theta, step);
      EXPECT_LT(rel_diff(s, d), 1e-5) << "inner " << inner << " step " << step;
      // The item table: most rows untouched in one step, in both.
      const int64_t n = theta.at("emb.item").numel();
      int64_t off = 0;
      for (size_t i = 0; i < theta.size() && theta.names[i] != "emb.item"; ++i)
        off += theta.tensors[i].numel();
      const int64_t touched = d.narrow(0, off, n).ne(0).sum().item<int64_t>();
      EXPECT_GT(touched, 0);
      EXPECT_LT(touched, n / 2);
    }
  }
}

// With SGD the lazy update is the dense update (untouched rows have no
// gradient), so 10 sparse steps on N ranks end where 10 dense steps on one
// process end; every rank holds the same bits.
TEST(Sparse, SgdTrainingMatchesDenseSingleProcess) {
  apply_threads(1);
  Config dense = catalogue("sgd");
  dense.set("train.steps=10");
  dense.set("train.optimizer=sgd");
  dense.set("train.outer_lr=0.5");
  Config sparse = dense;
  sparse.set("comm.sparse_embeddings=true");
  auto ex_dense = build_experiment(dense), ex_sparse = build_experiment(sparse);
  const std::string sdir = run_dir("sparse-s"), ddir = run_dir("sparse-d");
  TrainReport s = Trainer(*ex_sparse, sdir, false, world()).run();
  uint64_t mine = checksum(s.theta), lead = mine;
  world()->broadcast(&lead, sizeof lead, 0);
  EXPECT_EQ(mine, lead);
  if (world()->rank() == 0) {
    TrainReport d = Trainer(*ex_dense, ddir, false).run();
    const torch::Tensor a = flatten(s.theta.tensors), b = flatten(d.theta.tensors);
    EXPECT_LT(rel_diff(a, b), 1e-4);
    EXPECT_GT(rel_diff(b, flatten(ex_dense->learner->init(ex_dense->options.train.seed).tensors)),
              1e-3);  // it trained
  }
}

TEST(Sampling, DisjointBalancedCoveringAndWorldSizeInvariant) {
  Config c = fashion("maml");
  auto ex = build_experiment(c);
  auto& w = *world();
  const int64_t B = 4, steps = 60;
  TaskSampler mine(*ex->source, Split::kTrain, ex->spec, 5, B, 0, w.rank(), w.size());
  TaskSampler one(*ex->source, Split::kTrain, ex->spec, 5, B, 0, 0, 1);
  const int64_t S = ex->source->num_sources(Split::kTrain);
  std::vector<int64_t> slot_owner(steps * B, 0), source_ranks(S, 0);
  for (int64_t s = 0; s < steps; ++s) {
    auto slots = mine.my_slots(s);
    EXPECT_EQ(static_cast<int64_t>(slots.size()), B / w.size());
    for (int64_t g : slots) {
      slot_owner[s * B + g] += 1;
      source_ranks[mine.source_of(s, g)] |= int64_t{1} << w.rank();
      if (s < 10) {  // the episodes themselves, not just their sources
        Episode a = mine.draw(s, g), b = one.draw(s, g);
        EXPECT_EQ(a.source, b.source);
        EXPECT_TRUE(torch::equal(a.support_x, b.support_x));
      }
    }
  }
  w.allreduce(slot_owner.data(), slot_owner.size());
  w.allreduce(source_ranks.data(), source_ranks.size());
  for (int64_t v : slot_owner) ASSERT_EQ(v, 1);  // every slot computed exactly once
  int64_t covered = 0;
  for (int64_t v : source_ranks) {
    EXPECT_EQ(v & (v - 1), 0) << "a task source was sampled by more than one rank";
    covered += v != 0;
  }
  EXPECT_EQ(covered, S);
}

// Bucketed all-reduce: sizes that are not multiples of the bucket, empty
// buffers, and lists of tensors all sum correctly.
TEST(Reducer, BucketsAndTensorLists) {
  auto& w = *world();
  const int n = w.size();
  Reducer r(world(), 4096);  // 1024 floats per bucket
  for (int64_t count : {0, 1, 1023, 1024, 1025, 5000}) {
    torch::Tensor t = torch::arange(count, torch::kFloat32) * (w.rank() + 1);
    const int64_t before = r.calls();
    r.allreduce_sum(t);
    EXPECT_TRUE(torch::allclose(t, torch::arange(count, torch::kFloat32) * (n * (n + 1) / 2)));
    EXPECT_EQ(r.calls() - before, std::max<int64_t>(1, (count + 1023) / 1024)) << count;
  }
  std::vector<torch::Tensor> list{torch::full({3, 4}, 1.0 + w.rank(), torch::kFloat64),
                                  torch::full({7}, 2.0, torch::kFloat64)};
  r.allreduce_sum(list);
  EXPECT_TRUE(
      torch::allclose(list[0], torch::full({3, 4}, n + n * (n - 1) / 2.0, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(list[1], torch::full({7}, 2.0 * n, torch::kFloat64)));
}

// Evaluation shared out among the ranks gives the single-process summary.
TEST(Evaluation, SharedAmongRanksEqualsSingleProcess) {
  apply_threads(1);
  Config c = sinusoid("maml");
  c.set("eval.episodes=30");
  c.set("eval.shots=[5]");
  auto ex = build_experiment(c);
  Params theta = ex->learner->init(2);
  std::vector<EvalMethod> methods{{"maml", ex->learner.get(), theta}, {"scratch", nullptr, {}}};
  auto dist = evaluate_methods(*ex, methods, false, world().get());
  auto local = evaluate_methods(*ex, methods, false);
  ASSERT_EQ(dist.size(), local.size());
  for (size_t i = 0; i < dist.size(); ++i) {
    EXPECT_NEAR(dist[i].mean, local[i].mean, 1e-9 * std::abs(local[i].mean)) << dist[i].method;
    EXPECT_NEAR(dist[i].ci95, local[i].ci95, 1e-9 * std::abs(local[i].ci95)) << dist[i].method;
    EXPECT_EQ(dist[i].episodes, 30);
  }
}

// A step's shared decisions are one integer all-reduce: a flag raised on any
// one rank reaches every rank, and flags raised nowhere stay down.
TEST(Decisions, AFlagOnAnyRankReachesEveryRank) {
  auto& w = *world();
  for (int raiser = 0; raiser < w.size(); ++raiser) {
    for (int flag = 0; flag < 3; ++flag) {
      StepDecisions mine;
      if (w.rank() == raiser) {
        mine.nonfinite = flag == 0;
        mine.stop = flag == 1;
        mine.checkpoint_due = flag == 2;
      }
      const StepDecisions all = StepDecisions::share(w, mine);
      EXPECT_EQ(all.nonfinite, flag == 0) << raiser;
      EXPECT_EQ(all.stop, flag == 1) << raiser;
      EXPECT_EQ(all.checkpoint_due, flag == 2) << raiser;
    }
  }
  const StepDecisions none = StepDecisions::share(w, StepDecisions{});
  EXPECT_FALSE(none.nonfinite || none.stop || none.checkpoint_due);
}
