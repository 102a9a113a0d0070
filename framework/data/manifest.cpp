#include "data/manifest.h"

#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/io.h"
#include "data/h5.h"

namespace metacat {

namespace fs = std::filesystem;

int64_t Manifest::row_bytes() const {
  int64_t n = 1;
  for (int64_t s : item_shape) n *= s;
  return n * static_cast<int64_t>(c10::elementSize(scalar_type())) + 4 * code_width();
}

torch::ScalarType Manifest::scalar_type() const {
  if (dtype == "uint8") return torch::kUInt8;
  if (dtype == "float16") return torch::kFloat16;
  if (dtype == "float32") return torch::kFloat32;
  throw UserError("manifest: unknown item dtype '" + dtype + "'");
}

std::string manifest_path(const std::string& dir) {
  return (fs::path(dir) / "manifest.h5").string();
}

std::string shard_name(int64_t shard) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(shard));
  return buf;
}

std::string category_group(int64_t id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "categories/%08lld", static_cast<long long>(id));
  return buf;
}

uint64_t file_xxh64(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read '" + path + "'");
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) XXH64_update(st, buf.data(), static_cast<size_t>(in.gcount()));
  }
  const uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  return h;
}

namespace {

// The schema's layout, checked: numeric fields first and contiguous, every
// field where the one before it ends, vocabularies that fit their codes.
void read_fields(hid_t f, const std::string& path, Manifest& m) {
  m.schema = h5::read_string_attr(f, "schema", path);
  h5::Handle g = h5::open_group(f, "fields", path);
  const auto names = h5::read_strings(g, "name", path);
  const auto roles = h5::read_strings(g, "role", path);
  const auto tables = h5::read_strings(g, "table", path);
  const int64_t n = static_cast<int64_t>(names.size());
  auto ints = [&](const char* name) {
    torch::Tensor t = h5::read_tensor(g, name, path).to(torch::kInt64);
    if (t.dim() != 1 || t.size(0) != n || roles.size() != names.size() ||
        tables.size() != names.size())
      throw UserError("data: " + path + ": /fields datasets disagree in length");
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
  };
  const auto offset = ints("offset"), width = ints("width"), vocab = ints("vocab");
  int64_t at = 0;
  bool codes = false;
  for (int64_t i = 0; i < n; ++i) {
    InputField x;
    x.name = names[i];
    x.role = parse_role(roles[i], "data: " + path + ": /fields/role of " + names[i]);
    x.table = tables[i];
    x.offset = offset[i];
    x.width = width[i];
    x.vocab = vocab[i];
    const bool numeric = x.role == InputField::Role::kNumeric;
    const std::string who = "data: " + path + ": field " + x.name;
    if (x.offset != at || x.width < 1) throw UserError(who + ": bad offset or width");
    if (numeric && codes) throw UserError(who + ": a numeric field after a coded one");
    if (!numeric && (x.vocab < 2 || x.vocab > kMaxCodes))
      throw UserError(who + ": vocabulary of " + std::to_string(x.vocab) + " codes");
    codes = codes || !numeric;
    at += x.width;
    m.fields.push_back(x);
  }
  const int64_t numeric = numeric_width(m.fields);
  if (m.item_shape != std::vector<int64_t>{numeric})
    throw UserError("data: " + path + ": item_shape does not match the " + std::to_string(numeric) +
                    " numeric fields");
  if (h5::exists(f, "vocabularies")) {
    h5::Handle v = h5::open_group(f, "vocabularies", path);
    for (const auto& table : h5::list(v, path)) {
      m.vocabularies.emplace_back(table, h5::read_strings(v, table, path));
      for (const auto& x : m.fields)
        if (x.table == table &&
            x.vocab != static_cast<int64_t>(m.vocabularies.back().second.size()) + 2)
          throw UserError("data: " + path + ": field " + x.name + " has " +
                          std::to_string(x.vocab) + " codes, its vocabulary " +
                          std::to_string(m.vocabularies.back().second.size()) + " values");
    }
  }
}

}  // namespace

