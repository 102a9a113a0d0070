#include "datasets/csv_features.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "datasets/csv_util.h"

namespace metacat {

namespace {

// Reads the data lines of a small CSV/TSV. The first line is a header when
// none of its cells is a number, or when its first cell is "label" (so that
// a data row with a typo is reported, not taken for a header). A UTF-8 byte
// order mark and one trailing separator are ignored. Returns (line number,
// cells) per data line.
struct Table {
  std::vector<std::string> header;
  std::vector<std::pair<int64_t, std::vector<std::string>>> rows;
};
Table read_table(const std::string& path, const std::string& cmd) {
  std::ifstream in(path);
  if (!in) throw UserError(cmd + ": cannot read '" + path + "'");
  Table t;
  std::string line;
  int64_t lineno = 0;
  char sep = ',';
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (t.rows.empty() && t.header.empty() && line.find('\t') != std::string::npos) sep = '\t';
    auto cells = split_line(line, sep);
    if (cells.size() > 1 && cells.back().find_first_not_of(" ") == std::string::npos)
      cells.pop_back();
    for (auto& c : cells) c = trim(c, " ");  // surrounding spaces are not part of a number
    double v;
    const bool any_number = std::any_of(cells.begin(), cells.end(),
                                        [&](const std::string& c) { return to_double(c, v); });
    std::string first = cells[0];
    std::transform(first.begin(), first.end(), first.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    if (t.rows.empty() && t.header.empty() && (!any_number || first == "label")) {
      t.header = cells;
      continue;
    }
    t.rows.emplace_back(lineno, std::move(cells));
  }
  return t;
}

std::string column_name(const Table& t, size_t col) {
  std::string s = "column " + std::to_string(col + 1);
  if (col < t.header.size() && !t.header[col].empty()) s += " (" + t.header[col] + ")";
  return s;
}

struct CategoryData {
  std::vector<float> features, labels;
  std::vector<int64_t> ids;
  std::map<int64_t, int64_t> line_of_id;  // item id -> the line that gave it
};

}  // namespace

std::vector<Split> assign_splits(const std::vector<std::string>& order, const CsvSplit& split,
                                 const std::string& path) {
  const int64_t n = static_cast<int64_t>(order.size());
  std::vector<Split> out(n, Split::kNone);
  if (!split.names.empty()) {
    for (size_t s = 0; s < split.names.size(); ++s)
      for (const auto& name : split.names[s]) {
        auto pos = std::find(order.begin(), order.end(), name);
        if (pos == order.end()) throw UserError("pack: category '" + name + "' is not in " + path);
        if (out[pos - order.begin()] != Split::kNone)
          throw UserError("pack: category '" + name + "' is listed in two splits");
        out[pos - order.begin()] = static_cast<Split>(s);
      }
    return out;
  }
  if (split.ratios.size() != 3) throw UserError("pack: --split-ratios needs three numbers");
  const double total = split.ratios[0] + split.ratios[1] + split.ratios[2];
  if (total <= 0) throw UserError("pack: --split-ratios must not all be zero");
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  Rng rng(split.seed, 0, 0, Stream::kData);
  rng.shuffle(perm);
  const int64_t n_train = std::llround(n * split.ratios[0] / total);
  const int64_t n_val = std::llround(n * split.ratios[1] / total);
  for (int64_t i = 0; i < n; ++i)
    out[perm[i]] = i < n_train ? Split::kTrain : i < n_train + n_val ? Split::kVal : Split::kTest;
  return out;
}

PackSummary pack_csv(const std::string& path, const CsvSplit& split, torch::ScalarType dtype,
                     const PackOptions& opt) {
  std::ifstream in(path);
  if (!in) throw UserError("pack: cannot read '" + path + "'");
  std::map<std::string, CategoryData> cats;
  std::vector<std::string> order;
  std::string line;
  int64_t lineno = 0, dim = -1;
  const bool half = dtype == torch::kFloat16;
  const std::string m_dtype = half ? "float16" : "float32";
  const double max_value = half ? 65504.0 : static_cast<double>(std::numeric_limits<float>::max());
  char sep = ',';
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (lineno == 1 && line.find('\t') != std::string::npos) sep = '\t';
    auto f = split_line(line, sep);
    auto where = [&] { return path + ":" + std::to_string(lineno); };
    double label;
    if (f.size() < 4)
      throw UserError("pack: " + where() + ": expected category,item_id,label,f1..fd");
    if (lineno == 1 && !to_double(f[2], label)) continue;  // header
    if (!to_double(f[2], label) || (label != 0 && label != 1))
      throw UserError("pack: " + where() + ": label '" + f[2] + "' is not 0 or 1");
    // An integer (64-bit hashed ids too), or a number that is an exact
    // integer below 2^53 ("17.0").
    int64_t id = 0;
    const auto [end, err] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), id);
    if (err != std::errc() || end != f[1].data() + f[1].size()) {
      double d;
      if (!to_double(f[1], d) || !(std::fabs(d) < 9007199254740992.0) || d != std::trunc(d))
        throw UserError("pack: " + where() + ": item_id '" + f[1] + "' is not an integer");
      id = static_cast<int64_t>(d);
    }
    const int64_t d = static_cast<int64_t>(f.size()) - 3;
    if (dim < 0) dim = d;
    if (d != dim)
      throw UserError("pack: " + where() + ": " + std::to_string(d) +
                      " features, earlier rows have " + std::to_string(dim));
    auto [it, fresh] = cats.try_emplace(f[0]);
    if (fresh) order.push_back(f[0]);
    CategoryData& c = it->second;
    const auto [seen, first] = c.line_of_id.try_emplace(id, lineno);
    if (!first)
      throw UserError("pack: " + where() + ": item_id " + f[1] + " appears twice in category '" +
                      f[0] + "' (first at line " + std::to_string(seen->second) + ")");
    for (int64_t k = 0; k < d; ++k) {
      double v;
      if (!to_double(f[3 + k], v))
        throw UserError("pack: " + where() + ": feature " + std::to_string(k + 1) + " '" +
                        f[3 + k] + "' is not a number");
      // nan and inf would train to nan; a value past the stored type's range
      // would be stored as inf.
      if (!std::isfinite(v) || std::fabs(v) > max_value)
        throw UserError(
            "pack: " + where() + ": feature " + std::to_string(k + 1) + " '" + f[3 + k] + "' is " +
            (std::isfinite(v)
                 ? "beyond the range of " + m_dtype + " (" + std::to_string(max_value) + ")"
                 : std::string("not a finite number")));
      c.features.push_back(static_cast<float>(v));
    }
    c.labels.push_back(static_cast<float>(label));
    c.ids.push_back(id);
  }
  if (cats.empty()) throw UserError("pack: '" + path + "' has no data rows");

  Manifest m;
  m.kind = "preference";
  m.dtype = m_dtype;
  m.source = "csv " + path;
  m.item_shape = {dim};
  m.names = order;  // first-appearance order
  m.split = assign_splits(order, split, path);
  for (const auto& name : order) m.items.push_back(static_cast<int64_t>(cats[name].labels.size()));
  return pack(
      m,
      [&](int64_t c) {
        CategoryData& d = cats[order[c]];
        const int64_t rows = static_cast<int64_t>(d.labels.size());
        return CategoryRows{torch::tensor(d.features).reshape({rows, dim}).to(dtype),
                            torch::tensor(d.labels),
                            torch::tensor(d.ids, torch::kInt64),
                            {},
                            {}};
      },
      opt);
}

