// A small command-line parser: positionals plus `--name value`, `--name=value` and flags.
// Unknown options are errors that list the valid ones.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::cli {

struct OptionSpec {
  std::string name;  // without dashes
  bool takes_value = false;
  bool repeatable = false;
};

struct Args {
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;

  bool has(const std::string& name) const { return flags.count(name) || values.count(name); }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

Result<Args> parse_args(const std::vector<std::string>& argv,
                        const std::vector<OptionSpec>& options);

}  // namespace dec::cli
