#pragma once
// Class augmentation for small image catalogues: every training category
// becomes several distinct categories, its items rotated by 0, 90, 180 and
// 270 degrees (rotations), and also mirrored first (dihedral: 8), as is the
// standard practice on Omniglot. A rotated T-shirt is a new class to tell
// apart, so 6 training categories give 24 or 48 and the 3-way task sources
// grow from C(6,3) = 20 to C(24,3) = 2024 or C(48,3) = 17296.
//
// Contract: only categories of the training split are augmented. Validation
// and test categories are passed through unchanged under their own ids, so
// cold-start categories never reach training in any form. Base categories
// keep their ids; the new ones follow, in (base, transform) order, named
// "<base>@<transform>". Items must be square images [C, H, H].
#include <memory>
#include <string>

#include "episodes/item_store.h"

namespace metacat {

enum class ClassAugment { kNone, kRotations, kDihedral };
ClassAugment parse_class_augment(const std::string& s);  // none | rotations | dihedral

// Transform t (0..7) of a batch of images [n, C, H, W]: mirrored (left-right)
// when t >= 4, then rotated by (t mod 4) * 90 degrees.
torch::Tensor transform_images(const torch::Tensor& items, int t);

class AugmentedStore : public ItemStore {
 public:
  AugmentedStore(std::shared_ptr<const ItemStore> base, ClassAugment mode);
  int64_t num_categories() const override { return static_cast<int64_t>(infos_.size()); }
  const CategoryInfo& info(int64_t c) const override { return infos_.at(c); }
  std::vector<int64_t> item_shape() const override { return base_->item_shape(); }
  Rows gather(int64_t category, const std::vector<int64_t>& rows) const override;
  torch::Tensor descriptors() const override { return descriptors_; }
  std::string describe() const override;
  // The base category and transform of category c.
  int64_t base_of(int64_t c) const { return base_of_.at(c); }
  int transform_of(int64_t c) const { return transform_of_.at(c); }

 private:
  std::shared_ptr<const ItemStore> base_;
  ClassAugment mode_;
  std::vector<CategoryInfo> infos_;
  std::vector<int64_t> base_of_;
  std::vector<int> transform_of_;
  torch::Tensor descriptors_;
};

}  // namespace metacat
