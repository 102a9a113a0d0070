#include "comm/mpi/mpi_backend.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

// The C API only: the deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdio>

namespace metacat::comm {

namespace {
[[noreturn]] void fail(const char* call, int code) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, msg, &len);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw CommError(std::string(call) + " failed on rank " + std::to_string(rank) + " (" +
                  hostname() + "): " + std::string(msg, len));
}
}  // namespace

#define METACAT_MPI_CHECK(call)               \
  do {                                        \
    const int _rc = (call);                   \
    if (_rc != MPI_SUCCESS) fail(#call, _rc); \
  } while (0)

MpiBackend::MpiBackend() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    METACAT_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
    owns_init_ = true;
    if (provided < MPI_THREAD_FUNNELED) throw CommError("MPI does not provide MPI_THREAD_FUNNELED");
  }
  // Errors come back as codes (checked), not as an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  METACAT_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  METACAT_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node;
  METACAT_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  METACAT_MPI_CHECK(MPI_Comm_size(node, &local_size_));
  MPI_Comm_free(&node);
  // Every rank's host, once: "host: ranks; ..." in order of first rank.
  constexpr int kName = 256;
  std::vector<char> mine(kName, '\0'), all(static_cast<size_t>(kName) * size_);
  const std::string host = hostname();
  std::copy_n(host.begin(), std::min<size_t>(host.size(), kName - 1), mine.begin());
  METACAT_MPI_CHECK(
      MPI_Allgather(mine.data(), kName, MPI_CHAR, all.data(), kName, MPI_CHAR, MPI_COMM_WORLD));
  std::vector<std::pair<std::string, std::vector<int>>> hosts;
  for (int r = 0; r < size_; ++r) {
    const std::string h(all.data() + static_cast<size_t>(kName) * r);
    auto it = std::find_if(hosts.begin(), hosts.end(), [&](const auto& e) { return e.first == h; });
    if (it == hosts.end()) it = hosts.insert(hosts.end(), {h, {}});
    it->second.push_back(r);
  }
  for (const auto& [h, ranks] : hosts) {
    if (!placement_.empty()) placement_ += "; ";
    placement_ += h + ": ";
    for (size_t i = 0; i < ranks.size();) {  // runs of consecutive ranks as a-b
      size_t j = i;
      while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
      if (i > 0) placement_ += ",";
      placement_ += std::to_string(ranks[i]);
      if (j > i) placement_ += "-" + std::to_string(ranks[j]);
      i = j + 1;
    }
  }
}

MpiBackend::~MpiBackend() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_init_ && !finalized) MPI_Finalize();
}

void MpiBackend::allreduce(void* data, size_t count, DType dtype, ReduceOp op) {
  const MPI_Datatype t = dtype == DType::kFloat32   ? MPI_FLOAT
                         : dtype == DType::kFloat64 ? MPI_DOUBLE
                                                    : MPI_INT64_T;
  const MPI_Op o = op == ReduceOp::kSum ? MPI_SUM : op == ReduceOp::kMax ? MPI_MAX : MPI_MIN;
  const size_t elem = dtype_bytes(dtype);
  // MPI counts are int: reduce in pieces of at most INT_MAX elements.
  char* p = static_cast<char*>(data);
  while (count > 0) {
    const int n = static_cast<int>(std::min<size_t>(count, INT_MAX));
    METACAT_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, n, t, o, MPI_COMM_WORLD));
    p += static_cast<size_t>(n) * elem;
    count -= n;
  }
}

void MpiBackend::broadcast(void* data, size_t bytes, int root) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const int n = static_cast<int>(std::min<size_t>(bytes, INT_MAX));
    METACAT_MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD));
    p += n;
    bytes -= n;
  }
}

void MpiBackend::barrier() { METACAT_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

void MpiBackend::abort(int code, const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace metacat::comm
