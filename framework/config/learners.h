#pragma once
// The one table of learner families: what each learner named by
// `learner.name` is and can do. Every check on a learner's name (the config
// schema's allowed values, learner construction, `metacat adapt`, descriptor
// starts, the inner-step requirement) reads this table instead of listing
// names. It lives in config/, the lowest layer that needs it (the schema
// validates names at load time), so learners/ and train/ read it without an
// upward include.
#include <string>
#include <vector>

namespace metacat {

struct LearnerTraits {
  std::string name;
  std::string summary;           // one line, for --help-config and errors
  bool gradient_family = false;  // maml/fomaml/anil/metasgd: GradientLearner
  bool inner_loop = false;       // adapts by gradient steps on the support set
  bool descriptor_init = false;  // can start from a category descriptor
  bool regression = true;        // works on regression (sinusoid) tasks
  bool baseline = false;         // a baseline, not a meta-learner
};

// Every learner, in the order --help-config lists them.
const std::vector<LearnerTraits>& learner_table();
// The traits of `name`; UserError listing the known names for an unknown one.
const LearnerTraits& learner_traits(const std::string& name);
std::vector<std::string> learner_names();
// "maml, fomaml, anil and metasgd": the learners whose `flag` is set.
std::string learners_with(bool LearnerTraits::*flag);

}  // namespace metacat
