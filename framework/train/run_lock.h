#pragma once
// Ownership of a run directory: one `metacat train` process (rank 0 of its
// job) writes it at a time. A second job started on the same directory
// while the first is alive (a requeued Slurm job whose old step is still
// dying, a rerun after mpirun was killed while its ranks live on for
// seconds) would otherwise train beside it, both writing and pruning
// checkpoints.
//
// The lock is an exclusive flock(2) on RUN_DIR/.owner, held for the life of
// the process and released by the kernel however it ends (SIGKILL
// included); the file names the holder (pid, host, start time) for the
// error message. flock reaches NFS clients as a POSIX lock (Linux >= 2.6.12).
#include <string>

namespace metacat {

class RunLock {
 public:
  // Creates the directory if needed and takes the lock, waiting up to
  // wait_s seconds for a live holder to end; UserError naming the holder
  // after that, IoError when the lock file cannot be made.
  RunLock(const std::string& dir, double wait_s);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  // "pid P on HOST since TIME": what the lock file says of its holder.
  static std::string holder(const std::string& dir);

 private:
  int fd_ = -1;
};

}  // namespace metacat
