#include "datasets/schema.h"

#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fields.h"
#include "datasets/csv_util.h"

namespace metacat {

namespace {

const std::set<std::string> kRoles = {"task",        "label", "item",     "user",   "numeric",
                                      "categorical", "multi", "sequence", "oracle", "ignore"};

int64_t int_key(const YAML::Node& n, const std::string& where, int64_t lo) {
  int64_t v = 0;
  try {
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    throw UserError(where + ": '" + n.as<std::string>("") + "' is not an integer");
  }
  if (v < lo) throw UserError(where + ": " + std::to_string(v) + " is below " + std::to_string(lo));
  return v;
}

}  // namespace

bool ColumnSpec::coded() const {
  return role == "item" || role == "user" || role == "categorical" || role == "multi" ||
         role == "sequence";
}

const ColumnSpec* Schema::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const ColumnSpec* Schema::with_role(const std::string& role) const {
  for (const auto& c : columns)
    if (c.role == role) return &c;
  return nullptr;
}

namespace {
Schema parse_schema_node(const std::string& yaml, const std::string& path);
}  // namespace

Schema parse_schema(const std::string& yaml, const std::string& path) {
  // Any node of the wrong kind where a name or a value was expected (a map
  // for a role, a list for a key) is yaml-cpp's conversion error: the
  // user's, with yaml-cpp's line and column.
  try {
    return parse_schema_node(yaml, path);
  } catch (const YAML::Exception& e) {
    throw UserError("schema " + path + ": " + e.what());
  }
}

namespace {
Schema parse_schema_node(const std::string& yaml, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw UserError("schema " + path + ": not YAML: " + e.what());
  }
  if (!root.IsMap() || !root["columns"] || !root["columns"].IsMap())
    throw UserError("schema " + path +
                    ": expected a mapping `columns:` of column name -> {role: ...}");
  for (const auto& top : root)
    if (top.first.as<std::string>() != "columns")
      throw UserError("schema " + path + ": unknown key '" + top.first.as<std::string>() +
                      "' (the schema has one key, columns)");
  Schema s;
  s.text = yaml;
  for (const auto& kv : root["columns"]) {
    ColumnSpec c;
    c.name = kv.first.as<std::string>();
    const std::string where = "schema " + path + ": column " + c.name;
    if (c.name.empty()) throw UserError("schema " + path + ": a column without a name");
    if (s.find(c.name)) throw UserError(where + ": listed twice");
    const YAML::Node& spec = kv.second;
    if (!spec.IsMap() || !spec["role"]) throw UserError(where + ": expected {role: ...}");
    for (const auto& k : spec) {
      const std::string key = k.first.as<std::string>();
      const YAML::Node& v = k.second;
      const std::string at = where + ", " + key;
      if (key == "role") {
        c.role = v.as<std::string>();
        if (!kRoles.count(c.role))
          throw UserError(at + ": unknown role '" + c.role +
                          "' (task, label, item, user, numeric, categorical, multi, sequence, "
                          "oracle, ignore)");
      } else if (key == "min_count") {
        c.min_count = int_key(v, at, 1);
      } else if (key == "max_size") {
        c.max_size = int_key(v, at, 0);
      } else if (key == "hash_buckets") {
        c.hash_buckets = int_key(v, at, 1);
      } else if (key == "max_len") {
        c.max_len = int_key(v, at, 1);
      } else if (key == "separator") {
        c.separator = v.as<std::string>();
        if (c.separator.size() != 1)
          throw UserError(at + ": '" + c.separator + "' is not one character");
      } else if (key == "vocabulary") {
        c.vocabulary = v.as<std::string>();
      } else {
        throw UserError(where + ": unknown key '" + key +
                        "' (role, min_count, max_size, hash_buckets, separator, max_len, "
                        "vocabulary)");
      }
    }
    const bool listy = c.role == "multi" || c.role == "sequence";
    if (!c.coded() &&
        (spec["min_count"] || spec["max_size"] || spec["hash_buckets"] || spec["vocabulary"]))
      throw UserError(where +
                      ": min_count, max_size, hash_buckets and vocabulary are for coded "
                      "columns (item, categorical, multi, sequence), not " +
                      c.role);
    if (!listy && (spec["separator"] || spec["max_len"]))
      throw UserError(where + ": separator and max_len are for multi and sequence columns");
    if (c.max_len > 4096)
      throw UserError(where + ": max_len " + std::to_string(c.max_len) +
                      " is above 4096 (every row holds max_len codes)");
    if (c.hash_buckets > 0 && c.hash_buckets > kMaxCodes - 2)
      throw UserError(where + ": hash_buckets " + std::to_string(c.hash_buckets) + " exceeds the " +
                      std::to_string(kMaxCodes - 2) + " codes a table holds");
    s.columns.push_back(c);
  }
  for (const char* role : {"task", "label", "item", "user", "oracle"}) {
    int n = 0;
    for (const auto& c : s.columns) n += c.role == role;
    if (n > 1) throw UserError("schema " + path + ": more than one column has role " + role);
    if (n == 0 && (std::string(role) == "task" || std::string(role) == "label"))
      throw UserError("schema " + path + ": no column has role " + role +
                      (std::string(role) == "task"
                           ? " (the column whose values are the tasks: a category or a user)"
                           : " (the 0/1 outcome)"));
  }
  for (const auto& c : s.columns) {
    if (c.vocabulary.empty()) continue;
    const std::string where = "schema " + path + ": column " + c.name + ", vocabulary";
    const ColumnSpec* owner = s.find(c.vocabulary);
    if (!owner) throw UserError(where + ": no column '" + c.vocabulary + "'");
    if (owner == &c || !owner->coded() || !owner->vocabulary.empty())
      throw UserError(where + ": '" + c.vocabulary +
                      "' must be another coded column with its own vocabulary");
    const YAML::Node spec = root["columns"][c.name];
    if (spec["min_count"] || spec["max_size"] || spec["hash_buckets"])
      throw UserError(where +
                      ": a column that shares a vocabulary takes min_count, max_size "
                      "and hash_buckets from '" +
                      c.vocabulary + "'");
  }
  return s;
}
}  // namespace

