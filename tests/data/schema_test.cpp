// Tabular data with a declared schema: pack, vocabularies, codes in the
// shards, the layout in the manifest, and every schema violation named.
#include "datasets/schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "data/shard_store.h"
#include "learners/metaemb.h"
#include "test_util.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {

const char* kSchema = R"(columns:
  user:    {role: task}
  item:    {role: item}
  click:   {role: label}
  price:   {role: numeric}
  brand:   {role: categorical, min_count: 2}
  shop:    {role: categorical, hash_buckets: 7}
  tags:    {role: multi, separator: "|", max_len: 2}
  history: {role: sequence, separator: " ", max_len: 3, vocabulary: item}
  z:       {role: oracle}
  ts:      {role: ignore}
)";

// u1 and u2 are the tasks; brand b1 appears 3 times, b2 twice, b3 once (so
// b3 falls under min_count 2: out of vocabulary).
const char* kCsv =
    "user,item,click,price,brand,shop,tags,history,z,ts\n"
    "u1,i1,1,9.5,b1,s1,red|big|new,i2 i3 i4 i5,0.5,100\n"
    "u1,i2,0,3.0,b2,s2,,i1,-0.5,101\n"
    "u2,i1,0,9.5,b1,s1,red,,0.25,102\n"
    "u2,i3,1,1.0,b3,s3,big,i1 i2,1.5,103\n"
    "u1,i6,1,2.0,b1,,new,i3,0.0,104\n"
    "u2,i2,1,3.0,b2,s2,red|new,i9,2.0,105\n";

struct Files {
  std::string dir, csv, schema, out;
};

Files write(const std::string& name, const std::string& csv, const std::string& schema = kSchema) {
  Files f;
  f.dir = test::fresh_dir("schema", name);
  fs::create_directories(f.dir);
  f.csv = f.dir + "/log.csv";
  f.schema = f.dir + "/schema.yaml";
  f.out = f.dir + "/packed";
  std::ofstream(f.csv) << csv;
  std::ofstream(f.schema) << schema;
  return f;
}

PackSummary pack_files(const Files& f) {
  CsvSplit sp;
  sp.names = {{"u1"}, {}, {"u2"}};
  PackOptions o;
  o.out = f.out;
  o.progress = false;
  return pack_csv_schema(f.csv, load_schema(f.schema), sp, o);
}

