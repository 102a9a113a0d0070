// The one home of file rules (core/io.h), of learner traits
// (config/learners.h), of the metric direction (core/loss.h) and of who
// prints (core/log.h).
#include "core/io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config/learners.h"
#include "core/error.h"
#include "core/log.h"
#include "core/loss.h"
#include "test_util.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {
std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
bool has_temp_files(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

// Captures what std::cout and std::cerr get while `f` runs.
std::pair<std::string, std::string> captured(const std::function<void()>& f) {
  std::ostringstream out, err;
  auto* o = std::cout.rdbuf(out.rdbuf());
  auto* e = std::cerr.rdbuf(err.rdbuf());
  f();
  std::cout.rdbuf(o);
  std::cerr.rdbuf(e);
  return {out.str(), err.str()};
}
}  // namespace

TEST(AtomicWrite, ReplacesWholeFilesAndCreatesFolders) {
  const std::string dir = test::fresh_dir("io", "write");
  const std::string path = dir + "/a/b/file.txt";
  atomic_write_text(path, "first\n");
  EXPECT_EQ(read(path), "first\n");
  atomic_write_text(path, "second\n");
  EXPECT_EQ(read(path), "second\n");
  EXPECT_FALSE(has_temp_files(dir + "/a/b"));
}

TEST(AtomicWrite, AFailedWriterLeavesTheOldFileAndNoTemporary) {
  const std::string dir = test::fresh_dir("io", "fail");
  const std::string path = dir + "/file.txt";
  atomic_write_text(path, "kept\n");
  struct WriterFailed {};  // the writer's own exception comes out unchanged
  EXPECT_THROW(atomic_write(path,
                            [](const std::string& tmp) {
                              std::ofstream(tmp) << "half";
                              throw WriterFailed{};
                            }),
               WriterFailed);
  EXPECT_EQ(read(path), "kept\n");
  EXPECT_FALSE(has_temp_files(dir));
}

TEST(AtomicWrite, AnImpossiblePathIsAnIoErrorNamingIt) {
  const std::string dir = test::fresh_dir("io", "bad");
  atomic_write_text(dir + "/plain", "a file, not a folder\n");
  const std::string bad = dir + "/plain/sub/file.txt";
  try {
    atomic_write_text(bad, "x");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/plain/sub"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_dirs(dir + "/plain/x"), IoError);
}

TEST(Hex, RoundTripsAndRefusesNonHex) {
  EXPECT_EQ(hex64(0), "0000000000000000");
  EXPECT_EQ(hex64(0xdeadbeefcafef00dull), "deadbeefcafef00d");
  EXPECT_EQ(parse_hex64(hex64(0x0123456789abcdefull), "x"), 0x0123456789abcdefull);
  EXPECT_THROW(parse_hex64("12zz", "x"), UserError);
  EXPECT_THROW(parse_hex64("", "x"), UserError);
  EXPECT_THROW(parse_hex64("-1", "x"), UserError);
  EXPECT_THROW(parse_hex64(" 12", "x"), UserError);
  EXPECT_THROW(parse_hex64("0x12", "x"), UserError);
  EXPECT_THROW(parse_hex64("00000000000000001", "x"), UserError);  // 17 digits
}

TEST(LearnerTable, NamesAndTraits) {
  EXPECT_EQ(learner_names(),
            (std::vector<std::string>{"maml", "fomaml", "reptile", "anil", "metasgd", "protomaml",
                                      "protonet", "finetune"}));
  EXPECT_TRUE(learner_traits("protomaml").gradient_family);
  EXPECT_FALSE(learner_traits("protomaml").regression);
  EXPECT_TRUE(learner_traits("maml").inner_loop);
  EXPECT_TRUE(learner_traits("reptile").inner_loop);
  EXPECT_FALSE(learner_traits("reptile").descriptor_init);
  EXPECT_FALSE(learner_traits("protonet").regression);
  EXPECT_FALSE(learner_traits("finetune").inner_loop);
  EXPECT_EQ(learners_with(&LearnerTraits::descriptor_init), "maml, fomaml, anil and metasgd");
  try {
    learner_traits("mamll");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("protonet"), std::string::npos) << e.what();
  }
}

TEST(MetricDirection, LowerIsBetterOnlyForErrorsAndLosses) {
  for (const char* m : {"mse", "loss", "log_loss"}) EXPECT_FALSE(higher_is_better(m)) << m;
  for (const char* m : {"accuracy", "auc", "ndcg@10", "recall@5"}) EXPECT_TRUE(higher_is_better(m));
  EXPECT_FALSE(higher_is_better(TaskKind::kRegression));
  EXPECT_TRUE(higher_is_better(TaskKind::kPreference));
}

TEST(Log, OnlyRankZeroPrintsInfoAndWarnings) {
  set_log_rank(1, 2);
  auto [out1, err1] = captured([] {
    log_info() << "info line";
    log_warn() << "warn line";
    log_warn_every_rank() << "mine";
  });
  EXPECT_EQ(out1, "");
  EXPECT_EQ(err1.find("warn line"), std::string::npos) << err1;
  EXPECT_NE(err1.find("warning: mine [rank 1 of 2, "), std::string::npos) << err1;
  set_log_rank(0, 2);
  auto [out0, err0] = captured([] {
    log_info() << "info " << 7;
    log_warn() << "careful";
  });
  EXPECT_EQ(out0, "info 7\n");
  EXPECT_EQ(err0, "warning: careful\n");
  set_log_rank(0, 1);
}
