#include "core/device.h"

#include <c10/core/DeviceGuard.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <chrono>
#include <thread>

#include "comm/backend.h"
#include "core/error.h"

namespace metacat {

torch::Device pick_device(const std::string& choice, int rank, std::string* why) {
  auto say = [&](const std::string& s) {
    if (why) *why = s;
  };
  if (choice == "cpu") {
    say("cpu (as configured)");
    return torch::kCPU;
  }
  if (choice != "auto" && choice != "cuda")
    throw UserError("device: unknown device '" + choice + "' (auto, cpu, cuda)");
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0) {
    if (choice == "cuda")
      throw UserError(
          "device: cuda, but LibTorch sees no GPU (no device or driver, CUDA_VISIBLE_DEVICES "
          "empty, or a LibTorch built without CUDA); use device: cpu or auto");
    say("cpu (auto: no GPU visible)");
    return torch::kCPU;
  }
  const torch::Device d(torch::kCUDA, static_cast<c10::DeviceIndex>(comm::local_rank(rank) % gpus));
  c10::impl::VirtualGuardImpl(d.type()).setDevice(d);
  say(d.str() + " (" + (choice == "auto" ? "auto" : "as configured") + ", " + std::to_string(gpus) +
      " GPU" + (gpus > 1 ? "s" : "") + " visible)");
  return d;
}

void* current_stream_handle(const torch::Device& device) {
  if (!device.is_cuda()) return nullptr;
#if TORCH_VERSION_MAJOR >= 2
  return c10::impl::VirtualGuardImpl(device.type()).getStream(device).native_handle();
#else
  return nullptr;
#endif
}

void upload(const std::vector<torch::Tensor*>& tensors, const torch::Device& device) {
  if (!device.is_cuda()) {
    for (torch::Tensor* t : tensors)
      if (t->defined() && t->device() != device) *t = t->to(device);
    return;
  }
  c10::DeviceGuard on(device);
  c10::impl::VirtualGuardImpl impl(device.type());
  const c10::Stream side = impl.getStreamFromGlobalPool(device);
  const c10::Stream previous = impl.exchangeStream(side);
  try {
    for (torch::Tensor* t : tensors)
      if (t->defined() && t->device() != device)
        *t = t->pin_memory().to(device, /*non_blocking=*/true);
  } catch (...) {
    impl.exchangeStream(previous);
    throw;
  }
  c10::Event done(device.type());
  done.record(side);
  impl.exchangeStream(previous);
  while (!done.query()) std::this_thread::sleep_for(std::chrono::microseconds(20));
}

void use_on_current_stream(const std::vector<torch::Tensor*>& tensors,
                           const torch::Device& device) {
  if (!device.is_cuda()) return;
  const c10::Stream current = c10::impl::VirtualGuardImpl(device.type()).getStream(device);
  for (torch::Tensor* t : tensors)
    if (t->defined() && t->is_cuda()) t->record_stream(current);
}

}  // namespace metacat
