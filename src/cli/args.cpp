#include "cli/args.h"

namespace dec::cli {

Result<Args> parse_args(const std::vector<std::string>& argv,
                        const std::vector<OptionSpec>& options) {
  Args args;
  auto find = [&](const std::string& name) -> const OptionSpec* {
    for (const auto& o : options) {
      if (o.name == name) return &o;
    }
    return nullptr;
  };
  bool only_positionals = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-') {
      args.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (name == "h") name = "help";
    const OptionSpec* spec = find(name);
    if (spec == nullptr) {
      std::string valid;
      for (const auto& o : options) valid += (valid.empty() ? "--" : ", --") + o.name;
      return make_error("unknown option " + arg +
                        (valid.empty() ? "" : "; valid options: " + valid));
    }
    if (!spec->takes_value) {
      if (inline_value) return make_error("option --" + name + " takes no value");
      args.flags.insert(name);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argv.size()) return make_error("option --" + name + " needs a value");
      value = argv[++i];
    }
    if (!spec->repeatable && args.values.count(name)) {
      return make_error("option --" + name + " given more than once");
    }
    args.values[name].push_back(value);
  }
  return args;
}

}  // namespace dec::cli
