#pragma once
// Id embeddings for new items from their attributes (the `metaemb`
// baseline; after Pan et al., "Warm up cold-start advertisements", SIGIR
// 2019).
//
// An item that no training task shows or names (in its item column, or in
// another column of the item's table, such as a click history) has an
// id-embedding row that no meta-step touched: it is still its random
// initialisation. (replace: unshown also replaces the rows of items that
// training rows only name, learned as history entries only.) A generator
// maps the item's attributes (the trained model's embeddings of its brand,
// shop, tags, ... and its numeric columns; baselines.metaemb.attributes) to
// an id embedding, and at evaluation those rows are replaced by what it
// generates.
//
// Training (the model frozen at the trained parameters theta, only the
// generator learns), over items of the training tasks: draw `items` items
// and split each one's impressions into two random halves; a and b are
// `rows` draws (with replacement) from the first and the second half;
//   cold phase     phi   = g(attributes),  L_a = loss on a with phi as the id row
//   warm-up phase  phi'  = phi - warmup_lr dL_a/dphi (one step, per item),
//                  L_b   = loss on b with phi'
//   generator loss cold_weight L_a + (1 - cold_weight) L_b  (Adam, lr)
// so the generated embedding scores well before any click and is a good
// start for the first gradient steps on the item's own clicks.
//
// Generator: [attribute embeddings (mean-pooled for multi-valued columns),
// numeric attributes] -> linear -> ReLU -> linear -> id embedding. The
// attribute embeddings are the trained model's, or, for columns the model
// does not read (model.skip: an id-heavy model), tables of the generator's
// own.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/params.h"
#include "episodes/item_store.h"

namespace metacat {

struct MetaEmbOptions {
  std::vector<std::string> attributes;  // the item's attribute columns
  int64_t steps = 1000;
  int64_t items = 32;  // items per generator step
  int64_t rows = 4;    // impressions per phase and item
  double lr = 1e-3;
  double warmup_lr = 0.1;
  double cold_weight = 0.5;
  int64_t hidden = 32;
  // Which rows are replaced: "untouched", items no training row shows or
  // names (their rows are their random initialisation); "unshown", every
  // item no training row shows as its item, also those a training row's
  // click history names (their rows learned only as history entries).
  std::string replace = "untouched";
  // What the replaced rows become: "generated", the generator's rows; or,
  // to read what they carry, an ablation: "shuffled" (the generated rows
  // permuted among all the new items: their spread kept, which item, and so
  // which task, gets which row dropped), "mean" (their mean), "zero",
  // "warm_mean" (the mean of the training items' trained rows); or
  // "random", fresh N(0, 0.1^2) rows drawn from the training seed (an
  // untrained row: with replace: unshown, the reference for items no
  // training row names).
  std::string rows_as = "generated";
};

// The items of preference data packed with a schema that has an item column:
// one model-input row per item code (its attributes), which codes a
// training-split task shows as its item (warm) or names in another column of
// the item's table (named), and where each is shown there.
struct ItemIndex {
  std::string table;         // the item column's embedding table ("emb.<table>")
  int64_t item_column = 0;   // the item code's column in the model input
  torch::Tensor attributes;  // [codes, width]: a row of each item (zeros if never shown)
  std::vector<uint8_t> shown, warm, named;       // per code
  torch::Tensor train_x, train_y;                // every row of the training tasks
  std::vector<std::vector<int64_t>> train_rows;  // per code: its rows of train_x
  // The new items: codes above out-of-vocabulary, shown somewhere, not
  // warm, and (unless `named_too`) not named by a training row.
  bool is_cold(int64_t code, bool named_too = false) const;
  int64_t cold(bool named_too = false) const;
};

// Throws UserError when the data has no item column.
// `fields`: the columns the model reads (read_fields of its spec), so a
// click history the model skips names no item.
ItemIndex index_items(const ItemStore& store, const std::vector<InputField>& fields);

class MetaEmb {
 public:
  // Checks the attributes against the model's input layout (UserError
  // naming baselines.metaemb.attributes).
  MetaEmb(const Model& model, MetaEmbOptions options);
  Params init(uint64_t seed) const;
  // Generated id embeddings [n, embedding_dim] of items whose model-input
  // rows are `rows` [n, width]; theta's attribute tables are read, not
  // differentiated. An attribute whose table the model does not have (its
  // columns in model.skip) is read from the generator's own table
  // "gen.emb.<table>", learned with it.
  torch::Tensor generate(const Params& gen, const Params& theta, const torch::Tensor& rows) const;
  struct Report {
    double first_loss = 0, last_loss = 0;  // mean generator loss, first and last 10% of steps
    int64_t items = 0;                     // training items with two or more impressions
    // Cold-phase loss after training on 20 fresh draws: with the generated
    // rows, with the items' own trained rows, with N(0, 0.1^2) rows.
    double generated_loss = 0, trained_loss = 0, random_loss = 0;
  };
  // Trains a generator for the model at theta (deterministic in seed).
  // `stop`, when given, is asked before step 0 and then every kStopCheckEvery
  // steps: stop_checks() times in all, so other ranks can take part in it
  // as a collective by asking it as often. When it says true, training
  // ends with GeneratorStopped.
  Params train(const Params& theta, const ItemIndex& index, uint64_t seed, Report* report = nullptr,
               const std::function<bool()>& stop = {}) const;
  static constexpr int64_t kStopCheckEvery = 16;
  int64_t stop_checks() const { return (o_.steps + kStopCheckEvery - 1) / kStopCheckEvery; }
  struct GeneratorStopped {};
  // theta with the id rows of the new items (ItemIndex::is_cold, with
  // named_too for replace: unshown) replaced by the generator's (or, under
  // rows_as, an ablation of them). `seed` (the run's training seed) draws
  // the rows of rows_as: random.
  Params fill_cold(const Params& theta, const Params& gen, const ItemIndex& index,
                   uint64_t seed = 0) const;
  // Whether the rows rows_as puts in place are made from a generator's
  // (generated, shuffled, mean); zero, warm_mean and random need none.
  bool uses_generator() const;

 private:
  torch::Tensor loss(const Params& theta, const torch::Tensor& table, const torch::Tensor& codes,
                     const torch::Tensor& phi, const torch::Tensor& x,
                     const torch::Tensor& y) const;
  const Model& model_;
  MetaEmbOptions o_;
  std::vector<InputField> attrs_;
  std::vector<std::string> own_tables_;  // tables of attributes the model skips
  std::vector<int64_t> own_vocab_;
  int64_t in_ = 0;
  std::string table_;
};

}  // namespace metacat
