#include "data/pack.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <vector>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "data/h5.h"

namespace metacat {

namespace fs = std::filesystem;

std::vector<int64_t> assign_shards(const std::vector<int64_t>& bytes, int64_t shards) {
  int64_t total = 0;
  for (int64_t b : bytes) total += b;
  std::vector<int64_t> out(bytes.size());
  int64_t before = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    // The shard whose byte range holds the category's midpoint.
    const double mid = before + 0.5 * bytes[i];
    out[i] =
        total > 0 ? std::min<int64_t>(shards - 1, static_cast<int64_t>(mid * shards / total)) : 0;
    before += bytes[i];
  }
  return out;
}

namespace {

bool is_dataset_file(const std::string& name) {
  return name.rfind("shard-", 0) == 0 || name.rfind("manifest.h5", 0) == 0;
}

// A folder inside the output, ".packing-<host>-<pid>": on the output's own
// file system, so that its files move in by rename (no space, no copy).
// Staging folders of packs from this host that died (their process is
// gone) are removed on the way; other hosts' (a shared file system) are
// left alone.
struct Staging {
  std::string out, dir;
  explicit Staging(const std::string& out_dir) : out(out_dir) {
    const std::string prefix = ".packing-" + hostname() + "-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) != 0) continue;
      const long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
        fs::remove_all(e.path(), ec);
    }
    dir = (fs::path(out) / (prefix + std::to_string(getpid()))).string();
    fs::remove_all(dir, ec);
    make_dirs(dir);
  }
  // The old dataset's files go (manifest first: without it the old shards
  // are never read), the new ones come in (manifest last). A failure here
  // keeps the staging folder (the new dataset, whole) and names it.
  void commit() const {
    try {
      remove_file(manifest_path(out));
      for (const auto& e : fs::directory_iterator(out))
        if (is_dataset_file(e.path().filename().string())) remove_file(e.path().string());
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename() != "manifest.h5") files.push_back(e.path());
      files.push_back(fs::path(dir) / "manifest.h5");
      for (const auto& f : files) fs::rename(f, fs::path(out) / f.filename());
      fs::remove(dir);
    } catch (const std::exception& e) {
      throw Committing("pack: moving the new dataset from " + dir + " into " + out + " failed (" +
                       e.what() + "); the complete new dataset is in " + dir);
    }
  }
  void discard() const {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  // A failure of commit(): the staging folder is kept.
  struct Committing : IoError {
    using IoError::IoError;
  };
};

// Writes the shards and the manifest into opt.out (the staging folder).
PackSummary pack_into(Manifest m, const std::function<CategoryRows(int64_t)>& produce,
                      const PackOptions& opt, std::chrono::steady_clock::time_point t0);

}  // namespace

PackSummary pack(Manifest m, const std::function<CategoryRows(int64_t)>& produce,
                 const PackOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.compression < 0 || opt.compression > 9)
    throw UserError("pack: compression level must be 0..9");
  if (fs::exists(manifest_path(opt.out)) && !opt.force)
    throw UserError("pack: '" + opt.out +
                    "' already holds a dataset (manifest.h5); use --force to replace it");
  make_dirs(opt.out);
  // Everything is written to a staging folder beside --out and moved in
  // only when complete: a pack that fails (a full disk) leaves the dataset
  // already in --out as it was.
  const Staging staging(opt.out);
  PackOptions staged = opt;
  staged.out = staging.dir;
  try {
    PackSummary sum = pack_into(std::move(m), produce, staged, t0);
    staging.commit();
    return sum;
  } catch (const Staging::Committing&) {
    throw;
  } catch (...) {
    staging.discard();
    throw;
  }
}

