#include "core/pool.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace metacat {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The window maximum of output (i, j) of a plane: the first maximum in the
// order a, b, c, d (top-left, top-right, bottom-left, bottom-right), as
// PyTorch's kernel picks it; branch-free. Sets *nan when a value is NaN.
template <typename S>
inline int32_t window_argmax(const S* r0, const S* r1, int32_t at, int32_t W, bool* nan) {
  const S a = r0[0], b = r0[1], c = r1[0], d = r1[1];
  *nan |= (a != a) | (b != b) | (c != c) | (d != d);
  const bool tb = b > a;
  S m = tb ? b : a;
  int32_t best = tb ? at + 1 : at;
  const bool tc = c > m;
  m = tc ? c : m;
  best = tc ? at + W : best;
  return d > m ? at + W + 1 : best;
}

// Four outputs of one row at once (float, SSE2: every x86-64 CPU), the same
// selection as window_argmax. Returns the number of outputs done (a
// multiple of 4); the caller finishes the row.
int64_t window_argmax_row(const float* r0, const float* r1, int32_t base, int32_t W, int64_t w,
                          int32_t* out, bool* nan) {
#if defined(__SSE2__)
  int64_t j = 0;
  __m128 bad = _mm_setzero_ps();
  const __m128i step = _mm_set_epi32(6, 4, 2, 0), one = _mm_set1_epi32(1), down = _mm_set1_epi32(W);
  for (; j + 4 <= w; j += 4) {
    // Deinterleave 8 consecutive values of each row: evens (left column of
    // each window) and odds (right column).
    const __m128 u0 = _mm_loadu_ps(r0 + 2 * j), u1 = _mm_loadu_ps(r0 + 2 * j + 4);
    const __m128 v0 = _mm_loadu_ps(r1 + 2 * j), v1 = _mm_loadu_ps(r1 + 2 * j + 4);
    const __m128 a = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 b = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m128 c = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 d = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
    bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d)));
    const __m128i at = _mm_add_epi32(_mm_set1_epi32(base + static_cast<int32_t>(2 * j)), step);
    // Selects y where the mask is set, else x.
    auto pick_ps = [](__m128 mask, __m128 x, __m128 y) {
      return _mm_or_ps(_mm_and_ps(mask, y), _mm_andnot_ps(mask, x));
    };
    auto pick_i = [](__m128 mask, __m128i x, __m128i y) {
      const __m128i k = _mm_castps_si128(mask);
      return _mm_or_si128(_mm_and_si128(k, y), _mm_andnot_si128(k, x));
    };
    const __m128 tb = _mm_cmpgt_ps(b, a);
    __m128 m = pick_ps(tb, a, b);
    __m128i best = pick_i(tb, at, _mm_add_epi32(at, one));
    const __m128 tc = _mm_cmpgt_ps(c, m);
    m = pick_ps(tc, m, c);
    best = pick_i(tc, best, _mm_add_epi32(at, down));
    const __m128 td = _mm_cmpgt_ps(d, m);
    best = pick_i(td, best, _mm_add_epi32(_mm_add_epi32(at, down), one));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), best);
  }
  *nan |= _mm_movemask_ps(bad) != 0;
  return j;
#else
  (void)r0, (void)r1, (void)base, (void)W, (void)w, (void)out, (void)nan;
  return 0;
#endif
}
int64_t window_argmax_row(const double*, const double*, int32_t, int32_t, int64_t, int32_t*,
                          bool*) {
  return 0;
}

// For every output position, the flat offset (within its plane) of the
// window's maximum.
template <typename S>
torch::Tensor argmax_2x2(const torch::Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), h = H / 2, w = W / 2;
  torch::Tensor idx = torch::empty({x.size(0), x.size(1), h, w}, x.options().dtype(torch::kInt32));
  const S* px = x.data_ptr<S>();
  int32_t* pi = idx.data_ptr<int32_t>();
  const int32_t W32 = static_cast<int32_t>(W);
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const S* plane = px + p * H * W;
      int32_t* out = pi + p * h * w;
      // A plane holding a NaN is redone with NaN propagation, as PyTorch does.
      bool nan = false;
      for (int64_t i = 0; i < h; ++i) {
        const S* r0 = plane + 2 * i * W;
        const S* r1 = r0 + W;
        const int32_t base = static_cast<int32_t>(2 * i * W);
        int64_t j = window_argmax_row(r0, r1, base, W32, w, out + i * w, &nan);
        for (; j < w; ++j)
          out[i * w + j] =
              window_argmax(r0 + 2 * j, r1 + 2 * j, base + static_cast<int32_t>(2 * j), W32, &nan);
      }
      if (!nan) continue;
      for (int64_t i = 0; i < h; ++i) {
        const S* r0 = plane + 2 * i * W;
        const S* r1 = r0 + W;
        for (int64_t j = 0; j < w; ++j) {
          int64_t best = 2 * i * W + 2 * j;
          S m = r0[2 * j];
          auto consider = [&](S v, int64_t at) {
            if (v > m || (std::isnan(v) && !std::isnan(m))) m = v, best = at;
          };
          consider(r0[2 * j + 1], best + 1);
          consider(r1[2 * j], 2 * i * W + W + 2 * j);
          consider(r1[2 * j + 1], 2 * i * W + W + 2 * j + 1);
          out[i * w + j] = static_cast<int32_t>(best);
        }
      }
    }
  });
  return idx;
}

