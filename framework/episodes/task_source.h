#pragma once
// Task sources: where episodes come from.
//
// A *task source* is the unit the ranks divide among themselves
// (docs/ARCHITECTURE.md, invariant 2): a category when a task lives inside one category, or a fixed
// combination of classes when an N-way task spans classes and classes are
// few. Sources of a split are numbered 0..num_sources(split)-1, and
// draw(split, source, spec, rng) is a pure function of its arguments and the
// rng's stream, so the same (seed, step, slot) gives the same episode
// whichever rank draws it.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fields.h"
#include "core/loss.h"
#include "core/rng.h"

namespace metacat {

// kNone: a category that belongs to no split (left out of the run).
enum class Split { kTrain = 0, kVal = 1, kTest = 2, kNone = 3 };
const char* to_string(Split s);
Split parse_split(const std::string& s);

struct EpisodeSpec {
  int64_t ways = 2;     // classification only
  int64_t shots = 1;    // per class (classification) or per task
  int64_t queries = 1;  // per class (classification) or per task
};

struct Episode {
  torch::Tensor support_x, support_y, query_x, query_y;
  // Classification: class index in the training split's class list, for
  // joint (non-episodic) pre-training. Undefined for other kinds.
  torch::Tensor support_joint, query_joint;
  // Per query item: id of its category (category_name() names it), for
  // per-category breakdowns. Undefined when categories do not apply.
  torch::Tensor query_category;
  // The category's descriptor [D] (e.g. an attribute or text embedding
  // computed upstream), float in the run's dtype; undefined when the data
  // has none or the task spans several categories.
  torch::Tensor descriptor;
  // Per query item [q]: the true model's score (the synthetic catalogue's
  // z), in the run's dtype, for the oracle baseline; undefined when the data
  // does not know it.
  torch::Tensor query_oracle;
  // Per query item [q] int64: its item id, for catalogue coverage;
  // undefined when the data has none.
  torch::Tensor query_item;
  int64_t source = -1;
};

// The episode's tensors (defined or not), to move them together.
std::vector<torch::Tensor*> tensors_of(Episode& e);
// The episode with its tensors on `device` (core/device.h: upload); a copy
// of the handles when they are there already.
Episode on_device(const Episode& e, const torch::Device& device);

// What an episode is made of, before any item is read: the categories (in
// episode-label order for classification) and, per category, `shots` support
// rows then `queries` query rows. Stored in fixed-episode files.
struct EpisodePlan {
  int64_t source = -1;
  std::vector<int64_t> categories;
  std::vector<int64_t> support_rows;  // categories.size() * shots
  std::vector<int64_t> query_rows;    // categories.size() * queries
};

class TaskSource {
 public:
  virtual ~TaskSource() = default;
  virtual TaskKind kind() const = 0;
  virtual std::vector<int64_t> input_shape() const = 0;
  virtual int64_t num_sources(Split split) const = 0;
  virtual Episode draw(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const = 0;
  // Sources backed by stored items split draw() into plan + materialize so
  // that plans can be saved and replayed; others throw UserError.
  virtual EpisodePlan plan(Split split, int64_t source, const EpisodeSpec& spec, Rng& rng) const;
  virtual Episode materialize(const EpisodePlan& plan, const EpisodeSpec& spec) const;
  // Checks a stored plan against this data (category ids, splits, row ranges).
  virtual void check_plan(const EpisodePlan& plan, Split split, const EpisodeSpec& spec) const;
  // Checksum of the underlying data's manifest (0 when not stored).
  virtual uint64_t data_checksum() const { return 0; }
  // Throws UserError when this split cannot serve episodes of this spec.
  virtual void check(Split split, const EpisodeSpec& spec) const = 0;
  // Item-level augmentation of a meta-training episode (support and query
  // items), drawn from rng; the trainer's sampler calls it for the train
  // split only. Default: none.
  virtual void augment_training_items(Episode&, Rng&) const {}
  virtual std::string category_name(int64_t id) const { return std::to_string(id); }
  virtual std::string source_name(Split split, int64_t source) const;
  // Model outputs for an episode of this spec (ways, or 1).
  virtual int64_t outputs(const EpisodeSpec& spec) const;
  // Outputs of one model trained jointly on the whole training split.
  virtual int64_t joint_outputs() const { return 1; }
  // Length of the descriptors episodes carry (0: none).
  virtual int64_t descriptor_dim() const { return 0; }
  // Whether episodes carry Episode::query_oracle (synthetic catalogues only).
  virtual bool has_oracle() const { return false; }
  // Tabular data packed with a schema: the items' layout (core/fields.h).
  virtual std::vector<InputField> fields() const { return {}; }
  virtual std::string describe() const = 0;

  torch::Dtype dtype() const { return dtype_; }
  void set_dtype(torch::Dtype d) { dtype_ = d; }

 protected:
  torch::Dtype dtype_ = torch::kFloat32;
};

}  // namespace metacat
