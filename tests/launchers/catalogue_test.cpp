// The tabular path end to end, through the binary: `metacat generate`
// writes a log and its schemas, `pack --schema` packs it per user and per
// category, the embedding model meta-trains and evaluates on both (with
// coverage in eval.json), and the distributed-equivalence and exact-resume
// guarantees hold for it: with comm.reduction exact, 1 and 2 ranks and a
// run resumed half way end with the same parameter bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace fs = std::filesystem;
using metacat::test::Result;

namespace {

Result run(const std::string& args) {
  return metacat::test::shell(std::string(METACAT_BIN) + " " + args);
}

std::string mpirun(int np) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun "
         "--oversubscribe -np " +
         std::to_string(np) + " " + METACAT_BIN;
}

// A small log packed per user and per category, made once.
const std::string& root() {
  static const std::string dir = [] {
    const std::string d = metacat::test::fresh_dir("catalogue", "logs");
    Result g = run("generate --out " + d +
                   "/logs --users 160 --categories 16 --max-items 60 "
                   "--min-impressions 30 --max-impressions 60 --seed 3");
    EXPECT_EQ(g.code, 0) << g.output;
    for (const std::string kind : {"user", "category"}) {
      Result p =
          run("pack --source csv --input " + d + "/logs/log.csv --schema " + d + "/logs/schema-" +
              kind + ".yaml --out " + d + "/" + kind + " --split-ratios 0.6,0.2,0.2 --quiet");
      EXPECT_EQ(p.code, 0) << p.output;
    }
    return d;
  }();
  return dir;
}

std::string train_args(const std::string& data, const std::string& run_dir) {
  return " train --config " + std::string(METACAT_SOURCE_DIR) +
         "/configs/catalogue-users.yaml --set data.path=" + data +
         " --set train.steps=8 --set train.meta_batch=4 --set train.log_every=4 "
         "--set eval.val_every=0 --set model.hidden=[8] --set model.gru_hidden=4 "
         "--set model.embedding_dim=4 --set task.shots=5 --set task.queries=5 "
         "--set eval.queries=5 --run-dir " +
         run_dir;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CSV file's rows after its header, as cells.
std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(read(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    out.push_back(cells);
  }
  return out;
}

// "parameters <hex>" from `metacat inspect --verify` of a run's checkpoint.
std::string params_checksum(const std::string& run_dir, int step) {
  char name[64];
  std::snprintf(name, sizeof name, "/checkpoints/step-%08d.h5", step);
  Result r = run("inspect --verify " + run_dir + name);
  const auto at = r.output.find("parameters ");
  return at == std::string::npos ? "missing: " + r.output : r.output.substr(at, 28);
}

}  // namespace