// values [N, C, H, W] at idx [N, C, h, w] -> [N, C, h, w]
template <typename S>
void gather_planes(const S* in, int64_t in_plane, const int32_t* idx, S* out, int64_t out_plane,
                   int64_t planes) {
  at::parallel_for(0, planes, 4, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const S* src = in + p * in_plane;
      const int32_t* ix = idx + p * out_plane;
      S* dst = out + p * out_plane;
      for (int64_t k = 0; k < out_plane; ++k) dst[k] = src[ix[k]];
    }
  });
}

template <typename S>
void scatter_planes(const S* g, int64_t g_plane, const int32_t* idx, S* out, int64_t out_plane,
                    int64_t planes) {
  at::parallel_for(0, planes, 4, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      S* dst = out + p * out_plane;
      std::fill(dst, dst + out_plane, S(0));
      const int32_t* ix = idx + p * g_plane;
      const S* src = g + p * g_plane;
      for (int64_t k = 0; k < g_plane; ++k) dst[ix[k]] = src[k];
    }
  });
}

torch::Tensor gather_raw(const torch::Tensor& values, const torch::Tensor& idx) {
  torch::Tensor v = values.contiguous();
  torch::Tensor out = torch::empty(idx.sizes(), v.options());
  const int64_t planes = v.size(0) * v.size(1);
  const int64_t in_plane = v.size(2) * v.size(3), out_plane = idx.size(2) * idx.size(3);
  if (v.scalar_type() == torch::kFloat32)
    gather_planes(v.data_ptr<float>(), in_plane, idx.data_ptr<int32_t>(), out.data_ptr<float>(),
                  out_plane, planes);
  else
    gather_planes(v.data_ptr<double>(), in_plane, idx.data_ptr<int32_t>(), out.data_ptr<double>(),
                  out_plane, planes);
  return out;
}

torch::Tensor scatter_raw(const torch::Tensor& grad, const torch::Tensor& idx, int64_t H,
                          int64_t W) {
  torch::Tensor g = grad.contiguous();
  torch::Tensor out = torch::empty({g.size(0), g.size(1), H, W}, g.options());
  const int64_t planes = g.size(0) * g.size(1), g_plane = g.size(2) * g.size(3);
  if (g.scalar_type() == torch::kFloat32)
    scatter_planes(g.data_ptr<float>(), g_plane, idx.data_ptr<int32_t>(), out.data_ptr<float>(),
                   H * W, planes);
  else
    scatter_planes(g.data_ptr<double>(), g_plane, idx.data_ptr<int32_t>(), out.data_ptr<double>(),
                   H * W, planes);
  return out;
}

struct Scatter2x2;

// Pooling as a gather of x at the argmax positions.
struct Gather2x2 : public torch::autograd::Function<Gather2x2> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& idx);
  static variable_list backward(AutogradContext* ctx, variable_list g);
};

// The adjoint: g [N, C, h, w] placed at idx inside zeros [N, C, H, W].
struct Scatter2x2 : public torch::autograd::Function<Scatter2x2> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& g,
                               const torch::Tensor& idx, int64_t H, int64_t W) {
    ctx->saved_data["idx"] = idx;
    torch::NoGradGuard ng;
    return scatter_raw(g, idx, H, W);
  }
  static variable_list backward(AutogradContext* ctx, variable_list gg) {
    torch::Tensor idx = ctx->saved_data["idx"].toTensor();
    return {Gather2x2::apply(gg[0], idx), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor Gather2x2::forward(AutogradContext* ctx, const torch::Tensor& x,
                                 const torch::Tensor& idx) {
  ctx->saved_data["idx"] = idx;
  ctx->saved_data["H"] = x.size(2);
  ctx->saved_data["W"] = x.size(3);
  torch::NoGradGuard ng;
  return gather_raw(x, idx);
}

variable_list Gather2x2::backward(AutogradContext* ctx, variable_list g) {
  torch::Tensor idx = ctx->saved_data["idx"].toTensor();
  return {Scatter2x2::apply(g[0], idx, ctx->saved_data["H"].toInt(), ctx->saved_data["W"].toInt()),
          torch::Tensor()};
}

}  // namespace

torch::Tensor max_pool_2x2(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "max_pool_2x2: expected [N, C, H, W], got ", x.sizes());
  if ((x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kFloat64) || !x.is_cpu())
    return torch::max_pool2d(x, 2);
  torch::Tensor c = x.detach().contiguous();
  torch::Tensor idx =
      x.scalar_type() == torch::kFloat32 ? argmax_2x2<float>(c) : argmax_2x2<double>(c);
  return Gather2x2::apply(x, idx);
}

}  // namespace metacat
