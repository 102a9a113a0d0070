#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>

namespace metacat {

namespace {
std::atomic<int> g_rank{0};
std::atomic<int> g_size{1};
std::mutex g_mu;
bool g_live_open = false;  // a live progress line is on the terminal (under g_mu)

void close_live_line() {
  if (g_live_open) std::cout << "\n" << std::flush;
  g_live_open = false;
}

}  // namespace

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void set_log_rank(int rank, int size) {
  g_rank = rank;
  g_size = size;
}

bool log_is_lead() { return g_rank == 0; }

void log_progress(const std::string& line, bool final) {
  if (!log_is_lead()) return;
  // mpirun hands its ranks a pseudo-terminal whatever its own output is (a
  // log file, a pipe): under a launcher, progress is one line per update.
  static const bool tty = isatty(STDOUT_FILENO) && !std::getenv("OMPI_COMM_WORLD_SIZE") &&
                          !std::getenv("PMIX_RANK") && !std::getenv("PMI_RANK");
  std::lock_guard<std::mutex> lock(g_mu);
  if (!tty) {
    std::cout << line << std::endl;
    return;
  }
  std::cout << "\r" << line << "\x1b[K" << (final ? "\n" : "") << std::flush;
  g_live_open = !final;
}

LogLine::LogLine(Kind kind) : kind_(kind) {
  if ((kind_ == Kind::kInfo || kind_ == Kind::kWarn) && !log_is_lead()) kind_ = Kind::kOff;
}

LogLine::~LogLine() {
  if (kind_ == Kind::kOff) return;
  std::lock_guard<std::mutex> lock(g_mu);
  close_live_line();
  if (kind_ == Kind::kInfo) {
    std::cout << buf_.str() << std::endl;
  } else if (kind_ == Kind::kWarn) {
    std::cerr << "warning: " << buf_.str() << std::endl;
  } else {
    std::cerr << "warning: " << buf_.str();
    if (g_size > 1)
      std::cerr << " [rank " << g_rank << " of " << g_size << ", " << hostname() << "]";
    std::cerr << std::endl;
  }
}

}  // namespace metacat
