#include "data/episode_file.h"

#include <filesystem>

#include "core/error.h"
#include "core/io.h"
#include "data/h5.h"
#include "data/manifest.h"
#include "episodes/evaluation.h"

namespace metacat {

EpisodeFile draw_episodes(const TaskSource& source, Split split, const EpisodeSpec& spec,
                          int64_t count, uint64_t seed) {
  source.check(split, spec);
  EpisodeFile f;
  f.kind = to_string(source.kind());
  f.split = split;
  f.spec = spec;
  f.seed = seed;
  f.data_checksum = source.data_checksum();
  for (int64_t i = 0; i < count; ++i) f.plans.push_back(eval_plan(source, split, spec, seed, i));
  return f;
}

void write_episode_file(const std::string& path, const EpisodeFile& f) {
  const int64_t n = static_cast<int64_t>(f.plans.size());
  const int64_t k = n ? static_cast<int64_t>(f.plans[0].categories.size()) : 0;
  std::vector<int64_t> cats, sup, qry;
  for (const auto& p : f.plans) {
    cats.insert(cats.end(), p.categories.begin(), p.categories.end());
    sup.insert(sup.end(), p.support_rows.begin(), p.support_rows.end());
    qry.insert(qry.end(), p.query_rows.begin(), p.query_rows.end());
  }
  atomic_write(path, [&](const std::string& tmp) {
    h5::Handle h = h5::create_file(tmp);
    h5::write_int_attr(h, "format_version", 1, tmp);
    h5::write_string_attr(h, "kind", f.kind, tmp);
    h5::write_string_attr(h, "split", to_string(f.split), tmp);
    h5::write_int_attr(h, "ways", f.spec.ways, tmp);
    h5::write_int_attr(h, "shots", f.spec.shots, tmp);
    h5::write_int_attr(h, "queries", f.spec.queries, tmp);
    h5::write_string_attr(h, "seed", std::to_string(f.seed), tmp);
    h5::write_string_attr(h, "data_xxh64", hex64(f.data_checksum), tmp);
    h5::write_tensor(h, "categories", torch::tensor(cats, torch::kInt64).reshape({n, k}), tmp);
    h5::write_tensor(h, "support", torch::tensor(sup, torch::kInt64).reshape({n, k * f.spec.shots}),
                     tmp);
    h5::write_tensor(h, "query", torch::tensor(qry, torch::kInt64).reshape({n, k * f.spec.queries}),
                     tmp);
    h5::flush(h, tmp);
  });
}

EpisodeFile read_episode_file(const std::string& path) {
  h5::Handle h = h5::open_file(path);
  EpisodeFile f;
  if (h5::read_int_attr(h, "format_version", path) != 1)
    throw UserError("episodes: " + path + " has an unknown format version");
  f.kind = h5::read_string_attr(h, "kind", path);
  f.split = parse_split(h5::read_string_attr(h, "split", path));
  f.spec.ways = h5::read_int_attr(h, "ways", path);
  f.spec.shots = h5::read_int_attr(h, "shots", path);
  f.spec.queries = h5::read_int_attr(h, "queries", path);
  f.seed = std::stoull(h5::read_string_attr(h, "seed", path));
  f.data_checksum = parse_hex64(h5::read_string_attr(h, "data_xxh64", path), path + ": data_xxh64");
  torch::Tensor cats = h5::read_tensor(h, "categories", path);
  torch::Tensor sup = h5::read_tensor(h, "support", path);
  torch::Tensor qry = h5::read_tensor(h, "query", path);
  const int64_t n = cats.size(0), k = cats.dim() == 2 ? cats.size(1) : 0;
  if (sup.dim() != 2 || qry.dim() != 2 || sup.size(0) != n || qry.size(0) != n ||
      sup.size(1) != k * f.spec.shots || qry.size(1) != k * f.spec.queries)
    throw UserError("episodes: " + path + ": datasets disagree with ways/shots/queries");
  for (int64_t i = 0; i < n; ++i) {
    EpisodePlan p;
    auto row = [](const torch::Tensor& t, int64_t i) {
      torch::Tensor r = t[i].contiguous();
      return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
    };
    p.categories = row(cats, i);
    p.support_rows = row(sup, i);
    p.query_rows = row(qry, i);
    f.plans.push_back(std::move(p));
  }
  return f;
}

void check_episode_file(const EpisodeFile& f, const TaskSource& source, const std::string& path) {
  if (f.kind != to_string(source.kind()))
    throw UserError("episodes: " + path + " holds " + f.kind + " episodes, the data gives " +
                    to_string(source.kind()) + " tasks");
  if (f.data_checksum != source.data_checksum())
    throw UserError("episodes: " + path + " was drawn from other data (manifest xxh64 " +
                    hex64(f.data_checksum) + ", this data " + hex64(source.data_checksum()) + ")");
  for (size_t i = 0; i < f.plans.size(); ++i) {
    try {
      source.check_plan(f.plans[i], f.split, f.spec);
    } catch (const UserError& e) {
      throw UserError("episodes: " + path + ": episode " + std::to_string(i) + ": " + e.what());
    }
  }
}

}  // namespace metacat
