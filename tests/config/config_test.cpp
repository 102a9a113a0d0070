#include "config/config.h"

#include <gtest/gtest.h>

#include "core/error.h"

using namespace metacat;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsAndTypedValues) {
  Config c = Config::from_yaml("seed: 5\ntask:\n  ways: 4\neval:\n  shots: [1, 10]\n", "t.yaml");
  EXPECT_EQ(c.get_int("seed"), 5);
  EXPECT_EQ(c.get_int("task.ways"), 4);
  EXPECT_EQ(c.get_ints("eval.shots"), (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(c.get_string("learner.name"), "maml");  // default
  EXPECT_EQ(c.origin("task.ways"), "t.yaml:3");
  EXPECT_EQ(c.origin("learner.name"), "default");
}

TEST(Config, UnknownKeyNamesPathLineAndSuggestion) {
  std::string e =
      error_of([] { Config::from_yaml("seed: 1\nlearner:\n  inner_lrr: 0.1\n", "x.yaml"); });
  EXPECT_NE(e.find("learner.inner_lrr"), std::string::npos) << e;
  EXPECT_NE(e.find("x.yaml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("learner.inner_lr'"), std::string::npos) << e;
}

TEST(Config, WrongTypeAndRangeAndChoice) {
  std::string e = error_of([] { Config::from_yaml("task:\n  ways: three\n", "y.yaml"); });
  EXPECT_NE(e.find("task.ways (y.yaml:2)"), std::string::npos) << e;
  EXPECT_NE(e.find("not an integer"), std::string::npos) << e;
  e = error_of([] { Config::from_yaml("task:\n  ways: 1\n", "y.yaml"); });
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  e = error_of([] { Config::from_yaml("learner:\n  name: magic\n", "y.yaml"); });
  EXPECT_NE(e.find("not one of"), std::string::npos) << e;
  e = error_of([] { Config::from_yaml("eval:\n  shots: 5\n", "y.yaml"); });
  EXPECT_NE(e.find("list of integers"), std::string::npos) << e;
  e = error_of([] { Config::from_yaml("task: 3\n", "y.yaml"); });
  EXPECT_NE(e.find("is a section"), std::string::npos) << e;
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  std::string e = error_of([] { Config::from_yaml("seed: 1\ntask: [ways: 3\n", "bad.yaml"); });
  EXPECT_NE(e.find("bad.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed YAML"), std::string::npos) << e;
  e = error_of([] { Config::load_file("/nonexistent/config.yaml"); });
  EXPECT_NE(e.find("/nonexistent/config.yaml"), std::string::npos) << e;
}

TEST(Config, SetOverridesAndValidates) {
  Config c;
  c.set("learner.inner_steps=5");
  c.set("eval.baselines=[finetune, scratch]");
  EXPECT_EQ(c.get_int("learner.inner_steps"), 5);
  EXPECT_EQ(c.get_strings("eval.baselines"), (std::vector<std::string>{"finetune", "scratch"}));
  EXPECT_EQ(c.origin("learner.inner_steps"), "--set");
  EXPECT_THROW(c.set("learner.inner_steps=-1"), UserError);
  EXPECT_THROW(c.set("nope.key=1"), UserError);
  EXPECT_THROW(c.set("no_equals_sign"), UserError);
}

TEST(Config, ResolvedYamlRoundTripsAndHashSeesChanges) {
  Config a = Config::from_yaml("seed: 9\nmodel:\n  hidden: [8, 4]\n", "a.yaml");
  Config b = Config::from_yaml(a.to_yaml(), "resolved");
  EXPECT_TRUE(Config::diff(a, b).empty());
  EXPECT_EQ(a.hash(), b.hash());
  b.set("model.hidden=[8, 5]");
  EXPECT_EQ(Config::diff(a, b), (std::vector<std::string>{"model.hidden"}));
  EXPECT_NE(a.hash(), b.hash());
}
