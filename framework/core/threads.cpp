#include "core/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/blas.h"

namespace metacat {

int resolve_threads(int requested, int ranks_on_node) {
  if (requested > 0) return requested;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, ranks_on_node));
}

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

namespace {

// Worker threads kept for the life of the process: LibTorch sets a thread up
// on its first operation (and resizes its own pools while doing so), which
// must not happen again at every meta-step.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool* pool = new WorkerPool();  // never destroyed: threads outlive main's statics
    return *pool;
  }
  void run(int workers, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (static_cast<int>(threads_.size()) < workers) {
      const int w = static_cast<int>(threads_.size());
      threads_.emplace_back([this, w] { loop(w); });
      threads_.back().detach();
    }
    fn_ = &fn;
    active_ = workers;
    pending_ = workers;
    errors_.assign(workers, nullptr);
    ++generation_;
    wake_.notify_all();
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void loop(int w) {
    using SetFn = void (*)(int);
    static const auto omp_set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    at::get_num_threads();  // LibTorch's per-thread setup, once
    if (omp_set) omp_set(1);
    // MKL (inside the PyPI wheel's libtorch_cpu) keeps a per-thread count
    // beside OpenMP's.
    set_mkl_thread_local_threads(1);
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (w >= active_) continue;
      const std::function<void(int)>* fn = fn_;
      lock.unlock();
      std::exception_ptr error;
      try {
        (*fn)(w);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      errors_[w] = error;
      if (--pending_ == 0) done_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* fn_ = nullptr;
  std::vector<std::exception_ptr> errors_;
  int active_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace

void run_workers(int workers, const std::function<void(int)>& fn) {
  const int blas_threads = openblas_threads();
  if (blas_threads > 1) set_openblas_threads(1);
  try {
    WorkerPool::instance().run(workers, fn);
  } catch (...) {
    if (blas_threads > 1) set_openblas_threads(blas_threads);
    throw;
  }
  if (blas_threads > 1) set_openblas_threads(blas_threads);
}

std::string apply_threads(int n) {
  at::set_num_threads(n);
  set_openblas_threads(n);
  return std::to_string(n) + (n == 1 ? " thread (" : " threads (") + blas_name() + ")";
}

}  // namespace metacat
