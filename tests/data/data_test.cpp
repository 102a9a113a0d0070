#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "data/episode_file.h"
#include "data/h5.h"
#include "data/pack.h"
#include "data/prefetch.h"
#include "data/shard_store.h"
#include "datasets/csv_features.h"
#include "datasets/synthetic_catalogue.h"
#include "episodes/evaluation.h"
#include "episodes/preference_source.h"
#include "test_util.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("data", name); }

SyntheticSpec small_spec() {
  SyntheticSpec s;
  s.categories = 40;
  s.feature_dim = 6;
  s.descriptor_dim = 3;
  s.min_items = 20;
  s.max_items = 300;
  return s;
}

// The manifest of the catalogue's first n categories (float32 items of 6
// features), each in its own split or all in `split`.
Manifest catalogue_manifest(const SyntheticCatalogue& cat, int64_t n,
                            std::optional<Split> split = std::nullopt) {
  Manifest m;
  m.kind = "preference";
  m.dtype = "float32";
  m.item_shape = {6};
  for (int64_t i = 0; i < n; ++i) {
    m.names.push_back(cat.name(i));
    m.split.push_back(split ? *split : cat.split(i));
    m.items.push_back(cat.size(i));
  }
  return m;
}

PackSummary pack_small(const std::string& dir, int64_t shards = 4, int compression = 4) {
  PackOptions o;
  o.out = dir;
  o.shards = shards;
  o.compression = compression;
  o.chunk_bytes = 1024;  // several chunks per category
  o.progress = false;
  return pack_synthetic(SyntheticCatalogue(small_spec(), 5), torch::kFloat32, o);
}

std::string run(const std::string& cmd) { return test::shell(cmd).output; }

std::string user_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

}  // namespace

TEST(Pack, ManifestShardsAndBalance) {
  const std::string dir = fresh_dir("pack");
  PackSummary s = pack_small(dir);
  SyntheticCatalogue cat(small_spec(), 5);
  Manifest m = read_manifest(dir);
  ASSERT_EQ(m.num_categories(), 40);
  EXPECT_EQ(m.num_shards(), 4);
  EXPECT_EQ(m.kind, "preference");
  EXPECT_EQ(m.item_shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(m.descriptors.sizes().vec(), (std::vector<int64_t>{40, 3}));
  EXPECT_TRUE(torch::allclose(m.descriptors[7], cat.descriptor(7)));
  std::vector<int64_t> shard_raw(4, 0);
  int64_t largest = 0;
  for (int64_t c = 0; c < 40; ++c) {
    EXPECT_EQ(m.items[c], cat.size(c));
    EXPECT_EQ(m.split[c], cat.split(c));
    shard_raw[m.shard[c]] += m.items[c] * m.row_bytes();
    largest = std::max(largest, m.items[c] * m.row_bytes());
    if (c > 0) EXPECT_GE(m.shard[c], m.shard[c - 1]);  // contiguous runs
  }
  // Balanced by bytes: each shard within one category of the even share.
  for (int64_t b : shard_raw) EXPECT_LE(std::abs(b - s.raw_bytes / 4), largest) << b;
  // Each category lives in exactly one shard.
  for (int64_t sh = 0; sh < 4; ++sh) {
    h5::Handle f = h5::open_file(dir + "/" + shard_name(sh));
    h5::Handle g = h5::open_group(f, "categories", "shard");
    for (const auto& name : h5::list(g, "shard")) EXPECT_EQ(m.shard[std::stoll(name)], sh);
  }
  EXPECT_TRUE(verify_dataset(dir, false).empty());
  // No temporary files remain.
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().extension(), ".h5");
  // Packing over an existing dataset needs --force.
  EXPECT_NE(user_error([&] { pack_small(dir); }).find("--force"), std::string::npos);
}

