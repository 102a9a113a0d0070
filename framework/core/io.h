#pragma once
// Files: the one home of the atomic-commit rule and of small formatting
// helpers shared by every writer (docs/ARCHITECTURE.md, invariant 6).
//
// atomic_write(path, write): `write` fills a temporary file next to `path`
// (path + ".tmp.<pid>"); then the temporary file is fsynced, renamed over
// `path`, and the folder is fsynced, so a crash at any moment leaves either
// the old file or the complete new one, never a torn one. On any failure
// the temporary file is removed and an IoError naming the path, the step
// and the system's reason is thrown (exceptions from `write` propagate
// unchanged after the clean-up). Parent folders are created.
#include <cstdint>
#include <functional>
#include <string>

namespace metacat {

void atomic_write(const std::string& path,
                  const std::function<void(const std::string& tmp)>& write);
void atomic_write_text(const std::string& path, const std::string& text);

// fsync of a file, and of the folder that holds `path`; IoError on failure.
void fsync_file(const std::string& path);
void fsync_parent_dir(const std::string& path);
// create_directories with an IoError naming the folder on failure.
void make_dirs(const std::string& dir);
// Removes a file (absent is fine); IoError naming it on failure.
void remove_file(const std::string& path);

// 16 lower-case hex digits (checksums in manifests and checkpoints).
std::string hex64(uint64_t v);
// Parses hex64's output (1 to 16 hex digits, nothing else); UserError
// naming `what` otherwise.
uint64_t parse_hex64(const std::string& s, const std::string& what);

}  // namespace metacat
