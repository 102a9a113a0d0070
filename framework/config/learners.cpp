#include "config/learners.h"

#include "core/error.h"

namespace metacat {

const std::vector<LearnerTraits>& learner_table() {
  // Columns: name, summary, gradient_family, inner_loop, descriptor_init,
  // regression, baseline.
  static const std::vector<LearnerTraits> table = {
      {"maml", "MAML, second order through the inner loop", true, true, true, true, false},
      {"fomaml", "first-order MAML", true, true, true, true, false},
      {"reptile", "Reptile (outer direction theta' - theta)", false, true, false, true, false},
      {"anil", "ANIL: only the head adapts in the inner loop", true, true, true, true, false},
      {"metasgd", "Meta-SGD: learned per-parameter inner rates (lr.*)", true, true, true, true,
       false},
      {"protonet", "Prototypical Networks (no inner loop)", false, false, false, false, false},
      {"finetune", "baseline: joint pre-training, then a new head fine-tuned", false, false, false,
       true, true},
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
