#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"

namespace metacat {

namespace {

std::string lock_path(const std::string& dir) {
  return (std::filesystem::path(dir) / ".owner").string();
}

}  // namespace

std::string RunLock::holder(const std::string& dir) {
  std::ifstream in(lock_path(dir));
  std::string line;
  std::getline(in, line);
  return line.empty() ? "an unknown process" : line;
}

RunLock::RunLock(const std::string& dir, double wait_s) {
  make_dirs(dir);
  const std::string path = lock_path(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw IoError("run directory: cannot open the lock file '" + path +
                  "': " + std::strerror(errno));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(std::max(0.0, wait_s));
  bool waited = false;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == ENOSYS || errno == ENOLCK || errno == EOPNOTSUPP) {
      // A file system without flock (Lustre mounted noflock, some NFS):
      // the run goes on, unguarded, and says so.
      log_warn() << "run directory: " << path << " cannot be locked on this file system ("
                 << std::strerror(errno) << "); nothing stops a second train on " << dir;
      ::close(fd_);
      fd_ = -1;
      return;
    }
    if (errno != EWOULDBLOCK) {
      const std::string why = std::strerror(errno);
      ::close(fd_);
      throw IoError("run directory: cannot lock '" + path + "': " + why);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      const std::string who = holder(dir);
      ::close(fd_);
      throw UserError("run directory " + dir + " is in use by " + who +
                      ": another `metacat train` is still writing it" +
                      (waited ? " (waited " + std::to_string(static_cast<int>(wait_s)) + " s)"
                              : std::string()) +
                      "; wait for it to end, or use another --run-dir (train.lock_wait_s). If "
                      "that process is gone (its host lost: a network file system can keep "
                      "its lock for minutes), deleting " +
                      path + " breaks the lock");
    }
    waited = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Ours: say who holds it.
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::ostringstream info;
  info << "pid " << getpid() << " on " << hostname() << " since " << when << "\n";
  const std::string text = info.str();
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) < 0) {
    // The lock holds without the note; only the message would be vaguer.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace metacat
