#pragma once
// `metacat train` and `metacat eval`: CLI11 wiring and the commands (the
// work is done by libmetacat's train/ module).
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "comm/backend.h"

namespace metacat::cli {

// Adds the subcommands to app; the returned callbacks run the one parsed.
std::vector<std::pair<CLI::App*, std::function<int()>>> add_train_commands(CLI::App& app);

// The backend the running command uses (for the top-level error handler:
// a failing rank must end the job on every rank). Null before one exists.
std::shared_ptr<comm::Backend> active_backend();

}  // namespace metacat::cli
