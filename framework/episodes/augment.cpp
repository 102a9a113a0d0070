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

ValAugment parse_val_augment(const std::string& s) {
  if (s == "none") return ValAugment::kNone;
  if (s == "transformed") return ValAugment::kTransformed;
  if (s == "heldout") return ValAugment::kHeldout;
  throw UserError("data.val_augment: '" + s + "' is not one of none, transformed, heldout");
}

ItemAugment parse_item_augment(const std::string& s) {
  if (s == "none") return ItemAugment::kNone;
  if (s == "flip") return ItemAugment::kFlip;
  if (s == "shift") return ItemAugment::kShift;
  if (s == "flip+shift") return ItemAugment::kFlipShift;
  throw UserError("data.item_augment: '" + s + "' is not one of none, flip, shift, flip+shift");
}

torch::Tensor augment_items(const torch::Tensor& images, ItemAugment mode, int64_t shift,
                            Rng& rng) {
  if (mode == ItemAugment::kNone || images.size(0) == 0) return images;
  const bool flip = mode == ItemAugment::kFlip || mode == ItemAugment::kFlipShift;
  const bool move = (mode == ItemAugment::kShift || mode == ItemAugment::kFlipShift) && shift > 0;
  const int64_t n = images.size(0), H = images.size(2), W = images.size(3);
  torch::Tensor out = torch::zeros_like(images);
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor x = images[i];
    if (flip && rng.uniform() < 0.5) x = x.flip({2});
    int64_t dy = 0, dx = 0;
    if (move) {
      dy = rng.randint(2 * shift + 1) - shift;
      dx = rng.randint(2 * shift + 1) - shift;
    }
    // out[i][y + dy][x + dx] = x[y][x] where both are inside the image.
    const int64_t h = H - std::abs(dy), w = W - std::abs(dx);
    if (h <= 0 || w <= 0) continue;
    out[i]
        .narrow(1, std::max<int64_t>(dy, 0), h)
        .narrow(2, std::max<int64_t>(dx, 0), w)
        .copy_(x.narrow(1, std::max<int64_t>(-dy, 0), h).narrow(2, std::max<int64_t>(-dx, 0), w));
  }
  return out;
}

torch::Tensor transform_images(const torch::Tensor& items, int t) {
  torch::Tensor x = t >= 4 ? items.flip({3}) : items;
  const int k = t % 4;
  return k == 0 ? x : x.rot90(k, {2, 3}).contiguous();
}

AugmentedStore::AugmentedStore(std::shared_ptr<const ItemStore> base, ClassAugment mode,
                               ValAugment val)
    : base_(std::move(base)), mode_(mode), val_(val) {
  if (mode_ == ClassAugment::kNone && val_ != ValAugment::kNone)
    throw UserError(
        "data.val_augment: builds validation classes from rotations and mirrors: "
        "set data.class_augment to rotations or dihedral");
  const auto shape = base_->item_shape();
  if (mode_ != ClassAugment::kNone && (shape.size() != 3 || shape[1] != shape[2]))
    throw UserError(
        "data.class_augment: rotating and mirroring classes needs square images "
        "[channels, H, H]; these items are not (set data.class_augment: none)");
  const int transforms = mode_ == ClassAugment::kNone        ? 1
                         : mode_ == ClassAugment::kRotations ? 4
                                                             : 8;
  const int64_t n = base_->num_categories();
  bool has_val = false;
  for (int64_t c = 0; c < n; ++c) has_val = has_val || base_->info(c).split == Split::kVal;
  if (val_ == ValAugment::kTransformed && !has_val)
    throw UserError(
        "data.val_augment: transformed rotates and mirrors the validation categories, and "
        "this data has none (pack with --val-categories, or list data.val_classes; or use "
        "heldout, which validates on transforms of the training categories)");
  for (int64_t c = 0; c < n; ++c) {
    infos_.push_back(base_->info(c));
    base_of_.push_back(c);
    transform_of_.push_back(0);
  }
  for (int64_t c = 0; c < n; ++c) {
    const Split split = base_->info(c).split;
    if (split == Split::kTest) continue;  // cold-start categories: never transformed
    if (split == Split::kVal && val_ != ValAugment::kTransformed) continue;
    for (int t = 1; t < transforms; ++t) {
      CategoryInfo info = base_->info(c);
      info.name += std::string("@") + kTransformNames[t];
      if (split == Split::kTrain && val_ == ValAugment::kHeldout && t == transforms - 1)
        info.split = Split::kVal;
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
  const char* val = val_ == ValAugment::kTransformed ? ", validation classes transformed too"
                    : val_ == ValAugment::kHeldout
                        ? ", the last transform of each training class held out for validation"
                        : "";
  return base_->describe() + ", training classes " +
         (mode_ == ClassAugment::kRotations ? "x4 rotations" : "x8 rotations and mirrors") + val;
}

}  // namespace metacat
