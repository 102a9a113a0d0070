#include "core/blas.h"

#include <dlfcn.h>

namespace metacat {

namespace {

// Debian's OpenBLAS (libopenblas0-pthread or -openmp), loaded once.
void* openblas_handle() {
  static void* handle = [] {
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    return h ? h : RTLD_DEFAULT;
  }();
  return handle;
}

template <typename Fn>
Fn symbol(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

}  // namespace

void* blas_symbol(const char* name) {
  if (void* s = dlsym(openblas_handle(), name)) return s;
  return dlsym(RTLD_DEFAULT, name);
}

std::string blas_name() {
  const bool mkl = dlsym(RTLD_DEFAULT, "MKL_Get_Version_String") != nullptr;
  const bool process_openblas = dlsym(RTLD_DEFAULT, "openblas_set_num_threads") != nullptr;
  const bool own_openblas = dlsym(openblas_handle(), "openblas_set_num_threads") != nullptr;
  const std::string torch = mkl ? "MKL" : process_openblas ? "OpenBLAS" : "reference/unknown BLAS";
  if (own_openblas && torch != "OpenBLAS") return torch + "; metacat's GEMM: OpenBLAS";
  return torch;
}

void set_openblas_threads(int n) {
  using SetFn = void (*)(int);
  if (auto fn = symbol<SetFn>(openblas_handle(), "openblas_set_num_threads")) fn(n);
  // Under Debian's LibTorch the process's libblas.so.3 may be another copy.
  if (auto fn = symbol<SetFn>(RTLD_DEFAULT, "openblas_set_num_threads")) fn(n);
}

int openblas_threads() {
  using GetFn = int (*)();
  auto fn = symbol<GetFn>(openblas_handle(), "openblas_get_num_threads");
  return fn ? fn() : 0;
}

void set_mkl_thread_local_threads(int n) {
  // MKL's C entry point takes the count by value (the lower-case Fortran
  // one takes a pointer).
  using SetLocalFn = int (*)(int);
  if (auto fn = symbol<SetLocalFn>(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local")) fn(n);
}

}  // namespace metacat
