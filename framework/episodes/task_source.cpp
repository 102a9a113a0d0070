#include "episodes/task_source.h"

#include "core/device.h"
#include "core/error.h"

namespace metacat {

std::vector<torch::Tensor*> tensors_of(Episode& e) {
  return {&e.support_x,   &e.support_y,      &e.query_x,    &e.query_y,      &e.support_joint,
          &e.query_joint, &e.query_category, &e.descriptor, &e.query_oracle, &e.query_item};
}

Episode on_device(const Episode& e, const torch::Device& device) {
  Episode out = e;
  if (e.support_x.defined() && e.support_x.device() == device) return out;
  upload(tensors_of(out), device);
  return out;
}

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