TEST(Catalogue, GeneratePackTrainAndEvaluateWithCoverage) {
  const std::string& d = root();
  EXPECT_NE(read(d + "/logs/schema-user.yaml").find("user:      {role: task}"), std::string::npos);
  // inspect shows the layout: what each column of the model input is.
  Result in = run("inspect " + d + "/user");
  EXPECT_NE(in.output.find("items 1 float32 + 18 int32 codes"), std::string::npos) << in.output;
  EXPECT_NE(in.output.find("history (sequence x10, codes of item)"), std::string::npos)
      << in.output;
  // Both kinds, the category kind on 1 and 2 ranks with the exact
  // reduction (the same trained bits): metaemb's generator is trained on
  // rank 0 and broadcast, so it scores the same either way.
  std::map<std::string, double> metaemb_auc;
  for (const std::string kind : {"user", "category", "category-2"}) {
    const std::string data = d + "/" + kind.substr(0, kind.find('-'));
    const std::string run_dir = d + "/run-" + kind;
    const std::string args = train_args(data, run_dir) +
                             " --set eval.episodes=12 --set eval.shots=[0,5] "
                             "--set baselines.finetune.pretrain_steps=8 "
                             "--set baselines.finetune.steps=2 --set baselines.scratch.steps=2 "
                             "--set baselines.metaemb.steps=20 "
                             "--set baselines.metaemb.attributes=[brand,shop,tags,log_price]" +
                             (kind == "user" ? "" : " --set comm.reduction=exact");
    const Result r = kind == "category-2"
                         ? metacat::test::shell(mpirun(2) + args + " --set comm.backend=mpi")
                         : run(args);
    ASSERT_EQ(r.code, 0) << kind << "\n" << r.output;
    // Every item of a new category is a new item (unless a training
    // user's history names it); the generator's effect is paired.
    if (kind != "user") {
      EXPECT_NE(r.output.find("new items get generated embeddings"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("0-shot: maml+metaemb - maml, paired over"), std::string::npos)
          << r.output;
    }
    const auto eval = nlohmann::json::parse(read(run_dir + "/eval.json"));
    int oracle = 0, metaemb = 0;
    for (const auto& res : eval["results"]) {
      ASSERT_TRUE(res["metrics"].contains("coverage@10")) << res;
      EXPECT_GT(res["metrics"]["coverage@10"].get<double>(), 0.0);
      oracle += res["method"] == "oracle";
      if (res["method"] == "maml+metaemb") {
        ++metaemb;
        if (res["shots"] == 0 && res["categories"] == "cold")
          metaemb_auc[kind] = res["mean"].get<double>();
      }
    }
    EXPECT_GT(oracle, 0) << "the log's true scores give the oracle baseline";
    EXPECT_EQ(metaemb, 4) << "maml+metaemb at 0 and 5 shots, warm and cold";
  }
  ASSERT_EQ(metaemb_auc.size(), 3u);
  EXPECT_NEAR(metaemb_auc["category-2"], metaemb_auc["category"], 1e-9);
  // An override that keeps the parameter names but not their shapes (the
  // numeric price left out of the model) is refused by name, not by
  // LibTorch at the first forward.
  Result skipped = run("eval --checkpoint " + d + "/run-user --set model.skip=[log_price]");
  EXPECT_EQ(skipped.code, 1) << skipped.output;
  EXPECT_NE(skipped.output.find("parameter body.0.weight has shape"), std::string::npos)
      << skipped.output;
  // Skipping a coded column drops its table: the names differ.
  Result no_brand = run("eval --checkpoint " + d + "/run-user --set model.skip=[brand]");
  EXPECT_EQ(no_brand.code, 1) << no_brand.output;
  EXPECT_NE(no_brand.output.find("does not match its config's model/learner"), std::string::npos)
      << no_brand.output;
  // metaemb scores through the learner's head: protonet has none.
  Result pn = run(train_args(d + "/category", d + "/run-protonet") +
                  " --set learner.name=protonet --set learner.inner_params=dense "
                  "--set learner.inner_loss=mean --set eval.baselines=[metaemb] "
                  "--set baselines.metaemb.attributes=[brand]");
  EXPECT_EQ(pn.code, 1) << pn.output;
  EXPECT_NE(pn.output.find("'protonet' scores items without a head"), std::string::npos)
      << pn.output;
  // A dense model would read codes as numbers: refused.
  Result mlp = run(train_args(d + "/user", d + "/run-mlp") + " --set model.name=preference");
  EXPECT_EQ(mlp.code, 1) << mlp.output;
  EXPECT_NE(mlp.output.find("needs model.name: embedding"), std::string::npos) << mlp.output;
}

TEST(Catalogue, ExactReductionGivesTheSameBitsOnOneAndTwoRanksAndOnResume) {
  const std::string& d = root();
  // With item-id dropout (drawn from each task's own stream) on the path.
  const std::string exact =
      " --set comm.reduction=exact --set eval.at_end=false --set data.id_dropout=0.3";
  Result one = run(train_args(d + "/user", d + "/exact-1") + exact);
  ASSERT_EQ(one.code, 0) << one.output;
  Result kept = run(train_args(d + "/user", d + "/exact-ids") +
                    " --set comm.reduction=exact --set eval.at_end=false");
  ASSERT_EQ(kept.code, 0) << kept.output;
  EXPECT_NE(params_checksum(d + "/exact-ids", 8), params_checksum(d + "/exact-1", 8));
  Result two = metacat::test::shell(mpirun(2) + train_args(d + "/user", d + "/exact-2") + exact +
                                    " --set comm.backend=mpi");
  ASSERT_EQ(two.code, 0) << two.output;
  const std::string expect = params_checksum(d + "/exact-1", 8);
  EXPECT_EQ(expect.rfind("parameters ", 0), 0u) << expect;
  EXPECT_EQ(params_checksum(d + "/exact-2", 8), expect);
  // Stopped after 4 steps (checkpoint), resumed on 2 ranks to step 8.
  Result half = run(train_args(d + "/user", d + "/exact-r") + exact + " --set train.steps=4");
  ASSERT_EQ(half.code, 0) << half.output;
  Result resumed = metacat::test::shell(mpirun(2) + train_args(d + "/user", d + "/exact-r") +
                                        exact + " --set comm.backend=mpi --resume auto");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_EQ(params_checksum(d + "/exact-r", 8), expect);
}

// A stop signal while the metaemb generator trains (after training's last
// checkpoint, before the final evaluation): the run leaves within seconds
// with 75 and no eval.json, on 1 rank, and on 2 ranks when only rank 1 gets
// the signal (rank 0, training the generator, learns it through the
// collective stop check); resumed, the run evaluates. The generator is set
// to train far longer than the test waits.
TEST(Catalogue, StopWhileTrainingTheGeneratorExitsToResume) {
  const std::string& d = root();
  for (const int np : {1, 2}) {
    const std::string dir = d + "/genstop-" + std::to_string(np), log = dir + ".log";
    const std::string args = train_args(d + "/category", dir) +
                             " --set eval.at_end=true --set eval.baselines=[metaemb] "
                             "--set eval.episodes=4 --set eval.shots=[0] "
                             "--set baselines.metaemb.attributes=[brand,shop,tags,log_price]";
    // Killed (-k) if it outlives the SIGTERM that ends `timeout`: a run that
    // ignored the stop would train on, and the test must fail, not hang.
    const std::string launch =
        "timeout -k 5 120 " +
        (np == 1 ? std::string(METACAT_BIN)
                 : "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun "
                   "--oversubscribe -np 2 " +
                       std::string(METACAT_BIN));
    // Rank 1 of 2 alone: the process whose command line names the run
    // directory and whose environment says it is rank 1 (mpirun's says
    // neither rank). Found before the clock starts.
    const std::string target =
        np == 1 ? "target=$pid"
                : "target=$(for f in /proc/[0-9]*; do tr '\\0' ' ' 2>/dev/null <$f/cmdline | "
                  "grep -qF -- '" +
                      dir +
                      " ' || continue; tr '\\0' '\\n' 2>/dev/null <$f/environ | grep -qx "
                      "OMPI_COMM_WORLD_RANK=1 && echo ${f#/proc/}; done)";
    const Result r = metacat::test::shell(
        launch + args + " --set baselines.metaemb.steps=1000000000 >" + log + " 2>&1 & pid=$!\n" +
        "for i in $(seq 1200); do grep -q 'training a generator' " + log +
        " && break; sleep 0.1; done\nsleep 0.5\n" + target +
        "\necho \"signalled: $target\"\nt0=$(date +%s.%N)\nkill -TERM $target\n"
        "wait $pid; rc=$?; t1=$(date +%s.%N)\necho \"rc=$rc s=$(awk \"BEGIN{print $t1 - "
        "$t0}\")\"");
    const std::string text = read(log);
    ASSERT_NE(text.find("training a generator of id embeddings"), std::string::npos) << text;
    EXPECT_NE(r.output.find("rc=75 "), std::string::npos) << np << " ranks: " << r.output << text;
    const auto at = r.output.find(" s=");
    ASSERT_NE(at, std::string::npos) << r.output;
    EXPECT_LT(std::stod(r.output.substr(at + 3)), 10.0) << r.output;
    EXPECT_NE(text.find("stop requested while training the metaemb generator"), std::string::npos)
        << text;
    EXPECT_FALSE(fs::exists(dir + "/eval.json"));
    // Resumed (a generator of 20 steps now: baselines.* may change): training
    // is done, the generator trains and the evaluation is written.
    const std::string again = args + " --set baselines.metaemb.steps=20 --resume auto";
    const Result resumed = np == 1 ? run(again) : metacat::test::shell(mpirun(2) + again);
    ASSERT_EQ(resumed.code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("generator of id embeddings trained"), std::string::npos)
        << resumed.output;
    EXPECT_NE(read(dir + "/eval.json").find("maml+metaemb"), std::string::npos);
  }
}

// generate --brand-in-category S: every item of a brand within a category
// gets the same extra direction. The log is otherwise drawn the same (same
// impressions, items, prices); a user's score of two items of one brand in
// one category moves by the same amount, and by different amounts across
// such groups; S = 0 is the default log, byte for byte.
TEST(Catalogue, BrandInCategoryMovesScoresPerBrandAndCategoryOnly) {
  const std::string d = metacat::test::fresh_dir("catalogue", "brand-in-category");
  const std::string common = " --users 40 --categories 6 --max-items 40 --seed 5";
  ASSERT_EQ(run("generate --out " + d + "/plain" + common).code, 0);
  ASSERT_EQ(run("generate --out " + d + "/zero" + common + " --brand-in-category 0").code, 0);
  ASSERT_EQ(run("generate --out " + d + "/within" + common + " --brand-in-category 0.7").code, 0);
  EXPECT_EQ(read(d + "/plain/log.csv"), read(d + "/zero/log.csv"));
  // The default log of these options as the generator wrote it before the
  // option existed (FNV-1a 64 of log.csv, 210386 bytes).
  const std::string plain = read(d + "/plain/log.csv");
  uint64_t fnv = 0xcbf29ce484222325ull;
  for (unsigned char ch : plain) fnv = (fnv ^ ch) * 0x100000001b3ull;
  EXPECT_EQ(plain.size(), 210386u);
  EXPECT_EQ(fnv, 0xcef5b8ee3739bf50ull);
  const auto rows = csv_rows;
  const auto a = rows(d + "/plain/log.csv"), b = rows(d + "/within/log.csv");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 100u);
  // Columns: user,category,item,click,log_price,brand,shop,tags,history,segment,z
  std::map<std::string, std::vector<double>> moved;  // user|category|brand -> z shifts
  int changed = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), 11u);
    for (int col : {0, 1, 2, 4, 5, 6, 7, 9}) ASSERT_EQ(a[i][col], b[i][col]) << i << " " << col;
    const double dz = std::stod(b[i][10]) - std::stod(a[i][10]);
    changed += std::abs(dz) > 1e-3;
    moved[a[i][0] + "|" + a[i][1] + "|" + a[i][5]].push_back(dz);
  }
  EXPECT_GT(changed, static_cast<int>(a.size()) / 2);
  int groups = 0;
  std::vector<double> firsts;
  for (const auto& [key, dz] : moved) {
    firsts.push_back(dz[0]);
    if (dz.size() < 2) continue;
    ++groups;
    for (double x : dz) EXPECT_NEAR(x, dz[0], 3e-5) << key;
  }
  EXPECT_GT(groups, 10);
  std::sort(firsts.begin(), firsts.end());
  EXPECT_GT(firsts.back() - firsts.front(), 0.1);  // groups differ
  EXPECT_NE(run("generate --out " + d + "/bad" + common + " --brand-in-category -1").code, 0);
}

