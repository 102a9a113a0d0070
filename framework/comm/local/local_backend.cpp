#include "comm/local/local_backend.h"

#include <cstdio>
#include <cstdlib>

namespace metacat::comm {

void LocalBackend::abort(int code, const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

}  // namespace metacat::comm
