#include "episodes/sampler.h"

#include <algorithm>

#include "core/error.h"

namespace metacat {

int64_t TaskSampler::auto_partitions(int64_t sources) {
  // 240 is divisible by every world size up to 6 and by 8, 10, 12, 15, 16, ...
  return std::max<int64_t>(1, std::min<int64_t>(sources, 240));
}

TaskSampler::TaskSampler(const TaskSource& source, Split split, EpisodeSpec spec, uint64_t seed,
                         int64_t meta_batch, int64_t partitions, int rank, int world)
    : source_(source),
      split_(split),
      spec_(spec),
      seed_(seed),
      meta_batch_(meta_batch),
      rank_(rank),
      world_(world) {
  source.check(split, spec);  // names what is missing (classes, items) first
  sources_ = source.num_sources(split);
  if (sources_ <= 0)
    throw UserError(std::string("data: the ") + to_string(split) + " split has no task sources");
  partitions_ = partitions > 0 ? partitions : auto_partitions(sources_);
  if (partitions_ > sources_)
    throw UserError("train.partitions: " + std::to_string(partitions_) + " partitions but only " +
                    std::to_string(sources_) + " task sources");
  if (meta_batch_ % world_ != 0 || partitions_ % world_ != 0) {
    std::string ok;
    for (int64_t n = 1; n <= std::min(meta_batch_, partitions_); ++n)
      if (meta_batch_ % n == 0 && partitions_ % n == 0)
        ok += (ok.empty() ? "" : ", ") + std::to_string(n);
    throw UserError("world size " + std::to_string(world_) +
                    " must divide both train.meta_batch (" + std::to_string(meta_batch_) +
                    ") and the partition count (" + std::to_string(partitions_) +
                    "); world sizes that work: " + ok);
  }
}

int64_t TaskSampler::partition_of(int64_t step, int64_t slot) const {
  return (step * meta_batch_ + slot) % partitions_;
}

std::pair<int64_t, int64_t> TaskSampler::partition_range(int64_t p) const {
  return {p * sources_ / partitions_, (p + 1) * sources_ / partitions_};
}

std::vector<int64_t> TaskSampler::my_slots(int64_t step) const {
  std::vector<int64_t> out;
  for (int64_t g = 0; g < meta_batch_; ++g)
    if (rank_of_partition(partition_of(step, g)) == rank_) out.push_back(g);
  return out;
}

int64_t TaskSampler::source_of(int64_t step, int64_t slot) const {
  Rng rng(seed_, static_cast<uint64_t>(step), static_cast<uint64_t>(slot), Stream::kTrainTask);
  auto [b, e] = partition_range(partition_of(step, slot));
  return b + rng.randint(e - b);
}

Episode TaskSampler::draw(int64_t step, int64_t slot) const {
  Rng rng(seed_, static_cast<uint64_t>(step), static_cast<uint64_t>(slot), Stream::kTrainTask);
  auto [b, e] = partition_range(partition_of(step, slot));
  const int64_t src = b + rng.randint(e - b);
  Episode ep = source_.draw(split_, src, spec_, rng);
  if (split_ == Split::kTrain) source_.augment_training_items(ep, rng);
  return ep;
}

}  // namespace metacat
