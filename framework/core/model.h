#pragma once
// Functional models: forward(params, x, mode) with no state of their own.
//
// Every model is a body (features) followed by a linear head named "head.*".
// ANIL adapts only the head, ProtoNet uses only the body, the fine-tuning
// baseline swaps the head for one with a different number of outputs.
// Initialisation (model.init) follows PyTorch's defaults for nn.Linear /
// nn.Conv2d (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))) or
// Glorot-uniform weights with zero biases; nn.BatchNorm2d starts at weight
// 1, bias 0.
// Batch norm always normalises with the statistics of the batch it is given
// (no running averages), as in the MAML reference implementation.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fields.h"
#include "core/params.h"

namespace metacat {

enum class Mode { kTrain, kEval };

struct ModelSpec {
  std::string name;                  // mlp | conv4 | preference | embedding
  std::vector<int64_t> input_shape;  // per item, e.g. {1, 28, 28} or {16}
  int64_t outputs = 1;
  std::vector<int64_t> hidden = {40, 40};  // mlp / preference
  int64_t width = 64;                      // conv4 channels
  torch::Dtype dtype = torch::kFloat32;
  // pytorch: nn.Linear/nn.Conv2d defaults, U(+-1/sqrt(fan_in)) weights and
  // biases; glorot: Glorot-uniform weights, zero biases (the Conv-4 of the
  // MAML papers). Batch norm starts at scale 1, shift 0 either way.
  std::string init = "pytorch";
  // embedding: the input's layout (from data packed with a schema), the
  // width of every embedding, how a multi-valued cell is pooled (mean |
  // sum over its non-padding codes), how a sequence is encoded (gru: a
  // GRU over the codes in order, its last state; mean: pooled like a
  // multi-valued cell) and the GRU's state size.
  std::vector<InputField> fields;
  int64_t embedding_dim = 16;
  std::string pooling = "mean";
  std::string sequence = "gru";
  int64_t gru_hidden = 32;
  // embedding: columns of the data the model does not read (no input, and
  // no table unless a read column shares it); they stay in the data, where
  // baselines.metaemb can read them as attributes (an id-heavy model: items
  // known by their ids).
  std::vector<std::string> skip;
  // embedding: a task context of `context` entries ("ctx.vector", starting
  // at zero) read through a learned projection of the inputs ("ctx.proj"):
  // one more feature, ctx.vector . (ctx.proj [numeric, embeddings..., dot
  // products if any]), a task-specific linear score in a low-dimensional
  // space of the inputs (for a user task, a preference vector over what the
  // items embed).
  // 0: none. learner.inner_params: context adapts it alone (CAVIA).
  int64_t context = 0;
  // embedding, with a context: "mean" adds ctx.set [context x inputs] times
  // the mean of the inputs of the rows a call scores (one task's support
  // rows, its query rows, or both as fine-tuning's joint pre-training and
  // protonet take them; labels are never read) to ctx.vector, so that
  // a task's context starts from what the set of its rows says (which items
  // a new user is shown, which users a new category is shown to), at 0
  // shots too. Like batch norm on a batch's statistics, a row's score then
  // depends on the other rows of its call. ctx.set starts at zero. The
  // metaemb generator's training scores rows of many tasks in one call (an
  // item's impressions to several users), so there the term reads their
  // pooled mean. "none": ctx.vector alone.
  std::string context_rows = "none";
  // embedding: "dot" appends the pairwise dot products of the embedded
  // columns of width embedding_dim (item, categorical, pooled multi-valued
  // and pooled sequence columns; a GRU state too when gru_hidden equals
  // embedding_dim) to [numeric, embeddings...], as factorization machines
  // and DLRM do: a user-side and an item-side embedding then score their
  // affinity directly, which ReLU layers only approximate. "none": none.
  std::string interactions = "none";
};

class Model {
 public:
  explicit Model(ModelSpec spec) : spec_(std::move(spec)) {}
  virtual ~Model() = default;
  const ModelSpec& spec() const { return spec_; }
  int64_t outputs() const { return spec_.outputs; }

