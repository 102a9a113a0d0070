#pragma once
// The NCCL backend: one rank per GPU (device = MPI rank mod visible GPUs),
// the NCCL unique id shared over MPI. Host buffers are staged through a
// device buffer owned by the backend, since Debian's LibTorch has no CUDA:
// staged() copies in, runs the collective on the backend's stream and copies
// out, for every collective. Built only when CMake finds NCCL and the CUDA
// runtime (METACAT_WITH_NCCL).
#include <memory>

#include "comm/backend.h"
#include "comm/mpi/mpi_backend.h"

namespace metacat::comm {

// GPUs the CUDA runtime sees (0 when there is no driver or device).
int visible_gpus();

class NcclBackend : public Backend {
 public:
  explicit NcclBackend(std::shared_ptr<MpiBackend> mpi);
  ~NcclBackend() override;
  std::string name() const override { return "nccl"; }
  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  int local_size() const override { return mpi_->local_size(); }
  void allreduce(void* data, size_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int code, const std::string& message) override;

 private:
  void* device_buffer(size_t bytes);
  template <typename Collective>
  void staged(void* data, size_t bytes, Collective&& collective);
  struct Impl;
  std::shared_ptr<MpiBackend> mpi_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace metacat::comm
