#pragma once
// The cold-start workflow after meta-training: adapt the meta-learned start
// to a new category's few labelled examples (and/or its descriptor), and
// export parameters for PyTorch.
#include <map>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/params.h"

namespace metacat {

struct AdaptRequest {
  torch::Tensor x, y;        // support set: [n, d] features, [n] labels 0/1 (n may be 0:
                             // the start itself, e.g. a descriptor's zero-shot start)
  torch::Tensor descriptor;  // [D] or undefined
  int64_t steps = -1;        // inner steps; -1 = the run's evaluation setting
};

struct AdaptResult {
  Params adapted;  // model parameters for this category
  int64_t steps = 0;
  double inner_lr = 0;  // NaN for Meta-SGD (learned per-parameter rates)
  std::vector<std::string> warnings;
  bool used_descriptor = false;
  std::map<std::string, double> before;  // support-set metrics at the start
  std::map<std::string, double> after;   // and after adaptation
};

// The input width the checkpoint's model takes (feature-vector models).
int64_t checkpoint_input_dim(const Checkpoint& ck);
// Length of the descriptors the checkpoint was trained with (0: none).
int64_t checkpoint_descriptor_dim(const Checkpoint& ck);

// Adapts a preference checkpoint (model.name: preference, a gradient-based
// learner) with its own inner loop. Throws UserError for checkpoints that
// cannot adapt (protonet, finetune, image models).
AdaptResult adapt_checkpoint(const Checkpoint& ck, const AdaptRequest& req);

// The model's parameters only (no Meta-SGD rates, no descriptor network).
Params model_parameters(const Params& p);

// Atomic writes (temp file, fsync, rename): parameters as HDF5
// (/params/<name>, readable with h5py), or as a PyTorch state_dict file
// (torch::pickle_save of a dict name -> tensor; Python: torch.load).
void save_params_h5(const std::string& path, const Params& p,
                    const std::map<std::string, std::string>& attrs);
void save_params_pytorch(const std::string& path, const Params& p);

}  // namespace metacat
