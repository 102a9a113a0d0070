#include "checkpoint/checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "data/h5.h"

namespace metacat {

namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "step-%08lld.h5", static_cast<long long>(step));
  return (fs::path(run_dir) / "checkpoints" / name).string();
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  fs::create_directories(fs::path(path).parent_path());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    h5::Handle f = h5::create_file(tmp, /*ordered=*/true);
    h5::write_int_attr(f, "format", 1, tmp);
    h5::write_int_attr(f, "step", ck.step, tmp);
    h5::write_string_attr(f, "learner", ck.learner, tmp);
    h5::write_string_attr(f, "config", ck.config_yaml, tmp);
    h5::write_string_attr(f, "config_hash", std::to_string(ck.config_hash), tmp);
    h5::write_int_attr(f, "optimizer_steps", ck.optimizer_steps, tmp);
    h5::Handle g = h5::create_group(f, "params", tmp, true);
    for (size_t i = 0; i < ck.params.size(); ++i)
      h5::write_tensor(g, ck.params.names[i], ck.params.tensors[i], tmp);
    if (!ck.exp_avg.empty()) {
      h5::Handle o = h5::create_group(f, "optimizer", tmp);
      h5::Handle m = h5::create_group(o, "exp_avg", tmp, true);
      h5::Handle v = h5::create_group(o, "exp_avg_sq", tmp, true);
      for (size_t i = 0; i < ck.params.size(); ++i) {
        h5::write_tensor(m, ck.params.names[i], ck.exp_avg[i], tmp);
        h5::write_tensor(v, ck.params.names[i], ck.exp_avg_sq[i], tmp);
      }
    }
    METACAT_H5_CHECK(H5Fflush(f, H5F_SCOPE_GLOBAL), tmp, "flush");
  }
  h5::fsync_path(tmp);
  fs::rename(tmp, path);
  h5::fsync_dir_of(path);
}

Checkpoint load_checkpoint(const std::string& path) {
  h5::Handle f = h5::open_file(path);
  Checkpoint ck;
  ck.step = h5::read_int_attr(f, "step", path);
  ck.learner = h5::read_string_attr(f, "learner", path);
  ck.config_yaml = h5::read_string_attr(f, "config", path);
  ck.config_hash = std::stoull(h5::read_string_attr(f, "config_hash", path));
  ck.optimizer_steps = h5::read_int_attr(f, "optimizer_steps", path);
  h5::Handle g = h5::open_group(f, "params", path);
  for (const auto& name : h5::list(g, path)) ck.params.add(name, h5::read_tensor(g, name, path));
  if (h5::exists(f, "optimizer")) {
    h5::Handle m = h5::open_group(f, "optimizer/exp_avg", path);
    h5::Handle v = h5::open_group(f, "optimizer/exp_avg_sq", path);
    for (const auto& name : ck.params.names) {
      ck.exp_avg.push_back(h5::read_tensor(m, name, path));
      ck.exp_avg_sq.push_back(h5::read_tensor(v, name, path));
    }
  }
  return ck;
}

std::string newest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::string best;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("step-", 0) == 0 && n.size() > 3 && n.substr(n.size() - 3) == ".h5" && n > best)
        best = n;
    }
  if (best.empty()) throw UserError("no checkpoint in '" + dir.string() + "'");
  return (dir / best).string();
}

std::string resolve_checkpoint(const std::string& p) {
  if (fs::is_directory(p)) return newest_checkpoint(p);
  if (!fs::exists(p)) throw UserError("checkpoint '" + p + "' does not exist");
  return p;
}

}  // namespace metacat
