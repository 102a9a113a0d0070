#include "data/h5.h"

#include <fcntl.h>
#include <unistd.h>

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

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void fail(const std::string& call, const std::string& file, const std::string& what) {
  throw UserError("HDF5: " + file + (what.empty() ? "" : ": " + what) + ": " + call + " failed");
}

Handle create_file(const std::string& path) {
  silence_errors();
  // Track creation order so that parameter order survives a round trip.
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  if (f < 0) throw UserError("HDF5: cannot create '" + path + "'");
  return Handle(f, H5Fclose);
}

Handle open_file(const std::string& path, bool write) {
  silence_errors();
  if (!std::filesystem::exists(path)) throw UserError("HDF5: '" + path + "' does not exist");
  hid_t f = H5Fopen(path.c_str(), write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw UserError("HDF5: '" + path + "' is not a readable HDF5 file (truncated or corrupt?)");
  return Handle(f, H5Fclose);
}

Handle create_group(hid_t loc, const std::string& name, const std::string& file) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t g = H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (g < 0) fail("H5Gcreate2", file, name);
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
hid_t native_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return H5T_NATIVE_FLOAT;
    case torch::kFloat64: return H5T_NATIVE_DOUBLE;
    case torch::kInt64: return H5T_NATIVE_INT64;
    case torch::kUInt8: return H5T_NATIVE_UINT8;
    default: throw std::logic_error("HDF5: unsupported tensor dtype");
  }
}
}  // namespace

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
  if (ds.get() < 0) fail("H5Dcreate2", file, name);
  METACAT_H5_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), file, name);
}

torch::Tensor read_tensor(hid_t loc, const std::string& name, const std::string& file) {
  if (!exists(loc, name)) throw UserError("HDF5: " + file + ": missing dataset '" + name + "'");
  Handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail("H5Dopen2", file, name);
  Handle space(H5Dget_space(ds), H5Sclose);
  const int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0) fail("H5Sget_simple_extent_ndims", file, name);
  std::vector<hsize_t> dims(nd);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Handle type(H5Dget_type(ds), H5Tclose);
  torch::ScalarType st;
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4) st = torch::kFloat32;
  else if (cls == H5T_FLOAT && size == 8) st = torch::kFloat64;
  else if (cls == H5T_INTEGER && size == 8) st = torch::kInt64;
  else if (cls == H5T_INTEGER && size == 1) st = torch::kUInt8;
  else throw UserError("HDF5: " + file + ": dataset '" + name + "' has an unsupported type");
  std::vector<int64_t> shape(dims.begin(), dims.end());
  torch::Tensor t = torch::empty(shape, torch::dtype(st));
  METACAT_H5_CHECK(H5Dread(ds, native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), file,
                   name);
  return t;
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, value.empty() ? 1 : value.size());
  H5Tset_cset(type, H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0) fail("H5Acreate2", file, name);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  METACAT_H5_CHECK(H5Awrite(a, type, buf.data()), file, name);
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
  if (a.get() < 0) fail("H5Acreate2", file, name);
  METACAT_H5_CHECK(H5Awrite(a, H5T_NATIVE_INT64, &value), file, name);
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

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open '" + path + "' to fsync");
  ::fsync(fd);
  ::close(fd);
}

void fsync_dir_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace metacat::h5
