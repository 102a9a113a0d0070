#include "data/shard_store.h"

#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/io.h"

namespace metacat {

namespace fs = std::filesystem;

ShardStore::ShardStore(std::string dir, ReaderOptions opt)
    : dir_(std::move(dir)), opt_(opt), manifest_(read_manifest(dir_)) {
  manifest_checksum_ = file_xxh64(manifest_path(dir_));
  infos_.resize(manifest_.num_categories());
  for (int64_t c = 0; c < manifest_.num_categories(); ++c)
    infos_[c] = {manifest_.names[c], manifest_.split[c], manifest_.items[c]};
}

std::string ShardStore::describe() const {
  return "HDF5 " + dir_ + ", " + std::to_string(manifest_.num_shards()) + " shards";
}

ReaderStats ShardStore::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

hid_t ShardStore::shard(int64_t s) const {
  auto it = shards_.find(s);
  if (it != shards_.end()) return it->second.get();
  const std::string path = (fs::path(dir_) / shard_name(s)).string();
  if (!fs::exists(path))
    throw UserError("data: missing shard '" + path + "' (listed in " + manifest_path(dir_) + ")");
  const int64_t size = static_cast<int64_t>(fs::file_size(path));
  if (size != manifest_.shard_bytes[s])
    throw UserError("data: shard '" + path + "' is " + std::to_string(size) +
                    " bytes but the manifest records " + std::to_string(manifest_.shard_bytes[s]) +
                    " (truncated or replaced; re-pack, or check with `metacat inspect --verify`)");
  h5::Handle f = h5::open_file(path);
  ++stats_.shards_opened;
  return shards_.emplace(s, std::move(f)).first->second.get();
}

bool ShardStore::has_oracle() const {
  std::lock_guard<std::mutex> g(mu_);
  if (has_oracle_ < 0) {
    has_oracle_ = 0;
    if (num_categories() > 0) {
      hid_t f = shard(manifest_.shard[0]);
      const std::string group = category_group(0);
      has_oracle_ =
          h5::exists(f, "categories") && h5::exists(f, group) && h5::exists(f, group + "/oracle");
    }
  }
  return has_oracle_ > 0;
}

namespace {
// Every code within its field's vocabulary; the first one outside named.
void check_codes(const torch::Tensor& codes, const std::vector<InputField>& fields,
                 const std::string& what, const std::vector<int64_t>* rows) {
  const int64_t numeric = numeric_width(fields);
  for (const auto& f : fields) {
    if (f.role == InputField::Role::kNumeric) continue;
    torch::Tensor k = codes.slice(1, f.offset - numeric, f.offset - numeric + f.width);
    torch::Tensor bad = k.lt(0).logical_or(k.ge(f.vocab)).any(1);
    if (bad.any().item<bool>()) {
      const int64_t i = bad.nonzero().select(1, 0)[0].item<int64_t>();
      throw UserError(what + ": row " + std::to_string(rows ? (*rows)[i] : i) + ", field " +
                      f.name + ": a code outside its vocabulary of " + std::to_string(f.vocab));
    }
  }
}
}  // namespace

Rows ShardStore::read_locked(int64_t c, const std::vector<int64_t>* rows) const {
  if (c < 0 || c >= num_categories())
    throw UserError("data: category " + std::to_string(c) + " does not exist in " + dir_);
  const int64_t s = manifest_.shard[c];
  const std::string file = (fs::path(dir_) / shard_name(s)).string();
  const std::string group = category_group(c);
  const std::string who = "category " + std::to_string(c) + " (" + manifest_.names[c] + ")";
  hid_t f = shard(s);
  if (!h5::exists(f, "categories") || !h5::exists(f, group))
    throw UserError("data: " + file + " has no group /" + group + " for " + who +
                    " (manifest and shard disagree)");
  h5::Handle g = h5::open_group(f, group, file);
  h5::Handle items = h5::open_dataset(g, "items", file);
  h5::Handle labels = h5::open_dataset(g, "labels", file);
  const std::string items_path = "/" + group + "/items";
  // The shard must agree with the manifest before anything is read.
  std::vector<int64_t> expect{manifest_.items[c]};
  expect.insert(expect.end(), manifest_.item_shape.begin(), manifest_.item_shape.end());
  auto shape = h5::shape_of(items, file, items_path);
  if (shape != expect) {
    auto fmt = [](const std::vector<int64_t>& v) {
      std::string s;
      for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
      return s;
    };
    throw UserError("data: " + file + ": " + items_path + " of " + who + " has shape " +
                    fmt(shape) + ", the manifest says " + fmt(expect));
  }
  if (h5::dtype_of(items, file, items_path) != manifest_.scalar_type())
    throw UserError("data: " + file + ": " + items_path + " of " + who +
                    " is not of the manifest's dtype " + manifest_.dtype);
  if (h5::shape_of(labels, file, "/" + group + "/labels") !=
      std::vector<int64_t>{manifest_.items[c]})
    throw UserError("data: " + file + ": /" + group + "/labels of " + who +
                    " does not have one label per item");
  // Optional: the true model's scores (synthetic catalogues).
  h5::Handle oracle;
  const std::string oracle_path = "/" + group + "/oracle";
  if (h5::exists(g, "oracle")) {
    oracle = h5::open_dataset(g, "oracle", file);
    if (h5::shape_of(oracle, file, oracle_path) != std::vector<int64_t>{manifest_.items[c]})
      throw UserError("data: " + file + ": " + oracle_path + " of " + who +
                      " does not have one score per item");
  }
  const int64_t K = manifest_.code_width();
  h5::Handle codes;
  const std::string codes_path = "/" + group + "/codes";
  if (K > 0) {
    if (!h5::exists(g, "codes"))
      throw UserError("data: " + file + " has no " + codes_path + " for " + who +
                      " (the manifest has a schema)");
    codes = h5::open_dataset(g, "codes", file);
    if (h5::shape_of(codes, file, codes_path) != std::vector<int64_t>{manifest_.items[c], K} ||
        h5::dtype_of(codes, file, codes_path) != torch::kInt32)
      throw UserError("data: " + file + ": " + codes_path + " of " + who + " is not int32 [" +
                      std::to_string(manifest_.items[c]) + ", " + std::to_string(K) + "]");
  }
  h5::Handle ids = h5::open_dataset(g, "item_ids", file);
  const std::string ids_path = "/" + group + "/item_ids";
  if (h5::shape_of(ids, file, ids_path) != std::vector<int64_t>{manifest_.items[c]})
    throw UserError("data: " + file + ": " + ids_path + " of " + who +
                    " does not have one id per item");
  Rows r;
  r.item_ids = (rows ? h5::read_rows(ids, *rows, file, ids_path + " (" + who + ")")
                     : h5::read_tensor(g, "item_ids", file, ids_path + " (" + who + ")"))
                   .to(torch::kInt64);
  torch::Tensor coded;
  if (K > 0) {
    coded = rows ? h5::read_rows(codes, *rows, file, codes_path + " (" + who + ")")
                 : h5::read_tensor(g, "codes", file, codes_path + " (" + who + ")");
    check_codes(coded, manifest_.fields, "data: " + file + ": " + codes_path + " of " + who, rows);
  }
  if (rows) {
    r.items = h5::read_rows(items, *rows, file, items_path + " (" + who + ")");
    r.labels = h5::read_rows(labels, *rows, file, "/" + group + "/labels (" + who + ")");
    if (oracle.get() >= 0)
      r.oracle = h5::read_rows(oracle, *rows, file, oracle_path + " (" + who + ")");
  } else {
    r.items = h5::read_tensor(g, "items", file, items_path + " (" + who + ")");
    r.labels = h5::read_tensor(g, "labels", file, "/" + group + "/labels (" + who + ")");
    if (oracle.get() >= 0)
      r.oracle = h5::read_tensor(g, "oracle", file, oracle_path + " (" + who + ")");
  }
  r.labels = r.labels.to(torch::kFloat32);
  if (r.oracle.defined()) r.oracle = r.oracle.to(torch::kFloat32);
  // Values that would train to nan or to a wrong objective, as a shard from
  // another tool (or an edited one) could carry: refused, naming the row.
  auto first_bad = [&](const torch::Tensor& bad) -> std::string {
    const int64_t i = bad.nonzero().select(1, 0)[0].item<int64_t>();
    return "row " + std::to_string(rows ? (*rows)[i] : i);
  };
  torch::Tensor finite = r.items.is_floating_point() && r.items.size(0) > 0
                             ? torch::isfinite(r.items).flatten(1).all(1)
                             : torch::ones({1}, torch::kBool);
  if (!finite.all().item<bool>())
    throw UserError("data: " + file + ": " + items_path + " of " + who + ": " +
                    first_bad(finite.logical_not()) + " holds nan or inf");
  if (manifest_.kind == "preference") {
    torch::Tensor bad = r.labels.ne(0).logical_and(r.labels.ne(1));
    if (bad.any().item<bool>())
      throw UserError("data: " + file + ": /" + group + "/labels of " + who + ": " +
                      first_bad(bad) + " is not 0 or 1");
  }
  if (coded.defined())  // exact: every code is below 2^24
    r.items = torch::cat({r.items.to(torch::kFloat32), coded.to(torch::kFloat32)}, 1);
  return r;
}

std::vector<int64_t> ShardStore::item_shape() const {
  if (manifest_.fields.empty()) return manifest_.item_shape;
  return {manifest_.item_shape.at(0) + manifest_.code_width()};
}

Rows ShardStore::read_category(int64_t c) const {
  std::lock_guard<std::mutex> g(mu_);
  return read_locked(c, nullptr);
}

Rows ShardStore::gather(int64_t c, const std::vector<int64_t>& rows) const {
  if (c < 0 || c >= num_categories())
    throw UserError("data: category " + std::to_string(c) + " does not exist in " + dir_);
  std::lock_guard<std::mutex> g(mu_);
  auto it = cache_.find(c);
  if (it == cache_.end()) {
    const int64_t bytes = manifest_.items.at(c) * (manifest_.row_bytes() + 4 + 8);
    // Categories larger than a quarter of the budget are never cached: read
    // only the rows asked for.
    if (bytes > opt_.cache_bytes / 4) {
      ++stats_.direct_reads;
      return read_locked(c, &rows);
    }
    ++stats_.misses;
    Rows whole = read_locked(c, nullptr);
    // The estimate above decides caching; the cache counts what it holds.
    const int64_t held = bytes + (whole.oracle.defined() ? whole.oracle.numel() * 4 : 0);
    while (stats_.cached_bytes + held > opt_.cache_bytes && !lru_.empty()) {
      const int64_t victim = lru_.back();
      lru_.pop_back();
      stats_.cached_bytes -= cache_[victim].bytes;
      cache_.erase(victim);
      ++stats_.evictions;
    }
    lru_.push_front(c);
    it = cache_.emplace(c, Entry{whole, held, lru_.begin()}).first;
    stats_.cached_bytes += held;
    stats_.peak_cached_bytes = std::max(stats_.peak_cached_bytes, stats_.cached_bytes);
  } else {
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, it->second.pos);
  }
  for (int64_t r : rows)
    if (r < 0 || r >= manifest_.items[c])
      throw UserError("data: row " + std::to_string(r) + " out of range for category " +
                      manifest_.names[c] + " (" + std::to_string(manifest_.items[c]) + " items)");
  torch::Tensor idx = torch::tensor(rows, torch::kInt64);
  const Rows& whole = it->second.rows;
  Rows r{whole.items.index_select(0, idx), whole.labels.index_select(0, idx), {}, {}};
  if (whole.oracle.defined()) r.oracle = whole.oracle.index_select(0, idx);
  r.item_ids = whole.item_ids.index_select(0, idx);
  return r;
}