TEST(Pack, ReadableByH5pyWithTheSourceValues) {
  const std::string dir = fresh_dir("h5py");
  pack_small(dir);
  Manifest m = read_manifest(dir);
  const int64_t c = 13;
  SyntheticCategory g = SyntheticCatalogue(small_spec(), 5).generate(c);
  const std::string script = dir + "/read.py";
  std::ofstream(script)
      << "import h5py, sys\n"
      << "f = h5py.File(sys.argv[1], 'r')\n"
      << "d = f['categories/%08d' % int(sys.argv[2])]\n"
      << "print(d['items'].shape[0], repr(float(d['items'][3, 2])), repr(float(d['labels'][5])))\n";
  // h5py: scripts/setup installs it beside torch.
  std::string out = run(std::string(METACAT_PYTHON) + " " + script + " " + dir + "/" +
                        shard_name(m.shard[c]) + " " + std::to_string(c));
  std::istringstream in(out);
  int64_t rows;
  double v, label;
  ASSERT_TRUE(in >> rows >> v >> label) << out;
  EXPECT_EQ(rows, g.items.size(0));
  EXPECT_EQ(v, g.items[3][2].item<double>());
  EXPECT_EQ(label, g.labels[5].item<double>());
}

// label_noise 1 (the default) is the catalogue as it was before label_noise
// existed: the recorded labels, and the click model recomputed from the
// item stream; 0 gives y = [z > 0] on the same items.
TEST(Synthetic, LabelNoiseDefaultReproducesTheOriginalLabels) {
  // Recorded from the generator before label_noise and the oracle were added
  // (small_spec(), seed 5): positives per category, category 13's first labels.
  const std::vector<int64_t> positives = {15, 21, 18, 34, 21, 14,  9,  15, 55, 30, 14, 39, 59, 18,
                                          10, 76, 15, 14, 27, 184, 36, 20, 18, 10, 15, 15, 14, 39,
                                          90, 11, 14, 30, 27, 117, 24, 14, 18, 21, 9,  50};
  SyntheticCatalogue cat(small_spec(), 5);
  for (int64_t c = 0; c < 40; ++c)
    EXPECT_EQ(cat.generate(c).labels.sum().item<int64_t>(), positives[c]) << "category " << c;
  std::string first;
  const torch::Tensor l13 = cat.generate(13).labels;
  ASSERT_EQ(l13.size(0), 33);
  for (int64_t j = 0; j < 32; ++j) first += l13[j].item<float>() > 0 ? '1' : '0';
  EXPECT_EQ(first, "01111111100110101000001010101101");

  // Recomputed: item j is f normals of the category's item stream (stream
  // id 6 of the data seed), then one uniform u; y = [u < sigmoid(z)].
  int64_t checked = 0, total = 0;
  for (int64_t c = 0; c < 40; ++c) {
    SyntheticCategory g = cat.generate(c);
    Rng r(5, 6, static_cast<uint64_t>(c), Stream::kData);
    auto x = g.items.accessor<float, 2>();
    total += g.items.size(0);
    for (int64_t j = 0; j < g.items.size(0); ++j) {
      for (int64_t k = 0; k < 6; ++k) ASSERT_EQ(x[j][k], static_cast<float>(r.normal()));
      const double u = r.uniform();
      const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(g.oracle[j].item<float>())));
      if (std::abs(u - p) < 1e-5) continue;  // the oracle is z rounded to float32
      EXPECT_EQ(g.labels[j].item<float>(), u < p ? 1.0f : 0.0f) << c << "/" << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, total * 99 / 100);

  SyntheticSpec one = small_spec(), zero = small_spec(), hot = small_spec();
  one.label_noise = 1.0;
  zero.label_noise = 0.0;
  hot.label_noise = 4.0;
  SyntheticCatalogue c1(one, 5), c0(zero, 5), c4(hot, 5);
  int64_t agree_hot = 0, agree_default = 0, items = 0;
  for (int64_t c = 0; c < 40; ++c) {
    SyntheticCategory d = cat.generate(c), g1 = c1.generate(c), g0 = c0.generate(c),
                      g4 = c4.generate(c);
    EXPECT_TRUE(torch::equal(g1.labels, d.labels));
    for (const SyntheticCategory* g : {&g1, &g0, &g4}) {
      EXPECT_TRUE(torch::equal(g->items, d.items));  // items do not depend on the noise
      EXPECT_TRUE(torch::equal(g->oracle, d.oracle));
    }
    EXPECT_EQ(d.oracle.sizes().vec(), (std::vector<int64_t>{d.items.size(0)}));
    EXPECT_TRUE(torch::equal(g0.labels, d.oracle.gt(0).to(torch::kFloat32))) << c;
    const torch::Tensor bayes = d.oracle.gt(0).to(torch::kFloat32);
    agree_default += d.labels.eq(bayes).sum().item<int64_t>();
    agree_hot += g4.labels.eq(bayes).sum().item<int64_t>();
    items += d.items.size(0);
  }
  // More noise: labels agree less often with the noiseless ones.
  EXPECT_LT(agree_hot, agree_default);
  EXPECT_GT(agree_hot, items / 2);
  SyntheticSpec bad = small_spec();
  bad.label_noise = -1;
  EXPECT_NE(user_error([&] { SyntheticCatalogue(bad, 5); }).find("label_noise"), std::string::npos);
}