Schema load_schema(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("pack: cannot read schema '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_schema(ss.str(), path);
}

namespace {

// A vocabulary: values by first appearance (raw ids) with their counts,
// then codes in frequency order; or a hash.
struct Vocab {
  std::string name;
  const ColumnSpec* spec = nullptr;
  std::unordered_map<std::string, int32_t> raw;
  std::vector<std::string> values;  // by raw id
  std::vector<int64_t> counts;      // by raw id
  std::vector<int32_t> code;        // by raw id, after finish()
  std::vector<std::string> kept;    // code 2 + i
  int64_t size = 0;                 // codes, padding and OOV included

  // Raw id (>= 0) of a non-empty value, or a final code for hashed ones.
  int32_t add(const std::string& v) {
    if (spec->hash_buckets > 0)
      return static_cast<int32_t>(2 + XXH64(v.data(), v.size(), 0) %
                                          static_cast<uint64_t>(spec->hash_buckets));
    auto [it, fresh] = raw.try_emplace(v, static_cast<int32_t>(values.size()));
    if (fresh) {
      if (values.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        throw UserError("pack: column " + name + " has more than 2^31 distinct values");
      values.push_back(v);
      counts.push_back(0);
    }
    ++counts[it->second];
    return it->second;
  }
  // Per raw id (hashed: per code) whether one of `names` whose flag is set
  // has it; a hashed code is marked for every value sharing its bucket.
  std::vector<uint8_t> marks(const std::vector<std::string>& names,
                             const std::vector<uint8_t>& flag) const {
    const uint64_t buckets = static_cast<uint64_t>(spec->hash_buckets);
    std::vector<uint8_t> out(buckets > 0 ? buckets + 2 : values.size(), 0);
    for (size_t i = 0; i < names.size(); ++i) {
      if (!flag[i]) continue;
      if (buckets > 0) {
        out[2 + XXH64(names[i].data(), names[i].size(), 0) % buckets] = 1;
      } else if (auto it = raw.find(names[i]); it != raw.end()) {
        out[it->second] = 1;
      }
    }
    return out;
  }
  void finish(const std::string& path) {
    if (spec->hash_buckets > 0) {
      size = spec->hash_buckets + 2;
      return;
    }
    std::vector<int32_t> order;
    for (size_t i = 0; i < values.size(); ++i)
      if (counts[i] >= spec->min_count) order.push_back(static_cast<int32_t>(i));
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return counts[a] > counts[b]; });
    if (spec->max_size > 0 && static_cast<int64_t>(order.size()) > spec->max_size)
      order.resize(spec->max_size);
    if (static_cast<int64_t>(order.size()) + 2 > kMaxCodes)
      throw UserError("pack: " + path + ": column " + name + " has " +
                      std::to_string(order.size()) + " values in its vocabulary, more than the " +
                      std::to_string(kMaxCodes - 2) +
                      " a table holds: set hash_buckets (or max_size, min_count) in the schema");
    code.assign(values.size(), static_cast<int32_t>(kOovCode));
    for (size_t k = 0; k < order.size(); ++k) {
      code[order[k]] = static_cast<int32_t>(k + 2);
      kept.push_back(values[order[k]]);
    }
    size = static_cast<int64_t>(order.size()) + 2;
  }
};

struct TaskRows {
  std::vector<float> numeric, labels, oracle;
  std::vector<int32_t> codes;  // raw ids (hashed: codes), -1 padding, until remapped
  std::vector<int64_t> items, users, lines;
};

}  // namespace

