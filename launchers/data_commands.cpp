#include "data_commands.h"

#include <filesystem>
#include <iostream>
#include <sstream>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "core/io.h"
#include "data/episode_file.h"
#include "data/h5.h"
#include "data/shard_store.h"
#include "datasets/csv_features.h"
#include "datasets/fashion_mnist.h"
#include "datasets/schema.h"
#include "datasets/synthetic_catalogue.h"
#include "datasets/synthetic_logs.h"
#include "episodes/classification_source.h"
#include "episodes/preference_source.h"

namespace metacat::cli {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int64_t> int_list(const std::string& s, const char* flag) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s)) {
    try {
      size_t pos;
      out.push_back(std::stoll(item, &pos));
      if (pos != item.size()) throw std::invalid_argument(item);
    } catch (...) {
      throw UserError(std::string(flag) + ": '" + item + "' is not an integer");
    }
  }
  return out;
}

std::vector<double> ratios_of(const std::string& s) {
  std::vector<double> r;
  for (const auto& item : split_list(s)) {
    try {
      r.push_back(std::stod(item));
    } catch (...) {
      throw UserError("--split-ratios: '" + item + "' is not a number");
    }
    if (r.back() < 0) throw UserError("--split-ratios: ratios must be >= 0");
  }
  if (r.size() != 3) throw UserError("--split-ratios: give three numbers: train,val,test");
  return r;
}

