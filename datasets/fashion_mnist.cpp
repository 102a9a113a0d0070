#include "datasets/fashion_mnist.h"

#include <zlib.h>

#include <filesystem>

#include "core/error.h"

namespace metacat {

const char* const kFashionMnistDefaultPath = "/usr/share/datasets/fashion-mnist";
const char* const kFashionMnistClasses[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

IdxArray read_idx(const std::string& path) {
  // gzread reads plain files transparently too.
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw UserError("data: cannot open '" + path + "'");
  auto fail = [&](const std::string& why) {
    gzclose(f);
    throw UserError("data: '" + path + "' is not a valid idx file: " + why);
  };
  unsigned char head[4];
  if (gzread(f, head, 4) != 4) fail("truncated header");
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08) fail("bad magic (expected unsigned bytes)");
  const int ndims = head[3];
  if (ndims < 1 || ndims > 4) fail("bad number of dimensions");
  IdxArray a;
  int64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    unsigned char d[4];
    if (gzread(f, d, 4) != 4) fail("truncated header");
    const int64_t n = (int64_t(d[0]) << 24) | (d[1] << 16) | (d[2] << 8) | d[3];
    a.dims.push_back(n);
    total *= n;
  }
  a.data.resize(total);
  int64_t got = 0;
  while (got < total) {
    const int chunk = static_cast<int>(std::min<int64_t>(total - got, 1 << 30));
    const int r = gzread(f, a.data.data() + got, chunk);
    if (r <= 0)
      fail("truncated data (" + std::to_string(got) + " of " + std::to_string(total) + " bytes)");
    got += r;
  }
  gzclose(f);
  return a;
}

namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    const std::string p = dir + "/" + stem + ext;
    if (std::filesystem::exists(p)) return p;
  }
  throw UserError("data: '" + dir + "/" + stem +
                  "[.gz]' not found (is dataset-fashion-mnist "
                  "installed? scripts/setup installs it)");
}
}  // namespace

LabeledItems load_fashion_mnist(const std::string& dir) {
  if (!std::filesystem::is_directory(dir))
    throw UserError("data.path: '" + dir + "' is not a directory");
  LabeledItems out;
  std::vector<torch::Tensor> parts;
  for (const char* part : {"train", "t10k"}) {
    const std::string ip = find_file(dir, std::string(part) + "-images-idx3-ubyte");
    const std::string lp = find_file(dir, std::string(part) + "-labels-idx1-ubyte");
    IdxArray im = read_idx(ip), lb = read_idx(lp);
    if (im.dims.size() != 3 || im.dims[1] != 28 || im.dims[2] != 28)
      throw UserError("data: '" + ip + "' does not hold 28x28 images");
    if (lb.dims.size() != 1 || lb.dims[0] != im.dims[0])
      throw UserError("data: '" + lp + "' has " + std::to_string(lb.dims[0]) + " labels for " +
                      std::to_string(im.dims[0]) + " images");
    for (uint8_t l : lb.data) {
      if (l > 9) throw UserError("data: '" + lp + "' has label " + std::to_string(l) + " > 9");
      out.labels.push_back(l);
    }
    parts.push_back(
        torch::from_blob(im.data.data(), {im.dims[0], 1, 28, 28}, torch::kUInt8).clone());
  }
  out.items = torch::cat(parts);
  for (const char* c : kFashionMnistClasses) out.class_names.push_back(c);
  return out;
}

}  // namespace metacat

namespace metacat {

PackSummary pack_fashion_mnist(const std::string& dir,
                               const std::vector<std::vector<int64_t>>& classes,
                               const PackOptions& opt) {
  LabeledItems data = load_fashion_mnist(dir);
  auto store = make_class_store(data, classes);
  std::vector<std::vector<int64_t>> ids(data.class_names.size());
  for (size_t i = 0; i < data.labels.size(); ++i) ids[data.labels[i]].push_back(i);
  Manifest m;
  m.kind = "classification";
  m.dtype = "uint8";
  m.source = "fashion-mnist idx files from " + dir;
  m.item_shape = {1, 28, 28};
  for (int64_t c = 0; c < store->num_categories(); ++c) {
    m.names.push_back(store->info(c).name);
    m.split.push_back(store->info(c).split);
    m.items.push_back(store->info(c).items);
  }
  return pack(
      m,
      [&](int64_t c) {
        return CategoryRows{
            store->items(c), store->labels(c), torch::tensor(ids[c], torch::kInt64), {}, {}};
      },
      opt);
}

}  // namespace metacat
