#include "data/h5.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace metacat::h5 {

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

namespace {
// HDF5 1.10 closes the files still open at exit from an exit handler of its
// own. A file whose close already failed (its disk full) stays in its table
// half closed, and that handler then crashes (a segfault after metacat's
// "disk full" error, measured on a full tmpfs). Every file here is closed
// by its Handle, so the handler is switched off before HDF5 starts.
const bool kNoHdf5ExitHandler = (H5dont_atexit(), true);
}  // namespace

void silence_errors() {
  (void)kNoHdf5ExitHandler;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

void fail(const std::string& call, const std::string& file, const std::string& what) {
  throw UserError("HDF5: " + file + (what.empty() ? "" : ": " + what) + ": " + call + " failed");
}

void fail_write(const std::string& call, const std::string& file, const std::string& what) {
  throw IoError("HDF5: " + file + (what.empty() ? "" : ": " + what) + ": " + call +
                " failed (disk full, or no permission?)");
}

void flush(hid_t file, const std::string& path) {
  METACAT_H5_WRITE_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), path, "flush");
}

Handle create_file(const std::string& path, bool ordered) {
  silence_errors();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (ordered) H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
  if (f < 0)
    throw IoError("HDF5: cannot create '" + path +
                  "' (folder missing, disk full, or no permission?)");
  return Handle(f, H5Fclose);
}

Handle open_file(const std::string& path, bool write) {
  silence_errors();
  if (!std::filesystem::exists(path)) throw UserError("HDF5: '" + path + "' does not exist");
  // HDF5's metadata cache grows to 32 MiB per open file by default; a rank
  // that keeps a few shards open would hold far more than its data cache.
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5AC_cache_config_t mdc;
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl, &mdc) >= 0) {
    mdc.set_initial_size = 1;
    mdc.initial_size = 1 << 20;
    mdc.min_size = 1 << 20;
    mdc.max_size = 4 << 20;
    H5Pset_mdc_config(fapl, &mdc);
  }
  hid_t f = H5Fopen(path.c_str(), write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
  if (f < 0)
    throw UserError("HDF5: '" + path + "' is not a readable HDF5 file (truncated or corrupt?)");
  return Handle(f, H5Fclose);
}

Handle create_group(hid_t loc, const std::string& name, const std::string& file, bool ordered) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (ordered) H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  // Intermediate groups ("categories/00000042") are created as needed.
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2(loc, name.c_str(), lcpl, gcpl, H5P_DEFAULT);
  if (g < 0) fail_write("H5Gcreate2", file, name);
  return Handle(g, H5Gclose);
}

Handle open_group(hid_t loc, const std::string& name, const std::string& file) {
  if (!exists(loc, name)) throw UserError("HDF5: " + file + ": missing group '" + name + "'");
  hid_t g = H5Gopen2(loc, name.c_str(), H5P_DEFAULT);
  if (g < 0) fail("H5Gopen2", file, name);
  return Handle(g, H5Gclose);
}

bool exists(hid_t loc, const std::string& name) {
  return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0;
}

namespace {
// IEEE binary16, little endian, built once (HDF5 1.10 predefines none).
hid_t half_type() {
  static const hid_t t = [] {
    hid_t h = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(h, 15, 10, 5, 0, 10);
    H5Tset_size(h, 2);
    H5Tset_ebias(h, 15);
    H5Tset_precision(h, 16);
    return h;
  }();
  return t;
}
hid_t native_type(torch::ScalarType t) { return type_of(t); }
}  // namespace

hid_t type_of(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return H5T_NATIVE_FLOAT;
    case torch::kFloat64:
      return H5T_NATIVE_DOUBLE;
    case torch::kFloat16:
      return half_type();
    case torch::kInt64:
      return H5T_NATIVE_INT64;
    case torch::kInt32:
      return H5T_NATIVE_INT32;
    case torch::kUInt8:
      return H5T_NATIVE_UINT8;
    default:
      throw std::logic_error("HDF5: unsupported tensor dtype");
  }
}

torch::ScalarType dtype_of(hid_t ds, const std::string& file, const std::string& what) {
  Handle type(H5Dget_type(ds), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 2) return torch::kFloat16;
  if (cls == H5T_FLOAT && size == 4) return torch::kFloat32;
  if (cls == H5T_FLOAT && size == 8) return torch::kFloat64;
  if (cls == H5T_INTEGER && size == 8) return torch::kInt64;
  if (cls == H5T_INTEGER && size == 4) return torch::kInt32;
  if (cls == H5T_INTEGER && size == 1) return torch::kUInt8;
  throw UserError("HDF5: " + file + ": dataset '" + what + "' has an unsupported type");
}

