#include "model_commands.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "core/model.h"
#include "datasets/csv_features.h"
#include "train/adapt.h"

namespace fs = std::filesystem;

namespace metacat::cli {

namespace {

struct AdaptArgs {
  std::string checkpoint, support, descriptor, out;
  int64_t steps = -1;
};

struct ExportArgs {
  std::string checkpoint, format = "pytorch", out, descriptor;
};

std::string fmt(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(4) << v;
  return s.str();
}

int run_adapt(const AdaptArgs& a) {
  const std::string path = resolve_checkpoint(a.checkpoint);
  const Checkpoint ck = load_checkpoint(path);
  AdaptRequest req;
  const SupportSet s = read_support_csv(a.support, checkpoint_input_dim(ck));
  req.x = s.x, req.y = s.y, req.steps = a.steps;
  if (!a.descriptor.empty()) {
    const int64_t d = checkpoint_descriptor_dim(ck);
    if (d == 0)
      throw UserError(
          "adapt: --descriptor given, but the checkpoint was trained without "
          "learner.descriptor_init");
    req.descriptor = read_vector_csv(a.descriptor, d, "descriptor");
  }
  const AdaptResult r = adapt_checkpoint(ck, req);
  for (const auto& w : r.warnings) log_warn() << "adapt: " << w;
  make_dirs(a.out);
  const std::string h5 = (fs::path(a.out) / "adapted.h5").string();
  const std::string pt = (fs::path(a.out) / "adapted.pt").string();
  save_params_h5(h5, r.adapted,
                 {{"checkpoint", fs::absolute(path).string()},
                  {"support", a.support},
                  {"steps", std::to_string(r.steps)}});
  save_params_pytorch(pt, r.adapted);
  nlohmann::json j = {
      {"checkpoint", fs::absolute(path).string()},
      {"support", a.support},
      {"support_rows", s.positives + s.negatives},
      {"positives", s.positives},
      {"negatives", s.negatives},
      {"descriptor", r.used_descriptor},
      {"steps", r.steps},
      {"inner_lr", std::isnan(r.inner_lr)
                       ? nlohmann::json("learned rates (Meta-SGD lr.* or per-step lslr.*)")
                       : nlohmann::json(r.inner_lr)},
      {"support_metrics_before", r.before},
      {"support_metrics_after", r.after},
      {"files", {h5, pt}}};
  atomic_write_text((fs::path(a.out) / "adapt.json").string(), j.dump(2) + "\n");
  std::cout << "adapt: " << s.positives + s.negatives << " support rows (" << s.positives
            << " positive), " << r.steps << " steps "
            << (std::isnan(r.inner_lr) ? std::string("at the learned rates")
                                       : "of " + fmt(r.inner_lr))
            << (r.used_descriptor ? ", from the descriptor's start" : "") << "\n  support log-loss "
            << fmt(r.before.at("log_loss")) << " -> " << fmt(r.after.at("log_loss"))
            << ", accuracy " << fmt(r.before.at("accuracy")) << " -> "
            << fmt(r.after.at("accuracy")) << "\n  wrote " << h5 << ", " << pt << ", "
            << (fs::path(a.out) / "adapt.json").string() << std::endl;
  return 0;
}

int run_export(const ExportArgs& a) {
  if (a.format != "pytorch")
    throw UserError("export: unknown --format '" + a.format + "' (pytorch)");
  const std::string path = resolve_checkpoint(a.checkpoint);
  const Checkpoint ck = load_checkpoint(path);
  Params p = model_parameters(ck.params);
  const int64_t d = checkpoint_descriptor_dim(ck);
  if (!a.descriptor.empty()) {
    // The category's zero-shot start: the head with its descriptor's offset.
    if (d == 0)
      throw UserError(
          "export: --descriptor given, but the checkpoint was trained without "
          "learner.descriptor_init");
    AdaptRequest req;
    req.x = torch::zeros({0, checkpoint_input_dim(ck)});
    req.y = torch::zeros({0});
    req.descriptor = read_vector_csv(a.descriptor, d, "descriptor");
    p = adapt_checkpoint(ck, req).adapted;
  } else if (d > 0) {
    log_warn() << "export: the checkpoint was trained with learner.descriptor_init; the exported "
                  "head is the shared one, without any category's descriptor offset (pass "
                  "--descriptor FILE to export a category's start)";
  }
  make_dirs(fs::path(a.out).parent_path().string());
  save_params_pytorch(a.out, p);
  std::cout
      << "export: " << p.size() << " tensors of " << path << " -> " << a.out
      << " (a state_dict: torch.load; the model definitions are in scripts/metacat_model.py)\n";
  for (size_t i = 0; i < p.size(); ++i) {
    std::cout << "  " << p.names[i] << " [";
    for (int64_t k = 0; k < p.tensors[i].dim(); ++k)
      std::cout << (k ? ", " : "") << p.tensors[i].size(k);
    std::cout << "]\n";
  }
  if (std::none_of(p.names.begin(), p.names.end(), Model::is_head))
    std::cout << "  (no head.* tensors: " << ck.learner
              << " builds each task's head from its class prototypes; load with strict=False "
                 "and use the body's features)\n";
  if (p.size() != ck.params.size())
    std::cout << "  (not exported: " << ck.params.size() - p.size()
              << " meta-parameters that are not the model's: learned inner rates, per-step batch "
                 "norm, descriptor network)\n";
  return 0;
}

}  // namespace

std::vector<std::pair<CLI::App*, std::function<int()>>> add_model_commands(CLI::App& app) {
  auto adapt = std::make_shared<AdaptArgs>();
  auto* ad = app.add_subcommand(
      "adapt", "Adapt a preference checkpoint to a new category's labelled examples");
  ad->add_option("--checkpoint", adapt->checkpoint,
                 "Checkpoint file, or run directory (its newest)")
      ->required();
  ad->add_option("--support", adapt->support,
                 "CSV/TSV of the category's examples: label,f1..fd (label 0/1; header optional)")
      ->required();
  ad->add_option("--descriptor", adapt->descriptor,
                 "CSV with one row: the category's descriptor (checkpoints trained with "
                 "learner.descriptor_init)");
  ad->add_option("--steps", adapt->steps,
                 "Inner steps (default: the run's learner.eval_inner_steps)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  ad->add_option("--out", adapt->out, "Output directory: adapted.h5, adapted.pt, adapt.json")
      ->required();

  auto exp = std::make_shared<ExportArgs>();
  auto* ex = app.add_subcommand("export", "Export a checkpoint's model parameters for PyTorch");
  ex->add_option("--checkpoint", exp->checkpoint, "Checkpoint file, or run directory (its newest)")
      ->required();
  ex->add_option("--format", exp->format,
                 "Output format: pytorch (a state_dict file for torch.load)");
  ex->add_option("--out", exp->out, "Output file, e.g. model.pt")->required();
  ex->add_option(
      "--descriptor", exp->descriptor,
      "CSV with one row: a category's descriptor; exports that category's (zero-shot) start");
  return {{ad, [adapt] { return run_adapt(*adapt); }}, {ex, [exp] { return run_export(*exp); }}};
}

}  // namespace metacat::cli
