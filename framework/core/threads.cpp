#include "core/threads.h"

#include <dlfcn.h>
#include <malloc.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

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

std::string blas_name() {
  return dlsym(RTLD_DEFAULT, "openblas_set_num_threads") ? "OpenBLAS" : "reference/unknown BLAS";
}

std::string apply_threads(int n) {
  at::set_num_threads(n);
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
  return std::to_string(n) + (n == 1 ? " thread (" : " threads (") + blas_name() + ")";
}

}  // namespace metacat
