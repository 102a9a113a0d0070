#pragma once
// 2x2 max pooling with stride 2 (floor), differentiable to any order.
//
// Why not torch::max_pool2d: LibTorch 1.13's CPU kernel for NCHW was a fifth
// of a conv4 MAML step (profiled with torch.profiler on the PyTorch peer,
// which runs the same kernels). Here the window's argmax is found once, and
// pooling is a gather at those positions; its backward is the matching
// scatter, whose backward is the gather again, so second-order MAML
// differentiates through it. Ties keep the first maximum and NaN propagates,
// as in PyTorch.
#include <torch/types.h>

namespace metacat {

// x [N, C, H, W] -> [N, C, H/2, W/2].
torch::Tensor max_pool_2x2(const torch::Tensor& x);

}  // namespace metacat
