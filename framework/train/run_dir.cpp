#include "train/run_dir.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"

namespace metacat {

namespace fs = std::filesystem;

RunDirectory::RunDirectory(std::string dir, bool lead) : dir_(std::move(dir)), lead_(lead) {}

std::string RunDirectory::file(const std::string& name) const {
  return (fs::path(dir_) / name).string();
}

bool RunDirectory::has_checkpoints() const { return lead_ && !list_checkpoints(dir_).empty(); }

void RunDirectory::write_config(const Config& config, const std::string& role) {
  if (!lead_) return;
  atomic_write_text(file("config.yaml"),
                    (role.empty() ? "" : "# " + role + "\n") + config.to_yaml());
}

double RunDirectory::start_at(int64_t step, const std::string& metric, bool higher_better) {
  double best = std::nan("");
  if (!lead_) return best;
  const std::string metrics = file("metrics.jsonl");
  if (fs::exists(metrics)) {
    std::ifstream in(metrics);
    std::string kept, line;
    bool dropped = false;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() > step) {
        dropped = true;
        continue;
      }
      kept += line + "\n";
      if (!j.contains("split") || !j.contains("metrics")) continue;
      const auto& m = j["metrics"];
      if (!m.contains(metric) || !m[metric].is_number()) continue;
      const double v = m[metric].get<double>();
      if (!std::isfinite(best) || (higher_better ? v > best : v < best)) best = v;
    }
    in.close();
    if (dropped) atomic_write_text(metrics, kept);
  }
  for (const auto& f : list_checkpoints(dir_)) {
    const int64_t st = std::stoll(fs::path(f).filename().string().substr(5, 8));
    if (st > step) {
      log_warn() << "setting aside " << f << " (beyond the resumed step " << step << ")";
      std::error_code ec;
      fs::rename(f, f + ".stale", ec);
      if (ec) throw IoError("cannot rename '" + f + "' to '" + f + ".stale': " + ec.message());
    }
  }
  make_dirs(dir_);
  metrics_.open(metrics, std::ios::app);
  if (!metrics_) throw IoError("cannot open '" + metrics + "' for appending");
  return best;
}

void RunDirectory::record(const nlohmann::json& rec) {
  if (!lead_) return;
  metrics_ << rec.dump() << "\n" << std::flush;
  if (!metrics_) throw IoError("cannot append to '" + file("metrics.jsonl") + "' (disk full?)");
}

std::string RunDirectory::save_checkpoint(const Checkpoint& ck, int64_t keep) {
  const std::string path = checkpoint_path(dir_, ck.step);
  if (lead_) metacat::save_checkpoint(path, ck, keep);
  return path;
}

void RunDirectory::save_best(const Checkpoint& ck) {
  if (lead_) metacat::save_checkpoint(file("best.h5"), ck, 0, /*update_latest=*/false);
}

}  // namespace metacat
