#pragma once
// Params: an ordered list of named tensors, the state a functional model reads.
//
// Models never own their weights: forward(params, x) is a pure function, so a
// learner can evaluate the same model at the shared initial parameters and at
// any number of adapted copies. Order is part of the contract: gradient
// buffers, checkpoints and all-reduces use it.
#include <torch/types.h>

#include <string>
#include <vector>

namespace metacat {

struct Params {
  std::vector<std::string> names;
  std::vector<torch::Tensor> tensors;

  void add(const std::string& name, torch::Tensor t);
  size_t size() const { return tensors.size(); }
  bool contains(const std::string& name) const { return index_of(name) >= 0; }
  int64_t index_of(const std::string& name) const;  // -1 if absent
  const torch::Tensor& at(const std::string& name) const;
  int64_t numel() const;

  // New leaves holding copies of the values; requires_grad as asked.
  Params detached(bool requires_grad) const;
  // The subset whose names satisfy pred, in order.
  template <typename Pred>
  Params filter(Pred pred) const {
    Params out;
    for (size_t i = 0; i < size(); ++i)
      if (pred(names[i])) out.add(names[i], tensors[i]);
    return out;
  }
  // Copy of this with the tensors named in other replaced by other's.
  Params with(const Params& other) const;
  // The same names with the tensors on `device` (this itself when they all
  // are there already); requires_grad as before.
  Params on(const torch::Device& device) const;
};

// Flattens tensors (same order) into one contiguous 1-D tensor and back.
torch::Tensor flatten(const std::vector<torch::Tensor>& ts);
// A cheap order-sensitive checksum of the exact bits of the values.
uint64_t checksum(const Params& p);

}  // namespace metacat
