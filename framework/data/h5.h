#pragma once
// Small RAII owners and checked helpers over the HDF5 C API.
//
// Every HDF5 call that can fail goes through METACAT_H5_CHECK, which turns a
// negative status into an exception naming the call, the file and (when
// given) the object; HDF5's own error-stack printing is switched off so that
// users see one message instead of a trace. Errors on files the user gave
// (missing, truncated, wrong shape) are UserErrors.
#include <hdf5.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace metacat::h5 {

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer c) : id_(id), close_(c) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset();
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

void silence_errors();
// A failed read or a malformed file is a UserError (bad data); a failed
// create or write is an IoError (core/error.h).
[[noreturn]] void fail(const std::string& call, const std::string& file, const std::string& what);
[[noreturn]] void fail_write(const std::string& call, const std::string& file,
                             const std::string& what);

#define METACAT_H5_CHECK(expr, file, what)                  \
  ([&]() {                                                  \
    auto _r = (expr);                                       \
    if (_r < 0) ::metacat::h5::fail(#expr, (file), (what)); \
    return _r;                                              \
  }())
#define METACAT_H5_WRITE_CHECK(expr, file, what)                  \
  ([&]() {                                                        \
    auto _r = (expr);                                             \
    if (_r < 0) ::metacat::h5::fail_write(#expr, (file), (what)); \
    return _r;                                                    \
  }())

// Writes everything buffered for the file to disk; IoError on failure. The
// last call of every writer, so that a failure is seen before the file is
// committed (handle destructors cannot report one).
void flush(hid_t file, const std::string& path);

// Truncates. Files use the HDF5 1.10 format (compact chunk indexes: a small
// chunked dataset costs bytes, not kilobytes; readable by HDF5 >= 1.10).
// ordered: links keep their creation order (checkpoints: parameter order).
Handle create_file(const std::string& path, bool ordered = false);
Handle open_file(const std::string& path, bool write = false);
Handle create_group(hid_t loc, const std::string& name, const std::string& file,
                    bool ordered = false);
Handle open_group(hid_t loc, const std::string& name, const std::string& file);
bool exists(hid_t loc, const std::string& name);

// Tensors of float32/float64/int64/int32/uint8 (contiguous copy written).
void write_tensor(hid_t loc, const std::string& name, const torch::Tensor& t,
                  const std::string& file);
// `what` names the dataset in errors (default: name).
torch::Tensor read_tensor(hid_t loc, const std::string& name, const std::string& file,
                          const std::string& what = "");

void write_string_attr(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file);
std::string read_string_attr(hid_t obj, const std::string& name, const std::string& file);
void write_int_attr(hid_t obj, const std::string& name, int64_t value, const std::string& file);
int64_t read_int_attr(hid_t obj, const std::string& name, const std::string& file);

// Fixed-length UTF-8 string arrays (1-D).
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v,
                   const std::string& file);
std::vector<std::string> read_strings(hid_t loc, const std::string& name, const std::string& file);

// The HDF5 type of a tensor dtype (float16 is IEEE binary16, as h5py writes it).
hid_t type_of(torch::ScalarType t);
// The tensor dtype of a dataset's stored type; throws UserError if unsupported.
torch::ScalarType dtype_of(hid_t dataset, const std::string& file, const std::string& what);
std::vector<int64_t> shape_of(hid_t dataset, const std::string& file, const std::string& what);

// Creates a dataset chunked along its first dimension (chunk_rows rows per
// chunk) with shuffle + deflate(level) when level > 0, and Fletcher-32
// checksums on every chunk so that corruption is detected on read.
void write_chunked(hid_t loc, const std::string& name, const torch::Tensor& t, int64_t chunk_rows,
                   int level, const std::string& file);
// Reads the given rows (any order, repeats allowed) of a dataset whose first
// dimension indexes rows; only the chunks holding them are touched.
torch::Tensor read_rows(hid_t dataset, const std::vector<int64_t>& rows, const std::string& file,
                        const std::string& what);
Handle open_dataset(hid_t loc, const std::string& name, const std::string& file);

// Names of the links in a group, in creation (or name) order.
std::vector<std::string> list(hid_t group, const std::string& file);

}  // namespace metacat::h5
