#pragma once
// Background preparation of a sequence of work items (e.g. the episodes of
// the coming meta-steps) while the training thread computes.
//
// Items are produced by `workers` threads into a bounded window of `depth`
// items ahead of the consumer and handed out strictly in index order, so the
// result does not depend on the number of workers. An exception in a worker
// is rethrown by next() in the consumer. The destructor stops and joins the
// workers (items not yet consumed are dropped).
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "episodes/task_source.h"

namespace metacat {

class Prefetcher {
 public:
  using Work = std::function<Episode(int64_t index)>;
  Prefetcher(Work work, int64_t begin, int64_t end, int workers, int64_t depth);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  // The item of the next index; blocks until it is ready.
  Episode next();
  // Seconds the consumer spent waiting in next() (the reader was the bottleneck).
  double wait_seconds() const { return wait_seconds_; }

 private:
  void run();
  Work work_;
  int64_t end_, depth_;
  int64_t next_claim_, next_out_;
  std::map<int64_t, Episode> ready_;
  std::exception_ptr error_;
  int64_t error_index_ = -1;  // the index whose work failed
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  double wait_seconds_ = 0;
};

}  // namespace metacat
