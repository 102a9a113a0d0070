#include "checkpoint/checkpoint.h"

#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "data/h5.h"

namespace metacat {

namespace fs = std::filesystem;

namespace {

uint64_t content_hash(const Checkpoint& ck) {
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  auto add = [&](const void* p, size_t n) { XXH64_update(st, p, n); };
  auto add_str = [&](const std::string& s) {
    add(s.data(), s.size());
    add("\0", 1);
  };
  auto add_tensor = [&](const torch::Tensor& t) {
    torch::Tensor c = t.detach().contiguous();
    add(c.data_ptr(), c.numel() * c.element_size());
  };
  add(&ck.step, sizeof ck.step);
  add(&ck.optimizer_steps, sizeof ck.optimizer_steps);
  add(&ck.world_size, sizeof ck.world_size);
  add(&ck.config_hash, sizeof ck.config_hash);
  add(&ck.data_checksum, sizeof ck.data_checksum);
  add_str(ck.learner);
  add_str(ck.config_yaml);
  for (size_t i = 0; i < ck.params.size(); ++i) {
    add_str(ck.params.names[i]);
    add_tensor(ck.params.tensors[i]);
  }
  for (const auto& t : ck.exp_avg) add_tensor(t);
  for (const auto& t : ck.exp_avg_sq) add_tensor(t);
  const uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  return h;
}

void write_latest(const fs::path& dir, const std::string& name) {
  atomic_write_text((dir / "latest").string(), name + "\n");
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "step-%08lld.h5", static_cast<long long>(step));
  return (fs::path(run_dir) / "checkpoints" / name).string();
}

void save_checkpoint(const std::string& path, const Checkpoint& ck, int64_t keep,
                     bool update_latest) {
  const fs::path dir = fs::path(path).parent_path();
  atomic_write(path, [&](const std::string& tmp) {
    h5::Handle f = h5::create_file(tmp, /*ordered=*/true);
    h5::write_int_attr(f, "format", 2, tmp);
    h5::write_int_attr(f, "step", ck.step, tmp);
    h5::write_string_attr(f, "learner", ck.learner, tmp);
    h5::write_string_attr(f, "config", ck.config_yaml, tmp);
    h5::write_string_attr(f, "config_hash", std::to_string(ck.config_hash), tmp);
    h5::write_string_attr(f, "data_xxh64", hex64(ck.data_checksum), tmp);
    h5::write_int_attr(f, "world_size", ck.world_size, tmp);
    h5::write_int_attr(f, "optimizer_steps", ck.optimizer_steps, tmp);
    h5::write_string_attr(f, "content_xxh64", hex64(content_hash(ck)), tmp);
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
    h5::flush(f, tmp);
  });
  if (update_latest) write_latest(dir, fs::path(path).filename().string());
  if (keep > 0) {
    // Retention: the newest `keep` step files stay; the one just written is
    // among them, so a valid checkpoint always remains.
    auto all = list_checkpoints(dir.parent_path().string());
    for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i)
      if (all[i] != path) remove_file(all[i]);
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  h5::Handle f = h5::open_file(path);
  Checkpoint ck;
  try {
    if (h5::read_int_attr(f, "format", path) != 2)
      throw UserError("checkpoint '" + path + "' has an unknown format version");
    ck.step = h5::read_int_attr(f, "step", path);
    ck.learner = h5::read_string_attr(f, "learner", path);
    ck.config_yaml = h5::read_string_attr(f, "config", path);
    ck.config_hash = std::stoull(h5::read_string_attr(f, "config_hash", path));
    ck.data_checksum =
        parse_hex64(h5::read_string_attr(f, "data_xxh64", path), path + ": data_xxh64");
    ck.world_size = h5::read_int_attr(f, "world_size", path);
    ck.optimizer_steps = h5::read_int_attr(f, "optimizer_steps", path);
    const uint64_t expect =
        parse_hex64(h5::read_string_attr(f, "content_xxh64", path), path + ": content_xxh64");
    h5::Handle g = h5::open_group(f, "params", path);
    for (const auto& name : h5::list(g, path))
      ck.params.add(name, h5::read_tensor(g, name, path, "/params/" + name));
    if (h5::exists(f, "optimizer")) {
      h5::Handle m = h5::open_group(f, "optimizer/exp_avg", path);
      h5::Handle v = h5::open_group(f, "optimizer/exp_avg_sq", path);
      for (const auto& name : ck.params.names) {
        ck.exp_avg.push_back(h5::read_tensor(m, name, path));
        ck.exp_avg_sq.push_back(h5::read_tensor(v, name, path));
      }
    }
    if (content_hash(ck) != expect)
      throw UserError("checkpoint '" + path + "' is corrupt: its content checksum does not match");
  } catch (const std::invalid_argument&) {
    throw UserError("checkpoint '" + path + "' is corrupt: unreadable attributes");
  }
  return ck;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::vector<std::string> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("step-", 0) == 0 && n.size() == 16 && n.substr(13) == ".h5")
        out.push_back(e.path().string());
    }
  std::sort(out.rbegin(), out.rend());
  return out;
}

std::string newest_valid_checkpoint(const std::string& run_dir,
                                    std::vector<std::string>* warnings) {
  // By step, newest first ('latest' is a convenience for tools: a crash
  // between a file's rename and the pointer's update must not hide it).
  for (const auto& p : list_checkpoints(run_dir)) {
    try {
      load_checkpoint(p);
      return p;
    } catch (const UserError& e) {
      if (warnings) warnings->push_back(e.what());
    }
  }
  return "";
}

std::string newest_checkpoint(const std::string& run_dir) {
  std::vector<std::string> warnings;
  const std::string p = newest_valid_checkpoint(run_dir, &warnings);
  for (const auto& w : warnings) log_warn() << w << "; trying an older checkpoint";
  if (p.empty())
    throw UserError("no " + std::string(warnings.empty() ? "" : "valid ") + "checkpoint in '" +
                    (fs::path(run_dir) / "checkpoints").string() + "'");
  return p;
}

std::string resolve_checkpoint(const std::string& p) {
  if (fs::is_directory(p)) return newest_checkpoint(p);
  if (!fs::exists(p)) throw UserError("checkpoint '" + p + "' does not exist");
  return p;
}

}  // namespace metacat
