#include "core/params.h"

#include "core/error.h"
#include "core/rng.h"

namespace metacat {

void Params::add(const std::string& name, torch::Tensor t) {
  if (contains(name)) throw std::logic_error("duplicate parameter name: " + name);
  names.push_back(name);
  tensors.push_back(std::move(t));
}

int64_t Params::index_of(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int64_t>(i);
  return -1;
}

const torch::Tensor& Params::at(const std::string& name) const {
  int64_t i = index_of(name);
  if (i < 0) throw std::out_of_range("no parameter named " + name);
  return tensors[i];
}

int64_t Params::numel() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

Params Params::detached(bool requires_grad) const {
  Params out;
  for (size_t i = 0; i < size(); ++i)
    out.add(names[i], tensors[i].detach().clone().set_requires_grad(requires_grad));
  return out;
}

Params Params::with(const Params& other) const {
  Params out = *this;
  for (size_t i = 0; i < other.size(); ++i) {
    int64_t j = index_of(other.names[i]);
    if (j < 0) throw std::out_of_range("no parameter named " + other.names[i]);
    out.tensors[j] = other.tensors[i];
  }
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto& t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

Params Params::on(const torch::Device& device) const {
  bool there = true;
  for (const auto& t : tensors) there = there && t.device() == device;
  if (there) return *this;
  Params out;
  for (size_t i = 0; i < size(); ++i) {
    torch::Tensor t = tensors[i].detach().to(device);
    out.add(names[i], tensors[i].requires_grad() ? t.set_requires_grad(true) : t);
  }
  return out;
}

uint64_t checksum(const Params& p) {
  uint64_t h = 0x12345678ULL;
  for (const auto& t : p.tensors) {
    torch::Tensor c = t.detach().cpu().contiguous();
    const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
    const size_t n = c.numel() * c.element_size();
    uint64_t word = 0;
    for (size_t i = 0; i < n; ++i) {
      word = (word << 8) | bytes[i];
      if ((i & 7) == 7) {
        h = mix64(h ^ word);
        word = 0;
      }
    }
    h = mix64(h ^ word ^ n);
  }
  return h;
}

}  // namespace metacat