// A synthetic pack carries each item's true score as the dataset `oracle`;
// the reader returns it with the rows, and episodes from the shards carry
// the same scores as episodes from the in-memory catalogue.
TEST(Pack, ShardsCarryTheOracleScoresOfTheInMemoryCatalogue) {
  const std::string dir = fresh_dir("oracle");
  pack_small(dir);
  EXPECT_TRUE(verify_dataset(dir, false).empty());
  SyntheticCatalogue cat(small_spec(), 5);
  auto shards = std::make_shared<ShardStore>(dir);
  EXPECT_EQ(shards->stats().shards_opened, 0);
  EXPECT_TRUE(shards->has_oracle());
  for (int64_t c : {0, 13, 39}) {
    const torch::Tensor z = cat.generate(c).oracle;
    EXPECT_TRUE(torch::equal(shards->read_category(c).oracle, z)) << c;
    const std::vector<int64_t> rows{5, 1, 1, 17};
    EXPECT_TRUE(
        torch::equal(shards->gather(c, rows).oracle, z.index_select(0, torch::tensor(rows))));
    ShardStore direct(dir, ReaderOptions{0});  // rows read directly, not cached
    EXPECT_TRUE(
        torch::equal(direct.gather(c, rows).oracle, z.index_select(0, torch::tensor(rows))));
    EXPECT_EQ(direct.stats().direct_reads, 1);
  }
  auto memory = cat.to_store();
  EXPECT_TRUE(memory->has_oracle());
  PreferenceSource from_shards(shards), in_memory(memory);
  EXPECT_TRUE(from_shards.has_oracle());
  EXPECT_TRUE(in_memory.has_oracle());
  const EpisodeSpec spec{0, 5, 10};
  for (int64_t i = 0; i < 20; ++i) {
    Episode a = eval_episode(from_shards, Split::kTest, spec, 77, i),
            b = eval_episode(in_memory, Split::kTest, spec, 77, i);
    ASSERT_TRUE(a.query_oracle.defined() && b.query_oracle.defined());
    EXPECT_EQ(a.query_oracle.sizes().vec(), (std::vector<int64_t>{10}));
    EXPECT_TRUE(torch::equal(a.query_oracle, b.query_oracle)) << i;
    EXPECT_TRUE(torch::equal(a.query_x, b.query_x));
    EXPECT_TRUE(torch::equal(a.query_y, b.query_y));
  }
  // Fixed episode files replay them too.
  EpisodeFile f = draw_episodes(from_shards, Split::kTest, spec, 3, 77);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(from_shards.materialize(f.plans[i], f.spec).query_oracle,
                             eval_episode(in_memory, Split::kTest, spec, 77, i).query_oracle));
}

// Shards written without `oracle` (older packs, CSV, Fashion-MNIST) load and
// verify as before; their rows and episodes have no oracle scores.
TEST(Pack, ShardsWithoutOracleStillLoad) {
  const std::string dir = fresh_dir("no-oracle");
  SyntheticCatalogue cat(small_spec(), 5);
  Manifest m = catalogue_manifest(cat, 40);
  PackOptions o;
  o.out = dir;
  o.shards = 3;
  o.progress = false;
  pack(
      m,
      [&](int64_t c) -> CategoryRows {
        SyntheticCategory g = cat.generate(c);
        return {g.items, g.labels, torch::zeros({g.items.size(0)}, torch::kInt64)};
      },
      o);
  EXPECT_TRUE(verify_dataset(dir, false).empty());
  auto store = std::make_shared<ShardStore>(dir);
  EXPECT_FALSE(store->has_oracle());
  Rows r = store->gather(13, {0, 4});
  EXPECT_FALSE(r.oracle.defined());
  EXPECT_TRUE(
      torch::equal(r.labels, cat.generate(13).labels.index_select(0, torch::tensor({0, 4}))));
  PreferenceSource src(store);
  EXPECT_FALSE(src.has_oracle());
  EXPECT_FALSE(eval_episode(src, Split::kTest, {0, 5, 10}, 77, 0).query_oracle.defined());
}

