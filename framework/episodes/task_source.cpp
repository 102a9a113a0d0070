#include "episodes/task_source.h"

#include "core/error.h"

namespace metacat {

const char* to_string(Split s) {
  switch (s) {
    case Split::kTrain: return "train";
    case Split::kVal: return "val";
    case Split::kTest: return "test";
  }
  return "?";
}

Split parse_split(const std::string& s) {
  if (s == "train") return Split::kTrain;
  if (s == "val") return Split::kVal;
  if (s == "test") return Split::kTest;
  throw UserError("unknown split '" + s + "' (expected train, val or test)");
}

std::string TaskSource::source_name(Split, int64_t source) const {
  return std::to_string(source);
}

int64_t TaskSource::outputs(const EpisodeSpec& spec) const {
  return kind() == TaskKind::kClassification ? spec.ways : 1;
}

}  // namespace metacat
