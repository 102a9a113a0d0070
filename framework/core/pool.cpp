#include "core/pool.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>

namespace metacat {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// For every output position, the flat offset (within its plane) of the
// window's maximum.
template <typename S>
torch::Tensor argmax_2x2(const torch::Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), h = H / 2, w = W / 2;
  torch::Tensor idx = torch::empty({x.size(0), x.size(1), h, w}, x.options().dtype(torch::kInt32));
  const S* px = x.data_ptr<S>();
  int32_t* pi = idx.data_ptr<int32_t>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const S* plane = px + p * H * W;
      int32_t* out = pi + p * h * w;
      // Branch-free first-maximum selection (vectorisable); a plane holding
      // a NaN is redone with NaN propagation, as PyTorch does.
      bool nan = false;
      for (int64_t i = 0; i < h; ++i) {
        const S* r0 = plane + 2 * i * W;
        const S* r1 = r0 + W;
        const int32_t base = static_cast<int32_t>(2 * i * W);
        for (int64_t j = 0; j < w; ++j) {
          const S a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
          nan |= (a != a) | (b != b) | (c != c) | (d != d);
          const int32_t at = base + static_cast<int32_t>(2 * j);
          const bool tb = b > a;
          S m = tb ? b : a;
          int32_t best = tb ? at + 1 : at;
          const bool tc = c > m;
          m = tc ? c : m;
          best = tc ? at + static_cast<int32_t>(W) : best;
          best = d > m ? at + static_cast<int32_t>(W) + 1 : best;
          out[i * w + j] = best;
        }
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
