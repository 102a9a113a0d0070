#pragma once
// The run configuration: a fixed schema of dotted keys with types, defaults,
// ranges and help (config.cpp), filled from YAML files and --set overrides.
//
// Contract: every key a run reads is in the schema; loading rejects unknown
// keys, wrong types and out-of-range values with one UserError that names the
// key path and the file and line it came from. The resolved config (all keys,
// defaults included) round-trips through to_yaml()/from_yaml().
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace metacat {

class Config {
 public:
  Config();  // all defaults

  static Config load_file(const std::string& path);
  static Config from_yaml(const std::string& text, const std::string& origin);
  // Applies "a.b=value"; value is YAML ("[1, 2]" for lists).
  void set(const std::string& assignment);
  void set(const std::string& key, const std::string& yaml_value, const std::string& origin);

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int64_t> get_ints(const std::string& key) const;
  std::vector<double> get_floats(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  // Where the value of key came from: "default", "FILE:LINE" or "--set".
  std::string origin(const std::string& key) const;

  std::string to_yaml() const;
  // Hash of the resolved values (keys sorted), for checkpoints.
  uint64_t hash() const;
  // Keys whose values differ between a and b.
  static std::vector<std::string> diff(const Config& a, const Config& b);
  // One line per key: "key (type, default ...): help".
  static std::string schema_help();

  struct Value {
    std::vector<std::string> items;  // one item for scalars
    std::string origin = "default";
  };

 private:
  void assign(const std::string& key, Value v);
  const Value& value(const std::string& key) const;
  std::map<std::string, Value> values_;
};

}  // namespace metacat
