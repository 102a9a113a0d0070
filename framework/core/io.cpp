#include "core/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace metacat {

namespace fs = std::filesystem;

namespace {
[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
  throw IoError("cannot " + what + " '" + path + "': " + std::strerror(err));
}
}  // namespace

void fsync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) io_fail("open (to fsync)", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) io_fail("fsync", path, err);
}

void fsync_parent_dir(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) io_fail("open folder (to fsync)", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems refuse fsync on folders (EINVAL); the rename stands.
  if (rc != 0 && err != EINVAL) io_fail("fsync folder", dir, err);
}

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create folder '" + dir + "': " + ec.message());
}

void remove_file(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw IoError("cannot remove '" + path + "': " + ec.message());
}

void atomic_write(const std::string& path,
                  const std::function<void(const std::string& tmp)>& write) {
  try {
    make_dirs(fs::path(path).parent_path().string());
  } catch (const IoError& e) {
    throw IoError("cannot write '" + path + "': " + e.what());
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
    fsync_file(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      io_fail("rename '" + tmp + "' to", path, errno);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  fsync_parent_dir(path);
}

void atomic_write_text(const std::string& path, const std::string& text) {
  atomic_write(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) io_fail("open for writing", tmp, errno);
    out << text;
    out.flush();
    if (!out) io_fail("write", tmp, errno);
  });
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t parse_hex64(const std::string& s, const std::string& what) {
  const bool hex = !s.empty() && s.size() <= 16 &&
                   s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!hex) throw UserError(what + ": '" + s + "' is not a hex checksum");
  return std::stoull(s, nullptr, 16);
}

}  // namespace metacat
