#pragma once
// Error kinds that decide the process exit code (launchers/main.cpp; the
// contract is documented in README.md "Exit codes"):
//   UserError  -> exit 1: bad config, bad data, bad flag; the message names
//                 the offending key, file or value and is meant for people.
//   IoError    -> exit 4: an operation on the filesystem failed (open,
//                 write, fsync, rename, create a folder: disk full,
//                 permissions, a path that is not there); the message names
//                 the path, the operation and the system's reason.
//   anything else derived from std::exception -> exit 2 (a bug or another
//                 system failure), reported with its message.
#include <stdexcept>
#include <string>

namespace metacat {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Process exit codes (README.md "Exit codes").
constexpr int kExitOk = 0;
constexpr int kExitUserError = 1;
constexpr int kExitFailure = 2;
constexpr int kExitWatchdog = 3;
constexpr int kExitIoError = 4;
constexpr int kExitResume = 75;  // checkpointed on a signal: resume me

}  // namespace metacat
