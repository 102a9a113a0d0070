#include "episodes/task_source.h"

#include "core/error.h"

namespace metacat {

const char* to_string(Split s) {
  switch (s) {
    case Split::kTrain:
      return "train";
    case Split::kVal:
      return "val";
    case Split::kTest:
      return "test";
    case Split::kNone:
      return "none";
  }
  return "?";
}

Split parse_split(const std::string& s) {
  if (s == "train") return Split::kTrain;
  if (s == "val") return Split::kVal;
  if (s == "test") return Split::kTest;
  throw UserError("unknown split '" + s + "' (expected train, val or test)");
}

std::string TaskSource::source_name(Split, int64_t source) const { return std::to_string(source); }

EpisodePlan TaskSource::plan(Split, int64_t, const EpisodeSpec&, Rng&) const {
  throw UserError("this task source (" + describe() +
                  ") has no stored items to plan episodes from");
}

Episode TaskSource::materialize(const EpisodePlan&, const EpisodeSpec&) const {
  throw UserError("this task source (" + describe() + ") cannot replay stored episodes");
}

void TaskSource::check_plan(const EpisodePlan&, Split, const EpisodeSpec&) const {
  throw UserError("this task source (" + describe() + ") cannot replay stored episodes");
}

int64_t TaskSource::outputs(const EpisodeSpec& spec) const {
  return kind() == TaskKind::kClassification ? spec.ways : 1;
}

}  // namespace metacat
