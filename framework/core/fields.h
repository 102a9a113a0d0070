#pragma once
// The layout of a tabular item in the model input (a declared schema,
// datasets/schema.h): which columns of the float input row are numeric
// features and which hold integer codes of a vocabulary, so that the
// embedding model (core/model.h, "embedding") knows what to embed.
//
// A row of model input is [numeric..., codes...]. Codes are small integers
// stored in int32 in the shards and carried as exact floats in the model
// input (every vocabulary has at most 2^24 codes): 0 is padding (an empty
// cell, or the unused tail of a multi-valued or sequence cell), 1 is out of
// vocabulary, 2.. the vocabulary's values, most frequent first.
#include <cstdint>
#include <string>
#include <vector>

namespace metacat {

struct InputField {
  enum class Role { kNumeric, kItem, kCategorical, kMulti, kSequence };
  std::string name;
  Role role = Role::kNumeric;
  int64_t offset = 0;  // first column in the model input
  int64_t width = 1;   // columns: 1, or max_len for multi and sequence
  int64_t vocab = 0;   // codes 0..vocab-1 (0 for numeric)
  std::string table;   // the column whose vocabulary (and embedding table) it uses
};

constexpr int64_t kPadCode = 0;
constexpr int64_t kOovCode = 1;
constexpr int64_t kMaxCodes = int64_t{1} << 24;  // exact in float32

const char* to_string(InputField::Role r);
// Throws UserError naming `where` for an unknown role.
InputField::Role parse_role(const std::string& s, const std::string& where);

// Columns of the model input that hold numbers (the numeric fields come
// first, so this is the offset of the first code).
int64_t numeric_width(const std::vector<InputField>& fields);

// The item-id column (role item), or nullptr when the layout has none.
const InputField* item_field(const std::vector<InputField>& fields);

}  // namespace metacat