std::string mb(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

struct PackArgs {
  std::string source, out, input, schema, dtype = "float32", ratios = "0.7,0.1,0.2";
  std::string train, val, test;
  double shard_mb = 256, chunk_kb = 64;
  int64_t shards = 0, seed = 0;
  double new_items = 0;
  int compression = 4;
  bool force = false, quiet = false;
  SyntheticSpec syn;
};

struct GenerateArgs {
  std::string out;
  int64_t seed = 0;
  LogsSpec spec;
};

int run_pack(const PackArgs& a) {
  PackOptions o;
  o.out = a.out;
  o.shard_bytes = static_cast<int64_t>(a.shard_mb * (1 << 20));
  o.shards = a.shards;
  o.compression = a.compression;
  o.chunk_bytes = static_cast<int64_t>(a.chunk_kb * 1024);
  o.force = a.force;
  o.progress = !a.quiet;
  if (o.shard_bytes <= 0) throw UserError("--shard-mb must be positive");
  if (!a.schema.empty() && a.source != "csv") throw UserError("pack: --schema is for --source csv");
  const torch::ScalarType dtype = a.dtype == "float16" ? torch::kFloat16 : torch::kFloat32;
  PackSummary s;
  if (a.new_items > 0 && a.source != "csv")
    throw UserError("pack: --new-items is for --source csv with --schema");
  if (a.source == "fashion-mnist") {
    const std::string dir = a.input.empty() ? kFashionMnistDefaultPath : a.input;
    std::vector<std::vector<int64_t>> classes = {
        int_list(a.train.empty() ? "0,1,2,3,4,5" : a.train, "--train-categories"),
        int_list(a.val, "--val-categories"),
        int_list(a.test.empty() ? "6,7,8,9" : a.test, "--test-categories")};
    s = pack_fashion_mnist(dir, classes, o);
  } else if (a.source == "csv") {
    if (a.input.empty()) throw UserError("pack: --source csv needs --input FILE.csv");
    CsvSplit sp;
    sp.seed = a.seed;
    sp.new_items = a.new_items;
    if (a.new_items > 0 && a.schema.empty())
      throw UserError("pack: --new-items needs --schema with an item column");
    if (a.new_items >= 1)
      throw UserError("pack: --new-items " + std::to_string(a.new_items) +
                      " would leave every training task empty (a share below 1)");
    if (!a.train.empty() || !a.val.empty() || !a.test.empty())
      sp.names = {split_list(a.train), split_list(a.val), split_list(a.test)};
    else
      sp.ratios = ratios_of(a.ratios);
    if (!a.schema.empty()) {
      if (dtype != torch::kFloat32)
        throw UserError(
            "pack: --schema stores numeric columns as float32 (codes must stay exact); "
            "drop --dtype " +
            a.dtype);
      s = pack_csv_schema(a.input, load_schema(a.schema), sp, o);
    } else {
      s = pack_csv(a.input, sp, dtype, o);
    }
  } else if (a.source == "synthetic") {
    SyntheticSpec spec = a.syn;
    auto r = ratios_of(a.ratios);
    const double total = r[0] + r[1] + r[2];
    spec.val_fraction = r[1] / total;
    spec.test_fraction = r[2] / total;
    s = pack_synthetic(SyntheticCatalogue(spec, a.seed), dtype, o);
  } else {
    throw UserError("pack: unknown --source '" + a.source + "' (fashion-mnist, csv, synthetic)");
  }
  std::printf(
      "pack: %lld categories, %lld items, %lld shards in %s: %s raw, %s on disk, %.1fs "
      "(%.1f MB/s)\n",
      static_cast<long long>(s.categories), static_cast<long long>(s.items),
      static_cast<long long>(s.shards), a.out.c_str(), mb(s.raw_bytes).c_str(),
      mb(s.file_bytes).c_str(), s.seconds, s.raw_bytes / 1e6 / std::max(s.seconds, 1e-9));
  return 0;
}

void print_dataset(const std::string& dir) {
  Manifest m = read_manifest(dir);
  int64_t cats[4] = {0, 0, 0, 0}, items[4] = {0, 0, 0, 0}, bytes = 0;
  for (int64_t c = 0; c < m.num_categories(); ++c) {
    cats[static_cast<int>(m.split[c])]++;
    items[static_cast<int>(m.split[c])] += m.items[c];
  }
  for (int64_t b : m.shard_bytes) bytes += b;
  std::string shape;
  for (size_t i = 0; i < m.item_shape.size(); ++i)
    shape += (i ? "x" : "") + std::to_string(m.item_shape[i]);
  std::cout << dir << ": " << m.kind << " data, items " << shape << " " << m.dtype
            << (m.fields.empty() ? "" : " + " + std::to_string(m.code_width()) + " int32 codes")
            << "\n"
            << "  source: " << m.source << "\n";
  if (!m.fields.empty()) {  // the schema's layout: what each column of the model input is
    std::cout << "  fields:";
    for (const auto& f : m.fields) {
      std::cout << " " << f.name << " (" << to_string(f.role);
      if (f.role != InputField::Role::kNumeric)
        std::cout << (f.width > 1 ? " x" + std::to_string(f.width) : "") << ", "
                  << (f.table == f.name ? std::to_string(f.vocab) + " codes"
                                        : "codes of " + f.table);
      std::cout << ")";
    }
    std::cout << "\n";
  }
  const char* names[4] = {"train", "val", "test", "none"};
  for (int s = 0; s < 4; ++s)
    if (cats[s] || s < 3)
      std::cout << "  " << names[s] << ": " << cats[s] << " categories, " << items[s] << " items\n";
  std::cout << "  shards: " << m.num_shards() << ", " << mb(bytes) << " on disk, "
            << mb((items[0] + items[1] + items[2] + items[3]) * m.row_bytes()) << " raw\n";
  if (m.descriptors.defined())
    std::cout << "  descriptors: " << m.descriptors.size(1) << " per category\n";
}

int run_inspect(const std::string& given, bool verify) {
  if (!fs::exists(given)) throw UserError("inspect: '" + given + "' does not exist");
  // A dataset's manifest stands for its folder.
  const std::string path =
      fs::path(given).filename() == "manifest.h5" ? fs::path(given).parent_path().string() : given;
  if (fs::is_directory(path)) {
    print_dataset(path);
    if (!verify) return 0;
    auto problems = verify_dataset(path, false);
    if (problems.empty()) {
      std::cout << "verify: OK (every shard's xxh64 and size, every category's datasets)\n";
      return 0;
    }
    for (const auto& p : problems) std::cerr << "verify: " << p << "\n";
    std::cerr << "verify: " << problems.size() << " problem(s)\n";
    return 1;
  }
  h5::Handle f = h5::open_file(path);
  if (H5Aexists(f, "ways") > 0) {
    if (verify)
      throw UserError("inspect --verify: '" + path +
                      "' is an episode file, which carries no checksum to verify (datasets and "
                      "checkpoints do)");
    EpisodeFile e = read_episode_file(path);
    std::cout << path << ": " << e.plans.size() << " fixed " << e.kind << " episodes, split "
              << to_string(e.split) << ", " << e.spec.ways << "-way " << e.spec.shots << "-shot "
              << e.spec.queries << " queries, seed " << e.seed << ", data xxh64 "
              << hex64(e.data_checksum) << "\n";
  } else if (H5Aexists(f, "step") > 0) {
    std::cout << path << ": checkpoint at step " << h5::read_int_attr(f, "step", path)
              << ", learner " << h5::read_string_attr(f, "learner", path) << "\n";
    h5::Handle g = h5::open_group(f, "params", path);
    for (const auto& n : h5::list(g, path)) {
      h5::Handle ds = h5::open_dataset(g, n, path);
      std::string shape;
      for (int64_t d : h5::shape_of(ds, path, n))
        shape += (shape.empty() ? "" : "x") + std::to_string(d);
      std::cout << "  /params/" << n << " " << shape << "\n";
    }
    if (verify) {
      // Throws, naming the file, unless its content checksum matches.
      const Checkpoint ck = load_checkpoint(path);
      std::cout << "verify: OK (content xxh64 " << h5::read_string_attr(f, "content_xxh64", path)
                << "; parameters " << hex64(checksum(ck.params)) << ")\n";
    }
  } else {
    throw UserError("inspect: '" + path + "' is not a metacat dataset, checkpoint or episode file");
  }
  return 0;
}

struct EpisodesArgs {
  std::string data, split = "test", out;
  int64_t ways = 0, shots = 1, queries = 15, count = 600, seed = 20260101;
};

int run_episodes(const EpisodesArgs& a) {
  auto store = std::make_shared<ShardStore>(a.data);
  std::shared_ptr<TaskSource> src;
  if (store->manifest().kind == "classification") {
    if (a.ways < 2) throw UserError("episodes: classification data needs --ways >= 2");
    auto s = std::make_shared<ClassificationSource>(store, a.ways);
    s->set_data_checksum(store->manifest_checksum());
    src = s;
  } else {
    auto s = std::make_shared<PreferenceSource>(store);
    s->set_data_checksum(store->manifest_checksum());
    src = s;
  }
  EpisodeSpec spec{store->manifest().kind == "classification" ? a.ways : 0, a.shots, a.queries};
  EpisodeFile f = draw_episodes(*src, parse_split(a.split), spec, a.count, a.seed);
  write_episode_file(a.out, f);
  std::cout << "episodes: " << a.count << " " << a.split << " episodes written to " << a.out
            << "\n";
  return 0;
}

}  // namespace

