#pragma once
// Thread settings for the math libraries. LibTorch's intra-op pool and
// OpenBLAS's own pool are separate: torch::set_num_threads does not reach
// OpenBLAS, so both are set here (core/blas.h: which BLAS is where).
#include <functional>
#include <string>

namespace metacat {

// n <= 0 means "cores on this node / ranks on this node".
int resolve_threads(int requested, int ranks_on_node = 1);
// Sets LibTorch intra-op threads (and with them MKL's) and, when OpenBLAS is
// loaded, its threads. Returns a one-line description, e.g.
// "2 threads (MKL; metacat's GEMM: OpenBLAS)".
std::string apply_threads(int n);
// Keeps freed memory in the process instead of returning it to the kernel
// at every free (glibc trims the heap top and unmaps blocks of >= 128 KiB by
// default), so the tensors a meta-step allocates do not page-fault afresh
// every step. Measured: +30% meta-steps/s on task-batched sinusoid MAML.
// Peak memory is unchanged; resident memory stays near its peak.
void keep_freed_memory();
// Runs fn(0) .. fn(workers - 1) concurrently, each on its own thread with
// one intra-op thread (OpenMP, MKL) and OpenBLAS at one thread meanwhile, so that
// the workers share the cores instead of each fanning out over all of them.
// Rethrows the first exception a worker threw, after all have finished.
void run_workers(int workers, const std::function<void(int)>& fn);
}  // namespace metacat
