#pragma once
// The one table of learner families: which learners `learner.name` may
// name, and what each can do. Every rule about a group of learners (the
// config schema's allowed values, which class implements a learner, who
// needs an inner step, who can start from a descriptor, who works on
// regression, what `metacat adapt` can adapt) reads this table instead of
// listing names; code that concerns one learner alone (Reptile's outer
// direction, finetune's joint head) names it. It lives in config/, the lowest layer that needs it
// (the schema validates names at load time), so learners/ and train/ read it without an upward
// include.
#include <string>
#include <vector>

namespace metacat {

struct LearnerTraits {
  std::string name;
  bool gradient_family = false;  // implemented by GradientLearner
  bool inner_loop = false;       // adapts by gradient steps on the support set
  bool descriptor_init = false;  // can start from a category descriptor
  bool regression = true;        // works on regression (sinusoid) tasks
};

// Every learner, in the order --help-config lists them.
const std::vector<LearnerTraits>& learner_table();
// The traits of `name`; UserError listing the known names for an unknown one.
const LearnerTraits& learner_traits(const std::string& name);
std::vector<std::string> learner_names();
// "maml, fomaml, anil and metasgd": the learners whose `flag` is set.
std::string learners_with(bool LearnerTraits::*flag);

}  // namespace metacat
