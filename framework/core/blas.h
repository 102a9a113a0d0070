#pragma once
// The BLAS that metacat's own kernels (core/batched_matmul) call, and the
// thread counts of the BLAS libraries in the process.
//
// LibTorch brings its own: Debian's 1.13 calls the system libblas.so.3
// (OpenBLAS once scripts/setup has pointed the alternative at it); the PyPI
// wheel carries MKL inside libtorch_cpu, whose small-matrix sgemm runs
// metacat's task-batched GEMMs 1.3x slower here than OpenBLAS's (bench/README,
// "LibTorch 2.x"). So metacat's kernels call Debian's OpenBLAS, loaded
// privately (RTLD_LOCAL: LibTorch keeps resolving its own BLAS), whenever it
// is installed, and the process's BLAS otherwise.
#include <string>

namespace metacat {

// A symbol of the BLAS metacat's kernels use (nullptr when absent).
void* blas_symbol(const char* name);
// "OpenBLAS", "MKL", "reference/unknown BLAS": the BLAS LibTorch uses, and
// metacat's kernels' when it differs ("MKL; metacat's GEMM: OpenBLAS").
std::string blas_name();
// Thread counts: OpenBLAS's pool (metacat's and, under Debian's LibTorch,
// LibTorch's) and MKL's count for the calling thread. Each is a no-op where
// that library is absent. openblas_threads() is 0 when OpenBLAS is absent.
void set_openblas_threads(int n);
int openblas_threads();
void set_mkl_thread_local_threads(int n);

}  // namespace metacat
