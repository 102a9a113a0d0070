#include "train/sparse_tables.h"

#include <ATen/ATen.h>

#include <cstring>
#include <stdexcept>

#include "core/error.h"

namespace metacat {

namespace {

// Ids ascending, each once, with its rows summed (in the order given).
std::pair<torch::Tensor, torch::Tensor> coalesce(const torch::Tensor& ids,
                                                 const torch::Tensor& rows) {
  auto [u, inverse, counts] = at::_unique2(ids, /*sorted=*/true, /*return_inverse=*/true);
  torch::Tensor sum = torch::zeros({u.size(0), rows.size(1)}, rows.options());
  sum.index_add_(0, inverse, rows);
  return {u, sum};
}

}  // namespace

SparseTables::SparseTables(const Params& theta, const std::vector<InputField>& fields) {
  int64_t offset = 0;
  bool dense_seen = false;
  for (size_t i = 0; i < theta.size(); ++i) {
    const std::string& name = theta.names[i];
    if (name.rfind("lr.emb.", 0) == 0)
      throw UserError(
          "comm.sparse_embeddings: metasgd with learner.inner_embeddings learns a rate for every "
          "table entry (" +
          name +
          "), which sparse tables do not exchange; set "
          "learner.inner_embeddings: false or comm.sparse_embeddings: false");
    if (name.rfind("emb.", 0) != 0) {
      dense_seen = true;
      continue;
    }
    if (dense_seen)
      throw std::logic_error("sparse tables: embedding tables must come first in the parameters");
    Table t;
    t.name = name;
    t.param = i;
    t.width = theta.tensors[i].size(1);
    t.dtype = theta.tensors[i].scalar_type();
    t.device = theta.tensors[i].device();
    for (const auto& f : fields)
      if (f.role != InputField::Role::kNumeric && "emb." + f.table == name)
        t.columns.emplace_back(f.offset, f.width);
    tables_.push_back(std::move(t));
    offset += theta.tensors[i].numel();
  }
  if (tables_.empty())
    throw UserError(
        "comm.sparse_embeddings: the model has no embedding tables (model.name: embedding on data "
        "packed with a schema has them)");
  dense_offset_ = offset;
}

std::vector<TaskStats> SparseTables::accumulate(const Learner& learner, const Params& theta,
                                                const std::vector<Episode>& eps,
                                                std::vector<torch::Tensor>& grad) {
  std::vector<TaskStats> out;
  const torch::Device device = theta.tensors.at(0).device();
  for (const Episode& given : eps) {
    // On the parameters' device (callers may hand over host episodes), with
    // inputs of its own to renumber.
    const Episode ep = on_device(given, device);
    Episode local = ep;
    local.support_x = ep.support_x.clone();
    local.query_x = ep.query_x.clone();
    Params th = theta;
    std::vector<torch::Tensor> g = grad;
    std::vector<torch::Tensor> used(tables_.size());
    for (size_t t = 0; t < tables_.size(); ++t) {
      const Table& tab = tables_[t];
      // Every code the episode holds in this table's columns, and 0.
      std::vector<torch::Tensor> codes{torch::zeros({1}, torch::kInt64)};
      for (const auto& [off, w] : tab.columns)
        for (const torch::Tensor* x : {&ep.support_x, &ep.query_x})
          codes.push_back(x->slice(1, off, off + w).reshape({-1}).to(torch::kCPU, torch::kInt64));
      // Ids on the host (they are exchanged from there), rows on the device.
      torch::Tensor u = std::get<0>(at::_unique2(torch::cat(codes), true, false));
      for (const auto& [off, w] : tab.columns)
        for (torch::Tensor* x : {&local.support_x, &local.query_x}) {
          torch::Tensor cols = x->slice(1, off, off + w);
          const torch::Tensor at = torch::searchsorted(u, cols.to(torch::kCPU, torch::kInt64));
          cols.copy_(at.to(cols.device(), cols.scalar_type()));
        }
      const torch::Tensor& full = theta.tensors[tab.param];
      torch::Tensor rows = full.detach().index_select(0, u.to(full.device()));
      if (full.requires_grad()) rows.requires_grad_(true);
      th.tensors[tab.param] = rows;
      g[tab.param] = torch::zeros_like(rows).detach();
      used[t] = u;
    }
    out.push_back(learner.accumulate_meta_gradient(th, local, g));
    for (size_t t = 0; t < tables_.size(); ++t) {
      tables_[t].ids.push_back(used[t]);
      tables_[t].rows.push_back(g[tables_[t].param]);
    }
  }
  return out;
}

SparseTables::Traffic SparseTables::allgather_sum(comm::Backend& comm) {
  Traffic traffic;
  // This rank's sum per table, then one message: per table its row count,
  // ids (int64) and rows (the parameters' dtype and width).
  std::vector<char> mine;
  auto put = [&mine](const void* p, size_t n) {
    mine.insert(mine.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
  };
  for (Table& t : tables_) {
    int64_t n = 0;
    if (!t.ids.empty()) {
      auto [ids, rows] = coalesce(torch::cat(t.ids).cpu(), torch::cat(t.rows).cpu());
      t.ids = {ids};
      t.rows = {rows.to(t.dtype).contiguous()};
      n = ids.size(0);
    }
    put(&n, sizeof n);
    if (n == 0) continue;
    put(t.ids[0].data_ptr(), static_cast<size_t>(n) * 8);
    put(t.rows[0].data_ptr(), t.rows[0].nbytes());
  }
  std::vector<size_t> sizes;
  const std::vector<char> all = comm.allgather(mine.data(), mine.size(), &sizes);
  traffic.bytes_sent = static_cast<int64_t>(mine.size());
  traffic.bytes_received = static_cast<int64_t>(all.size() - mine.size());
  // Every rank's contribution in rank order, summed per id.
  std::vector<std::vector<torch::Tensor>> ids(tables_.size()), rows(tables_.size());
  size_t at = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    const size_t end = at + sizes[r];
    for (size_t t = 0; t < tables_.size(); ++t) {
      const Table& tab = tables_[t];
      int64_t n = 0;
      if (at + sizeof n > end) throw comm::CommError("sparse tables: a short message from a rank");
      std::memcpy(&n, all.data() + at, sizeof n);
      at += sizeof n;
      if (n == 0) continue;
      torch::Tensor i = torch::empty({n}, torch::kInt64);
      torch::Tensor v = torch::empty({n, tab.width}, tab.dtype);
      if (at + i.nbytes() + v.nbytes() > end)
        throw comm::CommError("sparse tables: a short message from a rank");
      std::memcpy(i.data_ptr(), all.data() + at, i.nbytes());
      at += i.nbytes();
      std::memcpy(v.data_ptr(), all.data() + at, v.nbytes());
      at += v.nbytes();
      ids[t].push_back(i);
      rows[t].push_back(v);
    }
    if (at != end) throw comm::CommError("sparse tables: a malformed message from a rank");
  }
  for (size_t t = 0; t < tables_.size(); ++t) {
    Table& tab = tables_[t];
    tab.ids.clear();
    tab.rows.clear();
    if (ids[t].empty()) continue;
    auto [i, v] = coalesce(torch::cat(ids[t]), torch::cat(rows[t]));
    tab.ids = {i.to(tab.device)};
    tab.rows = {v.to(tab.device)};
    traffic.rows += i.size(0);
  }
  return traffic;
}

double SparseTables::squared_norm() const {
  double sq = 0;
  for (const Table& t : tables_)
    for (const auto& r : t.rows) sq += r.pow(2).sum().item<double>();
  return sq;
}

bool SparseTables::finite() const {
  for (const Table& t : tables_)
    for (const auto& r : t.rows)
      if (!torch::isfinite(r).all().item<bool>()) return false;
  return true;
}

void SparseTables::scale(double factor) {
  torch::NoGradGuard ng;
  for (Table& t : tables_)
    for (auto& r : t.rows) r.mul_(factor);
}

void SparseTables::step(Optimizer& opt, Params& theta) const {
  for (const Table& t : tables_)
    if (!t.ids.empty()) opt.step_rows(theta.tensors[t.param], t.param, t.ids[0], t.rows[0]);
}

void SparseTables::add_into(std::vector<torch::Tensor>& grad) const {
  torch::NoGradGuard ng;
  for (const Table& t : tables_)
    if (!t.ids.empty()) grad[t.param].index_add_(0, t.ids[0], t.rows[0]);
}

void SparseTables::clear() {
  for (Table& t : tables_) {
    t.ids.clear();
    t.rows.clear();
  }
}

}  // namespace metacat
