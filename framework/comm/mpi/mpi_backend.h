#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
// The MPI backend (OpenMPI): MPI_COMM_WORLD, MPI_THREAD_FUNNELED. Owns
// MPI_Init/MPI_Finalize: create at most one per process.
#include "comm/backend.h"
#include "comm/heartbeat.h"

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
  void arrive(int64_t step) override;
  std::string whereabouts() const override;
  void set_silence_alarm(double seconds) override;
  void allreduce(void* data, size_t count, DType dtype, ReduceOp op) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  std::vector<char> allgather(const void* data, size_t bytes,
                              std::vector<size_t>* sizes = nullptr) override;
  [[noreturn]] void abort(int code, const std::string& message) override;

 private:
  void start_heartbeats();
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool owns_init_ = false;
  std::string placement_;
  std::vector<std::string> hosts_;  // rank -> host
  // The arrival check's own communicator (so its tokens never match
  // anything else) and rank 0's record of the step it waits for.
  struct Arrivals;
  std::unique_ptr<Arrivals> arrivals_;
  std::unique_ptr<Heartbeat> heartbeat_;  // rank 0 listens, the others send
};

}  // namespace metacat::comm
