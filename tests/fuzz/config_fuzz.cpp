// Fuzz target: the YAML config loader and everything that reads options
// from it (the schema check of every key, then read_options' resolution and
// cross-key checks), and a `--set key=value` override applied to it.
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_util.h"
#include "train/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  metacat::fuzz::expect_clean([&] {
    metacat::Config c = metacat::Config::from_yaml(text, "fuzz.yaml");
    (void)metacat::read_options(c);
  });
  // The first line as an override of the defaults.
  metacat::fuzz::expect_clean([&] {
    metacat::Config c = metacat::Config::from_yaml("", "defaults");
    c.set(text.substr(0, text.find('\n')));
    (void)metacat::read_options(c);
  });
  return 0;
}
