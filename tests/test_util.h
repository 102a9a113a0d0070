#pragma once
// Helpers the test programs share: running a command, fresh temp paths.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace metacat::test {

struct Result {
  int code;            // exit status, or 128 + signal
  std::string output;  // stdout and stderr together
};

inline Result shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// <tmp>/metacat-<group>-<name>-<pid>, removed if it exists.
inline std::string fresh_dir(const std::string& group, const std::string& name) {
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() /
      ("metacat-" + group + "-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

}  // namespace metacat::test