TEST(Reader, GathersSourceRowsCachedAndDirectWithinBudget) {
  const std::string dir = fresh_dir("reader");
  pack_small(dir);
  SyntheticCatalogue cat(small_spec(), 5);
  const int64_t budget = 40 << 10;  // a handful of categories
  ShardStore store(dir, ReaderOptions{budget});
  std::vector<int64_t> rows{5, 1, 1, 17};
  for (int64_t c : {0, 1, 2, 0, 39, 20}) {
    SyntheticCategory g = cat.generate(c);
    Rows r = store.gather(c, rows);
    EXPECT_TRUE(torch::equal(r.items, g.items.index_select(0, torch::tensor(rows))));
    EXPECT_TRUE(torch::equal(r.labels, g.labels.index_select(0, torch::tensor(rows))));
  }
  ReaderStats st = store.stats();
  EXPECT_GE(st.hits, 1);
  EXPECT_LE(st.peak_cached_bytes, budget);
  // A store whose budget caches nothing reads rows directly.
  ShardStore direct(dir, ReaderOptions{0});
  Rows r = direct.gather(3, rows);
  EXPECT_TRUE(torch::equal(r.items, cat.generate(3).items.index_select(0, torch::tensor(rows))));
  EXPECT_EQ(direct.stats().direct_reads, 1);
  EXPECT_EQ(direct.stats().cached_bytes, 0);
}

TEST(Reader, OpensOnlyTheShardsOfTheCategoriesItReads) {
  const std::string dir = fresh_dir("lazy");
  pack_small(dir);
  ShardStore store(dir);
  EXPECT_EQ(store.stats().shards_opened, 0);
  const Manifest& m = store.manifest();
  store.gather(0, {0});
  store.gather(1, {0});
  EXPECT_EQ(store.stats().shards_opened, 1);
  store.gather(39, {0});
  EXPECT_EQ(store.stats().shards_opened, m.shard[39] == m.shard[0] ? 1 : 2);
  // Another shard disappearing does not matter to a rank that never reads it.
  fs::remove(dir + "/" + shard_name(2));
  store.gather(0, {1});
}

