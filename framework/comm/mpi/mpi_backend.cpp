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
#include <random>

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

struct MpiBackend::Arrivals {
  MPI_Comm comm = MPI_COMM_NULL;
  mutable std::mutex mu;
  int64_t step = -1;          // rank 0: the step it waits for (or last waited for)
  std::vector<char> arrived;  // rank 0: per rank, whether its token for `step` came
};

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
    hosts_.push_back(h);
  }
  // Made here (a collective, as the constructor is), so that whereabouts() may
  // be read from another thread at any time.
  arrivals_ = std::make_unique<Arrivals>();
  METACAT_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &arrivals_->comm));
  MPI_Comm_set_errhandler(arrivals_->comm, MPI_ERRORS_RETURN);
  start_heartbeats();
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
  if (arrivals_ && !finalized) MPI_Comm_free(&arrivals_->comm);
  if (owns_init_ && !finalized) MPI_Finalize();
}

namespace {
constexpr int kArrivalTag = 1;
}

void MpiBackend::arrive(int64_t step) {
  if (size_ == 1) return;
  Arrivals& a = *arrivals_;
  if (rank_ != 0) {  // 8 bytes: sent eagerly, never waits for rank 0
    METACAT_MPI_CHECK(MPI_Send(&step, 1, MPI_INT64_T, 0, kArrivalTag, a.comm));
    return;
  }
  const int others = size_ - 1;
  std::vector<int64_t> tokens(others, -1);
  std::vector<MPI_Request> requests(others, MPI_REQUEST_NULL);
  {
    std::lock_guard<std::mutex> g(a.mu);
    a.step = step;
    a.arrived.assign(size_, 0);
    a.arrived[0] = 1;
  }
  for (int r = 1; r < size_; ++r)
    METACAT_MPI_CHECK(
        MPI_Irecv(&tokens[r - 1], 1, MPI_INT64_T, r, kArrivalTag, a.comm, &requests[r - 1]));
  // Blocking waits: MPI progresses them as it does a collective; a rank that
  // never sends leaves rank 0 here, with whereabouts() naming it.
  for (int k = 0; k < others; ++k) {
    int i = MPI_UNDEFINED;
    METACAT_MPI_CHECK(MPI_Waitany(others, requests.data(), &i, MPI_STATUS_IGNORE));
    if (i == MPI_UNDEFINED) break;
    if (tokens[i] != step) {
      for (auto& q : requests)  // no receive left writing into `tokens` once it is gone
        if (q != MPI_REQUEST_NULL) {
          MPI_Cancel(&q);
          MPI_Request_free(&q);
        }
      throw CommError("rank " + std::to_string(i + 1) + " (" + hosts_[i + 1] + ") reached step " +
                      std::to_string(tokens[i]) + " while rank 0 is at step " +
                      std::to_string(step) + ": the ranks are out of step");
    }
    std::lock_guard<std::mutex> g(a.mu);
    a.arrived[i + 1] = 1;
  }
}

void MpiBackend::start_heartbeats() {
  if (size_ == 1) return;
  // Rank 0 listens and tells the others where: its port, its addresses and
  // the job's nonce (port 0: no listener, no heartbeats).
  constexpr int kMaxAddresses = 32;
  struct {
    uint64_t nonce;
    uint32_t port, count;
    uint32_t ipv4[kMaxAddresses];
  } where{};
  if (rank_ == 0) {
    where.nonce = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    heartbeat_ = Heartbeat::listen(size_, where.nonce, [this](int r, double s, bool again) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.1f", s);
      const std::string who = "rank " + std::to_string(r) + " (" + hosts_[r] + ")";
      const std::string line =
          again ? "comm: " + who + " is heard again after " + secs + " s of silence"
                : "comm: no heartbeat from " + who + " for " + secs +
                      " s (comm.silence_s): its host is down or cut off, or its process is "
                      "stopped; the launcher's failure message may follow";
      std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
    });
    if (heartbeat_) {
      const Heartbeat::Address a = heartbeat_->address();
      where.port = a.port;
      where.count = static_cast<uint32_t>(std::min<size_t>(a.ipv4.size(), kMaxAddresses));
      std::copy_n(a.ipv4.begin(), where.count, where.ipv4);
    }
  }
  METACAT_MPI_CHECK(MPI_Bcast(&where, sizeof where, MPI_BYTE, 0, MPI_COMM_WORLD));
  if (rank_ == 0 || where.port == 0) return;
  Heartbeat::Address to;
  to.port = static_cast<uint16_t>(where.port);
  to.ipv4.assign(where.ipv4, where.ipv4 + std::min<uint32_t>(where.count, kMaxAddresses));
  heartbeat_ = Heartbeat::send(rank_, where.nonce, to, hosts_[0] == hosts_[rank_]);
}

