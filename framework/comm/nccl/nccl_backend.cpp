#include "comm/nccl/nccl_backend.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>

namespace metacat::comm {

namespace {
std::string where(const std::shared_ptr<MpiBackend>& mpi) {
  return " on rank " + std::to_string(mpi ? mpi->rank() : -1) + " (" + hostname() + ")";
}
}  // namespace

#define METACAT_CUDA_CHECK(call)                                            \
  do {                                                                      \
    const cudaError_t _e = (call);                                          \
    if (_e != cudaSuccess)                                                  \
      throw CommError(std::string(#call) + " failed" + where(mpi_) + ": " + \
                      cudaGetErrorString(_e));                              \
  } while (0)

#define METACAT_NCCL_CHECK(call)                                            \
  do {                                                                      \
    const ncclResult_t _r = (call);                                         \
    if (_r != ncclSuccess)                                                  \
      throw CommError(std::string(#call) + " failed" + where(mpi_) + ": " + \
                      ncclGetErrorString(_r));                              \
  } while (0)

int visible_gpus() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

struct NcclBackend::Impl {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  void* buffer = nullptr;
  size_t capacity = 0;
};

NcclBackend::NcclBackend(std::shared_ptr<MpiBackend> mpi) : mpi_(std::move(mpi)), impl_(new Impl) {
  const int gpus = visible_gpus();
  if (gpus == 0) throw CommError("NCCL backend: no GPU visible" + where(mpi_));
  METACAT_CUDA_CHECK(cudaSetDevice(local_rank(mpi_->rank()) % gpus));
  METACAT_CUDA_CHECK(cudaStreamCreate(&impl_->stream));
  ncclUniqueId id;
  if (mpi_->rank() == 0) METACAT_NCCL_CHECK(ncclGetUniqueId(&id));
  mpi_->broadcast(&id, sizeof id, 0);
  METACAT_NCCL_CHECK(ncclCommInitRank(&impl_->comm, mpi_->size(), id, mpi_->rank()));
}

NcclBackend::~NcclBackend() {
  if (impl_->comm) ncclCommDestroy(impl_->comm);
  if (impl_->buffer) cudaFree(impl_->buffer);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

void* NcclBackend::device_buffer(size_t bytes) {
  if (bytes > impl_->capacity) {
    if (impl_->buffer) METACAT_CUDA_CHECK(cudaFree(impl_->buffer));
    impl_->buffer = nullptr;
    METACAT_CUDA_CHECK(cudaMalloc(&impl_->buffer, bytes));
    impl_->capacity = bytes;
  }
  return impl_->buffer;
}

// The one staging path of every collective: host -> the backend's device
// buffer, the collective in place on the backend's stream, device -> host,
// then wait for the stream.
template <typename Collective>
void NcclBackend::staged(void* data, size_t bytes, Collective&& collective) {
  if (bytes == 0) return;
  void* d = device_buffer(bytes);
  METACAT_CUDA_CHECK(cudaMemcpyAsync(d, data, bytes, cudaMemcpyHostToDevice, impl_->stream));
  collective(d);
  METACAT_CUDA_CHECK(cudaMemcpyAsync(data, d, bytes, cudaMemcpyDeviceToHost, impl_->stream));
  METACAT_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void NcclBackend::allreduce(void* data, size_t count, DType dtype, ReduceOp op) {
  const ncclDataType_t t = dtype == DType::kFloat32   ? ncclFloat32
                           : dtype == DType::kFloat64 ? ncclFloat64
                                                      : ncclInt64;
  const ncclRedOp_t o = op == ReduceOp::kSum ? ncclSum : op == ReduceOp::kMax ? ncclMax : ncclMin;
  staged(data, count * dtype_bytes(dtype), [&](void* d) {
    METACAT_NCCL_CHECK(ncclAllReduce(d, d, count, t, o, impl_->comm, impl_->stream));
  });
}

void NcclBackend::allreduce_device(void* data, size_t count, DType dtype, ReduceOp op,
                                   void* stream) {
  if (count == 0) return;
  const ncclDataType_t t = dtype == DType::kFloat32   ? ncclFloat32
                           : dtype == DType::kFloat64 ? ncclFloat64
                                                      : ncclInt64;
  const ncclRedOp_t o = op == ReduceOp::kSum ? ncclSum : op == ReduceOp::kMax ? ncclMax : ncclMin;
  METACAT_NCCL_CHECK(
      ncclAllReduce(data, data, count, t, o, impl_->comm, static_cast<cudaStream_t>(stream)));
}

void NcclBackend::broadcast(void* data, size_t bytes, int root) {
  staged(data, bytes, [&](void* d) {
    METACAT_NCCL_CHECK(ncclBroadcast(d, d, bytes, ncclUint8, root, impl_->comm, impl_->stream));
  });
}

void NcclBackend::barrier() {
  int64_t zero = 0;
  allreduce(&zero, 1, DType::kInt64, ReduceOp::kSum);
}

void NcclBackend::abort(int code, const std::string& message) {
  mpi_->abort(code, message);
  std::_Exit(code);  // not reached: MpiBackend::abort does not return
}

}  // namespace metacat::comm