TEST(BadData, MissingTruncatedCorruptAndDisagreeingShards) {
  const std::string dir = fresh_dir("bad");
  pack_small(dir, 4, 0);  // uncompressed, so a flipped byte lands in raw data
  Manifest m = read_manifest(dir);
  const int64_t c = 0;
  const std::string shard0 = dir + "/" + shard_name(0);

  // Missing manifest (a pack that never finished).
  EXPECT_NE(user_error([&] { ShardStore(fresh_dir("nothing")); }).find("no manifest"),
            std::string::npos);

  // Corrupt a byte inside category 0's first items chunk; the file keeps its size.
  haddr_t offset = 0;
  {
    h5::Handle f = h5::open_file(shard0);
    h5::Handle ds = h5::open_dataset(f, category_group(c) + "/items", shard0);
    hsize_t coords[2] = {0, 0};
    unsigned mask;
    hsize_t size;
    ASSERT_GE(H5Dget_chunk_info_by_coord(ds, coords, &mask, &offset, &size), 0);
  }
  const std::string backup = dir + "/backup";
  fs::copy_file(shard0, backup);
  {
    std::fstream f(shard0, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset + 10);
    char b;
    f.read(&b, 1);
    b ^= 0x5A;
    f.seekp(offset + 10);
    f.write(&b, 1);
  }
  auto problems = verify_dataset(dir, false);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("xxh64"), std::string::npos) << problems[0];
  std::string e = user_error([&] { ShardStore(dir).gather(c, {0, 1}); });
  EXPECT_NE(e.find(shard0), std::string::npos) << e;
  EXPECT_NE(e.find("/items"), std::string::npos) << e;
  EXPECT_NE(e.find("corrupt"), std::string::npos) << e;

  // Truncated.
  fs::copy_file(backup, shard0, fs::copy_options::overwrite_existing);
  fs::resize_file(shard0, fs::file_size(shard0) / 2);
  e = user_error([&] { ShardStore(dir).gather(c, {0}); });
  EXPECT_NE(e.find(shard0), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  // Missing.
  fs::remove(shard0);
  e = user_error([&] { ShardStore(dir).gather(c, {0}); });
  EXPECT_NE(e.find("missing shard"), std::string::npos) << e;
  fs::copy_file(backup, shard0);

  // Manifest and shard disagree: the manifest claims another item count.
  Manifest wrong = m;
  wrong.items[c] += 3;
  write_manifest(dir, wrong);
  e = user_error([&] { ShardStore(dir).gather(c, {0}); });
  EXPECT_NE(e.find("category 0 (cat-000000)"), std::string::npos) << e;
  EXPECT_NE(e.find("/items"), std::string::npos) << e;
  EXPECT_NE(e.find("the manifest says"), std::string::npos) << e;

  // Wrong dtype.
  wrong = m;
  wrong.dtype = "float16";
  write_manifest(dir, wrong);
  e = user_error([&] { ShardStore(dir).gather(c, {0}); });
  EXPECT_NE(e.find("dtype float16"), std::string::npos) << e;

  // An empty category: no episode can come from it.
  wrong = m;
  wrong.items[c] = 0;
  write_manifest(dir, wrong);
  e = user_error([&] { ShardStore{dir}; });
  EXPECT_NE(e.find("category cat-000000 has 0 items"), std::string::npos) << e;

  // Category too small for the episode spec.
  write_manifest(dir, m);
  PreferenceSource src(std::make_shared<ShardStore>(dir));
  e = user_error([&] { src.check(Split::kTrain, {0, 200, 200}); });
  EXPECT_NE(e.find("fewer than shots + queries = 400"), std::string::npos) << e;
}

TEST(BadData, InterruptedPackLeavesNoManifest) {
  const std::string dir = fresh_dir("interrupted");
  SyntheticCatalogue cat(small_spec(), 5);
  Manifest m = catalogue_manifest(cat, 40);
  PackOptions o;
  o.out = dir;
  o.shards = 4;
  o.progress = false;
  // The catalogue's categories; category fail_at fails, as a full disk would.
  auto produce = [&cat](int64_t fail_at) {
    return [&cat, fail_at](int64_t c) -> CategoryRows {
      if (c == fail_at) throw std::runtime_error("disk full");
      SyntheticCategory g = cat.generate(c);
      return {g.items, g.labels, torch::zeros({g.items.size(0)}, torch::kInt64)};
    };
  };
  EXPECT_THROW(pack(m, produce(25), o), std::runtime_error);
  EXPECT_FALSE(fs::exists(manifest_path(dir)));
  EXPECT_NE(user_error([&] { ShardStore s(dir); }).find("no manifest"), std::string::npos);

  // Replacing a dataset (--force) with a pack that fails leaves the old one
  // whole, and no staging folder behind.
  o.shards = 1;
  pack(m, produce(-1), o);
  const Manifest before = read_manifest(dir);
  o.force = true;
  o.shards = 4;
  EXPECT_THROW(pack(m, produce(25), o), std::runtime_error);
  EXPECT_EQ(read_manifest(dir).num_shards(), 1);
  EXPECT_EQ(read_manifest(dir).shard_xxh64, before.shard_xxh64);
  EXPECT_TRUE(verify_dataset(dir, false).empty());
  for (const auto& e : fs::directory_iterator(dir))  // the staging folder is gone
    EXPECT_EQ(e.path().filename().string().find(".packing-"), std::string::npos) << e.path();
}

