#pragma once
// Cell-level helpers shared by the CSV readers (csv_features.cpp,
// schema.cpp). No quoting: a separator inside a value is not supported.
#include <sstream>
#include <string>
#include <vector>

namespace metacat {

// The cells of one line; a trailing separator gives a last empty cell.
inline std::vector<std::string> split_line(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::stringstream ss(line);
  while (std::getline(ss, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

// s without the leading and trailing characters of `blank`.
inline std::string trim(const std::string& s, const char* blank = " \t") {
  const auto a = s.find_first_not_of(blank), b = s.find_last_not_of(blank);
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Whether all of s is one number (std::stod's syntax: nan and inf too).
inline bool to_double(const std::string& s, double& v) {
  try {
    size_t pos;
    v = std::stod(s, &pos);
    return pos == s.size();
  } catch (...) {
    return false;
  }
}

}  // namespace metacat
