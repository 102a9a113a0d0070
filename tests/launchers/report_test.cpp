// `metacat report`: the numbers in the HTML are those of metrics.jsonl and
// eval.json, and the page renders its charts in headless Chromium.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

std::string run(const std::string& cmd, int* code = nullptr) {
  const metacat::test::Result r = metacat::test::shell(cmd);
  if (code) *code = r.code;
  return r.output;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

// One small run with validation and a final evaluation, shared by the tests.
const std::string& run_dir() {
  static const std::string dir = [] {
    const std::string d =
        (fs::temp_directory_path() / ("metacat-report-" + std::to_string(::getpid()))).string();
    fs::remove_all(d);
    int code = 0;
    const std::string out =
        run(std::string(METACAT_BIN) + " train --config " + METACAT_SOURCE_DIR +
                "/configs/preference.yaml --set train.steps=200 --set eval.val_every=50 "
                "--set eval.val_episodes=30 --set eval.episodes=40 --set eval.shots=[1,5] "
                "--set baselines.finetune.pretrain_steps=50 --run-dir " +
                d,
            &code);
    EXPECT_EQ(code, 0) << out;
    return d;
  }();
  return dir;
}

}  // namespace

TEST(Report, NumbersMatchMetricsAndEvalJson) {
  int code = 0;
  const std::string out = run(std::string(METACAT_BIN) + " report " + run_dir(), &code);
  ASSERT_EQ(code, 0) << out;
  const std::string html = read(run_dir() + "/report.html");
  auto eval = nlohmann::json::parse(read(run_dir() + "/eval.json"));
  // maml+descriptor, finetune, scratch x 1 and 5 shots x warm and cold categories
  ASSERT_EQ(eval["results"].size(), 12u);
  for (const auto& r : eval["results"]) {
    const std::string cell =
        fmt(r["mean"].get<double>()) + " &plusmn; " + fmt(r["ci95"].get<double>());
    EXPECT_NE(html.find(cell), std::string::npos)
        << r["method"] << " " << r["shots"] << ": " << cell;
    EXPECT_NE(
        html.find(r["method"].get<std::string>() + " (" + r["categories"].get<std::string>() + ")"),
        std::string::npos);
    // Preference results carry catalogue coverage, shown in its own column
    // after NDCG@10 and recall@10.
    ASSERT_TRUE(r["metrics"].contains("coverage@10")) << r;
    const double cov = r["metrics"]["coverage@10"].get<double>();
    EXPECT_GT(cov, 0.0);
    EXPECT_LE(cov, 1.0);
    EXPECT_NE(html.find(cell + "</td><td>" + std::to_string(r["episodes"].get<int>()) +
                        "</td><td>" + fmt(r["metrics"]["ndcg@10"].get<double>()) + "</td><td>" +
                        fmt(r["metrics"]["recall@10"].get<double>()) + "</td><td>" + fmt(cov)),
              std::string::npos)
        << r["method"] << " " << r["shots"];
  }
  EXPECT_NE(html.find("<th>coverage@10</th>"), std::string::npos);
  // One polyline point per training record, one per validation record.
  std::ifstream in(run_dir() + "/metrics.jsonl");
  int train = 0, val = 0;
  for (std::string line; std::getline(in, line);)
    (line.find("\"split\"") != std::string::npos ? val : train)++;
  EXPECT_EQ(train, 2);  // log_every 100, 200 steps
  EXPECT_EQ(val, 4);
  EXPECT_NE(html.find("validation auc"), std::string::npos);
  EXPECT_NE(html.find("<pre>seed: 3"), std::string::npos);  // the resolved config
  EXPECT_NE(html.find("Cold-start categories"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no network resources
}

TEST(Report, RendersItsChartsInHeadlessChromium) {
  if (!fs::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "chromium is not installed (scripts/setup installs it)";
  const std::string html = run_dir() + "/report.html";
  run(std::string(METACAT_BIN) + " report " + run_dir());
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --disable-quic ";
  const std::string profile1 = run_dir() + "/chromium-1", profile2 = run_dir() + "/chromium-2";
  const std::string png = run_dir() + "/report.png";
  run("timeout 120 /usr/bin/chromium" + flags + "--user-data-dir=" + profile1 +
      " --window-size=1100,2600 --screenshot=" + png + " file://" + html);
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);  // a rendered page, not a blank one
  const std::string dom = run("timeout 120 /usr/bin/chromium" + flags +
                              "--user-data-dir=" + profile2 + " --dump-dom file://" + html);
  // The page's own check: every chart SVG has a non-zero rendered size.
  EXPECT_NE(dom.find("charts 5 rendered 5"), std::string::npos) << dom.substr(0, 300);
}
