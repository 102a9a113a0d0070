#pragma once
// Shared by the fuzz targets (tests/fuzz/*_fuzz.cpp). Each target defines
// LLVMFuzzerTestOneInput; with METACAT_FUZZ it is a libFuzzer binary, and in
// every build it is also linked with driver.cpp, which replays saved inputs.
//
// The contract every reader is held to: bad input ends in one of metacat's
// own errors (UserError, IoError: a message naming the file and what is
// wrong), never in a crash, a sanitizer report, or another exception type
// escaping. expect_clean() swallows exactly those two; anything else
// propagates and is reported as a finding.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace metacat::fuzz {

// This process's scratch folder (under TMPDIR; tests/fuzz/run.sh points
// TMPDIR at a folder it removes afterwards).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const auto d = std::filesystem::temp_directory_path() /
                   ("metacat-fuzz-" + std::to_string(static_cast<long>(::getpid())));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  return path.string();
}

template <typename F>
void expect_clean(F&& fn) {
  try {
    fn();
  } catch (const UserError&) {
  } catch (const IoError&) {
  }
}

}  // namespace metacat::fuzz