// generate --latents writes the draws behind z, and from them every row's
// true score is recomputed exactly as the generator's click model states
// it (datasets/synthetic_logs.h); the log itself is the same with or
// without the flag, and the segment column is the user's first department.
TEST(Catalogue, LatentsReproduceEveryRowsTrueScore) {
  const std::string d = metacat::test::fresh_dir("catalogue", "latents");
  // 3 tags: items of one brand share a tag set often (checked below).
  const std::string common =
      " --users 40 --categories 6 --max-items 40 --tags 3 --seed 5 --brand-in-category 0.7";
  ASSERT_EQ(run("generate --out " + d + "/plain" + common).code, 0);
  Result g = run("generate --out " + d + "/lat" + common + " --latents");
  ASSERT_EQ(g.code, 0) << g.output;
  EXPECT_EQ(read(d + "/plain/log.csv"), read(d + "/lat/log.csv"));
  EXPECT_FALSE(fs::exists(d + "/plain/latents-users.csv"));
  const int64_t f = 8;
  struct User {
    std::string first_department;
    double kappa;
    std::vector<double> p;
  };
  struct Item {
    double log_price, price_level, bias, quality;
    std::vector<double> v;
  };
  std::map<std::string, User> users;
  std::map<std::string, Item> items;
  for (const auto& c : csv_rows(d + "/lat/latents-users.csv")) {
    ASSERT_EQ(c.size(), static_cast<size_t>(3 + f));
    User u{c[1].substr(0, c[1].find('|')), std::stod(c[2]), {}};
    for (int64_t j = 0; j < f; ++j) u.p.push_back(std::stod(c[3 + j]));
    users[c[0]] = u;
  }
  std::map<std::string, std::vector<double>> category_w;
  for (const auto& c : csv_rows(d + "/lat/latents-categories.csv")) {
    ASSERT_EQ(c.size(), static_cast<size_t>(2 + f));
    for (int64_t j = 0; j < f; ++j) category_w[c[0]].push_back(std::stod(c[2 + j]));
  }
  EXPECT_EQ(category_w.size(), 6u);
  std::map<std::string, std::vector<double>> shared;  // item -> v - w_c - own
  double own_square = 0;
  int64_t own_count = 0;
  for (const auto& c : csv_rows(d + "/lat/latents-items.csv")) {
    ASSERT_EQ(c.size(), static_cast<size_t>(7 + 2 * f));
    Item it{std::stod(c[3]), std::stod(c[4]), std::stod(c[5]), std::stod(c[6]), {}};
    for (int64_t j = 0; j < f; ++j) it.v.push_back(std::stod(c[7 + j]));
    items[c[0]] = it;
    ASSERT_TRUE(category_w.count(c[1])) << c[1];
    for (int64_t j = 0; j < f; ++j) {
      const double own = std::stod(c[7 + f + j]);
      shared[c[0]].push_back(it.v[j] - category_w[c[1]][j] - own);
      own_square += own * own;
      ++own_count;
    }
  }
  // The own part is 0.6 N(0, 1) per entry: mean square 0.36, where v's is
  // several times that.
  EXPECT_NEAR(own_square / own_count, 0.36, 0.06);
  EXPECT_EQ(csv_rows(d + "/lat/latents-departments.csv").size(), 6u);
  EXPECT_EQ(users.size(), 40u);
  const auto rows = csv_rows(d + "/lat/log.csv");
  ASSERT_GT(rows.size(), 100u);
  double worst = 0, spread = 0;
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 11u);
    ASSERT_TRUE(users.count(r[0])) << r[0];
    ASSERT_TRUE(items.count(r[2])) << r[2];
    const User& u = users[r[0]];
    const Item& it = items[r[2]];
    EXPECT_EQ(r[9], u.first_department);
    EXPECT_NEAR(std::stod(r[4]), it.log_price, 6e-5);
    double dot = 0;
    for (int64_t j = 0; j < f; ++j) dot += u.p[j] * it.v[j];
    const double z = 1.5 * dot / std::sqrt(3.0 * f) - u.kappa * (it.log_price - it.price_level) +
                     it.quality + it.bias - 1.5;
    worst = std::max(worst, std::abs(z - std::stod(r[10])));
    spread = std::max(spread, std::abs(z));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(spread, 1.0);  // scores that vary: the comparison is not of zeros
  // v = w_c + brand + mean of tags + own part (+ brand-in-category): after
  // w_c and the own part, items of one brand and tag set within a category
  // are left with the same vector, and other groups with other vectors.
  std::map<std::string, std::map<std::string, std::vector<double>>> groups;  // -> item -> v
  for (const auto& r : rows) {
    std::vector<std::string> tags;
    std::stringstream ts(r[7]);
    for (std::string t; std::getline(ts, t, '|');) tags.push_back(t);
    std::sort(tags.begin(), tags.end());
    std::string key = r[1] + "|" + r[5];
    for (const auto& t : tags) key += "|" + t;
    groups[key][r[2]] = shared[r[2]];
  }
  int compared = 0;  // distinct items checked against their group's first
  std::vector<double> firsts;
  for (const auto& [key, members] : groups) {
    const std::vector<double>& first = members.begin()->second;
    firsts.push_back(first[0]);
    for (const auto& [item, v] : members) {
      for (int64_t j = 0; j < f; ++j) EXPECT_NEAR(v[j], first[j], 1e-9) << key << " " << item;
      compared += &v != &first;
    }
  }
  EXPECT_GT(compared, 20);
  std::sort(firsts.begin(), firsts.end());
  EXPECT_GT(firsts.back() - firsts.front(), 0.5);
  // A log written again without --latents takes the old latents away.
  ASSERT_EQ(run("generate --out " + d + "/lat" + common).code, 0);
  for (const char* name : {"users", "items", "categories", "departments", "spec"})
    EXPECT_FALSE(fs::exists(d + "/lat/latents-" + name + ".csv")) << name;
}

