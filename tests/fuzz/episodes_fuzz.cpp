// Fuzz target: the fixed-evaluation-episode file reader.
#include <cstdint>

#include "data/episode_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metacat;
  const std::string path = fuzz::write_file(fuzz::scratch() / "episodes.h5", data, size);
  fuzz::expect_clean([&] { (void)read_episode_file(path); });
  return 0;
}
