#include "episodes/augment.h"

#include "core/error.h"

namespace metacat {

namespace {
const char* kTransformNames[8] = {"",       "rot90",        "rot180",        "rot270",
                                  "mirror", "mirror+rot90", "mirror+rot180", "mirror+rot270"};
}  // namespace

ClassAugment parse_class_augment(const std::string& s) {
  if (s == "none") return ClassAugment::kNone;
  if (s == "rotations") return ClassAugment::kRotations;
  if (s == "dihedral") return ClassAugment::kDihedral;
  throw UserError("data.class_augment: '" + s + "' is not one of none, rotations, dihedral");
}

torch::Tensor transform_images(const torch::Tensor& items, int t) {
  torch::Tensor x = t >= 4 ? items.flip({3}) : items;
  const int k = t % 4;
  return k == 0 ? x : x.rot90(k, {2, 3}).contiguous();
}

AugmentedStore::AugmentedStore(std::shared_ptr<const ItemStore> base, ClassAugment mode)
    : base_(std::move(base)), mode_(mode) {
  const auto shape = base_->item_shape();
  if (mode_ != ClassAugment::kNone && (shape.size() != 3 || shape[1] != shape[2]))
    throw UserError(
        "data.class_augment: rotating and mirroring classes needs square images "
        "[channels, H, H]; these items are not (set data.class_augment: none)");
  const int transforms = mode_ == ClassAugment::kNone        ? 1
                         : mode_ == ClassAugment::kRotations ? 4
                                                             : 8;
  const int64_t n = base_->num_categories();
  for (int64_t c = 0; c < n; ++c) {
    infos_.push_back(base_->info(c));
    base_of_.push_back(c);
    transform_of_.push_back(0);
  }
  for (int64_t c = 0; c < n; ++c) {
    if (base_->info(c).split != Split::kTrain) continue;  // never val or test
    for (int t = 1; t < transforms; ++t) {
      CategoryInfo info = base_->info(c);
      info.name += std::string("@") + kTransformNames[t];
      infos_.push_back(info);
      base_of_.push_back(c);
      transform_of_.push_back(t);
    }
  }
  const torch::Tensor d = base_->descriptors();
  if (d.defined()) descriptors_ = d.index_select(0, torch::tensor(base_of_, torch::kInt64));
}

Rows AugmentedStore::gather(int64_t category, const std::vector<int64_t>& rows) const {
  Rows r = base_->gather(base_of_.at(category), rows);
  const int t = transform_of_.at(category);
  if (t != 0) r.items = transform_images(r.items, t);
  return r;
}

std::string AugmentedStore::describe() const {
  if (mode_ == ClassAugment::kNone) return base_->describe();
  return base_->describe() + ", training classes " +
         (mode_ == ClassAugment::kRotations ? "x4 rotations" : "x8 rotations and mirrors");
}

}  // namespace metacat