std::vector<int64_t> shape_of(hid_t ds, const std::string& file, const std::string& what) {
  Handle space(H5Dget_space(ds), H5Sclose);
  const int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0) fail("H5Sget_simple_extent_ndims", file, what);
  std::vector<hsize_t> dims(nd);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

Handle open_dataset(hid_t loc, const std::string& name, const std::string& file) {
  if (!exists(loc, name)) throw UserError("HDF5: " + file + ": missing dataset '" + name + "'");
  Handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail("H5Dopen2", file, name);
  return ds;
}

void write_chunked(hid_t loc, const std::string& name, const torch::Tensor& t, int64_t chunk_rows,
                   int level, const std::string& file) {
  torch::Tensor c = t.detach().contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (c.numel() > 0) {  // a dataset with a zero extent (no columns) stays contiguous
    std::vector<hsize_t> chunk = dims;
    chunk[0] = static_cast<hsize_t>(std::max<int64_t>(1, std::min<int64_t>(chunk_rows, dims[0])));
    METACAT_H5_CHECK(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), file, name);
    if (level > 0) {
      if (c.element_size() > 1) METACAT_H5_CHECK(H5Pset_shuffle(dcpl), file, name);
      METACAT_H5_CHECK(H5Pset_deflate(dcpl, static_cast<unsigned>(level)), file, name);
    }
    METACAT_H5_CHECK(H5Pset_fletcher32(dcpl), file, name);
  }
  const hid_t type = native_type(c.scalar_type());
  Handle ds(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail_write("H5Dcreate2", file, name);
  if (c.numel() > 0)
    METACAT_H5_WRITE_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), file,
                           name);
}

torch::Tensor read_rows(hid_t ds, const std::vector<int64_t>& rows, const std::string& file,
                        const std::string& what) {
  const std::vector<int64_t> shape = shape_of(ds, file, what);
  const torch::ScalarType st = dtype_of(ds, file, what);
  // HDF5 returns a union of hyperslabs in increasing order: read the sorted
  // distinct rows, then put them in the requested order.
  std::vector<int64_t> uniq(rows);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  for (int64_t r : uniq)
    if (r < 0 || r >= shape[0])
      throw UserError("HDF5: " + file + ": row " + std::to_string(r) + " out of range in '" + what +
                      "' (" + std::to_string(shape[0]) + " rows)");
  std::vector<int64_t> out_shape = shape;
  out_shape[0] = static_cast<int64_t>(uniq.size());
  torch::Tensor t = torch::empty(out_shape, torch::dtype(st));
  if (t.numel() > 0) {
    Handle fspace(H5Dget_space(ds), H5Sclose);
    std::vector<hsize_t> start(shape.size(), 0), count(shape.begin(), shape.end());
    count[0] = 1;
    METACAT_H5_CHECK(H5Sselect_none(fspace), file, what);
    // Merge consecutive rows into one hyperslab each.
    for (size_t i = 0; i < uniq.size();) {
      size_t j = i;
      while (j + 1 < uniq.size() && uniq[j + 1] == uniq[j] + 1) ++j;
      start[0] = static_cast<hsize_t>(uniq[i]);
      count[0] = static_cast<hsize_t>(j - i + 1);
      METACAT_H5_CHECK(
          H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start.data(), nullptr, count.data(), nullptr),
          file, what);
      i = j + 1;
    }
    std::vector<hsize_t> mdims(out_shape.begin(), out_shape.end());
    Handle mspace(H5Screate_simple(static_cast<int>(mdims.size()), mdims.data(), nullptr),
                  H5Sclose);
    if (H5Dread(ds, native_type(st), mspace, fspace, H5P_DEFAULT, t.data_ptr()) < 0)
      throw UserError("HDF5: " + file + ": cannot read '" + what +
                      "' (corrupt data: a chunk failed its checksum or decompression)");
  }
  if (uniq.size() == rows.size() && std::equal(uniq.begin(), uniq.end(), rows.begin())) return t;
  std::vector<int64_t> pos(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    pos[i] = std::lower_bound(uniq.begin(), uniq.end(), rows[i]) - uniq.begin();
  return t.index_select(0, torch::tensor(pos, torch::kInt64));
}

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v,
                   const std::string& file) {
  size_t len = 1;
  for (const auto& s : v) len = std::max(len, s.size());
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, len);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, H5T_CSET_UTF8);
  std::vector<char> buf(len * v.size(), '\0');
  for (size_t i = 0; i < v.size(); ++i) std::copy(v[i].begin(), v[i].end(), buf.begin() + i * len);
  hsize_t n = v.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle ds(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0) fail_write("H5Dcreate2", file, name);
  if (n > 0)
    METACAT_H5_WRITE_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), file,
                           name);
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& file) {
  Handle ds = open_dataset(loc, name, file);
  Handle type(H5Dget_type(ds), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0)
    throw UserError("HDF5: " + file + ": dataset '" + name +
                    "' is not a fixed-length string array");
  const size_t len = H5Tget_size(type);
  const std::vector<int64_t> shape = shape_of(ds, file, name);
  if (shape.size() != 1) throw UserError("HDF5: " + file + ": '" + name + "' is not 1-D");
  std::vector<char> buf(len * shape[0] + 1, '\0');
  if (shape[0] > 0)
    METACAT_H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), file, name);
  std::vector<std::string> out(shape[0]);
  for (int64_t i = 0; i < shape[0]; ++i) {
    const char* p = buf.data() + i * len;
    out[i] = std::string(p, strnlen(p, len));
  }
  return out;
}

