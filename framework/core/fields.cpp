#include "core/fields.h"

#include "core/error.h"

namespace metacat {

const char* to_string(InputField::Role r) {
  switch (r) {
    case InputField::Role::kNumeric:
      return "numeric";
    case InputField::Role::kItem:
      return "item";
    case InputField::Role::kCategorical:
      return "categorical";
    case InputField::Role::kMulti:
      return "multi";
    case InputField::Role::kSequence:
      return "sequence";
  }
  return "?";
}

InputField::Role parse_role(const std::string& s, const std::string& where) {
  for (auto r :
       {InputField::Role::kNumeric, InputField::Role::kItem, InputField::Role::kCategorical,
        InputField::Role::kMulti, InputField::Role::kSequence})
    if (s == to_string(r)) return r;
  throw UserError(where + ": unknown role '" + s +
                  "' (numeric, item, categorical, multi, sequence)");
}

int64_t numeric_width(const std::vector<InputField>& fields) {
  int64_t w = 0;
  for (const auto& f : fields)
    if (f.role == InputField::Role::kNumeric) w += f.width;
  return w;
}

const InputField* item_field(const std::vector<InputField>& fields) {
  for (const auto& f : fields)
    if (f.role == InputField::Role::kItem) return &f;
  return nullptr;
}

}  // namespace metacat
