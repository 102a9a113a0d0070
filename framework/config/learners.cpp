#include "config/learners.h"

#include "core/error.h"

namespace metacat {

const std::vector<LearnerTraits>& learner_table() {
  // Columns: name, gradient_family, inner_loop, descriptor_init, regression.
  static const std::vector<LearnerTraits> table = {
      {"maml", true, true, true, true},          // second order through the inner loop
      {"fomaml", true, true, true, true},        // first-order MAML
      {"reptile", false, true, false, true},     // outer direction theta' - theta
      {"anil", true, true, true, true},          // only the head adapts
      {"metasgd", true, true, true, true},       // learned per-parameter rates (lr.*)
      {"protomaml", true, true, false, false},   // MAML from a prototype head
      {"protonet", false, false, false, false},  // prototypes, no inner loop
      {"finetune", false, false, false, true},   // baseline: joint pre-training
  };
  return table;
}

std::vector<std::string> learner_names() {
  std::vector<std::string> names;
  for (const auto& t : learner_table()) names.push_back(t.name);
  return names;
}

std::string learners_with(bool LearnerTraits::*flag) {
  std::vector<std::string> names;
  for (const auto& t : learner_table())
    if (t.*flag) names.push_back(t.name);
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return s;
}

const LearnerTraits& learner_traits(const std::string& name) {
  for (const auto& t : learner_table())
    if (t.name == name) return t;
  std::string known;
  for (const auto& t : learner_table()) known += (known.empty() ? "" : ", ") + t.name;
  throw UserError("learner.name: unknown learner '" + name + "' (" + known + ")");
}

}  // namespace metacat
