// Fuzz target: tabular data with a schema (pack --source csv --schema, then
// reading every packed task back). The input is a schema and a CSV
// separated by a line "---"; without one, the input is the CSV and the
// schema is a fixed one that gives every role a column.
#include <cstdint>
#include <string>

#include "data/shard_store.h"
#include "datasets/schema.h"
#include "fuzz_util.h"

using namespace metacat;

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
)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find("\n---\n");
  const std::string yaml = cut == std::string::npos ? kSchema : input.substr(0, cut);
  const std::string csv = cut == std::string::npos ? input : input.substr(cut + 5);
  const std::string path = fuzz::write_file(
      fuzz::scratch() / "log.csv", reinterpret_cast<const uint8_t*>(csv.data()), csv.size());
  fuzz::expect_clean([&] {
    const Schema schema = parse_schema(yaml, "fuzz schema");
    PackOptions opt;
    opt.out = (fuzz::scratch() / "packed").string();
    opt.force = true;
    opt.progress = false;
    opt.compression = 0;
    CsvSplit split;
    split.ratios = {1, 0, 0};
    pack_csv_schema(path, schema, split, opt);
    ShardStore store(opt.out);
    for (int64_t c = 0; c < store.num_categories(); ++c) (void)store.read_category(c);
  });
  return 0;
}
