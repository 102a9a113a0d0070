// Fuzz target: the manifest and shard reader. A small valid dataset is
// packed once; each input's first byte picks the file it replaces (even:
// manifest.h5, odd: shard-00000.h5) and the rest is that file's bytes. The
// dataset is then opened, every category read, and verified.
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "data/shard_store.h"
#include "datasets/csv_features.h"
#include "fuzz_util.h"

using namespace metacat;
namespace fs = std::filesystem;

namespace {
// Six categories of eight labelled items with three features.
const fs::path& base() {
  static const fs::path dir = [] {
    const fs::path csv = fuzz::scratch() / "base.csv";
    std::ofstream out(csv);
    out << "category,item_id,label,f1,f2,f3\n";
    for (int c = 0; c < 6; ++c)
      for (int i = 0; i < 8; ++i)
        out << "cat" << c << "," << 100 * c + i << "," << (i % 2) << "," << 0.1 * i << ","
            << -0.2 * c << "," << 0.05 * (i + c) << "\n";
    out.close();
    PackOptions opt;
    opt.out = (fuzz::scratch() / "base").string();
    opt.force = true;
    opt.progress = false;
    pack_csv(csv.string(), CsvSplit{}, torch::kFloat32, opt);
    return fs::path(opt.out);
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path work = fuzz::scratch() / "work";
  fs::remove_all(work);
  fs::copy(base(), work, fs::copy_options::recursive);
  fuzz::write_file(work / ((data[0] & 1) == 0 ? "manifest.h5" : "shard-00000.h5"), data + 1,
                   size - 1);
  fuzz::expect_clean([&] {
    ShardStore store(work.string());
    for (int64_t c = 0; c < store.num_categories(); ++c) (void)store.read_category(c);
  });
  fuzz::expect_clean([&] { (void)verify_dataset(work.string(), false); });
  return 0;
}
