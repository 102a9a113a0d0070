#pragma once
// The single-process backend: collectives are identities. Always built.
#include "comm/backend.h"

namespace metacat::comm {

class LocalBackend : public Backend {
 public:
  std::string name() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  void allreduce(void*, size_t, DType, ReduceOp) override {}
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code, const std::string& message) override;
};

}  // namespace metacat::comm
