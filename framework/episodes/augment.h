#pragma once
// Class augmentation for small image catalogues: every training category
// becomes several distinct categories, its items rotated by 0, 90, 180 and
// 270 degrees (rotations), and also mirrored first (dihedral: 8), as is the
// standard practice on Omniglot. A rotated T-shirt is a new class to tell
// apart, so 6 training categories give 24 or 48 and the 3-way task sources
// grow from C(6,3) = 20 to C(24,3) = 2024 or C(48,3) = 17296.
//
// Contract: only categories of the training split are augmented into
// training classes. Test categories are passed through unchanged under their
// own ids, so cold-start categories never reach training in any form. Base
// categories keep their ids; the new ones follow, in (base, transform)
// order, named "<base>@<transform>". Items must be square images [C, H, H].
//
// Validation classes for a catalogue as small as Fashion-MNIST's
// (ValAugment, data.val_augment):
//   none        validation categories pass through unchanged;
//   transformed every validation category also appears under each transform,
//               as validation classes: one category moved out of training
//               (e.g. sandal) gives 4 or 8 validation classes, enough for
//               3-way validation episodes of a category never trained on;
//   heldout     the last transform of every training category (rot270, or
//               mirror+rot270) is a validation class instead of a training
//               class: novel classes built from the training categories.
#include <memory>
#include <string>

#include "core/rng.h"
#include "episodes/item_store.h"

namespace metacat {

enum class ClassAugment { kNone, kRotations, kDihedral };
ClassAugment parse_class_augment(const std::string& s);  // none | rotations | dihedral
enum class ValAugment { kNone, kTransformed, kHeldout };
ValAugment parse_val_augment(const std::string& s);  // none | transformed | heldout

// Transform t (0..7) of a batch of images [n, C, H, W]: mirrored (left-right)
// when t >= 4, then rotated by (t mod 4) * 90 degrees.
torch::Tensor transform_images(const torch::Tensor& items, int t);

// Item-level augmentation of meta-training images (data.item_augment):
// each item independently mirrored left-right with probability 1/2 (flip)
// and/or shifted by up to `shift` pixels in each direction, zero-filled
// (shift). Labels are unchanged: the item stays in its class.
enum class ItemAugment { kNone, kFlip, kShift, kFlipShift };
ItemAugment parse_item_augment(const std::string& s);  // none | flip | shift | flip+shift
// images [n, C, H, W]; returns the augmented copy.
torch::Tensor augment_items(const torch::Tensor& images, ItemAugment mode, int64_t shift, Rng& rng);

class AugmentedStore : public ItemStore {
 public:
  AugmentedStore(std::shared_ptr<const ItemStore> base, ClassAugment mode,
                 ValAugment val = ValAugment::kNone);
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
  ValAugment val_;
  std::vector<CategoryInfo> infos_;
  std::vector<int64_t> base_of_;
  std::vector<int> transform_of_;
  torch::Tensor descriptors_;
};

}  // namespace metacat
