// Fuzz target: the CSV/TSV importer (pack --source csv, then reading the
// packed categories back), and the support-set and descriptor CSV readers
// of `metacat adapt`.
#include <cstdint>

#include "data/shard_store.h"
#include "datasets/csv_features.h"
#include "fuzz_util.h"

using namespace metacat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file(fuzz::scratch() / "input.csv", data, size);
  fuzz::expect_clean([&] {
    PackOptions opt;
    opt.out = (fuzz::scratch() / "packed").string();
    opt.force = true;
    opt.progress = false;
    opt.compression = 0;
    pack_csv(path, CsvSplit{}, torch::kFloat32, opt);
    ShardStore store(opt.out);
    for (int64_t c = 0; c < store.num_categories(); ++c) (void)store.read_category(c);
  });
  fuzz::expect_clean([&] { (void)read_support_csv(path, 3); });
  fuzz::expect_clean([&] { (void)read_vector_csv(path, 3, "descriptor"); });
  return 0;
}
