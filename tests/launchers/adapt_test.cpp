// `metacat adapt` and `metacat export` through the real binary: a new
// category's CSV in, adapted parameters out; exported files checked with
// PyTorch (the torch that metacat links, METACAT_PYTHON) against metacat's own outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/serialize.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "datasets/synthetic_catalogue.h"
#include "test_util.h"
#include "train/experiment.h"
#include "train/options.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

using test::Result;
Result sh(const std::string& cmd) { return test::shell(cmd); }
Result run(const std::string& args) { return sh(std::string(METACAT_BIN) + " " + args); }

std::string dir(const std::string& name) {
  return (fs::temp_directory_path() / ("metacat-adapt-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool have_python_torch() {
  return sh(std::string(METACAT_PYTHON) + " -c 'import torch, h5py'").code == 0;
}

// A tiny trained preference run with descriptors (shared by the tests).
const std::string& preference_run() {
  static const std::string d = [] {
    std::string r = dir("pref-run");
    fs::remove_all(r);
    Result t = run("train --config " + std::string(METACAT_SOURCE_DIR) +
                   "/configs/preference.yaml --run-dir " + r +
                   " --set train.steps=40 --set eval.at_end=false --set eval.val_every=0"
                   " --set learner.descriptor_init=true");
    EXPECT_EQ(t.code, 0) << t.output;
    return r;
  }();
  return d;
}

// CSV rows "label,f1..f16" and the descriptor of a test category.
void write_category(int64_t category, int64_t rows, const std::string& csv,
                    const std::string& desc) {
  SyntheticSpec
      s;  // the preference config's catalogue (categories 300, 8 departments, 16 features)
  SyntheticCatalogue cat(s, 3);
  SyntheticCategory c = cat.generate(category);
  std::ofstream out(csv);
  out << "label";
  for (int k = 1; k <= 16; ++k) out << ",f" << k;
  out << "\n";
  for (int64_t i = 0; i < rows; ++i) {
    out << c.labels[i].item<float>();
    for (int k = 0; k < 16; ++k) out << "," << c.items[i][k].item<float>();
    out << "\n";
  }
  std::ofstream d(desc);
  for (int64_t k = 0; k < c.descriptor.size(0); ++k)
    d << (k ? "," : "") << c.descriptor[k].item<float>();
  d << "\n";
}

}  // namespace

TEST(Adapt, WritesAdaptedParametersThatFitTheSupportSet) {
  const std::string out = dir("out"), csv = dir("support.csv"), desc = dir("desc.csv");
  write_category(290, 20, csv, desc);  // categories 240..299 are the test split
  Result r = run("adapt --checkpoint " + preference_run() + " --support " + csv + " --descriptor " +
                 desc + " --steps 10 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(std::ifstream(out + "/adapt.json"));
  EXPECT_EQ(j["support_rows"], 20);
  EXPECT_EQ(j["descriptor"], true);
  EXPECT_LT(j["support_metrics_after"]["log_loss"].get<double>(),
            j["support_metrics_before"]["log_loss"].get<double>());
  // The adapted parameters are the model's only, in metacat's order.
  Checkpoint ck = load_checkpoint(newest_checkpoint(preference_run()));
  EXPECT_TRUE(ck.params.contains("desc.0.weight"));
  ASSERT_TRUE(fs::exists(out + "/adapted.h5") && fs::exists(out + "/adapted.pt"));
  // Without the descriptor the start is not the one meta-training used: said so.
  Result plain = run("adapt --checkpoint " + preference_run() + " --support " + csv + " --out " +
                     dir("out-plain"));
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_NE(plain.output.find("no descriptor was given"), std::string::npos) << plain.output;
  // A category's zero-shot start exports too.
  Result e = run("export --checkpoint " + preference_run() + " --descriptor " + desc + " --out " +
                 dir("zero.pt"));
  EXPECT_EQ(e.code, 0) << e.output;
  EXPECT_EQ(e.output.find("warning"), std::string::npos) << e.output;
  if (!have_python_torch())
    GTEST_SKIP() << METACAT_PYTHON << " cannot import torch and h5py (scripts/setup)";
  Result py =
      sh(std::string(METACAT_PYTHON) + " " + std::string(METACAT_SOURCE_DIR) +
         "/tests/launchers/check_export.py --same " + out + "/adapted.pt " + out + "/adapted.h5");
  EXPECT_EQ(py.code, 0) << py.output;
}

TEST(Adapt, BadSupportFilesNameTheRowAndColumn) {
  const std::string ck = preference_run();
  struct Case {
    std::string name, text, needle;
  };
  std::string header = "label";
  for (int k = 1; k <= 16; ++k) header += ",f" + std::to_string(k);
  auto row = [](const std::string& label, int features, const std::string& cell = "0.5") {
    std::string s = label;
    for (int k = 0; k < features; ++k) s += "," + (k == 3 ? cell : std::string("0.5"));
    return s + "\n";
  };
  const std::vector<Case> cases = {
      {"empty", "", "no labelled rows (empty file)"},
      {"header-only", header + "\n", "no labelled rows"},
      {"width", header + "\n" + row("1", 16) + row("0", 15), "row 3: 16 columns, expected 17"},
      {"nonnumeric", header + "\n" + row("1", 16) + row("0", 16, "abc"),
       "row 3, column 5 (f4): 'abc' is not a number"},
      {"label", header + "\n" + row("1", 16) + row("2", 16),
       "row 3, column 1 (label): label '2' is not 0 or 1"},
      {"no-positive", row("0", 16) + row("0", 16), "no positive (label 1) rows"},
      {"no-negative", row("1", 16) + row("1", 16), "no negative (label 0) rows"},
  };
  for (const auto& c : cases) {
    const std::string csv = dir(c.name + ".csv");
    write(csv, c.text);
    Result r = run("adapt --checkpoint " + ck + " --support " + csv + " --out " + dir(c.name));
    EXPECT_EQ(r.code, 1) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(csv), std::string::npos) << c.name << ": the message names the file";
  }
  const std::string desc = dir("bad-desc.csv"), csv = dir("ok.csv");
  write(csv, header + "\n" + row("1", 16) + row("0", 16));
  write(desc, "0.1,0.2\n");
  Result r = run("adapt --checkpoint " + ck + " --support " + csv + " --descriptor " + desc +
                 " --out " + dir("d"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("2 values, the checkpoint's descriptor has 8"), std::string::npos)
      << r.output;
}

namespace {
// Two meta-steps of conv4 on Fashion-MNIST into a fresh run_dir.
Result train_conv4(const std::string& run_dir, const std::string& extra) {
  fs::remove_all(run_dir);
  return run("train --config " + std::string(METACAT_SOURCE_DIR) +
             "/configs/fashion-mnist.yaml --run-dir " + run_dir +
             " --set data.source=fashion-mnist --set data.path=/usr/share/datasets/fashion-mnist"
             " --set train.steps=2 --set eval.at_end=false --set eval.val_every=0" +
             extra);
}
}  // namespace

// Exported parameters in PyTorch (scripts/metacat_model.py) give metacat's
// outputs on the same inputs, for a preference MLP and for conv4.
TEST(Export, PyTorchModelReproducesMetacatOutputs) {
  if (!have_python_torch())
    GTEST_SKIP() << METACAT_PYTHON << " cannot import torch and h5py (scripts/setup)";
  const std::string conv_run = dir("conv-run");
  Result t = train_conv4(conv_run, "");
  ASSERT_EQ(t.code, 0) << t.output;
  for (const std::string& run_dir : {preference_run(), conv_run}) {
    Checkpoint ck = load_checkpoint(newest_checkpoint(run_dir));
    const Config cfg = Config::from_yaml(ck.config_yaml, "test");
    const bool conv = cfg.get_string("model.name") == "conv4";
    std::vector<int64_t> shape = conv ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{16};
    ModelSpec ms = read_options(cfg).model;
    ms.input_shape = shape;
    ms.outputs = ck.params.at("head.weight").size(0);
    auto model = make_model(ms);
    torch::manual_seed(1);
    std::vector<int64_t> xs = {12};
    xs.insert(xs.end(), shape.begin(), shape.end());
    torch::Tensor x = torch::rand(xs);
    torch::Tensor y = model->forward(ck.params, x, Mode::kEval).detach();
    c10::Dict<std::string, torch::Tensor> io;
    io.insert("x", x);
    io.insert("y", y);
    const std::string io_path = dir(conv ? "conv-io.pt" : "pref-io.pt"),
                      pt = dir(conv ? "conv.pt" : "pref.pt");
    auto bytes = torch::pickle_save(io);
    std::ofstream(io_path, std::ios::binary).write(bytes.data(), bytes.size());
    Result e = run("export --checkpoint " + run_dir + " --format pytorch --out " + pt);
    ASSERT_EQ(e.code, 0) << e.output;
    Result py = sh(std::string(METACAT_PYTHON) + " " + std::string(METACAT_SOURCE_DIR) +
                   "/tests/launchers/check_export.py " + pt + " " + io_path);
    EXPECT_EQ(py.code, 0) << (conv ? "conv4: " : "preference: ") << py.output;
  }
  Result bad = run("export --checkpoint " + conv_run + " --format onnx --out " + dir("x.onnx"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("unknown --format 'onnx'"), std::string::npos) << bad.output;
}

// ProtoNet has no head of its own: the export says so instead of leaving a
// state_dict that a strict load rejects without a word.
TEST(Export, ProtoNetExportSaysItHasNoHead) {
  const std::string proto_run = dir("proto-run");
  Result t = train_conv4(proto_run, " --set learner.name=protonet");
  ASSERT_EQ(t.code, 0) << t.output;
  Result e = run("export --checkpoint " + proto_run + " --out " + dir("proto.pt"));
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("no head.* tensors: protonet builds each task's head"), std::string::npos)
      << e.output;
  Result m = run("export --checkpoint " + preference_run() + " --out " + dir("pref-note.pt"));
  EXPECT_EQ(m.output.find("no head.* tensors"), std::string::npos) << m.output;
}
