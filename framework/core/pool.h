#pragma once
// 2x2 max pooling with stride 2 (floor), differentiable to any order.
//
// Why not torch::max_pool2d: LibTorch 1.13's CPU kernel for NCHW was a fifth
// of a conv4 MAML step (profiled with torch.profiler on the PyTorch peer,
// which runs the same kernels); under 2.11 this one is 4x faster with its
// backward passes (bench/README). Device tensors go to max_pool2d. Here the
// window's argmax is found once (four windows at a time with SSE2), and
// pooling is a gather at those positions; its backward is the matching
// scatter, whose backward is the gather again, so second-order MAML
// differentiates through it. Ties keep the first maximum and NaN propagates,
// as in PyTorch.
#include <torch/types.h>

namespace metacat {

// x [N, C, H, W] -> [N, C, H/2, W/2].
torch::Tensor max_pool_2x2(const torch::Tensor& x);

}  // namespace metacat