// A shard that carries nan/inf items or preference labels other than 0/1
// (written by another tool: pack() itself stores what it is given) is
// refused when read, naming dataset and row, whole or by rows.
TEST(BadData, NonFiniteItemsAndForeignLabelsInAShardAreRefused) {
  const std::string dir = fresh_dir("bad-values");
  SyntheticCatalogue cat(small_spec(), 5);
  Manifest m = catalogue_manifest(cat, 3, Split::kTrain);
  PackOptions o;
  o.out = dir;
  o.progress = false;
  pack(
      m,
      [&](int64_t c) -> CategoryRows {
        SyntheticCategory g = cat.generate(c);
        if (c == 1) g.items[4][2] = std::nanf("");
        if (c == 2) g.labels[7] = 2.0f;
        return {g.items, g.labels, torch::zeros({g.items.size(0)}, torch::kInt64)};
      },
      o);
  ShardStore store(dir);
  EXPECT_NO_THROW(store.read_category(0));
  std::string e = user_error([&] { store.read_category(1); });
  EXPECT_NE(e.find("/categories/00000001/items of category 1"), std::string::npos) << e;
  EXPECT_NE(e.find("row 4 holds nan or inf"), std::string::npos) << e;
  e = user_error([&] { ShardStore(dir).gather(1, {0, 4}); });
  EXPECT_NE(e.find("row 4 holds nan or inf"), std::string::npos) << e;
  // No cache: only the rows asked for are read, in their order.
  e = user_error([&] { ShardStore(dir, ReaderOptions{0}).gather(1, {5, 4, 0}); });
  EXPECT_NE(e.find("row 4 holds nan or inf"), std::string::npos) << e;
  EXPECT_NO_THROW(ShardStore(dir, ReaderOptions{0}).gather(1, {5, 0}));
  e = user_error([&] { store.read_category(2); });
  EXPECT_NE(e.find("/labels of category 2"), std::string::npos) << e;
  EXPECT_NE(e.find("row 7 is not 0 or 1"), std::string::npos) << e;
}

TEST(Prefetcher, SameOrderAsInlineAndPropagatesErrors) {
  auto make = [](int64_t i) {
    Episode e;
    e.source = i * 7;
    return e;
  };
  for (int workers : {1, 2, 3}) {
    Prefetcher p(make, 0, 200, workers, 5);
    for (int64_t i = 0; i < 200; ++i) ASSERT_EQ(p.next().source, i * 7);
  }
  Prefetcher bad(
      [](int64_t i) -> Episode {
        if (i == 3) throw UserError("shard-00003.h5 is corrupt");
        return Episode{};
      },
      0, 10, 2, 4);
  bad.next();
  bad.next();
  bad.next();
  EXPECT_THROW(bad.next(), UserError);
  // Destroying a prefetcher with work pending returns promptly.
  {
    Prefetcher early(make, 0, 1000000, 2, 8);
    early.next();
  }
}

TEST(EpisodeFile, ReplaysTheSeededEpisodesAndRefusesOtherData) {
  const std::string dir = fresh_dir("episodes");
  pack_small(dir);
  auto store = std::make_shared<ShardStore>(dir);
  PreferenceSource src(store);
  src.set_data_checksum(store->manifest_checksum());
  EpisodeSpec spec{0, 5, 10};
  EpisodeFile f = draw_episodes(src, Split::kTest, spec, 30, 77);
  const std::string path = dir + "/eps.h5";
  write_episode_file(path, f);
  EpisodeFile back = read_episode_file(path);
  ASSERT_EQ(back.plans.size(), 30u);
  check_episode_file(back, src, path);
  for (int64_t i = 0; i < 30; ++i) {
    Episode a = src.materialize(back.plans[i], back.spec);
    Episode b = eval_episode(src, Split::kTest, spec, 77, i);
    EXPECT_TRUE(torch::equal(a.support_x, b.support_x));
    EXPECT_TRUE(torch::equal(a.query_y, b.query_y));
  }
  // Other data (another manifest) is refused by checksum.
  const std::string other = fresh_dir("episodes-other");
  PackOptions o;
  o.out = other;
  o.progress = false;
  SyntheticSpec s2 = small_spec();
  s2.feature_dim = 5;
  pack_synthetic(SyntheticCatalogue(s2, 6), torch::kFloat32, o);
  auto store2 = std::make_shared<ShardStore>(other);
  PreferenceSource src2(store2);
  src2.set_data_checksum(store2->manifest_checksum());
  EXPECT_NE(user_error([&] { check_episode_file(back, src2, path); }).find("other data"),
            std::string::npos);
}

