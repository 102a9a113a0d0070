#pragma once
// `metacat pack`, `metacat inspect` and `metacat episodes`: CLI11 wiring and
// the commands themselves (the work is done by libmetacat's data/ module).
#include <CLI/CLI.hpp>
#include <functional>

namespace metacat::cli {

// Adds the subcommands to app; the returned callbacks run the one parsed.
std::vector<std::pair<CLI::App*, std::function<int()>>> add_data_commands(CLI::App& app);

}  // namespace metacat::cli
