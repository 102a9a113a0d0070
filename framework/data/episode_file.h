#pragma once
// Fixed evaluation episodes stored in HDF5, so that every evaluation of every
// run sees the same ones:
//   attributes   format_version, kind, split, ways, shots, queries, seed,
//                data_xxh64 (the manifest checksum of the data they index)
//   /categories  int64 [count, k]        k = ways (classification) or 1
//   /support     int64 [count, k*shots]  rows within each category, by category
//   /query       int64 [count, k*queries]
// Episode i of a file written with seed S is the episode i that evaluation
// with eval.seed S draws on the fly.
#include <string>
#include <vector>

#include "episodes/task_source.h"

namespace metacat {

struct EpisodeFile {
  std::string kind;
  Split split = Split::kTest;
  EpisodeSpec spec;
  uint64_t seed = 0;
  uint64_t data_checksum = 0;
  std::vector<EpisodePlan> plans;
};

EpisodeFile draw_episodes(const TaskSource& source, Split split, const EpisodeSpec& spec,
                          int64_t count, uint64_t seed);
void write_episode_file(const std::string& path, const EpisodeFile& f);
EpisodeFile read_episode_file(const std::string& path);
// Throws UserError unless the file fits this source (data checksum, kind,
// categories, rows).
void check_episode_file(const EpisodeFile& f, const TaskSource& source, const std::string& path);

}  // namespace metacat
