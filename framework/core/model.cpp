#include "core/model.h"

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

}  // namespace

std::unique_ptr<Model> make_model(const ModelSpec& spec) {
  if (spec.input_shape.empty()) throw std::logic_error("model input shape unknown");
  if (spec.name == "mlp") return std::make_unique<Mlp>(spec);
  if (spec.name == "preference") {
    // Item (+ user) features -> MLP -> one logit: the category's preference
    // score. Category conditioning comes from adaptation (and descriptors).
    ModelSpec s = spec;
    s.outputs = 1;
    return std::make_unique<Mlp>(s);
  }
  if (spec.name == "conv4") return std::make_unique<Conv4>(spec);
  throw UserError("model.name: unknown model '" + spec.name +
                  "' (expected mlp, conv4, preference)");
}

}  // namespace metacat