namespace {

PackSummary pack_into(Manifest m, const std::function<CategoryRows(int64_t)>& produce,
                      const PackOptions& opt, std::chrono::steady_clock::time_point t0) {
  using Clock = std::chrono::steady_clock;
  const int64_t n = m.num_categories();
  const int64_t row = m.row_bytes();
  std::vector<int64_t> bytes(n);
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += bytes[i] = m.items[i] * row;
  int64_t shards = opt.shards > 0
                       ? opt.shards
                       : std::max<int64_t>(1, (total + opt.shard_bytes - 1) / opt.shard_bytes);
  shards = std::max<int64_t>(1, std::min(shards, n));
  m.shard = assign_shards(bytes, shards);
  m.shard_bytes.assign(shards, 0);
  m.shard_xxh64.assign(shards, 0);
  const int64_t chunk_rows = std::max<int64_t>(1, opt.chunk_bytes / std::max<int64_t>(1, row));

  PackSummary sum;
  sum.categories = n;
  sum.shards = shards;
  auto last_print = Clock::now();
  int64_t c = 0;
  for (int64_t s = 0; s < shards; ++s) {
    const std::string path = (fs::path(opt.out) / shard_name(s)).string();
    atomic_write(path, [&](const std::string& tmp) {
      h5::Handle f = h5::create_file(tmp);
      h5::Handle root = h5::create_group(f, "categories", tmp);
      for (; c < n && m.shard[c] == s; ++c) {
        CategoryRows r = produce(c);
        const std::string what = "category " + std::to_string(c) + " (" + m.names[c] + ")";
        if (r.items.size(0) != m.items[c] || r.labels.size(0) != m.items[c] ||
            r.item_ids.size(0) != m.items[c])
          throw std::logic_error("pack: " + what + " produced a wrong number of rows");
        if (r.oracle.defined() && (r.oracle.dim() != 1 || r.oracle.size(0) != m.items[c]))
          throw std::logic_error("pack: " + what + " produced a wrong number of oracle scores");
        if (m.code_width() > 0 &&
            (!r.codes.defined() || r.codes.scalar_type() != torch::kInt32 ||
             r.codes.sizes() != torch::IntArrayRef({m.items[c], m.code_width()})))
          throw std::logic_error("pack: " + what + " produced codes of the wrong shape or dtype");
        if (r.items.scalar_type() != m.scalar_type())
          throw std::logic_error("pack: " + what + " produced items of the wrong dtype");
        h5::Handle g = h5::create_group(f, category_group(c), tmp);
        h5::write_string_attr(g, "name", m.names[c], tmp);
        h5::write_chunked(g, "items", r.items, chunk_rows, opt.compression, tmp);
        h5::write_chunked(g, "labels", r.labels.to(torch::kFloat32), 4096, opt.compression, tmp);
        h5::write_chunked(g, "item_ids", r.item_ids.to(torch::kInt64), 4096, opt.compression, tmp);
        if (r.oracle.defined())
          h5::write_chunked(g, "oracle", r.oracle.to(torch::kFloat32), 4096, opt.compression, tmp);
        if (m.code_width() > 0)
          h5::write_chunked(g, "codes", r.codes, chunk_rows, opt.compression, tmp);
        sum.items += m.items[c];
        sum.raw_bytes += bytes[c];
        if (opt.progress && std::chrono::duration<double>(Clock::now() - last_print).count() > 2) {
          last_print = Clock::now();
          const double el = std::chrono::duration<double>(last_print - t0).count();
          std::printf("pack: %lld/%lld categories, %.1f MB, %.1f MB/s\n",
                      static_cast<long long>(c + 1), static_cast<long long>(n), sum.raw_bytes / 1e6,
                      sum.raw_bytes / 1e6 / el);
          std::fflush(stdout);
        }
      }
      h5::flush(f, tmp);
    });
    m.shard_bytes[s] = static_cast<int64_t>(fs::file_size(path));
    m.shard_xxh64[s] = file_xxh64(path);
    sum.file_bytes += m.shard_bytes[s];
  }
  write_manifest(opt.out, m);
  sum.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return sum;
}

}  // namespace

}  // namespace metacat
