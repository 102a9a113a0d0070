#pragma once
// World-size-invariant, balanced, disjoint task sampling
// (docs/ARCHITECTURE.md, invariant 2).
//
// The task sources of the training split are cut once into P contiguous
// partitions of near-equal size (depends on the data and P only). Rank r of
// N owns the partitions p = r (mod N). Task slot g (0 <= g < B) of meta-step
// s belongs to partition (s*B + g) mod P and is drawn by its owner from the
// stream Rng(seed, s, g): the source uniformly within the partition, then the
// episode's items. With N dividing both B and P every rank computes exactly
// B/N slots per step and the task sequence does not depend on N.
#include <utility>
#include <vector>

#include "episodes/task_source.h"

namespace metacat {

class TaskSampler {
 public:
  // partitions == 0 picks auto_partitions(). Throws UserError when the world
  // size does not divide both meta_batch and the partition count.
  TaskSampler(const TaskSource& source, Split split, EpisodeSpec spec, uint64_t seed,
              int64_t meta_batch, int64_t partitions, int rank = 0, int world = 1);

  static int64_t auto_partitions(int64_t sources);
  int64_t partitions() const { return partitions_; }
  int64_t meta_batch() const { return meta_batch_; }
  int64_t partition_of(int64_t step, int64_t slot) const;
  int rank_of_partition(int64_t p) const { return static_cast<int>(p % world_); }
  // Source ids [begin, end) of partition p.
  std::pair<int64_t, int64_t> partition_range(int64_t p) const;
  // The slots of `step` this rank computes, ascending.
  std::vector<int64_t> my_slots(int64_t step) const;
  // The source slot g of step s draws (a pure function of seed, s, g).
  int64_t source_of(int64_t step, int64_t slot) const;
  Episode draw(int64_t step, int64_t slot) const;

 private:
  const TaskSource& source_;
  Split split_;
  EpisodeSpec spec_;
  uint64_t seed_;
  int64_t meta_batch_, partitions_, sources_;
  int rank_, world_;
};

}  // namespace metacat