// The UserError message of fn, or "" when it does not throw one.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Schema, PacksCodesVocabulariesAndTheLayout) {
  const Files f = write("pack", kCsv);
  const PackSummary s = pack_files(f);
  EXPECT_EQ(s.categories, 2);
  EXPECT_EQ(s.items, 6);
  ShardStore store(f.out);
  const Manifest& m = store.manifest();
  EXPECT_EQ(m.names, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(m.split[0], Split::kTrain);
  EXPECT_EQ(m.split[1], Split::kTest);
  // Layout: price, then item, brand, shop, tags (2), history (3).
  ASSERT_EQ(m.fields.size(), 6u);
  const std::vector<std::string> names{"price", "item", "brand", "shop", "tags", "history"};
  const std::vector<int64_t> offsets{0, 1, 2, 3, 4, 6}, widths{1, 1, 1, 1, 2, 3};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(m.fields[i].name, names[i]);
    EXPECT_EQ(m.fields[i].offset, offsets[i]) << names[i];
    EXPECT_EQ(m.fields[i].width, widths[i]) << names[i];
  }
  EXPECT_EQ(m.fields[5].table, "item");  // history shares the item vocabulary
  EXPECT_EQ(store.item_shape(), (std::vector<int64_t>{9}));
  EXPECT_EQ(m.code_width(), 8);
  // Vocabularies: most frequent first, ties in order of first appearance;
  // only kept tokens count. Items over item and history cells: i1 x4, i3
  // x3 (first seen before i2), i2 x3, then i4, i5, i6, i9 once each.
  std::map<std::string, std::vector<std::string>> vocab(m.vocabularies.begin(),
                                                        m.vocabularies.end());
  EXPECT_EQ(vocab["item"], (std::vector<std::string>{"i1", "i3", "i2", "i4", "i5", "i6", "i9"}));
  EXPECT_EQ(vocab["brand"], (std::vector<std::string>{"b1", "b2"}));  // b3: once, under min_count
  EXPECT_EQ(vocab["tags"], (std::vector<std::string>{"red", "big", "new"}));
  EXPECT_EQ(vocab.count("shop"), 0u);  // hashed
  EXPECT_EQ(m.fields[3].vocab, 7 + 2);
  EXPECT_EQ(m.fields[1].vocab, 7 + 2);
  EXPECT_EQ(m.fields[5].vocab, 7 + 2);
  EXPECT_NE(m.schema.find("hash_buckets: 7"), std::string::npos);

  // u1's rows in file order: lines 2, 3, 6.
  Rows r = store.gather(0, {0, 1, 2});
  auto at = [&](int64_t row, int64_t col) { return r.items[row][col].item<double>(); };
  EXPECT_EQ(at(0, 0), 9.5);
  EXPECT_EQ(at(0, 1), 2);  // i1: code 2
  EXPECT_EQ(at(0, 2), 2);  // b1
  EXPECT_GE(at(0, 3), 2);  // hashed shop: 2..8
  EXPECT_LE(at(0, 3), 8);
  EXPECT_EQ(at(2, 3), 0);  // an empty shop cell: padding
  // tags red|big|new, max_len 2: the first two (red, big).
  EXPECT_EQ(at(0, 4), 2);
  EXPECT_EQ(at(0, 5), 3);
  // history i2 i3 i4 i5, max_len 3: the last three (i3, i4, i5), as items.
  EXPECT_EQ(at(0, 6), 3);
  EXPECT_EQ(at(0, 7), 5);
  EXPECT_EQ(at(0, 8), 6);
  // Line 3: tags empty (0 0), history i1 then padding.
  EXPECT_EQ(at(1, 4), 0);
  EXPECT_EQ(at(1, 5), 0);
  EXPECT_EQ(at(1, 6), 2);
  EXPECT_EQ(at(1, 7), 0);
  EXPECT_TRUE(store.has_oracle());
  EXPECT_EQ(r.oracle[1].item<float>(), -0.5f);
  EXPECT_EQ(r.labels[2].item<float>(), 1.0f);
  // u2: b3 (line 5) is out of vocabulary: code 1; the same shop value
  // hashes to the same code in both tasks.
  Rows q = store.gather(1, {0, 1});
  EXPECT_EQ(q.items[1][2].item<double>(), kOovCode);
  EXPECT_EQ(q.items[0][3].item<double>(), at(0, 3));
  EXPECT_TRUE(verify_dataset(f.out, false).empty());
}

TEST(Schema, EveryViolationNamesTheLineAndColumn) {
  auto pack_error = [](const std::string& name, const std::string& csv) {
    const Files f = write(name, csv);
    return error_of([&] { pack_files(f); });
  };
  const std::string head = "user,item,click,price,brand,shop,tags,history,z,ts\n";
  const std::string good = "u1,i1,1,9.5,b1,s1,red,i2,0.5,100\n";
  auto expect = [&](const std::string& name, const std::string& row, const std::string& needle) {
    const std::string e = pack_error(name, head + good + row);
    EXPECT_NE(e.find(needle), std::string::npos) << name << ": " << e;
  };
  expect("label", "u2,i1,2,9.5,b1,s1,red,i2,0.5,100\n",
         "line 3, column 3 (click): label '2' is not 0 or 1");
  expect("nan", "u2,i1,1,nan,b1,s1,red,i2,0.5,100\n",
         "line 3, column 4 (price): 'nan' is not a finite number");
  expect("text", "u2,i1,1,cheap,b1,s1,red,i2,0.5,100\n",
         "line 3, column 4 (price): 'cheap' is not a finite number");
  expect("oracle", "u2,i1,1,1,b1,s1,red,i2,inf,100\n",
         "column 9 (z): 'inf' is not a finite number");
  expect("task", ",i1,1,1,b1,s1,red,i2,0,100\n", "line 3, column 1 (user): an empty task key");
  expect("item", "u2,,1,1,b1,s1,red,i2,0,100\n", "line 3, column 2 (item): an empty item id");
  expect("cells", "u2,i1,1,1,b1\n", "line 3: 5 cells, the header has 10");
  expect("duplicate", "u1,i1,0,1,b1,s1,red,i2,0,100\n",
         "line 3: item 'i1' (column item) appears twice in task 'u1' (first at line 2)");
  // Header and schema disagree.
  EXPECT_NE(pack_error("extra", "user,item,click,price,brand,shop,tags,history,z,ts,extra\n")
                .find("column 11 ('extra') is not in the schema"),
            std::string::npos);
  EXPECT_NE(pack_error("missing", "user,item,click,price\nu1,i1,1,1\n")
                .find("the schema's column 'brand' is not in the file's header"),
            std::string::npos);
  EXPECT_NE(pack_error("norows", head).find("has a header but no data rows"), std::string::npos);
  // A list column split by the file's own separator could never parse.
  {
    std::string schema = kSchema;
    schema.replace(schema.find("separator: \"|\""), 14, "separator: \",\"");
    const Files f = write("sep", head + good, schema);
    EXPECT_NE(error_of([&] {
                pack_files(f);
              }).find("column tags's separator ',' is the file's own cell separator"),
              std::string::npos);
  }
}