namespace {
// "rank 1 (mc-h2)" or "ranks 1 (mc-h2), 3 (mc-h3)", at most 16 named.
std::string name_ranks(const std::vector<int>& ranks, const std::vector<std::string>& hosts) {
  constexpr size_t kNamed = 16;
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size() && i < kNamed; ++i)
    out += (i ? ", " : "") + std::to_string(ranks[i]) + " (" + hosts[ranks[i]] + ")";
  if (ranks.size() > kNamed) out += " and " + std::to_string(ranks.size() - kNamed) + " more";
  return out;
}
}  // namespace

void MpiBackend::set_silence_alarm(double seconds) {
  if (rank_ == 0 && heartbeat_) heartbeat_->set_alarm(seconds);
}

std::string MpiBackend::whereabouts() const {
  if (rank_ != 0 || size_ == 1) return "";
  constexpr double kSilent = 4 * Heartbeat::kInterval;
  std::vector<int> late, silent;
  int64_t step = -1;
  {
    const Arrivals& a = *arrivals_;
    std::lock_guard<std::mutex> g(a.mu);
    step = a.step;
    for (int r = 0; step >= 0 && r < size_; ++r)
      if (!a.arrived[r]) late.push_back(r);
  }
  for (int r = 1; heartbeat_ && r < size_; ++r)
    if (heartbeat_->silent_for(r) > kSilent) silent.push_back(r);
  std::string out;
  if (!late.empty())
    out = name_ranks(late, hosts_) + (late.size() == 1 ? " has" : " have") + " not reached step " +
          std::to_string(step);
  if (!silent.empty())
    out += (out.empty() ? "" : "; ") + std::string("no heartbeat for over ") +
           std::to_string(static_cast<int>(kSilent)) + " s from " + name_ranks(silent, hosts_);
  if (out.empty() && step >= 0)
    out = "every rank reached step " + std::to_string(step) +
          (heartbeat_ ? " and is heard from" : "");
  return out;
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

std::vector<char> MpiBackend::allgather(const void* data, size_t bytes,
                                        std::vector<size_t>* sizes) {
  int64_t mine = static_cast<int64_t>(bytes);
  std::vector<int64_t> counts(size_);
  METACAT_MPI_CHECK(
      MPI_Allgather(&mine, 1, MPI_INT64_T, counts.data(), 1, MPI_INT64_T, MPI_COMM_WORLD));
  std::vector<int> n(size_), displ(size_);
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    if (total + counts[r] > INT_MAX)
      throw CommError("allgather: more than 2 GiB from all ranks together (rank " +
                      std::to_string(r) + " sends " + std::to_string(counts[r]) + " bytes)");
    n[r] = static_cast<int>(counts[r]);
    displ[r] = static_cast<int>(total);
    total += counts[r];
  }
  std::vector<char> out(static_cast<size_t>(total));
  METACAT_MPI_CHECK(MPI_Allgatherv(data, static_cast<int>(bytes), MPI_BYTE, out.data(), n.data(),
                                   displ.data(), MPI_BYTE, MPI_COMM_WORLD));
  if (sizes) sizes->assign(counts.begin(), counts.end());
  return out;
}

void MpiBackend::abort(int code, const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace metacat::comm
