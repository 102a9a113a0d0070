#pragma once
// Sparse embedding tables (comm.sparse_embeddings): a meta-step touches
// only the rows of the codes its episodes hold, so only those rows are
// computed with, exchanged and updated; the dense parameters keep the one
// flat all-reduce.
//
// Per episode, every table is cut down to the rows its codes use (the
// padding row 0 always among them) and the episode's codes are renumbered
// into that local table; the learner runs on these local tables as on any
// parameters (inner loop, second order: unchanged), and the local rows'
// meta-gradients are kept as (row ids, rows). The dense parameters'
// meta-gradients go into the flat buffer as before.
// Exchange: each rank sums its rows per id, and every rank receives every
// rank's (ids, rows) in one allgather and sums them again in rank order:
// traffic proportional to the rows touched, not to the table size.
// Update: the flat buffer's dense part takes the optimiser's step, each
// table's touched rows a lazy one (Optimizer::step_rows): untouched rows,
// and their Adam moments, do not move (LazyAdam), which is where this
// differs from the dense computation (with SGD it does not).
// Requires the tables ("emb.*") to come first in theta, as the embedding
// model makes them; every rank ends each step with the same bits.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "comm/backend.h"
#include "core/fields.h"
#include "core/optimizer.h"
#include "core/params.h"
#include "learners/learner.h"

namespace metacat {

class SparseTables {
 public:
  // The tables of theta ("emb.<table>") and the input columns coded in each.
  SparseTables(const Params& theta, const std::vector<InputField>& fields);
  // Flat index where the dense parameters begin (after the tables).
  int64_t dense_offset() const { return dense_offset_; }
  // Adds the meta-gradients of eps: the dense parameters' into grad (views
  // of the flat buffer), each table's touched rows into this object.
  std::vector<TaskStats> accumulate(const Learner& learner, const Params& theta,
                                    const std::vector<Episode>& eps,
                                    std::vector<torch::Tensor>& grad);
  struct Traffic {
    int64_t rows = 0;            // distinct rows after the sum over ranks
    int64_t bytes_sent = 0;      // this rank's ids and rows
    int64_t bytes_received = 0;  // the other ranks'
  };
  // The sum over ranks: afterwards every rank holds the same (ids, rows).
  Traffic allgather_sum(comm::Backend& comm);
  double squared_norm() const;
  bool finite() const;
  void scale(double factor);
  // The lazy outer step of the touched rows (after the optimiser's dense
  // step_flat_range, which counts the step).
  void step(Optimizer& opt, Params& theta) const;
  void clear();
  // Adds the rows into their places in full-size gradients (tests compare
  // the sparse meta-gradient with the dense one).
  void add_into(std::vector<torch::Tensor>& grad) const;

 private:
  struct Table {
    std::string name;  // "emb.<table>"
    size_t param = 0;  // index in theta
    int64_t width = 0;
    torch::ScalarType dtype = torch::kFloat32;
    torch::Device device = torch::kCPU;
    std::vector<std::pair<int64_t, int64_t>> columns;  // (offset, width) in the input
    std::vector<torch::Tensor> ids, rows;              // per task; after allgather_sum one pair
  };
  std::vector<Table> tables_;
  int64_t dense_offset_ = 0;
};

}  // namespace metacat
