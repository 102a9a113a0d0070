#include "core/model.h"

#include <algorithm>
#include <cmath>

#include "core/batched_matmul.h"
#include "core/error.h"
#include "core/pool.h"
#include "core/rng.h"

namespace metacat {

torch::Tensor Model::uniform_init(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                                  int64_t fan_in) const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  Rng rng(seed, which, 0, Stream::kInit);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  std::vector<double> v(n);
  for (auto& x : v) x = rng.uniform(-bound, bound);
  return torch::tensor(v, torch::kFloat64).reshape(shape).to(spec_.dtype);
}

torch::Tensor Model::init_weight(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                                 int64_t fan_in, int64_t fan_out) const {
  torch::Tensor w = uniform_init(seed, which, shape, fan_in);  // U(+-1/sqrt(fan_in))
  if (spec_.init != "glorot") return w;
  // The same draws rescaled to U(+-sqrt(6 / (fan_in + fan_out))).
  return w * std::sqrt(6.0 * static_cast<double>(fan_in) / static_cast<double>(fan_in + fan_out));
}

torch::Tensor Model::init_bias(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                               int64_t fan_in) const {
  if (spec_.init == "glorot") return torch::zeros(shape, spec_.dtype);
  return uniform_init(seed, which, shape, fan_in);
}

Params Model::init(uint64_t seed) const {
  Params p;
  init_body(p, seed);
  Params h = init_head(seed, spec_.outputs);
  for (size_t i = 0; i < h.size(); ++i) p.add(h.names[i], h.tensors[i]);
  return p;
}

Params Model::init_head(uint64_t seed, int64_t outputs) const {
  const int64_t in = feature_dim();
  Params p;
  p.add("head.weight", init_weight(seed, 1000, {outputs, in}, in, outputs));
  p.add("head.bias", init_bias(seed, 1001, {outputs}, in));
  return p;
}

torch::Tensor Model::head(const Params& p, const torch::Tensor& f) const {
  return torch::linear(f, p.at("head.weight"), p.at("head.bias"));
}

torch::Tensor Model::head_batched(const Params& p, const torch::Tensor& f) const {
  return linear_batched(f, p.at("head.weight"), p.at("head.bias"));
}

torch::Tensor gru_last_state(const torch::Tensor& e, const torch::Tensor& mask,
                             const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                             const torch::Tensor& b_ih, const torch::Tensor& b_hh) {
  const int64_t n = e.size(0), L = e.size(1), H = w_hh.size(1);
  const torch::Tensor gi = torch::linear(e, w_ih, b_ih);  // [n, L, 3H]: every step's input part
  torch::Tensor h = torch::zeros({n, H}, e.options());
  for (int64_t t = 0; t < L; ++t) {
    const torch::Tensor gh = torch::linear(h, w_hh, b_hh);
    const torch::Tensor it = gi.select(1, t);
    const torch::Tensor r = torch::sigmoid(it.slice(1, 0, H) + gh.slice(1, 0, H));
    const torch::Tensor z = torch::sigmoid(it.slice(1, H, 2 * H) + gh.slice(1, H, 2 * H));
    const torch::Tensor c = torch::tanh(it.slice(1, 2 * H) + r * gh.slice(1, 2 * H));
    const torch::Tensor m = mask.select(1, t).unsqueeze(1);
    h = m * ((1 - z) * c + z * h) + (1 - m) * h;
  }
  return h;
}

torch::Tensor linear_batched(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& b) {
  // x [T, n, in], w [T, out, in], b [T, out] -> [T, n, out].
  return batched_linear(x, w, b);
}

namespace {

int64_t product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (int64_t x : v) n *= x;
  return n;
}

// Fully connected ReLU body: input -> hidden... (mlp, preference).
class Mlp : public Model {
 public:
  explicit Mlp(ModelSpec s) : Model(std::move(s)) {
    if (spec_.hidden.empty()) throw UserError("model.hidden: needs at least one layer size");
  }
  torch::Tensor features(const Params& p, const torch::Tensor& x, Mode) const override {
    // Explicit width: an empty batch (a zero-shot support set) reshapes too.
    torch::Tensor h = x.reshape({x.size(0), product(spec_.input_shape)});
    for (size_t i = 0; i < spec_.hidden.size(); ++i) {
      const std::string k = "body." + std::to_string(i);
      h = torch::relu(torch::linear(h, p.at(k + ".weight"), p.at(k + ".bias")));
    }
    return h;
  }
  torch::Tensor features_batched(const Params& p, const torch::Tensor& x, Mode) const override {
    torch::Tensor h = x.reshape({x.size(0), x.size(1), product(spec_.input_shape)});
    for (size_t i = 0; i < spec_.hidden.size(); ++i) {
      const std::string k = "body." + std::to_string(i);
      h = torch::relu(linear_batched(h, p.at(k + ".weight"), p.at(k + ".bias")));
    }
    return h;
  }
  int64_t feature_dim() const override { return spec_.hidden.back(); }
  bool batched_pays_off() const override { return true; }

