#pragma once
// comm::Backend: the collectives meta-training needs, over MPI, NCCL or a
// single process.
//
// Contract (every backend):
//  - Collective calls (allreduce*, broadcast, barrier, any, max) must be made
//    by every rank, in the same order, with the same counts and dtypes. The
//    training loop guarantees this by making every decision that could make a
//    rank skip or add a collective (stop, checkpoint now, NaN seen) itself a
//    collective at the step boundary (DESIGN.md invariant 4).
//  - Thread level: collectives are called from one thread per process (the
//    training thread); other threads (prefetch) never call them. MPI is
//    initialised with MPI_THREAD_FUNNELED.
//  - Buffers: host memory owned by the caller, contiguous, valid for the
//    duration of the call; results are in place. The NCCL backend stages
//    them through device buffers it owns.
//  - Errors: every failing MPI/NCCL/CUDA call throws CommError naming the
//    call, the rank and the host. abort() ends the job on every rank.
// The training loop includes this header only: never mpi.h or nccl.h.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace metacat::comm {

enum class DType { kFloat32, kFloat64, kInt64 };

class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node (for default thread counts).
  virtual int local_size() const = 0;

  // In-place sum over ranks of `count` elements.
  virtual void allreduce_sum(void* data, size_t count, DType dtype) = 0;
  // Copies `bytes` bytes from root to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Shared decisions: the same answer on every rank.
  virtual bool any(bool flag) = 0;
  virtual int64_t max(int64_t value) = 0;
  // Ends the job on every rank with `code` after printing `message`.
  [[noreturn]] virtual void abort(int code, const std::string& message) = 0;

  void allreduce_sum(float* data, size_t n) { allreduce_sum(data, n, DType::kFloat32); }
  void allreduce_sum(double* data, size_t n) { allreduce_sum(data, n, DType::kFloat64); }
};

// Chooses and starts a backend. choice: auto | mpi | nccl | local. auto
// picks NCCL when the build has it and a GPU is visible, else MPI when the
// process was started by a launcher (mpirun/srun), else local. `why` gets a
// one-line account of the choice. Throws a UserError for an impossible
// choice (nccl without a GPU or without NCCL in the build, mpi without MPI).
std::shared_ptr<Backend> make_backend(const std::string& choice, std::string* why = nullptr);

// True when the environment shows a multi-process launcher (mpirun, srun).
bool launched_by_launcher();
std::string hostname();

}  // namespace metacat::comm
