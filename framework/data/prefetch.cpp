#include "data/prefetch.h"

#include <chrono>

namespace metacat {

Prefetcher::Prefetcher(Work work, int64_t begin, int64_t end, int workers, int64_t depth)
    : work_(std::move(work)),
      end_(end),
      depth_(std::max<int64_t>(1, depth)),
      next_claim_(begin),
      next_out_(begin) {
  for (int i = 0; i < std::max(1, workers); ++i) threads_.emplace_back([this] { run(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Prefetcher::run() {
  for (;;) {
    int64_t idx;
    {
      std::unique_lock<std::mutex> lk(mu_);
      // Claim the next index only while it is inside the window.
      cv_.wait(lk, [&] {
        return stop_ || error_ || next_claim_ >= end_ || next_claim_ < next_out_ + depth_;
      });
      if (stop_ || error_ || next_claim_ >= end_) return;
      idx = next_claim_++;
    }
    try {
      Episode e = work_(idx);
      std::lock_guard<std::mutex> g(mu_);
      ready_.emplace(idx, std::move(e));
    } catch (...) {
      std::lock_guard<std::mutex> g(mu_);
      if (!error_ || idx < error_index_) error_ = std::current_exception(), error_index_ = idx;
    }
    cv_.notify_all();
  }
}

Episode Prefetcher::next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lk(mu_);
  if (next_out_ >= end_) throw std::logic_error("Prefetcher: read past the end");
  // Items before a failed one are still handed out; the failure surfaces
  // when its own index is reached (workers stop claiming after a failure, so
  // items after it never arrive).
  cv_.wait(lk,
           [&] { return ready_.count(next_out_) > 0 || (error_ && error_index_ <= next_out_); });
  if (ready_.count(next_out_) == 0) std::rethrow_exception(error_);
  Episode e = std::move(ready_[next_out_]);
  ready_.erase(next_out_);
  ++next_out_;
  lk.unlock();
  cv_.notify_all();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

}  // namespace metacat