  // All parameters, body then head, initialised from a counter-based stream.
  Params init(uint64_t seed) const;
  // A fresh head with `outputs` outputs (for fine-tuning on a new task).
  Params init_head(uint64_t seed, int64_t outputs) const;

  virtual torch::Tensor features(const Params& p, const torch::Tensor& x, Mode mode) const = 0;
  torch::Tensor head(const Params& p, const torch::Tensor& features) const;
  torch::Tensor forward(const Params& p, const torch::Tensor& x, Mode mode) const {
    return head(p, features(p, x, mode));
  }
  // Task-batched forward (learner.inner_loop: batched): every tensor of `p`
  // carries a leading task dimension T (per-task parameters, or an expand()
  // of shared ones) and x is [T, n, item...]; results are [T, n, ...].
  // Semantics are those of T separate forward() calls: batch norm takes each
  // task's own statistics.
  virtual torch::Tensor features_batched(const Params& p, const torch::Tensor& x,
                                         Mode mode) const = 0;
  torch::Tensor head_batched(const Params& p, const torch::Tensor& features) const;
  torch::Tensor forward_batched(const Params& p, const torch::Tensor& x, Mode mode) const {
    return head_batched(p, features_batched(p, x, mode));
  }
  // Whether learner.inner_loop: auto batches this model's tasks (measured
  // with bench/perf.sh; see bench/README.md).
  virtual bool batched_pays_off() const = 0;
  static bool is_head(const std::string& name) { return name.rfind("head.", 0) == 0; }
  // Batch-norm scales and shifts ("bn<i>.weight", "bn<i>.bias").
  static bool is_norm(const std::string& name) { return name.rfind("bn", 0) == 0; }
  // Embedding tables ("emb.<table>") and sequence encoders ("gru.<field>.*"):
  // the inner loop leaves them alone unless learner.inner_embeddings.
  static bool is_embedding(const std::string& name) {
    return name.rfind("emb.", 0) == 0 || name.rfind("gru.", 0) == 0;
  }
  // The task context (ModelSpec::context) itself.
  static bool is_context(const std::string& name) { return name == "ctx.vector"; }
  virtual int64_t feature_dim() const = 0;
  // PyTorch-default uniform init of a weight of shape `shape` with fan_in,
  // from the counter-based stream (seed, which).
  torch::Tensor uniform_init(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                             int64_t fan_in) const;
  // A layer's weight and bias under spec().init.
  torch::Tensor init_weight(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                            int64_t fan_in, int64_t fan_out) const;
  torch::Tensor init_bias(uint64_t seed, uint64_t which, std::vector<int64_t> shape,
                          int64_t fan_in) const;

 protected:
  virtual void init_body(Params& p, uint64_t seed) const = 0;
  ModelSpec spec_;
};

// x [T, n, in], w [T, out, in], b [T, out] -> [T, n, out].
torch::Tensor linear_batched(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& b);

// A GRU (PyTorch's gates r, z, n; w_ih [3H, E], w_hh [3H, H]) over
// e [n, L, E], written out in differentiable ops (second order works
// through it). mask [n, L]: 1 where a step has a code, 0 for padding, which
// leaves the state unchanged. Returns the state after the last step, [n, H].
torch::Tensor gru_last_state(const torch::Tensor& e, const torch::Tensor& mask,
                             const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                             const torch::Tensor& b_ih, const torch::Tensor& b_hh);

// The data's columns the model reads: spec.fields without spec.skip.
std::vector<InputField> read_fields(const ModelSpec& spec);

// Builds the model the spec names; throws UserError on an unknown name or a
// spec that does not fit the input (e.g. conv4 on feature vectors).
std::unique_ptr<Model> make_model(const ModelSpec& spec);

}  // namespace metacat
