#pragma once
// Error kinds that decide the process exit code (see launchers/main.cpp):
//   UserError  -> exit 1: bad config, bad data, bad flag; the message names
//                 the offending key, file or value and is meant for people.
//   anything else derived from std::exception -> exit 2 (a bug or a system
//                 failure), reported with its message.
#include <stdexcept>
#include <string>

namespace metacat {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace metacat