 protected:
  void init_body(Params& p, uint64_t seed) const override {
    int64_t in = product(spec_.input_shape);
    for (size_t i = 0; i < spec_.hidden.size(); ++i) {
      const std::string k = "body." + std::to_string(i);
      p.add(k + ".weight", init_weight(seed, 2 * i, {spec_.hidden[i], in}, in, spec_.hidden[i]));
      p.add(k + ".bias", init_bias(seed, 2 * i + 1, {spec_.hidden[i]}, in));
      in = spec_.hidden[i];
    }
  }
};

// max_pool(relu(h)) computed as relu(max_pool(h)): equal (relu is monotone)
// with gradients equal too (a window whose maximum is <= 0 passes no
// gradient either way), and relu then touches a quarter of the elements.
torch::Tensor pool_relu(const torch::Tensor& h) { return torch::relu(max_pool_2x2(h)); }

// The 4-block convolutional network of Finn et al. (2017):
// [conv3x3(pad 1) -> batch-norm -> ReLU -> max-pool 2x2] x 4 -> flatten.
class Conv4 : public Model {
 public:
  explicit Conv4(ModelSpec s) : Model(std::move(s)) {
    if (spec_.input_shape.size() != 3)
      throw UserError("model.name: conv4 needs image input (channels x height x width)");
    int64_t h = spec_.input_shape[1], w = spec_.input_shape[2];
    for (int i = 0; i < 4; ++i) {
      h /= 2;
      w /= 2;
    }
    if (h < 1 || w < 1) throw UserError("model.name: conv4 needs images of at least 16x16");
    spatial_ = h * w;
  }
  torch::Tensor features(const Params& p, const torch::Tensor& x, Mode) const override {
    torch::Tensor h = x;
    for (int i = 0; i < 4; ++i) {
      const std::string c = "conv" + std::to_string(i), b = "bn" + std::to_string(i);
      h = torch::conv2d(h, p.at(c + ".weight"), p.at(c + ".bias"), 1, 1);
      h = torch::batch_norm(h, p.at(b + ".weight"), p.at(b + ".bias"), {}, {}, /*training=*/true,
                            0.1, 1e-5, /*cudnn_enabled=*/false);
      h = pool_relu(h);
    }
    return h.reshape({h.size(0), -1});
  }
  // Tasks become channel groups: x [T, n, C, H, W] -> [n, T*C, H, W], and
  // each conv is one grouped convolution (groups = T) with the T weight sets
  // stacked. Batch norm over the T*C channels then normalises every task's
  // channels with that task's own statistics, as T separate calls would.
  torch::Tensor features_batched(const Params& p, const torch::Tensor& x, Mode) const override {
    const int64_t T = x.size(0), n = x.size(1);
    torch::Tensor h = x.transpose(0, 1).reshape({n, -1, x.size(3), x.size(4)});
    for (int i = 0; i < 4; ++i) {
      const std::string c = "conv" + std::to_string(i), b = "bn" + std::to_string(i);
      const torch::Tensor& w = p.at(c + ".weight");
      h = torch::conv2d(h, w.reshape({-1, w.size(2), w.size(3), w.size(4)}),
                        p.at(c + ".bias").reshape({-1}), 1, 1, 1, T);
      h = torch::batch_norm(h, p.at(b + ".weight").reshape({-1}), p.at(b + ".bias").reshape({-1}),
                            {}, {}, /*training=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
      h = pool_relu(h);
    }
    return h.reshape({n, T, -1}).transpose(0, 1);
  }
  int64_t feature_dim() const override { return spec_.width * spatial_; }
  // Batched (grouped convolution) ran at 0.91-0.98x the per-task path at 1
  // thread (conv4 MAML, 3-way 1-shot, meta-batch 4), and per-task inner
  // loops also run side by side at 2+ threads (learner.task_parallel).
  bool batched_pays_off() const override { return false; }

 protected:
  void init_body(Params& p, uint64_t seed) const override {
    int64_t in = spec_.input_shape[0];
    const int64_t w = spec_.width;
    for (int i = 0; i < 4; ++i) {
      const std::string c = "conv" + std::to_string(i), b = "bn" + std::to_string(i);
      const int64_t fan_in = in * 9;
      p.add(c + ".weight", init_weight(seed, 2 * i, {w, in, 3, 3}, fan_in, w * 9));
      p.add(c + ".bias", init_bias(seed, 2 * i + 1, {w}, fan_in));
      p.add(b + ".weight", torch::ones({w}, spec_.dtype));
      p.add(b + ".bias", torch::zeros({w}, spec_.dtype));
      in = w;
    }
  }

 private:
  int64_t spatial_ = 1;
};

// Tabular items with coded columns (core/fields.h), MeLU-style: every coded
// column is looked up in its vocabulary's table ("emb.<table>", shared by
// the columns that use one vocabulary), a multi-valued cell pooled over its
// non-padding codes, a sequence encoded by a GRU (its state after the last
// non-padding code) or pooled; with model.interactions: dot, the pairwise
// dot products of the embedded columns of width embedding_dim follow; then
// [numeric, embeddings..., dots] goes through the ReLU layers "body.<i>"
// and the head. Lookups are index_select, whose
// backward (index_add) and double backward (index_select) are ordinary
// differentiable ops, and the GRU is written out in linear ops, so the
// second-order path differentiates through all of it.
class Embedding : public Model {
 public:
  explicit Embedding(ModelSpec s) : Model(std::move(s)) {
    if (spec_.fields.empty())
      throw UserError(
          "model.name: embedding needs tabular data packed with a schema (metacat pack --source "
          "csv --schema SCHEMA.yaml), whose layout says which columns to embed");
    if (spec_.hidden.empty()) throw UserError("model.hidden: needs at least one layer size");
    if (spec_.pooling != "mean" && spec_.pooling != "sum")
      throw UserError("model.pooling: '" + spec_.pooling + "' (mean or sum)");
    if (spec_.sequence != "gru" && spec_.sequence != "mean")
      throw UserError("model.sequence: '" + spec_.sequence + "' (gru or mean)");
    if (spec_.context_rows != "none" && spec_.context_rows != "mean")
      throw UserError("model.context_rows: '" + spec_.context_rows + "' (none or mean)");
    if (spec_.context_rows != "none" && spec_.context == 0)
      throw UserError("model.context_rows: " + spec_.context_rows +
                      " reads the rows into the task context: needs model.context > 0");
    if (spec_.interactions != "none" && spec_.interactions != "dot")
      throw UserError("model.interactions: '" + spec_.interactions + "' (none or dot)");
    for (const auto& name : spec_.skip)
      if (std::none_of(spec_.fields.begin(), spec_.fields.end(),
                       [&](const InputField& f) { return f.name == name; }))
        throw UserError("model.skip: no column '" + name + "' in the data (" + column_names() +
                        ")");
    read_ = read_fields(spec_);
    if (read_.empty())
      throw UserError("model.skip: every column of the data is skipped; the model reads none");
    int64_t width = 0;
    for (const auto& f : spec_.fields) width = std::max(width, f.offset + f.width);
    for (const auto& f : read_) {
      if (f.role == InputField::Role::kNumeric) {
        in_ += f.width;
        continue;
      }
      if (std::find(tables_.begin(), tables_.end(), f.table) == tables_.end()) {
        tables_.push_back(f.table);
        vocab_.push_back(f.vocab);
      }
      const int64_t w = gru(f) ? spec_.gru_hidden : spec_.embedding_dim;
      in_ += w;
      if (spec_.interactions == "dot" && w == spec_.embedding_dim) ++dotted_;
    }
    if (spec_.interactions == "dot" && dotted_ < 2)
      throw UserError(
          "model.interactions: dot needs two or more embedded columns of width "
          "model.embedding_dim; the schema's layout gives " +
          std::to_string(dotted_));
    in_ += dotted_ * (dotted_ - 1) / 2;
    if (spec_.input_shape != std::vector<int64_t>{width})
      throw UserError("model.name: embedding: the data's items have " +
                      std::to_string(product(spec_.input_shape)) +
                      " columns, its schema's layout " + std::to_string(width));
  }

  torch::Tensor features(const Params& p, const torch::Tensor& x, Mode) const override {
    std::vector<torch::Tensor> parts, dotted;
    const int64_t n = x.size(0);
    const int64_t E = spec_.embedding_dim;
    const bool dot = spec_.interactions == "dot";
    const auto embedded = [&](torch::Tensor t) {
      if (dot && t.size(1) == E) dotted.push_back(t);
      parts.push_back(std::move(t));
    };
    for (const auto& f : read_) {
      torch::Tensor cols = x.slice(1, f.offset, f.offset + f.width);
      if (f.role == InputField::Role::kNumeric) {
        parts.push_back(cols);
        continue;
      }
      const torch::Tensor codes = cols.to(torch::kInt64);  // exact: codes < 2^24
      const torch::Tensor& table = p.at("emb." + f.table);
      torch::Tensor e =
          table.index_select(0, codes.reshape({-1})).reshape({n, f.width, table.size(1)});
      if (f.width == 1 &&
          (f.role == InputField::Role::kItem || f.role == InputField::Role::kCategorical)) {
        embedded(e.select(1, 0));
        continue;
      }
      const torch::Tensor mask = codes.ne(kPadCode).to(x.scalar_type());  // [n, L]
      if (gru(f)) {
        const std::string g = "gru." + f.name;
        embedded(gru_last_state(e, mask, p.at(g + ".w_ih"), p.at(g + ".w_hh"), p.at(g + ".b_ih"),
                                p.at(g + ".b_hh")));
        continue;
      }
      torch::Tensor sum = (e * mask.unsqueeze(2)).sum(1);
      if (spec_.pooling == "mean") sum = sum / mask.sum(1, true).clamp_min(1);
      embedded(sum);
    }
    if (dot) {
      // [n, m, E] x [n, E, m] -> [n, m, m]; its upper triangle, row-major:
      // (0,1), (0,2), ..., (m-2, m-1).
      const int64_t m = static_cast<int64_t>(dotted.size());
      const torch::Tensor s = torch::stack(dotted, 1);
      const torch::Tensor all = torch::bmm(s, s.transpose(1, 2)).reshape({n, m * m});
      std::vector<int64_t> upper;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = i + 1; j < m; ++j) upper.push_back(i * m + j);
      parts.push_back(all.index_select(
          1, torch::tensor(upper, torch::TensorOptions(torch::kInt64).device(all.device()))));
    }
    const torch::Tensor in = torch::cat(parts, 1);
    torch::Tensor h = in;
    for (size_t i = 0; i < spec_.hidden.size(); ++i) {
      const std::string k = "body." + std::to_string(i);
      h = torch::relu(torch::linear(h, p.at(k + ".weight"), p.at(k + ".bias")));
    }
    if (spec_.context == 0) return h;
    // [n, in] x [K, in]^T x [K] -> [n, 1]: the context's score of each row.
    torch::Tensor v = p.at("ctx.vector");
    if (spec_.context_rows == "mean") v = v + torch::mv(p.at("ctx.set"), in.mean(0));
    const torch::Tensor s = torch::mv(torch::linear(in, p.at("ctx.proj")), v);
    return torch::cat({h, s.unsqueeze(1)}, 1);
  }
  // Per task: T forward calls (lookups do not batch over per-task tables).
  torch::Tensor features_batched(const Params& p, const torch::Tensor& x,
                                 Mode mode) const override {
    std::vector<torch::Tensor> out;
    for (int64_t t = 0; t < x.size(0); ++t) {
      Params pt;
      for (size_t i = 0; i < p.size(); ++i) pt.add(p.names[i], p.tensors[i][t]);
      out.push_back(features(pt, x[t], mode));
    }
    return torch::stack(out);
  }
  int64_t feature_dim() const override { return spec_.hidden.back() + (spec_.context > 0); }
  bool batched_pays_off() const override { return false; }

 protected:
  void init_body(Params& p, uint64_t seed) const override {
    const int64_t E = spec_.embedding_dim, H = spec_.gru_hidden;
    for (size_t t = 0; t < tables_.size(); ++t)
      p.add("emb." + tables_[t], table_init(seed, 100 + t, vocab_[t], E));
    uint64_t which = 200;
    for (const auto& f : read_) {
      if (!gru(f)) continue;
      const std::string g = "gru." + f.name;
      p.add(g + ".w_ih", uniform_init(seed, which++, {3 * H, E}, H));
      p.add(g + ".w_hh", uniform_init(seed, which++, {3 * H, H}, H));
      p.add(g + ".b_ih", uniform_init(seed, which++, {3 * H}, H));
      p.add(g + ".b_hh", uniform_init(seed, which++, {3 * H}, H));
    }
    int64_t in = in_;
    for (size_t i = 0; i < spec_.hidden.size(); ++i) {
      const std::string k = "body." + std::to_string(i);
      p.add(k + ".weight", init_weight(seed, 2 * i, {spec_.hidden[i], in}, in, spec_.hidden[i]));
      p.add(k + ".bias", init_bias(seed, 2 * i + 1, {spec_.hidden[i]}, in));
      in = spec_.hidden[i];
    }
    if (spec_.context > 0) {
      p.add("ctx.proj", uniform_init(seed, 300, {spec_.context, in_}, in_));
      p.add("ctx.vector", torch::zeros({spec_.context}, spec_.dtype));
      if (spec_.context_rows == "mean")
        p.add("ctx.set", torch::zeros({spec_.context, in_}, spec_.dtype));
    }
  }

 private:
  std::string column_names() const {
    std::string s;
    for (const auto& f : spec_.fields) s += (s.empty() ? "" : ", ") + f.name;
    return s;
  }
  bool gru(const InputField& f) const {
    return f.role == InputField::Role::kSequence && spec_.sequence == "gru";
  }
  // N(0, 0.1^2) rows (nn.Embedding's N(0, 1) scaled to the width of the
  // other inputs), drawn straight into float: tables may have 10^7 rows.
  torch::Tensor table_init(uint64_t seed, uint64_t which, int64_t rows, int64_t dim) const {
    torch::Tensor t = torch::empty({rows, dim}, torch::kFloat32);
    float* d = t.data_ptr<float>();
    Rng rng(seed, which, 0, Stream::kInit);
    for (int64_t i = 0; i < rows * dim; ++i) d[i] = static_cast<float>(0.1 * rng.normal());
    return t.to(spec_.dtype);
  }
  std::vector<InputField> read_;  // the columns read: spec_.fields without spec_.skip
  std::vector<std::string> tables_;
  std::vector<int64_t> vocab_;
  int64_t in_ = 0;      // width of [numeric, embeddings..., dots]
  int64_t dotted_ = 0;  // columns in the pairwise dot products
};

}  // namespace

std::vector<InputField> read_fields(const ModelSpec& spec) {
  std::vector<InputField> out;
  for (const auto& f : spec.fields)
    if (std::find(spec.skip.begin(), spec.skip.end(), f.name) == spec.skip.end()) out.push_back(f);
  return out;
}

std::unique_ptr<Model> make_model(const ModelSpec& spec) {
  if (spec.input_shape.empty()) throw std::logic_error("model input shape unknown");
  if (spec.context < 0) throw UserError("model.context: must be >= 0");
  if (spec.context > 0 && spec.name != "embedding")
    throw UserError("model.context: only the embedding model has a task context (model.name: " +
                    spec.name + ")");
  if (spec.context_rows != "none" && spec.name != "embedding")
    throw UserError(
        "model.context_rows: only the embedding model has a task context (model.name: " +
        spec.name + ")");
  if (!spec.skip.empty() && spec.name != "embedding")
    throw UserError(
        "model.skip: only the embedding model reads named columns (model.name: " + spec.name + ")");
  if (spec.interactions != "none" && spec.name != "embedding")
    throw UserError(
        "model.interactions: only the embedding model has them (model.name: " + spec.name + ")");
  if (spec.name == "mlp") return std::make_unique<Mlp>(spec);
  if (spec.name == "preference") {
    // Item (+ user) features -> MLP -> one logit: the category's preference
    // score. Category conditioning comes from adaptation (and descriptors).
    ModelSpec s = spec;
    s.outputs = 1;
    return std::make_unique<Mlp>(s);
  }
  if (spec.name == "conv4") return std::make_unique<Conv4>(spec);
  if (spec.name == "embedding") return std::make_unique<Embedding>(spec);
  throw UserError("model.name: unknown model '" + spec.name +
                  "' (expected mlp, conv4, preference, embedding)");
}

}  // namespace metacat
