#include "train/reducer.h"

#include <algorithm>

#include "core/device.h"

namespace metacat {

Reducer::Reducer(std::shared_ptr<comm::Backend> comm, int64_t bucket_bytes)
    : comm_(std::move(comm)), bucket_bytes_(std::max<int64_t>(bucket_bytes, 1024)) {}

void Reducer::allreduce_sum(torch::Tensor& flat) {
  if (!flat.is_contiguous()) throw std::logic_error("Reducer: buffer must be contiguous");
  void* stream = nullptr;
  if (!flat.is_cpu()) {
    stream = comm_->reduces_device_memory() ? current_stream_handle(flat.device()) : nullptr;
    if (!stream) {
      // A backend without device collectives (MPI, local), or a LibTorch
      // that does not expose its streams: through host memory.
      torch::Tensor host = flat.cpu();
      allreduce_sum(host);
      flat.copy_(host);
      return;
    }
  }
  const bool dbl = flat.scalar_type() == torch::kFloat64;
  const int64_t elem = dbl ? 8 : 4;
  const auto dtype = dbl ? comm::DType::kFloat64 : comm::DType::kFloat32;
  const int64_t per_bucket = std::max<int64_t>(1, bucket_bytes_ / elem);
  char* p = static_cast<char*>(flat.data_ptr());
  const int64_t n = flat.numel();
  for (int64_t off = 0; off < n || (n == 0 && off == 0); off += per_bucket) {
    const int64_t count = std::min(per_bucket, n - off);
    if (stream)
      comm_->allreduce_device(p + off * elem, static_cast<size_t>(count), dtype,
                              comm::ReduceOp::kSum, stream);
    else
      comm_->allreduce(p + off * elem, static_cast<size_t>(count), dtype, comm::ReduceOp::kSum);
    ++calls_;
    if (n == 0) break;
  }
}

void Reducer::allreduce_sum(ExactSum& sum) {
  const int64_t per_bucket = std::max<int64_t>(1, bucket_bytes_ / 8);
  int64_t* p = sum.words();
  const auto n = static_cast<int64_t>(sum.word_count());
  for (int64_t off = 0; off < n; off += per_bucket) {
    comm_->allreduce(p + off, static_cast<size_t>(std::min(per_bucket, n - off)),
                     comm::ReduceOp::kSum);
    ++calls_;
  }
}

void Reducer::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel();
  const auto dtype = tensors[0].scalar_type();
  if (!staging_.defined() || staging_.numel() < total || staging_.scalar_type() != dtype)
    staging_ = torch::empty({total}, tensors[0].options().dtype(dtype).requires_grad(false));
  torch::Tensor buf = staging_.narrow(0, 0, total);
  int64_t off = 0;
  for (const auto& t : tensors) {
    buf.narrow(0, off, t.numel()).copy_(t.reshape({-1}));
    off += t.numel();
  }
  allreduce_sum(buf);
  off = 0;
  for (auto& t : tensors) {
    t.copy_(buf.narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

}  // namespace metacat