void write_manifest(const std::string& dir, const Manifest& m) {
  atomic_write(manifest_path(dir), [&](const std::string& tmp) {
    h5::Handle f = h5::create_file(tmp);
    h5::write_int_attr(f, "format_version", m.format_version, tmp);
    h5::write_string_attr(f, "kind", m.kind, tmp);
    h5::write_string_attr(f, "dtype", m.dtype, tmp);
    h5::write_string_attr(f, "source", m.source, tmp);
    h5::write_tensor(f, "item_shape", torch::tensor(m.item_shape, torch::kInt64), tmp);
    h5::Handle c = h5::create_group(f, "categories", tmp);
    const int64_t n = m.num_categories();
    h5::write_tensor(c, "id", torch::arange(n, torch::kInt64), tmp);
    h5::write_strings(c, "name", m.names, tmp);
    std::vector<int64_t> split(n);
    for (int64_t i = 0; i < n; ++i) split[i] = static_cast<int64_t>(m.split[i]);
    h5::write_tensor(c, "split", torch::tensor(split, torch::kInt64).to(torch::kUInt8), tmp);
    h5::write_tensor(c, "items", torch::tensor(m.items, torch::kInt64), tmp);
    h5::write_tensor(c, "shard", torch::tensor(m.shard, torch::kInt64), tmp);
    h5::Handle s = h5::create_group(f, "shards", tmp);
    h5::write_tensor(s, "bytes", torch::tensor(m.shard_bytes, torch::kInt64), tmp);
    std::vector<std::string> sums;
    for (uint64_t v : m.shard_xxh64) sums.push_back(hex64(v));
    h5::write_strings(s, "xxh64", sums, tmp);
    if (m.descriptors.defined())
      h5::write_tensor(f, "descriptors", m.descriptors.to(torch::kFloat32), tmp);
    if (!m.fields.empty()) {
      h5::write_string_attr(f, "schema", m.schema, tmp);
      h5::Handle g = h5::create_group(f, "fields", tmp);
      std::vector<std::string> names, roles, tables;
      std::vector<int64_t> offset, width, vocab;
      for (const auto& x : m.fields) {
        names.push_back(x.name);
        roles.push_back(to_string(x.role));
        tables.push_back(x.table);
        offset.push_back(x.offset);
        width.push_back(x.width);
        vocab.push_back(x.vocab);
      }
      h5::write_strings(g, "name", names, tmp);
      h5::write_strings(g, "role", roles, tmp);
      h5::write_strings(g, "table", tables, tmp);
      h5::write_tensor(g, "offset", torch::tensor(offset, torch::kInt64), tmp);
      h5::write_tensor(g, "width", torch::tensor(width, torch::kInt64), tmp);
      h5::write_tensor(g, "vocab", torch::tensor(vocab, torch::kInt64), tmp);
      h5::Handle v = h5::create_group(f, "vocabularies", tmp);
      for (const auto& [table, values] : m.vocabularies) h5::write_strings(v, table, values, tmp);
    }
    h5::flush(f, tmp);
  });
}

Manifest read_manifest(const std::string& dir) {
  const std::string path = manifest_path(dir);
  if (!fs::exists(path))
    throw UserError("data: no manifest at '" + path +
                    "' (pack the data with `metacat pack`; a pack "
                    "that did not finish leaves no manifest)");
  h5::Handle f = h5::open_file(path);
  Manifest m;
  m.format_version = h5::read_int_attr(f, "format_version", path);
  if (m.format_version != kManifestFormat)
    throw UserError("data: " + path + " has format version " + std::to_string(m.format_version) +
                    ", this metacat reads version " + std::to_string(kManifestFormat));
  m.kind = h5::read_string_attr(f, "kind", path);
  m.dtype = h5::read_string_attr(f, "dtype", path);
  m.source = h5::read_string_attr(f, "source", path);
  if (m.kind != "classification" && m.kind != "preference")
    throw UserError("data: " + path + ": unknown kind '" + m.kind + "'");
  m.scalar_type();  // validates dtype
  torch::Tensor shape = h5::read_tensor(f, "item_shape", path);
  m.item_shape.assign(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel());
  h5::Handle c = h5::open_group(f, "categories", path);
  m.names = h5::read_strings(c, "name", path);
  const int64_t n = m.num_categories();
  auto ints = [&](hid_t loc, const char* name, int64_t expect) {
    torch::Tensor t = h5::read_tensor(loc, name, path).to(torch::kInt64);
    if (t.dim() != 1 || t.size(0) != expect)
      throw UserError("data: " + path + ": '" + name + "' has " + std::to_string(t.numel()) +
                      " entries, expected " + std::to_string(expect));
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  for (int64_t v : ints(c, "split", n)) {
    if (v < 0 || v > 3) throw UserError("data: " + path + ": bad split value " + std::to_string(v));
    m.split.push_back(static_cast<Split>(v));
  }
  m.items = ints(c, "items", n);
  m.shard = ints(c, "shard", n);
  h5::Handle s = h5::open_group(f, "shards", path);
  std::vector<std::string> sums = h5::read_strings(s, "xxh64", path);
  m.shard_bytes = ints(s, "bytes", static_cast<int64_t>(sums.size()));
  for (const auto& h : sums) m.shard_xxh64.push_back(parse_hex64(h, path + ": /shards/xxh64"));
  for (int64_t i = 0; i < n; ++i) {
    if (m.shard[i] < 0 || m.shard[i] >= m.num_shards())
      throw UserError("data: " + path + ": category " + m.names[i] + " points at shard " +
                      std::to_string(m.shard[i]) + " of " + std::to_string(m.num_shards()));
    if (m.items[i] < 1)  // no episode can be drawn from it
      throw UserError("data: " + path + ": category " + m.names[i] + " has " +
                      std::to_string(m.items[i]) + " items (/categories/items)");
  }
  if (h5::exists(f, "descriptors")) {
    m.descriptors = h5::read_tensor(f, "descriptors", path).to(torch::kFloat32);
    if (m.descriptors.dim() != 2 || m.descriptors.size(0) != n)
      throw UserError("data: " + path + ": descriptors must be [categories, D]");
  }
  if (h5::exists(f, "fields")) read_fields(f, path, m);
  return m;
}

int64_t Manifest::code_width() const {
  int64_t w = 0;
  for (const auto& f : fields)
    if (f.role != InputField::Role::kNumeric) w += f.width;
  return w;
}

}  // namespace metacat