SupportSet read_support_csv(const std::string& path, int64_t dim) {
  const Table t = read_table(path, "adapt");
  if (t.rows.empty())
    throw UserError("adapt: '" + path + "' has no labelled rows (" +
                    (t.header.empty() ? "empty file" : "a header only") +
                    "); expected label,f1..f" + std::to_string(dim));
  const size_t width = static_cast<size_t>(dim) + 1;
  if (!t.header.empty() && t.header.size() != width)
    throw UserError("adapt: " + path + ": the header has " + std::to_string(t.header.size()) +
                    " columns, expected " + std::to_string(width) + " (label and the model's " +
                    std::to_string(dim) + " features)");
  std::vector<float> xs, ys;
  SupportSet s;
  for (const auto& [line, cells] : t.rows) {
    const std::string row = path + ": row " + std::to_string(line);
    if (cells.size() != width)
      throw UserError("adapt: " + row + ": " + std::to_string(cells.size()) +
                      " columns, expected " + std::to_string(width) + " (label and the model's " +
                      std::to_string(dim) + " features)");
    for (size_t c = 0; c < width; ++c) {
      double v;
      if (!to_double(cells[c], v) || !std::isfinite(v))
        throw UserError("adapt: " + row + ", " + column_name(t, c) + ": '" + cells[c] +
                        "' is not a number");
      if (c == 0) {
        if (v != 0 && v != 1)
          throw UserError("adapt: " + row + ", " + column_name(t, c) + ": label '" + cells[c] +
                          "' is not 0 or 1");
        ys.push_back(static_cast<float>(v));
        (v == 1 ? s.positives : s.negatives)++;
      } else {
        xs.push_back(static_cast<float>(v));
      }
    }
  }
  if (s.positives == 0 || s.negatives == 0)
    throw UserError("adapt: " + path + ": the support set has no " +
                    std::string(s.positives == 0 ? "positive (label 1)" : "negative (label 0)") +
                    " rows; adaptation needs both labels");
  const int64_t n = static_cast<int64_t>(ys.size());
  s.x = torch::tensor(xs).reshape({n, dim});
  s.y = torch::tensor(ys);
  return s;
}

torch::Tensor read_vector_csv(const std::string& path, int64_t dim, const std::string& what) {
  const Table t = read_table(path, what);
  if (t.rows.size() != 1)
    throw UserError(what + " file " + path + ": a " + what + " file holds one row of " +
                    std::to_string(dim) + " numbers, found " + std::to_string(t.rows.size()) +
                    " rows");
  const auto& [line, cells] = t.rows[0];
  if (static_cast<int64_t>(cells.size()) != dim)
    throw UserError(what + " file " + path + ": row " + std::to_string(line) + ": " +
                    std::to_string(cells.size()) + " values, the checkpoint's " + what + " has " +
                    std::to_string(dim));
  std::vector<float> v;
  for (size_t c = 0; c < cells.size(); ++c) {
    double x;
    if (!to_double(cells[c], x) || !std::isfinite(x))
      throw UserError(what + " file " + path + ": row " + std::to_string(line) + ", " +
                      column_name(t, c) + ": '" + cells[c] + "' is not a number");
    v.push_back(static_cast<float>(x));
  }
  return torch::tensor(v);
}

}  // namespace metacat
