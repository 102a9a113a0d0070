#pragma once
// `metacat adapt` and `metacat export`: the cold-start workflow's last mile
// (the work is done by libmetacat's train/adapt module).
#include <CLI/CLI.hpp>
#include <functional>

namespace metacat::cli {

// Adds the subcommands to app; the returned callbacks run the one parsed.
std::vector<std::pair<CLI::App*, std::function<int()>>> add_model_commands(CLI::App& app);

}  // namespace metacat::cli