TEST(Schema, BadSchemasAreRefusedByName) {
  auto err = [](const std::string& yaml) {
    return error_of([&] { parse_schema(yaml, "s.yaml"); });
  };
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: lable}\n")
                .find("column b, role: unknown role 'lable'"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label, min_count: 2}\n")
                .find("column b: min_count, max_size, hash_buckets and vocabulary are for coded"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: categorical, "
                "minimum: 2}\n")
                .find("column c: unknown key 'minimum'"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: label}\n").find("no column has role task"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: task}\n")
                .find("more than one column has role task"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: sequence, "
                "vocabulary: b}\n")
                .find("'b' must be another coded column with its own vocabulary"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: categorical, "
                "separator: ','}\n")
                .find("separator and max_len are for multi and sequence columns"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: multi, max_len: 0}\n")
                .find("column c, max_len: 0 is below 1"),
            std::string::npos);
  EXPECT_NE(err("colums:\n  a: {role: task}\n").find("expected a mapping `columns:`"),
            std::string::npos);
  EXPECT_NE(err("columns:\n  a: {role: task}\n  b: {role: label}\n  c: {role: multi, max_len: "
                "5000}\n")
                .find("column c: max_len 5000 is above 4096"),
            std::string::npos);
  // A map where a role name belongs (the fuzz finding schema/role-is-a-map).
  EXPECT_NE(err("columns:\n  a: {role: {x: 1}}\n").find("schema s.yaml: yaml-cpp: error at line"),
            std::string::npos);
}

// A schema whose only columns are task, item and label: no numeric column,
// so the shards' items are [n, 0] and the model input is the item code.
TEST(Schema, NoNumericColumnIsFine) {
  const Files f = write("codes-only", "u,it,y\na,x,1\na,y,0\nb,x,0\n",
                        "columns:\n  u: {role: task}\n  it: {role: item}\n  y: {role: label}\n");
  CsvSplit sp;
  sp.names = {{"a"}, {}, {"b"}};
  PackOptions o;
  o.out = f.out;
  o.progress = false;
  pack_csv_schema(f.csv, load_schema(f.schema), sp, o);
  ShardStore store(f.out);
  EXPECT_EQ(store.item_shape(), (std::vector<int64_t>{1}));
  Rows r = store.gather(0, {1, 0});
  EXPECT_EQ(r.items[0][0].item<double>(), 3);  // y: code 3 (x is more frequent)
  EXPECT_EQ(r.items[1][0].item<double>(), 2);
  EXPECT_TRUE(verify_dataset(f.out, false).empty());
}

