// Fuzz target: the checkpoint loader (which verifies the content checksum).
#include <cstdint>

#include "checkpoint/checkpoint.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metacat;
  const std::string path = fuzz::write_file(fuzz::scratch() / "step-00000001.h5", data, size);
  fuzz::expect_clean([&] { (void)load_checkpoint(path); });
  return 0;
}
