#include "core/batched_matmul.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/blas.h"

namespace metacat {

namespace {

// Fortran BLAS (column-major): core/blas.h says which library.
using SgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                         const float*, const int*, const float*, const int*, const float*, float*,
                         const int*);
using DgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*,
                         const double*, const double*, const int*, const double*, const int*,
                         const double*, double*, const int*);

struct Blas {
  SgemmFn sgemm = reinterpret_cast<SgemmFn>(blas_symbol("sgemm_"));
  DgemmFn dgemm = reinterpret_cast<DgemmFn>(blas_symbol("dgemm_"));
};
const Blas& blas() {
  static const Blas b;
  return b;
}

// How a [T, r, c] operand is laid out per matrix: row-major (stride(2) == 1)
// or its transpose (stride(1) == 1), with leading dimension `ld`.
struct Layout {
  bool transposed = false;
  int ld = 0;
};
bool layout_of(const torch::Tensor& t, Layout& l) {
  const int64_t r = t.size(1), c = t.size(2);
  if (t.stride(2) == 1 && (t.stride(1) >= std::max<int64_t>(c, 1) || r == 1)) {
    l = {false, static_cast<int>(std::max<int64_t>(t.stride(1), std::max<int64_t>(c, 1)))};
    return true;
  }
  if (t.stride(1) == 1 && (t.stride(2) >= std::max<int64_t>(r, 1) || c == 1)) {
    l = {true, static_cast<int>(std::max<int64_t>(t.stride(2), std::max<int64_t>(r, 1)))};
    return true;
  }
  return false;
}

// C = A B, or C += A B with `accumulate` (C then holds the addend).
template <typename S, typename Fn>
void gemm_loop(Fn fn, const torch::Tensor& a, const Layout& la, const torch::Tensor& b,
               const Layout& lb, torch::Tensor& c, bool accumulate = false) {
  // Row-major C = A B is column-major C^T = B^T A^T: pass B first.
  const int64_t T = a.size(0);
  const int m = static_cast<int>(a.size(1)), k = static_cast<int>(a.size(2)),
            n = static_cast<int>(b.size(2));
  const char ta = la.transposed ? 'T' : 'N', tb = lb.transposed ? 'T' : 'N';
  const S one = 1, beta = accumulate ? 1 : 0;
  const int ldc = n;
  const S* pa = a.data_ptr<S>();
  const S* pb = b.data_ptr<S>();
  S* pc = c.data_ptr<S>();
  const int64_t sa = a.stride(0), sb = b.stride(0), sc = c.stride(0);
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, int64_t(m) * n * k));
  at::parallel_for(0, T, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      fn(&tb, &ta, &n, &m, &k, &one, pb + t * sb, &lb.ld, pa + t * sa, &la.ld, &beta, pc + t * sc,
         &ldc);
  });
}

bool blas_has(torch::ScalarType type) {
  return type == torch::kFloat32   ? blas().sgemm != nullptr
         : type == torch::kFloat64 ? blas().dgemm != nullptr
                                   : false;
}

// y[t, i, :] = bias[t, :] + x[t, i, :] @ w[t]^T, bias read through its
// strides (it is often expanded over tasks).
template <typename S>
void fill_bias(const torch::Tensor& bias, torch::Tensor& y) {
  const int64_t T = y.size(0), n = y.size(1), out = y.size(2);
  const int64_t s0 = bias.stride(0), s1 = bias.stride(1);
  const S* pb = bias.data_ptr<S>();
  S* py = y.data_ptr<S>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) {
      S* row = py + (t * n + i) * out;
      for (int64_t o = 0; o < out; ++o) row[o] = pb[t * s0 + o * s1];
    }
}

