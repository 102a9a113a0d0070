#pragma once
// `metacat report RUN_DIR`: one self-contained HTML file (inline SVG charts,
// no network) with the resolved config, training curves, validation, the
// final evaluation table with 95% CIs, metric against shots, and the best
// and worst cold-start categories.
#include <string>
#include <vector>

namespace metacat::cli {

// Writes the report and returns its path (default RUN_DIR/report.html).
// extra_evals: more eval JSON files (from `metacat eval --json`).
std::string write_report(const std::string& run_dir, const std::string& out,
                         const std::vector<std::string>& extra_evals);

}  // namespace metacat::cli
