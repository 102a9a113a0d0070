#pragma once
// C[t] = A[t] @ B[t] for a stack of small matrices, differentiable to any
// order (second-order MAML differentiates through its own backward).
//
// Why not torch::bmm: on CPU, LibTorch 1.13 runs bmm of matrices this small
// as a loop of select() + addmm per matrix, each a full dispatcher round
// trip; for the task-batched inner loop (tens of tasks, 40x40 weights) that
// loop was a quarter of a meta-step; under 2.11 bmm is still 1.07-1.44x
// slower (bench/README). This calls a BLAS gemm (OpenBLAS where installed,
// core/blas.h) once per matrix on raw pointers, reads transposed and
// stride-0 (expanded) operands in place, and falls back to torch::bmm for
// other dtypes, device tensors, or when no BLAS symbol is found.
#include <torch/types.h>

namespace metacat {

// a [T, m, k], b [T, k, n] -> [T, m, n].
torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b);
// x [T, n, in], w [T, out, in], b [T, out] -> x w^T + b [T, n, out], as one
// autograd node (the bias added by the GEMM itself): fewer LibTorch ops per
// layer, which is what a small task-batched MLP's step is bound by.
torch::Tensor batched_linear(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& b);
// Whether matrices of this dtype go through the process's BLAS (else bmm).
bool batched_matmul_uses_blas(torch::Dtype dtype);

}  // namespace metacat
