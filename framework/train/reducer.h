#pragma once
// Reducer: *what* and *when* to all-reduce, above comm::Backend (*how*).
//
// Meta-gradients are summed into one flat buffer per rank; the reducer sums
// it across ranks in buckets of at most `bucket_bytes` (large models: the
// collective library pipelines bounded messages, and a fixed staging size
// keeps NCCL's device buffer bounded). A list of tensors is reduced through
// the same path (flattened into a reusable buffer, no per-call allocation
// once it has grown). Device tensors are reduced in place by a backend that
// reduces device memory (NCCL), on the stream that produced them, and
// through host memory otherwise.
#include <torch/types.h>

#include <memory>
#include <vector>

#include "comm/backend.h"
#include "core/exact_sum.h"

namespace metacat {

class Reducer {
 public:
  Reducer(std::shared_ptr<comm::Backend> comm, int64_t bucket_bytes);
  // In-place sum over ranks of a contiguous float32/float64 tensor.
  void allreduce_sum(torch::Tensor& flat);
  // In-place sum over ranks of each tensor of the list.
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  // In-place sum over ranks of exact sums (comm.reduction: exact): integer
  // limbs, so the result is the same bits in any reduction order.
  void allreduce_sum(ExactSum& sum);
  int64_t calls() const { return calls_; }  // collectives issued so far

 private:
  std::shared_ptr<comm::Backend> comm_;
  int64_t bucket_bytes_;
  torch::Tensor staging_;
  int64_t calls_ = 0;
};

}  // namespace metacat
