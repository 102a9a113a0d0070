#pragma once
#include <string>
// The MPI backend (OpenMPI): MPI_COMM_WORLD, MPI_THREAD_FUNNELED. Owns
// MPI_Init/MPI_Finalize: create at most one per process.
#include "comm/backend.h"

namespace metacat::comm {

class MpiBackend : public Backend {
 public:
  MpiBackend();
  ~MpiBackend() override;
  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  std::string placement() const override { return placement_; }
  void allreduce(void* data, size_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int code, const std::string& message) override;

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool owns_init_ = false;
  std::string placement_;
};

}  // namespace metacat::comm