TEST(Csv, PacksCategoriesAndNamesBadLines) {
  const std::string dir = fresh_dir("csv");
  fs::create_directories(dir);
  const std::string csv = dir + "/in.csv";
  {
    std::ofstream out(csv);
    out << "category,item_id,label,f1,f2\n";
    for (int i = 0; i < 30; ++i) out << "shoes," << i << "," << (i % 2) << "," << i << ".5,1\n";
    for (int i = 0; i < 20; ++i)
      out << "bags," << 100 + i << "," << (i % 3 == 0) << ",2," << -i << "\n";
    out << "shoes,99,1,7,8\n";
  }
  PackOptions o;
  o.out = dir + "/packed";
  o.progress = false;
  CsvSplit sp;
  sp.names = {{"shoes"}, {}, {"bags"}};
  pack_csv(csv, sp, torch::kFloat32, o);
  ShardStore store(o.out);
  ASSERT_EQ(store.num_categories(), 2);
  EXPECT_EQ(store.info(0).name, "shoes");
  EXPECT_EQ(store.info(0).items, 31);
  EXPECT_EQ(store.info(1).split, Split::kTest);
  Rows r = store.gather(0, {3, 30});
  EXPECT_FLOAT_EQ(r.items[0][0].item<float>(), 3.5f);
  EXPECT_FLOAT_EQ(r.items[1][1].item<float>(), 8.0f);
  EXPECT_FLOAT_EQ(r.labels[1].item<float>(), 1.0f);
  std::ofstream(csv, std::ios::app) << "bags,5,2,1,1\n";
  o.force = true;
  std::string e = user_error([&] { pack_csv(csv, sp, torch::kFloat32, o); });
  EXPECT_NE(e.find(csv + ":53"), std::string::npos) << e;
  EXPECT_NE(e.find("not 0 or 1"), std::string::npos) << e;
}

// Rows that would pack silently into data that trains to nan, or into
// categories with two items of one id, are refused with their line.
TEST(Csv, RefusesNonFiniteValuesAndRepeatedItemIds) {
  const std::string dir = fresh_dir("csv-bad");
  fs::create_directories(dir);
  const std::string csv = dir + "/in.csv";
  CsvSplit sp;
  sp.names = {{"shoes"}, {}, {"bags"}};
  PackOptions o;
  o.out = dir + "/packed";
  o.progress = false;
  o.force = true;
  auto pack_with = [&](const std::string& last, torch::ScalarType dtype = torch::kFloat32) {
    {
      std::ofstream out(csv);
      out << "category,item_id,label,f1,f2\n";
      for (int i = 0; i < 10; ++i) out << "shoes," << i << "," << (i % 2) << ",1,2\n";
      for (int i = 0; i < 10; ++i) out << "bags," << i << "," << (i % 2) << ",3,4\n";
      out << last << "\n";  // line 22
    }
    return user_error([&] { pack_csv(csv, sp, dtype, o); });
  };
  EXPECT_EQ(pack_with("bags,10,1,5,6"),
            "(no UserError)");  // the same ids in another category are fine
  for (const std::string bad : {"nan", "inf", "-inf", "1e39"}) {
    const std::string e = pack_with("bags,10,1,5," + bad);
    EXPECT_NE(e.find(csv + ":22: feature 2 '" + bad + "'"), std::string::npos) << e;
  }
  EXPECT_NE(pack_with("bags,10,1,5,1e39").find("beyond the range of float32"), std::string::npos);
  EXPECT_NE(pack_with("bags,10,1,5,nan").find("not a finite number"), std::string::npos);
  const std::string half = pack_with("bags,10,1,5,70000", torch::kFloat16);
  EXPECT_NE(half.find("beyond the range of float16"), std::string::npos) << half;
  EXPECT_EQ(pack_with("bags,10,1,5,70000", torch::kFloat32), "(no UserError)");
  std::string e = pack_with("bags,3,1,5,6");
  EXPECT_NE(e.find(csv + ":22: item_id 3 appears twice in category 'bags' (first at line 15)"),
            std::string::npos)
      << e;
  EXPECT_EQ(pack_with("bags,9007199254740993,1,5,6"), "(no UserError)");  // a 64-bit hash id
  for (const std::string id : {"inf", "nan", "1e300", "2.5"}) {
    e = pack_with("bags," + id + ",1,5,6");
    EXPECT_NE(e.find("item_id '" + id + "' is not an integer"), std::string::npos) << e;
  }
}