std::vector<std::pair<CLI::App*, std::function<int()>>> add_data_commands(CLI::App& app) {
  std::vector<std::pair<CLI::App*, std::function<int()>>> cmds;

  auto* pack = app.add_subcommand("pack", "Pack a dataset into HDF5 shards with a manifest");
  auto pa = std::make_shared<PackArgs>();
  pack->add_option("--source", pa->source, "fashion-mnist | csv | synthetic")->required();
  pack->add_option("--out", pa->out, "Output folder (manifest.h5, shard-NNNNN.h5)")->required();
  pack->add_option(
      "--input", pa->input,
      "fashion-mnist: folder of the idx files (default /usr/share/datasets/fashion-mnist); "
      "csv: the CSV/TSV file (category,item_id,label,f1..fd)");
  pack->add_option("--schema", pa->schema,
                   "csv: a schema YAML giving each column a role (task, item, label, numeric, "
                   "categorical, multi, sequence, oracle, ignore); the file then needs a header. "
                   "See datasets/schema.h and README \"Tabular data with a schema\"");
  pack->add_option("--shard-mb", pa->shard_mb, "Target uncompressed MiB per shard (default 256)");
  pack->add_option("--shards", pa->shards, "Exact number of shards (overrides --shard-mb)");
  pack->add_option("--compression", pa->compression, "Deflate level 0-9 (default 4; 0 = none)");
  pack->add_option("--chunk-kb", pa->chunk_kb, "Target KiB per chunk of items (default 64)");
  pack->add_option("--dtype", pa->dtype, "csv, synthetic: float32 (default) or float16")
      ->check(CLI::IsMember({"float32", "float16"}));
  pack->add_option("--split-ratios", pa->ratios,
                   "csv, synthetic: train,val,test shares (default 0.7,0.1,0.2)");
  pack->add_option(
      "--train-categories", pa->train,
      "Explicit training categories: fashion-mnist class ids (default 0,1,2,3,4,5), csv names");
  pack->add_option("--val-categories", pa->val, "Explicit validation categories");
  pack->add_option("--test-categories", pa->test,
                   "Explicit test categories (fashion-mnist default 6,7,8,9)");
  pack->add_option("--seed", pa->seed, "csv: split shuffle seed; synthetic: catalogue seed");
  pack->add_option("--new-items", pa->new_items,
                   "csv with --schema: this share of the item values (by a seeded hash of the "
                   "value) is left out of the training tasks (their rows dropped, their "
                   "mentions in histories removed) and kept in the validation and test tasks: "
                   "new items (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  pack->add_option("--categories", pa->syn.categories,
                   "synthetic: number of categories (default 300)");
  pack->add_option("--departments", pa->syn.departments,
                   "synthetic: department prototypes (default 8)");
  pack->add_option("--feature-dim", pa->syn.feature_dim, "synthetic: item features (default 16)");
  pack->add_option("--descriptor-dim", pa->syn.descriptor_dim,
                   "synthetic: descriptor size (default 8)");
  pack->add_option("--min-items", pa->syn.min_items, "synthetic: smallest category (default 60)");
  pack->add_option("--max-items", pa->syn.max_items, "synthetic: largest category (default 600)");
  pack->add_option("--label-noise", pa->syn.label_noise,
                   "synthetic: click-model temperature, labels ~ Bernoulli(sigmoid(z / X)); "
                   "0 = deterministic labels [z > 0] (default 1)");
  pack->add_flag("--force", pa->force, "Replace a dataset already in --out");
  pack->add_flag("--quiet", pa->quiet, "No progress lines");
  cmds.emplace_back(pack, [pa] { return run_pack(*pa); });

  auto* inspect =
      app.add_subcommand("inspect", "Summarise a dataset folder, checkpoint or episode file");
  auto path = std::make_shared<std::string>();
  auto verify = std::make_shared<bool>(false);
  inspect->add_option("path", *path, "Dataset folder or HDF5 file")->required();
  inspect->add_flag(
      "--verify", *verify,
      "Dataset folder (or its manifest.h5): re-hash every shard and check every category "
      "against the manifest; checkpoint: check its content checksum and print it with a "
      "checksum of the parameters alone (exit 1 on problems, 4 on an unreadable file)");
  cmds.emplace_back(inspect, [path, verify] { return run_inspect(*path, *verify); });

  auto* episodes =
      app.add_subcommand("episodes", "Pre-draw fixed evaluation episodes into an HDF5 file");
  auto ea = std::make_shared<EpisodesArgs>();
  episodes->add_option("--data", ea->data, "Packed dataset folder")->required();
  episodes->add_option("--split", ea->split, "train | val | test (default test)")
      ->check(CLI::IsMember({"train", "val", "test"}));
  episodes->add_option("--ways", ea->ways, "Classes per episode (classification data)");
  episodes->add_option("--shots", ea->shots,
                       "Support items per class (per category for preference)");
  episodes->add_option("--queries", ea->queries,
                       "Query items per class (per category for preference)");
  episodes->add_option("--count", ea->count, "Number of episodes (default 600)");
  episodes->add_option("--seed", ea->seed, "Seed (default 20260101, the default eval.seed)");
  episodes->add_option("--out", ea->out, "Output file")->required();
  cmds.emplace_back(episodes, [ea] { return run_episodes(*ea); });

  auto* gen = app.add_subcommand(
      "generate",
      "Write a synthetic shop's interaction log (log.csv) with its schemas (schema-user.yaml: a "
      "task per user; schema-category.yaml: a task per category), for pack --schema");
  auto ga = std::make_shared<GenerateArgs>();
  gen->add_option("--out", ga->out, "Output folder")->required();
  gen->add_option("--seed", ga->seed, "Seed (default 0)");
  gen->add_option("--users", ga->spec.users, "Users (default 2000)");
  gen->add_option("--categories", ga->spec.categories, "Categories (default 60)");
  gen->add_option("--departments", ga->spec.departments, "Departments (default 6)");
  gen->add_option("--brands", ga->spec.brands, "Brands (default 40)");
  gen->add_option("--shops", ga->spec.shops, "Shops (default 30)");
  gen->add_option("--tags", ga->spec.tags, "Tags (default 24)");
  gen->add_option("--latent-dim", ga->spec.latent_dim, "Latent dimension (default 8)");
  gen->add_option("--min-items", ga->spec.min_items, "Smallest category (default 20)");
  gen->add_option("--max-items", ga->spec.max_items, "Largest category (default 400)");
  gen->add_option("--min-impressions", ga->spec.min_impressions,
                  "Fewest impressions per user (default 20)");
  gen->add_option("--max-impressions", ga->spec.max_impressions,
                  "Most impressions per user (default 200)");
  gen->add_option("--brand-in-category", ga->spec.brand_in_category,
                  "Scale of a brand's own direction within each category, shared by its items "
                  "there (default 0: none; datasets/synthetic_logs.h)");
  gen->add_option("--category-spread", ga->spec.category_spread,
                  "Scale of a category's own part of its direction, next to its department's "
                  "(default 0.5)");
  gen->add_option("--taste-spread", ga->spec.taste_spread,
                  "Scale of a user's own part of its taste, next to its departments' (default "
                  "0.5; larger: a new user's labels tell more than its segment)");
  gen->add_option("--exposure-focus", ga->spec.exposure_focus,
                  "Chance that an impression is drawn from the user's departments' categories, "
                  "else uniformly from all (default 0.8; 0: what a user is shown says nothing "
                  "of its departments)");
  gen->add_flag("--latents", ga->spec.latents,
                "Also write the latent draws behind the true score z (latents-users.csv, "
                "latents-items.csv, latents-categories.csv, latents-departments.csv, "
                "latents-spec.csv): for "
                "diagnostics such as an ideal learner's AUC (bench/catalogue_bound.py); without "
                "it, latents files an earlier run left in --out are removed");
  cmds.emplace_back(gen, [ga] {
    const LogsSummary s = write_synthetic_logs(ga->spec, ga->seed, ga->out);
    std::printf(
        "generate: %lld rows (click rate %.3f), %lld users, %lld items in %lld categories -> "
        "%s/log.csv, schema-user.yaml, schema-category.yaml%s\n",
        static_cast<long long>(s.rows), s.click_rate, static_cast<long long>(s.users),
        static_cast<long long>(s.items), static_cast<long long>(s.categories), ga->out.c_str(),
        ga->spec.latents ? ", latents-*.csv" : "");
    return 0;
  });
  return cmds;
}

}  // namespace metacat::cli