torch::Tensor raw_linear(const torch::Tensor& x, const torch::Tensor& w,
                         const torch::Tensor& bias) {
  torch::Tensor a = x, b = w.transpose(1, 2);
  Layout la, lb;
  if (!layout_of(a, la)) a = a.contiguous(), layout_of(a, la);
  if (!layout_of(b, lb)) b = b.contiguous(), layout_of(b, lb);
  torch::Tensor y = torch::empty({a.size(0), a.size(1), b.size(2)}, a.options());
  if (a.scalar_type() == torch::kFloat32) {
    fill_bias<float>(bias, y);
    gemm_loop<float>(blas().sgemm, a, la, b, lb, y, true);
  } else {
    fill_bias<double>(bias, y);
    gemm_loop<double>(blas().dgemm, a, la, b, lb, y, true);
  }
  return y;
}

torch::Tensor raw_matmul(torch::Tensor a, torch::Tensor b) {
  const auto type = a.scalar_type();
  if (!blas_has(type) || b.scalar_type() != type || a.size(1) == 0 || a.size(2) == 0 ||
      b.size(2) == 0)
    return torch::bmm(a, b);
  Layout la, lb;
  if (!layout_of(a, la)) a = a.contiguous(), layout_of(a, la);
  if (!layout_of(b, lb)) b = b.contiguous(), layout_of(b, lb);
  torch::Tensor c = torch::empty({a.size(0), a.size(1), b.size(2)}, a.options());
  if (type == torch::kFloat32)
    gemm_loop<float>(blas().sgemm, a, la, b, lb, c);
  else
    gemm_loop<double>(blas().dgemm, a, la, b, lb, c);
  return c;
}

struct BatchedMatmul : public torch::autograd::Function<BatchedMatmul> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    torch::NoGradGuard ng;
    return raw_matmul(a, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &a = saved[0], &b = saved[1], &g = grads[0];
    // dA = dC B^T, dB = A^T dC: themselves BatchedMatmul, so differentiable.
    torch::Tensor da, db;
    if (ctx->needs_input_grad(0)) da = BatchedMatmul::apply(g, b.transpose(1, 2));
    if (ctx->needs_input_grad(1)) db = BatchedMatmul::apply(a.transpose(1, 2), g);
    return {da, db};
  }
};

// y = x w^T + b as one node: a GEMM onto the broadcast bias forward; the
// backward is made of differentiable BatchedMatmul and sum nodes, so it
// differentiates again (second-order MAML).
struct BatchedLinear : public torch::autograd::Function<BatchedLinear> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& b) {
    ctx->save_for_backward({x, w});
    torch::NoGradGuard ng;
    return raw_linear(x, w, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &g = grads[0];
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = BatchedMatmul::apply(g, w);
    if (ctx->needs_input_grad(1)) dw = BatchedMatmul::apply(g.transpose(1, 2), x);
    if (ctx->needs_input_grad(2)) db = g.sum(1);
    return {dx, dw, db};
  }
};

}  // namespace

torch::Tensor batched_linear(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& b) {
  TORCH_CHECK(x.dim() == 3 && w.dim() == 3 && b.dim() == 2 && x.size(0) == w.size(0) &&
                  x.size(0) == b.size(0) && x.size(2) == w.size(2) && w.size(1) == b.size(1),
              "batched_linear: shapes ", x.sizes(), ", ", w.sizes(), " and ", b.sizes(),
              " do not match");
  const auto type = x.scalar_type();
  if (!x.is_cpu() || !blas_has(type) || w.scalar_type() != type || b.scalar_type() != type ||
      x.size(1) == 0 || x.size(2) == 0 || w.size(1) == 0)
    return batched_matmul(x, w.transpose(1, 2)) + b.unsqueeze(1);
  return BatchedLinear::apply(x, w, b);
}

bool batched_matmul_uses_blas(torch::Dtype dtype) { return blas_has(dtype); }

torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1),
              "batched_matmul: shapes ", a.sizes(), " and ", b.sizes(), " do not match");
  if (!a.is_cpu()) return torch::bmm(a, b);  // the BLAS loop is for host memory
  return BatchedMatmul::apply(a, b);
}

}  // namespace metacat
