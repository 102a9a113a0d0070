#include "comm/backend.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "comm/local/local_backend.h"
#include "comm/mpi/mpi_backend.h"
#include "core/error.h"
#include "core/log.h"
#include "metacat/config.h"
#if METACAT_WITH_NCCL
#include "comm/nccl/nccl_backend.h"
#endif

namespace metacat::comm {

size_t dtype_bytes(DType t) { return t == DType::kFloat32 ? 4 : 8; }

std::vector<char> Backend::allgather(const void* data, size_t bytes, std::vector<size_t>* sizes) {
  // Generic: each rank's bytes in its own segment of a zeroed buffer of
  // int64 words, summed over ranks (backends with a real allgather override).
  std::vector<int64_t> counts(size(), 0);
  counts[rank()] = static_cast<int64_t>(bytes);
  if (size() > 1) allreduce(counts.data(), counts.size());
  std::vector<size_t> offset(size() + 1, 0);
  for (int r = 0; r < size(); ++r)
    offset[r + 1] = offset[r] + (static_cast<size_t>(counts[r]) + 7) / 8 * 8;
  std::vector<int64_t> words(offset[size()] / 8, 0);
  std::memcpy(reinterpret_cast<char*>(words.data()) + offset[rank()], data, bytes);
  if (size() > 1) allreduce(words.data(), words.size());
  std::vector<char> out;
  const char* w = reinterpret_cast<const char*>(words.data());
  for (int r = 0; r < size(); ++r) out.insert(out.end(), w + offset[r], w + offset[r] + counts[r]);
  if (sizes) sizes->assign(counts.begin(), counts.end());
  return out;
}

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
  }
  return "?";
}

bool launched_by_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(v)) return true;
  return false;
}

int local_rank(int fallback) {
  for (const char* v :
       {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"})
    if (const char* s = std::getenv(v)) {
      char* end = nullptr;
      const long r = std::strtol(s, &end, 10);
      if (end != s && *end == '\0' && r >= 0) return static_cast<int>(r);
    }
  return fallback;
}

namespace {
std::shared_ptr<Backend> start_backend(const std::string& choice, std::string* why);
}  // namespace

std::shared_ptr<Backend> make_backend(const std::string& choice, std::string* why) {
  auto b = start_backend(choice, why);
  // Rank 0 prints (core/log.h). A single-process backend made beside a
  // multi-rank one (tests) leaves the process's rank as it is.
  if (b->name() != "local") set_log_rank(b->rank(), b->size());
  return b;
}

namespace {
std::shared_ptr<Backend> start_backend(const std::string& choice, std::string* why) {
  auto say = [&](const std::string& s) {
    if (why) *why = s;
  };
  int gpus = 0;
#if METACAT_WITH_NCCL
  gpus = visible_gpus();
#endif
  if (choice == "local") {
    say("local (single process, as configured)");
    return std::make_shared<LocalBackend>();
  }
  if (choice == "nccl" || (choice == "auto" && METACAT_WITH_NCCL && gpus > 0)) {
#if METACAT_WITH_NCCL
    if (gpus == 0)
      throw UserError("comm.backend: nccl needs a GPU, and none is visible on " + hostname() +
                      " (use comm.backend: mpi or auto)");
    say("nccl (" + std::to_string(gpus) + " GPUs visible)");
    return std::make_shared<NcclBackend>(std::make_shared<MpiBackend>());
#else
    throw UserError(
        "comm.backend: nccl is not in this build (CMake found no NCCL/CUDA); use mpi or auto");
#endif
  }
  if (choice == "mpi" || (choice == "auto" && launched_by_launcher())) {
    auto b = std::make_shared<MpiBackend>();
    say(std::string("mpi (") +
        (choice == "auto" ? (METACAT_WITH_NCCL ? "no GPU visible" : "no NCCL in this build")
                          : "as configured") +
        ", " + std::to_string(b->size()) + " ranks)");
    return b;
  }
  if (choice == "auto") {
    say("local (auto: not started by mpirun or srun)");
    return std::make_shared<LocalBackend>();
  }
  throw UserError("comm.backend: unknown backend '" + choice + "' (auto, mpi, nccl, local)");
}
}  // namespace

}  // namespace metacat::comm
