#include "learners/metaemb.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "core/optimizer.h"
#include "core/rng.h"

namespace metacat {

namespace {

// Rows drawn like an untrained id row, N(0, 0.1^2) (core/model.cpp's table
// initialisation), from `rng`, in the dtype and device of `like`.
torch::Tensor untrained_rows(Rng& rng, const torch::Tensor& like) {
  torch::Tensor r = torch::empty(like.sizes(), torch::kFloat64);
  double* d = r.data_ptr<double>();
  for (int64_t j = 0; j < r.numel(); ++j) d[j] = 0.1 * rng.normal();
  return r.to(like.device(), like.scalar_type());
}

std::string field_names(const std::vector<InputField>& fields) {
  std::string s;
  for (const auto& f : fields) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

torch::Tensor index_tensor(const std::vector<int64_t>& v, const torch::Device& d) {
  return torch::tensor(v, torch::kInt64).to(d);
}

}  // namespace

bool ItemIndex::is_cold(int64_t k, bool named_too) const {
  return k > kOovCode && shown[k] && !warm[k] && (named_too || !named[k]);
}

int64_t ItemIndex::cold(bool named_too) const {
  int64_t n = 0;
  for (size_t k = 0; k < shown.size(); ++k) n += is_cold(static_cast<int64_t>(k), named_too);
  return n;
}

ItemIndex index_items(const ItemStore& store, const std::vector<InputField>& fields) {
  const InputField* item = item_field(fields);
  if (!item)
    throw UserError(
        "baselines.metaemb generates id embeddings of new items, and this data has no item "
        "column (role: item in the schema it was packed with)");
  ItemIndex ix;
  ix.table = "emb." + item->table;
  ix.item_column = item->offset;
  const int64_t codes = item->vocab;
  ix.shown.assign(codes, 0);
  ix.warm.assign(codes, 0);
  ix.named.assign(codes, 0);
  ix.train_rows.resize(codes);
  std::vector<torch::Tensor> xs, ys;
  int64_t offset = 0;
  for (int64_t c = 0; c < store.num_categories(); ++c) {
    const CategoryInfo& info = store.info(c);
    if (info.items == 0) continue;
    std::vector<int64_t> all(info.items);
    for (int64_t r = 0; r < info.items; ++r) all[r] = r;
    Rows rows = store.gather(c, all);
    const torch::Tensor x = rows.items.to(torch::kFloat32).contiguous();
    if (!ix.attributes.defined()) ix.attributes = torch::zeros({codes, x.size(1)}, torch::kFloat32);
    const torch::Tensor col = x.select(1, ix.item_column).to(torch::kInt64).contiguous();
    const int64_t* code = col.data_ptr<int64_t>();
    const bool train = info.split == Split::kTrain;
    for (int64_t r = 0; r < info.items; ++r) {
      const int64_t k = code[r];
      if (k < 0 || k >= codes) throw std::logic_error("item code out of range");
      if (!ix.shown[k]) ix.attributes[k].copy_(x[r]);
      ix.shown[k] = 1;
      if (!train) continue;
      ix.warm[k] = 1;
      ix.train_rows[k].push_back(offset + r);
    }
    if (!train) continue;
    // A training row also trains the item rows its other columns of the
    // item's table read (a click history): named, not untouched.
    for (const auto& f : fields) {
      if (f.role == InputField::Role::kNumeric || f.table != item->table || &f == item) continue;
      const torch::Tensor cs =
          x.slice(1, f.offset, f.offset + f.width).to(torch::kInt64).contiguous();
      const int64_t* c = cs.data_ptr<int64_t>();
      for (int64_t j = 0; j < cs.numel(); ++j)
        if (c[j] > kPadCode && c[j] < codes) ix.named[c[j]] = 1;
    }
    xs.push_back(x);
    ys.push_back(rows.labels.to(torch::kFloat32));
    offset += info.items;
  }
  if (xs.empty()) throw UserError("baselines.metaemb: the data has no training tasks");
  ix.train_x = torch::cat(xs);
  ix.train_y = torch::cat(ys);
  return ix;
}

MetaEmb::MetaEmb(const Model& model, MetaEmbOptions options)
    : model_(model), o_(std::move(options)) {
  const auto& fields = model.spec().fields;
  if (model.spec().name != "embedding" || fields.empty())
    throw UserError("baselines.metaemb: needs model.name: embedding on data packed with a schema");
  const InputField* item = item_field(fields);
  if (!item)
    throw UserError(
        "baselines.metaemb generates id embeddings of new items, and this data has no item "
        "column (role: item in the schema it was packed with)");
  table_ = "emb." + item->table;
  const auto& skip = model.spec().skip;
  if (std::find(skip.begin(), skip.end(), item->name) != skip.end())
    throw UserError(
        "baselines.metaemb generates the id embeddings the model reads, and model.skip "
        "leaves out the item column '" +
        item->name + "'");
  const std::vector<InputField> read = read_fields(model.spec());
  if (o_.attributes.empty())
    throw UserError(
        "baselines.metaemb.attributes: list the item's attribute columns the generator reads "
        "(of " +
        field_names(fields) + ")");
  if (o_.steps < 1 || o_.items < 1 || o_.rows < 1 || o_.hidden < 1)
    throw UserError("baselines.metaemb: steps, items, rows and hidden must be positive");
  if (o_.replace != "untouched" && o_.replace != "unshown")
    throw UserError("baselines.metaemb.replace: '" + o_.replace + "' (untouched or unshown)");
  if (o_.rows_as != "generated" && o_.rows_as != "shuffled" && o_.rows_as != "mean" &&
      o_.rows_as != "zero" && o_.rows_as != "warm_mean" && o_.rows_as != "random")
    throw UserError("baselines.metaemb.rows_as: '" + o_.rows_as +
                    "' (generated, shuffled, mean, zero, warm_mean or random)");
  if (o_.cold_weight < 0 || o_.cold_weight > 1)
    throw UserError("baselines.metaemb.cold_weight: must be in [0, 1]");
  for (const auto& name : o_.attributes) {
    auto f = std::find_if(fields.begin(), fields.end(),
                          [&](const InputField& g) { return g.name == name; });
    if (f == fields.end())
      throw UserError("baselines.metaemb.attributes: no column '" + name + "' in the data (" +
                      field_names(fields) + ")");
    if (f->role == InputField::Role::kItem || f->role == InputField::Role::kSequence ||
        f->table == item->table)
      throw UserError("baselines.metaemb.attributes: '" + name +
                      "' is the item id or reads its table; the generator's inputs are the "
                      "item's other columns (brand, shop, tags, price, ...)");
    if (std::find_if(attrs_.begin(), attrs_.end(),
                     [&](const InputField& g) { return g.name == name; }) != attrs_.end())
      throw UserError("baselines.metaemb.attributes: '" + name + "' is listed twice");
    attrs_.push_back(*f);
    in_ += f->role == InputField::Role::kNumeric ? f->width : model.spec().embedding_dim;
    // A table no column the model reads uses: the generator learns its own.
    const bool model_has = std::any_of(read.begin(), read.end(), [&](const InputField& g) {
      return g.role != InputField::Role::kNumeric && g.table == f->table;
    });
    if (f->role != InputField::Role::kNumeric && !model_has &&
        std::find(own_tables_.begin(), own_tables_.end(), f->table) == own_tables_.end()) {
      own_tables_.push_back(f->table);
      own_vocab_.push_back(f->vocab);
    }
  }
}

Params MetaEmb::init(uint64_t seed) const {
  const int64_t H = o_.hidden, E = model_.spec().embedding_dim;
  Params p;
  p.add("gen.0.weight", model_.uniform_init(seed, 900, {H, in_}, in_));
  p.add("gen.0.bias", model_.uniform_init(seed, 901, {H}, in_));
  p.add("gen.1.weight", model_.uniform_init(seed, 902, {E, H}, H));
  p.add("gen.1.bias", model_.uniform_init(seed, 903, {E}, H));
  // Own attribute tables: U(-0.1, 0.1) rows (the model's are N(0, 0.1^2)).
  for (size_t t = 0; t < own_tables_.size(); ++t)
    p.add("gen.emb." + own_tables_[t], model_.uniform_init(seed, 910 + t, {own_vocab_[t], E}, 100));
  return p;
}

torch::Tensor MetaEmb::generate(const Params& gen, const Params& theta,
                                const torch::Tensor& rows) const {
  const torch::Tensor& w = gen.at("gen.0.weight");
  const torch::Tensor x = rows.to(w.device(), w.scalar_type());
  std::vector<torch::Tensor> parts;
  for (const auto& f : attrs_) {
    const torch::Tensor cols = x.slice(1, f.offset, f.offset + f.width);
    if (f.role == InputField::Role::kNumeric) {
      parts.push_back(cols);
      continue;
    }
    const bool own =
        std::find(own_tables_.begin(), own_tables_.end(), f.table) != own_tables_.end();
    const torch::Tensor table =
        own ? gen.at("gen.emb." + f.table) : theta.at("emb." + f.table).detach();
    const torch::Tensor codes = cols.to(torch::kInt64);
    torch::Tensor e =
        table.index_select(0, codes.reshape({-1})).reshape({x.size(0), f.width, table.size(1)});
    const torch::Tensor mask = codes.ne(kPadCode).to(x.scalar_type()).unsqueeze(2);
    parts.push_back((e * mask).sum(1) / mask.sum(1).clamp_min(1));
  }
  torch::Tensor h = torch::relu(torch::linear(torch::cat(parts, 1), w, gen.at("gen.0.bias")));
  return torch::linear(h, gen.at("gen.1.weight"), gen.at("gen.1.bias"));
}

torch::Tensor MetaEmb::loss(const Params& theta, const torch::Tensor& table,
                            const torch::Tensor& codes, const torch::Tensor& phi,
                            const torch::Tensor& x, const torch::Tensor& y) const {
  Params swap;
  swap.add(table_, table.index_copy(0, codes, phi));
  const torch::Tensor out = model_.forward(theta.with(swap), x, Mode::kEval);
  return torch::binary_cross_entropy_with_logits(out.reshape({-1}), y);
}

Params MetaEmb::train(const Params& theta_in, const ItemIndex& ix, uint64_t seed, Report* report,
                      const std::function<bool()>& stop) const {
  const Params theta = theta_in.detached(false);
  const torch::Tensor& table = theta.at(table_);
  const torch::Device dev = table.device();
  const auto dtype = table.scalar_type();
  std::vector<int64_t> items;
  for (size_t k = 0; k < ix.train_rows.size(); ++k)
    if (ix.warm[k] && ix.train_rows[k].size() >= 2) items.push_back(static_cast<int64_t>(k));
  if (items.empty())
    throw UserError("baselines.metaemb: no item of the training tasks has two impressions");
  Params gen = init(seed).on(dev).detached(true);
  OptimizerSpec spec;
  spec.lr = o_.lr;
  Optimizer opt(spec, gen.tensors);
  Rng rng(seed, 0, 0, Stream::kBaseline);
  const int64_t B = std::min<int64_t>(o_.items, static_cast<int64_t>(items.size()));
  const int64_t K = o_.rows;
  struct Draw {
    torch::Tensor c, xa, ya, xb, yb;
  };
  auto draw = [&] {
    std::vector<int64_t> codes, a, b;
    for (int64_t j : rng.sample(static_cast<int64_t>(items.size()), B)) {
      const int64_t k = items[j];
      const auto& rows = ix.train_rows[k];
      const int64_t n = static_cast<int64_t>(rows.size()), half = n / 2;
      const std::vector<int64_t> perm = rng.sample(n, n);
      codes.push_back(k);
      for (int64_t i = 0; i < K; ++i) a.push_back(rows[perm[rng.randint(half)]]);
      for (int64_t i = 0; i < K; ++i) b.push_back(rows[perm[half + rng.randint(n - half)]]);
    }
    const torch::Tensor ia = index_tensor(a, torch::kCPU), ib = index_tensor(b, torch::kCPU);
    return Draw{index_tensor(codes, dev), ix.train_x.index_select(0, ia).to(dev, dtype),
                ix.train_y.index_select(0, ia).to(dev, dtype),
                ix.train_x.index_select(0, ib).to(dev, dtype),
                ix.train_y.index_select(0, ib).to(dev, dtype)};
  };
  std::vector<double> losses;
  for (int64_t s = 0; s < o_.steps; ++s) {
    if (stop && s % kStopCheckEvery == 0 && stop()) throw GeneratorStopped{};
    const Draw d = draw();
    const torch::Tensor &c = d.c, &xa = d.xa, &ya = d.ya, &xb = d.xb, &yb = d.yb;
    const torch::Tensor phi = generate(gen, theta, ix.attributes.index_select(0, c.cpu()));
    const torch::Tensor la = loss(theta, table, c, phi, xa, ya);
    // Per item: the gradient of its own mean loss (la is the mean over B
    // items). With model.context_rows: mean the B x K rows of a call also
    // share their mean input, so each item's gradient carries a little of
    // the others' losses.
    const torch::Tensor g =
        torch::autograd::grad({la * static_cast<double>(B)}, {phi}, {}, true, true)[0];
    const torch::Tensor lb = loss(theta, table, c, phi - o_.warmup_lr * g, xb, yb);
    const torch::Tensor total = o_.cold_weight * la + (1 - o_.cold_weight) * lb;
    std::vector<torch::Tensor> grads = torch::autograd::grad({total}, gen.tensors);
    opt.step(gen.tensors, grads);
    losses.push_back(total.item<double>());
  }
  if (report) {
    // What the generated rows are worth, on fresh draws of the same items:
    // the cold-phase loss with them, with the items' own trained rows (what
    // a generator could at best reproduce), and with rows drawn like an
    // untrained id row, N(0, 0.1^2) (what a new item has without one).
    torch::NoGradGuard ng;
    Rng noise(seed, 1, 0, Stream::kBaseline);
    const int64_t checks = 20;
    for (int64_t i = 0; i < checks; ++i) {
      const Draw d = draw();
      const torch::Tensor phi = generate(gen, theta, ix.attributes.index_select(0, d.c.cpu()));
      const torch::Tensor random = untrained_rows(noise, phi);
      report->generated_loss += loss(theta, table, d.c, phi, d.xa, d.ya).item<double>() / checks;
      report->trained_loss +=
          loss(theta, table, d.c, table.index_select(0, d.c), d.xa, d.ya).item<double>() / checks;
      report->random_loss += loss(theta, table, d.c, random, d.xa, d.ya).item<double>() / checks;
    }
    const size_t tenth = std::max<size_t>(1, losses.size() / 10);
    double first = 0, last = 0;
    for (size_t i = 0; i < tenth; ++i) {
      first += losses[i];
      last += losses[losses.size() - 1 - i];
    }
    report->first_loss = first / static_cast<double>(tenth);
    report->last_loss = last / static_cast<double>(tenth);
    report->items = static_cast<int64_t>(items.size());
  }
  return gen.detached(false);
}

bool MetaEmb::uses_generator() const {
  return o_.rows_as == "generated" || o_.rows_as == "shuffled" || o_.rows_as == "mean";
}

Params MetaEmb::fill_cold(const Params& theta, const Params& gen, const ItemIndex& ix,
                          uint64_t seed) const {
  std::vector<int64_t> cold;
  for (size_t k = 0; k < ix.shown.size(); ++k)
    if (ix.is_cold(static_cast<int64_t>(k), o_.replace == "unshown"))
      cold.push_back(static_cast<int64_t>(k));
  if (cold.empty()) return theta;
  torch::NoGradGuard ng;
  const torch::Tensor& table = theta.at(table_);
  const torch::Tensor c = index_tensor(cold, table.device());
  // The generator's rows, or (zero, warm_mean, random) a place for rows made
  // without it.
  torch::Tensor phi = uses_generator()
                          ? generate(gen, theta, ix.attributes.index_select(0, c.cpu()))
                          : torch::empty({c.size(0), table.size(1)}, table.options());
  if (o_.rows_as == "shuffled") {
    // A fixed permutation: every rank fills the same rows.
    Rng rng(0, 2, 0, Stream::kBaseline);
    const int64_t n = phi.size(0);
    phi = phi.index_select(0, index_tensor(rng.sample(n, n), phi.device()));
  } else if (o_.rows_as == "mean") {
    phi = phi.mean(0, true).expand_as(phi);
  } else if (o_.rows_as == "zero") {
    phi = torch::zeros_like(phi);
  } else if (o_.rows_as == "random") {
    // Fresh rows drawn like an untrained id row, N(0, 0.1^2), from the
    // training seed (the same on every rank, another draw per seed): with
    // replace: unshown, the start an item has when no training row named it.
    Rng noise(seed, 3, 0, Stream::kBaseline);
    phi = untrained_rows(noise, phi);
  } else if (o_.rows_as == "warm_mean") {
    std::vector<int64_t> warm;
    for (size_t k = 0; k < ix.warm.size(); ++k)
      if (ix.warm[k] && static_cast<int64_t>(k) > kOovCode) warm.push_back(static_cast<int64_t>(k));
    if (warm.empty()) throw std::logic_error("metaemb: no warm item");
    phi = table.index_select(0, index_tensor(warm, table.device()))
              .mean(0, true)
              .expand_as(phi)
              .to(phi.scalar_type());
  }
  torch::Tensor filled = table.detach().clone();
  filled.index_copy_(0, c, phi.to(filled.scalar_type()));
  Params swap;
  swap.add(table_, filled);
  return theta.with(swap);
}

}  // namespace metacat
