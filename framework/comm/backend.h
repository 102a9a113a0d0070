#pragma once
// comm::Backend: the collectives meta-training needs, over MPI, NCCL or a
// single process.
//
// Contract (every backend):
//  - Collective calls (allreduce, broadcast, barrier, any, max, min) must be made
//    by every rank, in the same order, with the same counts and dtypes. The
//    training loop guarantees this by making every decision that could make a
//    rank skip or add a collective (stop, checkpoint now, NaN seen) itself a
//    collective at the step boundary (docs/ARCHITECTURE.md, invariant 4;
//    train/decisions.h).
//  - Thread level: collectives are called from one thread per process (the
//    training thread); other threads (prefetch) never call them. MPI is
//    initialised with MPI_THREAD_FUNNELED.
//  - Buffers: host memory owned by the caller, contiguous, valid for the
//    duration of the call; results are in place. The NCCL backend stages
//    them through device buffers it owns.
//  - Errors: every failing MPI/NCCL/CUDA call throws CommError naming the
//    call, the rank and the host. abort() ends the job on every rank.
// The training loop includes this header only: never mpi.h or nccl.h
// (invariant 7).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/log.h"

namespace metacat::comm {

enum class DType { kFloat32, kFloat64, kInt64 };
size_t dtype_bytes(DType t);

// The reduction of an all-reduce, as in c10d's AllreduceOptions::reduceOp.
enum class ReduceOp { kSum, kMax, kMin };
const char* to_string(ReduceOp op);

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
  // Which ranks run on which host, e.g. "mc-h1: 0-1; mc-h2: 2-3" (gathered
  // once at start; empty for a single process). Printed when a run starts,
  // so that a host named in a launcher's failure message maps to its ranks.
  virtual std::string placement() const { return ""; }

  // What rank 0's watchdog says of the other ranks when a step stalls.
  // Arrival check: every rank calls arrive(step) before the step's first
  // collective, from the training thread. Other ranks send rank 0 a token;
  // rank 0 waits for every token before it goes on, recording who has
  // arrived, so that when a rank never reaches the step (its process stuck,
  // its host cut off before the step) rank 0 is held here and knows which
  // ranks are missing. A token for another step throws CommError (the ranks
  // are out of step). Heartbeats (comm/heartbeat.h) add which ranks can no
  // longer be heard at all, for a loss that lands inside a collective.
  virtual void arrive(int64_t step) { (void)step; }
  // Thread-safe (the watchdog thread reads it while the training thread
  // waits). On rank 0, e.g. "rank 1 (mc-h2) has not reached step 57",
  // "no heartbeat for over 2 s from rank 1 (mc-h2)", or "every rank reached
  // step 57 and is heard from"; empty on other ranks, for one process, or
  // before the first arrive().
  virtual std::string whereabouts() const { return ""; }
  // Rank 0 prints a line as soon as a rank it has heard (heartbeats) has
  // been silent for more than `seconds` (0: never), and another when it is
  // heard again: the message that names a lost host's ranks, printed
  // before the launcher notices the loss and ends the job.
  virtual void set_silence_alarm(double seconds) { (void)seconds; }

  // In place: element i becomes op over ranks of element i, for `count`
  // elements of `dtype`.
  virtual void allreduce(void* data, size_t count, DType dtype, ReduceOp op) = 0;
  // Copies `bytes` bytes from root to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Every rank's `bytes` bytes, concatenated in rank order, on every rank;
  // `sizes` (optional) gets each rank's count. A host-memory collective
  // (sparse embedding rows: the NCCL backend runs it over MPI).
  virtual std::vector<char> allgather(const void* data, size_t bytes,
                                      std::vector<size_t>* sizes = nullptr);
  // Ends the job on every rank with `code` after printing `message`.
  [[noreturn]] virtual void abort(int code, const std::string& message) = 0;
  // Whether allreduce_device() reduces device (GPU) memory in place (NCCL).
  // Where it does not, callers stage device buffers through host memory.
  virtual bool reduces_device_memory() const { return false; }
  // allreduce() on device memory, enqueued on `stream` (a cudaStream_t:
  // the stream that produced the data, so that no host wait is needed).
  virtual void allreduce_device(void* data, size_t count, DType dtype, ReduceOp op, void* stream) {
    (void)data, (void)count, (void)dtype, (void)op, (void)stream;
    throw CommError(name() + " backend: cannot reduce device memory");
  }

  void allreduce(float* data, size_t n, ReduceOp op = ReduceOp::kSum) {
    allreduce(data, n, DType::kFloat32, op);
  }
  void allreduce(double* data, size_t n, ReduceOp op = ReduceOp::kSum) {
    allreduce(data, n, DType::kFloat64, op);
  }
  void allreduce(int64_t* data, size_t n, ReduceOp op = ReduceOp::kSum) {
    allreduce(data, n, DType::kInt64, op);
  }
  // Shared decisions: the same answer on every rank (one integer all-reduce).
  bool any(bool flag) {
    int64_t v = flag ? 1 : 0;
    allreduce(&v, 1, ReduceOp::kMax);
    return v != 0;
  }
  int64_t max(int64_t value) {
    allreduce(&value, 1, ReduceOp::kMax);
    return value;
  }
  int64_t min(int64_t value) {
    allreduce(&value, 1, ReduceOp::kMin);
    return value;
  }
};

// Chooses and starts a backend. choice: auto | mpi | nccl | local. auto
// picks NCCL when the build has it and a GPU is visible, else MPI when the
// process was started by a launcher (mpirun/srun), else local. `why` gets a
// one-line account of the choice. Throws a UserError for an impossible
// choice (nccl without a GPU or without NCCL in the build, mpi without MPI).
std::shared_ptr<Backend> make_backend(const std::string& choice, std::string* why = nullptr);

// True when the environment shows a multi-process launcher (mpirun, srun).
bool launched_by_launcher();
// This process's rank among the ranks of its node, from the launcher's
// environment (LOCAL_RANK, SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK,
// MPI_LOCALRANKID), else `fallback`. One rank per GPU: rank r of a node
// takes GPU r mod (GPUs visible).
int local_rank(int fallback = 0);
using metacat::hostname;  // core/log.h

}  // namespace metacat::comm
