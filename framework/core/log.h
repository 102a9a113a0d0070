#pragma once
// The rank-aware logger: one home for "who prints what".
//
// Contract: rank 0 is the coordinator (docs/ARCHITECTURE.md): info() lines
// go to stdout and warn() lines to stderr ("warning: " prefix) on rank 0
// only, so a job on N ranks prints each message once; warn_every_rank()
// prints on every rank, tagged with rank and host, for what differs per
// rank. A line is written whole when the statement ends (no interleaving
// of partial lines from one process). comm::make_backend() calls
// set_log_rank() once the backend exists; before that every process counts
// as rank 0. Thread safety: lines may be written from any thread.
#include <sstream>
#include <string>

namespace metacat {

// This machine's name (messages name the rank and host).
std::string hostname();

void set_log_rank(int rank, int size);
bool log_is_lead();  // this process prints info() lines

class LogLine {
 public:
  enum class Kind { kInfo, kWarn, kWarnEveryRank, kOff };
  explicit LogLine(Kind kind);
  LogLine(LogLine&& o) noexcept : kind_(o.kind_), buf_(std::move(o.buf_)) { o.kind_ = Kind::kOff; }
  LogLine(const LogLine&) = delete;
  ~LogLine();
  template <typename T>
  LogLine& operator<<(const T& v) {
    if (kind_ != Kind::kOff) buf_ << v;
    return *this;
  }

 private:
  Kind kind_;
  std::ostringstream buf_;
};

// A progress line (rank 0): on a terminal one live line rewritten in place
// (`final` ends it with a newline); elsewhere (Slurm logs, CI) a plain line.
// Any other line printed while a live line is open starts on a new line.
void log_progress(const std::string& line, bool final);

inline LogLine log_info() { return LogLine(LogLine::Kind::kInfo); }
inline LogLine log_warn() { return LogLine(LogLine::Kind::kWarn); }
inline LogLine log_warn_every_rank() { return LogLine(LogLine::Kind::kWarnEveryRank); }

}  // namespace metacat
