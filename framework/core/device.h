#pragma once
// Where a run's tensors live (config key `device`: auto | cpu | cuda).
//
// With device cuda, the meta-parameters, the flat meta-gradient, the
// optimiser state and the episodes are on the GPU; episodes are copied from
// pinned host memory on a side stream ahead of use (the prefetch thread,
// when one runs), the meta-gradient is all-reduced in place by NCCL, and
// checkpoints are written from host copies, so a run resumes onto either
// device. Everything here compiles against any LibTorch (CUDA or not): GPU
// code runs only once pick_device() has found a GPU.
#include <torch/types.h>

#include <string>
#include <vector>

namespace metacat {

// Resolves `choice` for this process. auto: cuda when LibTorch sees a GPU,
// else cpu; cuda with no GPU visible: UserError (exit 1). One rank per
// GPU: the node-local rank (comm::local_rank, else `rank`) mod GPUs, which
// also becomes the thread's current device. `why` gets a one-line account.
torch::Device pick_device(const std::string& choice, int rank, std::string* why = nullptr);

// The current stream of a CUDA device as a cudaStream_t (nullptr for the
// CPU, or with a LibTorch older than 2.0, whose streams do not expose it).
void* current_stream_handle(const torch::Device& device);

// Moves the defined tensors to `device` (CPU: in place, nothing to do).
// CUDA: from pinned host memory on a side stream, waited for before the
// call returns, so the prefetch thread can do it while the GPU computes.
void upload(const std::vector<torch::Tensor*>& tensors, const torch::Device& device);
// The thread about to use uploaded tensors on its own stream tells
// LibTorch's caching allocator so (their memory is not reused while that
// stream still reads it).
void use_on_current_stream(const std::vector<torch::Tensor*>& tensors, const torch::Device& device);

}  // namespace metacat