// generate --taste-spread T, --category-spread C, --exposure-focus F set
// how much a user's taste and a category's direction differ from their
// departments', and how many of a user's impressions fall in its
// departments. The defaults spelled out give the log of no flags (that this
// is the original log, byte for byte, BrandInCategoryMovesScoresPerBrand...
// checks against its hash from before these options).
TEST(Catalogue, SpreadsAndExposureFocusSetWhatDepartmentsGiveAway) {
  const std::string d = metacat::test::fresh_dir("catalogue", "spreads");
  const std::string common = " --users 300 --categories 30 --max-items 40 --seed 3 --latents";
  ASSERT_EQ(run("generate --out " + d + "/plain" + common).code, 0);
  ASSERT_EQ(run("generate --out " + d + "/defaults" + common +
                " --taste-spread 0.5 --category-spread 0.5 --exposure-focus 0.8")
                .code,
            0);
  EXPECT_EQ(read(d + "/plain/log.csv"), read(d + "/defaults/log.csv"));
  const int64_t f = 8;
  struct Read {
    std::map<std::string, std::vector<double>> proto, w;
    std::map<std::string, std::string> cat_dept;
    std::map<std::string, std::vector<std::string>> user_depts;
    std::map<std::string, std::vector<double>> p;
    std::map<std::string, double> spec;
  };
  const auto load = [&](const std::string& dir) {
    Read r;
    for (const auto& c : csv_rows(dir + "/latents-departments.csv"))
      for (int64_t j = 0; j < f; ++j) r.proto[c[0]].push_back(std::stod(c[1 + j]));
    for (const auto& c : csv_rows(dir + "/latents-categories.csv")) {
      r.cat_dept[c[0]] = c[1];
      for (int64_t j = 0; j < f; ++j) r.w[c[0]].push_back(std::stod(c[2 + j]));
    }
    for (const auto& c : csv_rows(dir + "/latents-users.csv")) {
      std::stringstream ds(c[1]);
      for (std::string x; std::getline(ds, x, '|');) r.user_depts[c[0]].push_back(x);
      for (int64_t j = 0; j < f; ++j) r.p[c[0]].push_back(std::stod(c[3 + j]));
    }
    for (const auto& c : csv_rows(dir + "/latents-spec.csv")) r.spec[c[0]] = std::stod(c[1]);
    return r;
  };
  // Mean square of the users' own parts (p - mean of their departments'
  // prototypes) and of the categories' own parts (w - prototype); the share
  // of impressions in one of the user's departments.
  struct Measured {
    double taste = 0, category = 0, focus = 0;
  };
  const auto measure = [&](const std::string& dir) {
    const Read r = load(dir);
    Measured m;
    for (const auto& [u, p] : r.p) {
      const auto& ds = r.user_depts.at(u);
      for (int64_t j = 0; j < f; ++j) {
        double mean = 0;
        for (const auto& x : ds) mean += r.proto.at(x)[j] / static_cast<double>(ds.size());
        m.taste += (p[j] - mean) * (p[j] - mean) / static_cast<double>(f * r.p.size());
      }
    }
    for (const auto& [c, w] : r.w)
      for (int64_t j = 0; j < f; ++j) {
        const double e = w[j] - r.proto.at(r.cat_dept.at(c))[j];
        m.category += e * e / static_cast<double>(f * r.w.size());
      }
    int64_t in = 0, all = 0;
    for (const auto& row : csv_rows(dir + "/log.csv")) {
      const auto& ds = r.user_depts.at(row[0]);
      in += std::count(ds.begin(), ds.end(), r.cat_dept.at(row[1]));
      ++all;
    }
    m.focus = static_cast<double>(in) / static_cast<double>(all);
    return m;
  };
  const Read plain = load(d + "/plain");
  EXPECT_DOUBLE_EQ(plain.spec.at("taste_spread"), 0.5);
  EXPECT_DOUBLE_EQ(plain.spec.at("category_spread"), 0.5);
  EXPECT_DOUBLE_EQ(plain.spec.at("exposure_focus"), 0.8);
  const Measured base = measure(d + "/plain");
  // 300 users x 8 entries of 0.25 N(0,1)^2 (sd of the mean ~0.007); 30
  // categories x 8 (~0.023).
  EXPECT_NEAR(base.taste, 0.25, 0.05);
  EXPECT_NEAR(base.category, 0.25, 0.1);
  // About 0.8 + 0.2 x the share of its departments' categories (~0.85), less
  // where small categories run out of items to show.
  EXPECT_GT(base.focus, 0.65);

  ASSERT_EQ(run("generate --out " + d + "/wide" + common +
                " --taste-spread 2 --category-spread 0 --exposure-focus 0")
                .code,
            0);
  const Read wide = load(d + "/wide");
  EXPECT_DOUBLE_EQ(wide.spec.at("taste_spread"), 2);
  EXPECT_DOUBLE_EQ(wide.spec.at("exposure_focus"), 0);
  const Measured m = measure(d + "/wide");
  EXPECT_NEAR(m.taste, 4.0, 0.6);
  EXPECT_NEAR(m.category, 0.0, 1e-12);
  // Uniform over the categories: a user's 1-2 departments of 6 hold about
  // a quarter of them.
  EXPECT_LT(m.focus, 0.45);
  EXPECT_GT(m.focus, 0.1);
  ASSERT_EQ(
      run("generate --out " + d + "/narrow" + common + " --taste-spread 0 --exposure-focus 1").code,
      0);
  const Measured n = measure(d + "/narrow");
  EXPECT_NEAR(n.taste, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(n.focus, 1.0);
  for (const char* bad : {" --taste-spread -1", " --category-spread -0.1", " --exposure-focus 1.5",
                          " --exposure-focus -0.2"}) {
    Result b = run("generate --out " + d + "/bad" + common + bad);
    EXPECT_NE(b.code, 0) << bad;
    EXPECT_NE(b.output.find("--exposure-focus in [0, 1]"), std::string::npos) << b.output;
  }
  for (const char* bad : {" --taste-spread nan", " --category-spread inf", " --exposure-focus nan"})
    EXPECT_NE(run("generate --out " + d + "/bad" + common + bad).code, 0) << bad;
}