// --new-items: a seeded share of the item values leaves the training tasks
// (new items in known tasks); validation and test tasks keep every row.
TEST(Schema, NewItemsAreLeftOutOfTheTrainingTasksOnly) {
  std::string csv = "u,it,y,h\n";
  for (const char* task : {"a", "b", "c"})
    for (int i = 0; i < 40; ++i)
      csv += std::string(task) + ",i" + std::to_string(i) + "," + std::to_string(i % 2) + ",i" +
             std::to_string((i + 1) % 40) + " i" + std::to_string((i + 2) % 40) + "\n";
  const Files f = write("new-items", csv,
                        "columns:\n  u: {role: task}\n  it: {role: item}\n  y: {role: label}\n"
                        "  h: {role: sequence, separator: \" \", max_len: 2, vocabulary: it}\n");
  auto pack_with = [&](double share, uint64_t seed, const std::string& out) {
    CsvSplit sp;
    sp.names = {{"a"}, {"b"}, {"c"}};
    sp.new_items = share;
    sp.seed = seed;
    PackOptions o;
    o.out = out;
    o.progress = false;
    pack_csv_schema(f.csv, load_schema(f.schema), sp, o);
    return std::make_unique<ShardStore>(out);
  };
  auto ids = [](const ShardStore& s, int64_t c) {
    std::vector<int64_t> rows(s.info(c).items);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    const torch::Tensor t = s.gather(c, rows).item_ids;
    return std::set<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  auto store = pack_with(0.25, 1, f.out);
  const std::set<int64_t> train = ids(*store, 0);
  EXPECT_EQ(store->info(1).items, 40);
  EXPECT_EQ(store->info(2).items, 40);
  const int64_t held = 40 - static_cast<int64_t>(train.size());
  EXPECT_GE(held, 4);
  EXPECT_LE(held, 18);
  EXPECT_NE(store->manifest().source.find("new items: " + std::to_string(held) + " of 40"),
            std::string::npos)
      << store->manifest().source;
  // Their mentions in training histories are gone (the rest moved up,
  // padding after); validation histories keep them.
  std::map<int64_t, int64_t> code_of;  // item id -> code, from the val task
  std::vector<int64_t> all(40);
  for (int64_t i = 0; i < 40; ++i) all[i] = i;
  const Rows val = store->gather(1, all);
  for (int64_t i = 0; i < 40; ++i)
    code_of[val.item_ids[i].item<int64_t>()] = static_cast<int64_t>(val.items[i][0].item<float>());
  std::set<int64_t> held_codes;
  for (const auto& [id, code] : code_of)
    if (!train.count(id)) held_codes.insert(code);
  const Rows tr = store->gather(0, std::vector<int64_t>(all.begin(), all.begin() + 40 - held));
  int64_t pads = 0;
  for (int64_t r = 0; r < tr.items.size(0); ++r) {
    const int64_t h0 = static_cast<int64_t>(tr.items[r][1].item<float>());
    const int64_t h1 = static_cast<int64_t>(tr.items[r][2].item<float>());
    EXPECT_FALSE(held_codes.count(h0) || held_codes.count(h1)) << r;
    EXPECT_FALSE(h0 == 0 && h1 != 0) << "padding before a kept entry in row " << r;
    pads += (h0 == 0) + (h1 == 0);
  }
  EXPECT_GT(pads, 0);
  EXPECT_EQ(static_cast<int64_t>(val.items.select(1, 1).eq(0).sum().item<int64_t>()), 0);
  // The held-out items are exactly the metaemb baseline's new items.
  EXPECT_EQ(index_items(*store, store->fields()).cold(), held);
  // Another seed holds out other items; no share, none.
  EXPECT_NE(ids(*pack_with(0.25, 2, f.out + "-2"), 0), train);
  EXPECT_EQ(ids(*pack_with(0, 1, f.out + "-0"), 0).size(), 40u);
  // Without an item column there is nothing to hold out.
  const Files g = write("new-items-no-item", "u,y\na,1\nb,0\n",
                        "columns:\n  u: {role: task}\n  y: {role: label}\n");
  CsvSplit sp;
  sp.new_items = 0.5;
  PackOptions o;
  o.out = g.out;
  o.progress = false;
  EXPECT_NE(error_of([&] {
              pack_csv_schema(g.csv, load_schema(g.schema), sp, o);
            }).find("--new-items holds items out of the training tasks"),
            std::string::npos);
}
