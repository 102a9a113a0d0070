#pragma once
// The NCCL backend: one rank per GPU (device = local rank mod visible GPUs,
// comm/backend.h), the NCCL unique id shared over MPI. Device memory (the
// meta-gradient of device-resident training) is reduced in place on the
// stream that produced it (allreduce_device). Host buffers (shared
// decisions, checksums, CPU training) are staged through a device buffer
// owned by the backend: staged() copies in, runs the collective on the
// backend's stream and copies out. Built only when CMake finds NCCL and the
// CUDA runtime (METACAT_WITH_NCCL); with the torch wheel, its own NCCL.
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
  std::string placement() const override { return mpi_->placement(); }
  void arrive(int64_t step) override { mpi_->arrive(step); }
  std::string whereabouts() const override { return mpi_->whereabouts(); }
  void set_silence_alarm(double seconds) override { mpi_->set_silence_alarm(seconds); }
  void allreduce(void* data, size_t count, DType dtype, ReduceOp op) override;
  bool reduces_device_memory() const override { return true; }
  void allreduce_device(void* data, size_t count, DType dtype, ReduceOp op, void* stream) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  std::vector<char> allgather(const void* data, size_t bytes,
                              std::vector<size_t>* sizes = nullptr) override {
    return mpi_->allgather(data, bytes, sizes);
  }
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