std::vector<std::string> verify_dataset(const std::string& dir, bool progress) {
  std::vector<std::string> problems;
  Manifest m = read_manifest(dir);
  for (int64_t s = 0; s < m.num_shards(); ++s) {
    const std::string path = (fs::path(dir) / shard_name(s)).string();
    if (!fs::exists(path)) {
      problems.push_back("missing shard " + path);
      continue;
    }
    const int64_t size = static_cast<int64_t>(fs::file_size(path));
    if (size != m.shard_bytes[s])
      problems.push_back(path + ": size " + std::to_string(size) + " bytes, manifest says " +
                         std::to_string(m.shard_bytes[s]));
    const uint64_t h = file_xxh64(path);
    if (h != m.shard_xxh64[s])
      problems.push_back(path + ": xxh64 " + hex64(h) + ", manifest says " +
                         hex64(m.shard_xxh64[s]));
    if (progress) std::cout << "verify: " << path << " checked" << std::endl;
  }
  if (!problems.empty()) return problems;
  // Every category: datasets present, shapes and dtypes as the manifest says,
  // and every chunk readable (Fletcher-32 checked on read).
  ShardStore store(dir, ReaderOptions{0});
  for (int64_t c = 0; c < m.num_categories(); ++c) {
    try {
      store.read_category(c);
    } catch (const UserError& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

}  // namespace metacat