PackSummary pack_csv_schema(const std::string& path, const Schema& schema, const CsvSplit& split,
                            const PackOptions& opt) {
  std::ifstream in(path);
  if (!in) throw UserError("pack: cannot read '" + path + "'");
  std::string line;
  int64_t lineno = 0;
  // Header: the first non-empty line.
  std::vector<std::string> header;
  char sep = ',';
  while (header.empty() && std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (trim(line).empty()) continue;
    if (line.find('\t') != std::string::npos) sep = '\t';
    for (auto& h : split_line(line, sep)) header.push_back(trim(h));
  }
  if (header.empty()) throw UserError("pack: '" + path + "' is empty (expected a header line)");
  // Every header column in the schema and every schema column in the header.
  std::vector<const ColumnSpec*> col(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    col[i] = schema.find(header[i]);
    if (!col[i])
      throw UserError("pack: " + path + ": column " + std::to_string(i + 1) + " ('" + header[i] +
                      "') is not in the schema (give it a role, or role: ignore)");
    for (size_t j = 0; j < i; ++j)
      if (header[j] == header[i])
        throw UserError("pack: " + path + ": the header names '" + header[i] + "' twice");
  }
  for (const auto& c : schema.columns) {
    if (std::find(header.begin(), header.end(), c.name) == header.end())
      throw UserError("pack: " + path + ": the schema's column '" + c.name +
                      "' is not in the file's header");
    if ((c.role == "multi" || c.role == "sequence") && c.separator[0] == sep)
      throw UserError("pack: " + path + ": column " + c.name + "'s separator '" + c.separator +
                      "' is the file's own cell separator; give it another one");
  }

  // The layout: numeric columns first, then coded ones, in schema order.
  std::vector<InputField> fields;
  std::vector<Vocab> vocabs;  // one per column with its own vocabulary
  std::unordered_map<std::string, size_t> vocab_of;
  int64_t at = 0;
  for (const auto& c : schema.columns)
    if (c.role == "numeric") fields.push_back({c.name, InputField::Role::kNumeric, at++, 1, 0, ""});
  const int64_t numeric = at;
  for (const auto& c : schema.columns) {
    if (!c.coded()) continue;
    if (c.vocabulary.empty()) {
      vocab_of[c.name] = vocabs.size();
      vocabs.emplace_back();
      vocabs.back().name = c.name;
      vocabs.back().spec = &c;
    }
    const int64_t width = c.role == "multi" || c.role == "sequence" ? c.max_len : 1;
    // A user column is embedded like any categorical one.
    const auto role = parse_role(c.role == "user" ? "categorical" : c.role, "schema");
    fields.push_back({c.name, role, at, width, 0, c.vocabulary.empty() ? c.name : c.vocabulary});
    at += width;
  }
  const int64_t K = at - numeric;
  // Per header column: where its values go.
  struct Slot {
    int64_t field = -1;  // index into fields
    size_t vocab = 0;
  };
  std::vector<Slot> slot(header.size());
  for (size_t i = 0; i < header.size(); ++i)
    for (size_t f = 0; f < fields.size(); ++f)
      if (fields[f].name == header[i]) {
        slot[i].field = static_cast<int64_t>(f);
        if (fields[f].role != InputField::Role::kNumeric) slot[i].vocab = vocab_of[fields[f].table];
      }

  std::unordered_map<std::string, int64_t> task_of;
  std::vector<std::string> order;
  std::vector<TaskRows> tasks;
  std::unordered_map<std::string, int64_t> item_index;  // the item's first-appearance index
  std::vector<std::string> item_names;                  // by that index
  std::unordered_map<std::string, int64_t> user_index;
  std::vector<std::string> user_names;
  const bool has_user = schema.with_role("user") != nullptr;
  const bool has_item = schema.with_role("item") != nullptr;
  std::vector<std::string> tokens;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = split_line(line, sep);
    const std::string where = path + ": line " + std::to_string(lineno);
    if (cells.size() != header.size())
      throw UserError("pack: " + where + ": " + std::to_string(cells.size()) +
                      " cells, the header has " + std::to_string(header.size()));
    auto cell_error = [&](size_t i, const std::string& what) {
      return UserError("pack: " + where + ", column " + std::to_string(i + 1) + " (" + header[i] +
                       "): " + what);
    };
    // The task first: every other cell goes into its rows.
    int64_t t = -1;
    for (size_t i = 0; i < header.size(); ++i)
      if (col[i]->role == "task") {
        const std::string key = trim(cells[i]);
        if (key.empty()) throw cell_error(i, "an empty task key");
        auto [it, fresh] = task_of.try_emplace(key, static_cast<int64_t>(order.size()));
        if (fresh) {
          order.push_back(key);
          tasks.emplace_back();
        }
        t = it->second;
      }
    TaskRows& r = tasks[t];
    const size_t code_base = r.codes.size();
    r.numeric.resize(r.numeric.size() + numeric);
    r.codes.resize(code_base + K, -1);
    float* num = r.numeric.data() + r.numeric.size() - numeric;
    for (size_t i = 0; i < header.size(); ++i) {
      const ColumnSpec& c = *col[i];
      const std::string v = trim(cells[i]);
      double d = 0;
      if (c.role == "label") {
        if (!to_double(v, d) || (d != 0 && d != 1))
          throw cell_error(i, "label '" + v + "' is not 0 or 1");
        r.labels.push_back(static_cast<float>(d));
      } else if (c.role == "numeric" || c.role == "oracle") {
        if (!to_double(v, d) || !std::isfinite(d) ||
            std::fabs(d) > std::numeric_limits<float>::max())
          throw cell_error(i, "'" + v + "' is not a finite number");
        if (c.role == "oracle")
          r.oracle.push_back(static_cast<float>(d));
        else
          num[fields[slot[i].field].offset] = static_cast<float>(d);
      } else if (c.coded()) {
        const InputField& f = fields[slot[i].field];
        Vocab& voc = vocabs[slot[i].vocab];
        int32_t* out = r.codes.data() + code_base + (f.offset - numeric);
        if (c.role == "user") {
          if (v.empty()) throw cell_error(i, "an empty user id");
          auto [it, fresh] = user_index.try_emplace(v, static_cast<int64_t>(user_index.size()));
          if (fresh) user_names.push_back(v);
          r.users.push_back(it->second);
        }
        if (c.role == "item" || c.role == "user" || c.role == "categorical") {
          if (!v.empty()) out[0] = voc.add(v);
          if (c.role == "item") {
            if (v.empty()) throw cell_error(i, "an empty item id");
            auto [it, fresh] = item_index.try_emplace(v, static_cast<int64_t>(item_index.size()));
            if (fresh) item_names.push_back(v);
            r.items.push_back(it->second);
          }
        } else {
          tokens.clear();
          for (auto& tok : split_line(v, c.separator[0])) {
            std::string x = trim(tok);
            if (!x.empty()) tokens.push_back(std::move(x));
          }
          // multi: the first max_len; sequence: the last max_len (the most recent).
          size_t from = 0;
          if (static_cast<int64_t>(tokens.size()) > f.width && c.role == "sequence")
            from = tokens.size() - static_cast<size_t>(f.width);
          for (size_t k = from, j = 0; k < tokens.size() && static_cast<int64_t>(j) < f.width;
               ++k, ++j)
            out[j] = voc.add(tokens[k]);
        }
      }
    }
    // Without an item column every row is an item of its own: its line.
    if (!has_item) r.items.push_back(lineno);
    r.lines.push_back(lineno);
  }
  if (order.empty()) throw UserError("pack: '" + path + "' has a header but no data rows");
  for (auto& v : vocabs) v.finish(path);
  for (auto& f : fields)
    if (f.role != InputField::Role::kNumeric) f.vocab = vocabs[vocab_of[f.table]].size;

  // An item twice in one task (for one user, with a user column): refused,
  // naming both lines.
  if (has_item)
    for (size_t t = 0; t < tasks.size(); ++t) {
      const TaskRows& r = tasks[t];
      auto key = [&](size_t a) {
        return std::pair{r.items[a], has_user ? r.users[a] : int64_t{0}};
      };
      std::vector<size_t> idx(r.items.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
      for (size_t k = 1; k < idx.size(); ++k)
        if (key(idx[k]) == key(idx[k - 1]))
          throw UserError(
              "pack: " + path + ": line " + std::to_string(r.lines[idx[k]]) + ": item '" +
              item_names[r.items[idx[k]]] + "' (column " + schema.with_role("item")->name + ")" +
              (has_user ? " for user '" + user_names[r.users[idx[k]]] + "'" : std::string()) +
              " appears twice in task '" + order[t] + "' (first at line " +
              std::to_string(r.lines[idx[k - 1]]) + ")");
    }

  Manifest m;
  m.kind = "preference";
  m.dtype = "float32";
  m.source = "csv " + path + " (schema)";
  m.item_shape = {numeric};
  m.names = order;
  m.split = assign_splits(order, split, path);
  if (split.new_items > 0) {
    if (!has_item)
      throw UserError(
          "pack: --new-items holds items out of the training tasks, and the schema has "
          "no item column (role: item)");
    // Held out: the values whose seeded hash falls in the lowest fraction.
    std::vector<uint8_t> held(item_names.size());
    int64_t n_held = 0, dropped = 0;
    for (size_t i = 0; i < item_names.size(); ++i) {
      const uint64_t h = XXH64(item_names[i].data(), item_names[i].size(), split.seed + 0x17e4);
      held[i] = static_cast<double>(h >> 11) * 0x1.0p-53 < split.new_items;
      n_held += held[i];
    }
    // A held item named in a training row's column of the item's
    // vocabulary (a click history) becomes padding there: no training row
    // reaches its embedding. Codes are still raw here (first-seen order);
    // those of held items are marked per vocabulary position.
    const size_t item_vocab = vocab_of[item_field(fields)->table];
    std::vector<std::pair<int64_t, int64_t>> item_code_columns;  // [begin, end) in codes
    for (const auto& f : fields)
      if (f.role != InputField::Role::kNumeric && f.role != InputField::Role::kItem &&
          vocab_of[f.table] == item_vocab)
        item_code_columns.push_back({f.offset - numeric, f.offset - numeric + f.width});
    std::vector<uint8_t> held_raw;
    const Vocab& iv = vocabs[item_vocab];
    if (!item_code_columns.empty()) held_raw = iv.marks(item_names, held);
    int64_t emptied = 0, unnamed = 0;
    for (size_t t = 0; t < tasks.size(); ++t) {
      if (m.split[t] != Split::kTrain) continue;
      TaskRows& r = tasks[t];
      TaskRows kept;
      const size_t n = r.labels.size();
      for (size_t i = 0; i < n; ++i) {
        if (held[r.items[i]]) {
          ++dropped;
          continue;
        }
        kept.numeric.insert(kept.numeric.end(), r.numeric.begin() + i * numeric,
                            r.numeric.begin() + (i + 1) * numeric);
        kept.codes.insert(kept.codes.end(), r.codes.begin() + i * K, r.codes.begin() + (i + 1) * K);
        for (const auto& [b, e] : item_code_columns) {
          int32_t* c = kept.codes.data() + kept.codes.size() - K;
          // The sequence keeps its order with the held items left out.
          int64_t w = b;
          for (int64_t j = b; j < e; ++j) {
            if (c[j] >= 0 && static_cast<size_t>(c[j]) < held_raw.size() && held_raw[c[j]]) {
              ++unnamed;
              continue;
            }
            c[w++] = c[j];
          }
          for (; w < e; ++w) c[w] = -1;
        }
        kept.labels.push_back(r.labels[i]);
        if (!r.oracle.empty()) kept.oracle.push_back(r.oracle[i]);
        kept.items.push_back(r.items[i]);
        if (!r.users.empty()) kept.users.push_back(r.users[i]);
        kept.lines.push_back(r.lines[i]);
      }
      emptied += kept.labels.empty() && n > 0;
      r = std::move(kept);
    }
    char buf[384];
    std::snprintf(buf, sizeof buf,
                  "; new items: %lld of %zu item values (--new-items %g, seed %llu) left out of "
                  "the training tasks: %lld rows dropped, %lld history entries removed, %lld "
                  "training tasks left empty",
                  static_cast<long long>(n_held), item_names.size(), split.new_items,
                  static_cast<unsigned long long>(split.seed), static_cast<long long>(dropped),
                  static_cast<long long>(unnamed), static_cast<long long>(emptied));
    m.source += buf;
  }
  for (const auto& r : tasks) m.items.push_back(static_cast<int64_t>(r.labels.size()));
  m.fields = fields;
  m.schema = schema.text;
  for (const auto& v : vocabs)
    if (v.spec->hash_buckets == 0) m.vocabularies.emplace_back(v.name, v.kept);
  // Per code column: the vocabulary that remaps it (nullptr: hashed, final).
  std::vector<const Vocab*> remap(static_cast<size_t>(K), nullptr);
  for (const auto& f : fields)
    if (f.role != InputField::Role::kNumeric) {
      const Vocab& v = vocabs[vocab_of[f.table]];
      for (int64_t j = 0; j < f.width; ++j)
        remap[f.offset - numeric + j] = v.spec->hash_buckets > 0 ? nullptr : &v;
    }
  const bool oracle = schema.with_role("oracle") != nullptr;
  return pack(
      m,
      [&](int64_t c) {
        TaskRows& r = tasks[c];
        const int64_t n = static_cast<int64_t>(r.labels.size());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < K; ++j) {
            int32_t& k = r.codes[i * K + j];
            if (k < 0)
              k = static_cast<int32_t>(kPadCode);
            else if (remap[j])
              k = remap[j]->code[k];
          }
        CategoryRows out{torch::tensor(r.numeric).reshape({n, numeric}),
                         torch::tensor(r.labels),
                         torch::tensor(r.items, torch::kInt64),
                         {},
                         {}};
        if (oracle) out.oracle = torch::tensor(r.oracle);
        out.codes = torch::tensor(r.codes, torch::kInt32).reshape({n, K});
        r = TaskRows();  // each task's memory goes once it is written
        return out;
      },
      opt);
}

}  // namespace metacat