void write_tensor(hid_t loc, const std::string& name, const torch::Tensor& t,
                  const std::string& file) {
  torch::Tensor c = t.detach().contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
  const hid_t type = native_type(c.scalar_type());
  Handle ds(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0) fail_write("H5Dcreate2", file, name);
  METACAT_H5_WRITE_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), file,
                         name);
}

torch::Tensor read_tensor(hid_t loc, const std::string& name, const std::string& file,
                          const std::string& what) {
  if (!exists(loc, name)) throw UserError("HDF5: " + file + ": missing dataset '" + name + "'");
  Handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail("H5Dopen2", file, name);
  Handle space(H5Dget_space(ds), H5Sclose);
  const int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0) fail("H5Sget_simple_extent_ndims", file, name);
  std::vector<hsize_t> dims(nd);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  const torch::ScalarType st = dtype_of(ds, file, name);
  std::vector<int64_t> shape(dims.begin(), dims.end());
  torch::Tensor t = torch::empty(shape, torch::dtype(st));
  if (t.numel() > 0 &&
      H5Dread(ds, native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0)
    throw UserError("HDF5: " + file + ": cannot read '" + (what.empty() ? name : what) +
                    "' (corrupt data: a chunk failed its checksum or decompression)");
  return t;
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, value.empty() ? 1 : value.size());
  H5Tset_cset(type, H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0) fail_write("H5Acreate2", file, name);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  METACAT_H5_WRITE_CHECK(H5Awrite(a, type, buf.data()), file, name);
}

std::string read_string_attr(hid_t obj, const std::string& name, const std::string& file) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    throw UserError("HDF5: " + file + ": missing attribute '" + name + "'");
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0)
    throw UserError("HDF5: " + file + ": attribute '" + name + "' is not a fixed-length string");
  const size_t n = H5Tget_size(type);
  std::string s(n, '\0');
  METACAT_H5_CHECK(H5Aread(a, type, s.data()), file, name);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

void write_int_attr(hid_t obj, const std::string& name, int64_t value, const std::string& file) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (a.get() < 0) fail_write("H5Acreate2", file, name);
  METACAT_H5_WRITE_CHECK(H5Awrite(a, H5T_NATIVE_INT64, &value), file, name);
}

int64_t read_int_attr(hid_t obj, const std::string& name, const std::string& file) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    throw UserError("HDF5: " + file + ": missing attribute '" + name + "'");
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  int64_t v = 0;
  METACAT_H5_CHECK(H5Aread(a, H5T_NATIVE_INT64, &v), file, name);
  return v;
}

std::vector<std::string> list(hid_t group, const std::string& file) {
  H5G_info_t info;
  METACAT_H5_CHECK(H5Gget_info(group, &info), file, "group info");
  // Creation order when tracked (files we write), else name order.
  Handle gcpl(H5Gget_create_plist(group), H5Pclose);
  unsigned flags = 0;
  H5Pget_link_creation_order(gcpl, &flags);
  const H5_index_t idx = (flags & H5P_CRT_ORDER_TRACKED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(group, ".", idx, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail("H5Lget_name_by_idx", file, "link " + std::to_string(i));
    std::string s(n + 1, '\0');
    H5Lget_name_by_idx(group, ".", idx, H5_ITER_INC, i, s.data(), n + 1, H5P_DEFAULT);
    s.resize(n);
    names.push_back(s);
  }
  return names;
}

}  // namespace metacat::h5
