#include "core/spec_parser.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <variant>

#include "core/units.h"

namespace dec::core {
namespace {

constexpr uint64_t kMinMessageSize = 32;  // dec's payload header
constexpr uint64_t kMaxMessageSize = uint64_t{64} << 20;
// workload.client.linger and fetch_wait: the largest every driver's key accepts (Redis block_ms,
// Kinesis linger_ms and poll_interval_ms stop at 60 s), so a mapped value is never rejected.
constexpr std::chrono::nanoseconds kMaxClientWait = std::chrono::seconds(60);
// A hash partitioner needs several keys per partition to fill them all evenly.
constexpr int64_t kKeysPerPartition = 4;

const std::vector<std::string>& provider_names() {
  static const std::vector<std::string> kNames = {"local", "endpoints", "kubernetes", "terraform"};
  return kNames;
}

const std::vector<std::string>& fault_actions() {
  static const std::vector<std::string> kNames = {"kill",       "pause",     "resume",
                                                  "disconnect", "reconnect", "throttle"};
  return kNames;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("redsi" → "redis"
// is one edit), compared case-insensitively.
size_t edit_distance(std::string_view a_text, std::string_view b_text) {
  const std::string a = lowercase(a_text);
  const std::string b = lowercase(b_text);
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate closest to `word`, if it is close enough to be a likely typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
  const size_t allowed = word.size() <= 3 ? 1 : 2;
  std::optional<std::string> best;
  size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> match = closest_match(word, candidates);
  return match ? " (did you mean " + in_quotes(*match) + "?)" : "";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return in_quotes(node.Scalar());
    default:
      return "nothing";
  }
}

// std::from_chars takes "-5" but not "+5"; YAML writers may emit either.
std::string_view without_plus(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  return text;
}

bool is_valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// ---- Durations and bandwidth as exact text (for messages and JSON) ------------------------------

// The largest unit that represents `d` exactly, so the text parses back to the same value.
std::string exact_duration(std::chrono::nanoseconds d) {
  constexpr std::pair<int64_t, std::string_view> kUnits[] = {{int64_t{3600} * 1000000000, "h"},
                                                             {int64_t{60} * 1000000000, "m"},
                                                             {1000000000, "s"},
                                                             {1000000, "ms"},
                                                             {1000, "us"},
                                                             {1, "ns"}};
  const int64_t nanos = d.count();
  if (nanos == 0) return "0s";
  for (const auto& [size, unit] : kUnits) {
    if (nanos % size == 0) return std::to_string(nanos / size) + std::string(unit);
  }
  return std::to_string(nanos) + "ns";
}

std::string exact_bandwidth(uint64_t bits) {
  constexpr std::pair<uint64_t, std::string_view> kUnits[] = {
      {1000000000, "Gbit"}, {1000000, "Mbit"}, {1000, "kbit"}};
  for (const auto& [size, unit] : kUnits) {
    if (bits != 0 && bits % size == 0) return std::to_string(bits / size) + std::string(unit);
  }
  return std::to_string(bits) + "bit";
}

// Walks the YAML tree, fills a Spec and records every problem with its field path.
class SpecReader {
 public:
  explicit SpecReader(const DriverCatalog& catalog) : catalog_(catalog) {}

  Spec read(const YAML::Node& root) {
    Spec spec;
    bool has_name = false;
    bool has_systems = false;
    // Faults are checked against the workload and the systems, which may come later in the map,
    // and only when those parsed cleanly: a broken workload must not make every fault look wrong.
    bool workload_ok = true;
    bool systems_ok = true;
    std::vector<FaultEntry> faults;
    read_map(root, "",
             {{"name",
               [&](const YAML::Node& node, const std::string& path) {
                 has_name = true;
                 if (read_string(node, path, spec.name) && spec.name.empty()) {
                   error(path, "must not be empty");
                 }
               }},
              {"description",
               [&](const YAML::Node& node, const std::string& path) {
                 read_string(node, path, spec.description);
               }},
              {"workload",
               [&](const YAML::Node& node, const std::string& path) {
                 const size_t before = errors_.size();
                 read_workload(node, path, spec.workload);
                 workload_ok = errors_.size() == before;
               }},
              {"systems",
               [&](const YAML::Node& node, const std::string& path) {
                 has_systems = true;
                 const size_t before = errors_.size();
                 read_systems(node, path, spec.systems);
                 systems_ok = errors_.size() == before;
               }},
              {"targets", [&](const YAML::Node& node,
                              const std::string& path) { read_targets(node, path, spec.targets); }},
              {"faults", [&](const YAML::Node& node, const std::string& path) {
                 read_faults(node, path, faults);
               }}});
    if (!has_name) error("name", "required field missing: give the experiment a name");
    if (!has_systems) error("systems", "required field missing: list at least one system");
    if (workload_ok) check_fault_times(faults, spec.workload);
    if (workload_ok) warn_about_keys(spec.workload);
    if (workload_ok && systems_ok && has_systems)
      warn_about_idle_nodes(spec.workload, spec.systems);
    if (systems_ok && has_systems) check_fault_targets(faults, spec.systems);
    for (FaultEntry& entry : faults) spec.faults.push_back(std::move(entry.fault));
    // Stable: faults at the same instant run in the order written.
    std::stable_sort(spec.faults.begin(), spec.faults.end(),
                     [](const Fault& a, const Fault& b) { return a.at < b.at; });
    return spec;
  }

  std::vector<FieldError> take_errors() { return std::move(errors_); }
  std::vector<FieldError> take_warnings() { return std::move(warnings_); }

 private:
  using FieldReader = std::function<void(const YAML::Node& node, const std::string& path)>;
  using FieldReaders = std::vector<std::pair<std::string, FieldReader>>;

  // A fault as read, with what the checks against workload and systems need to know.
  struct FaultEntry {
    Fault fault;
    std::string path;         // "faults[2]", as written (before sorting)
    bool at_ok = false;       // `at` given and valid
    bool target_ok = true;    // `target` absent or valid
    bool system_ok = true;    // `system` absent or a valid string
    bool has_system = false;  // `system` given
  };

  void error(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }
  void warning(std::string path, std::string message) {
    warnings_.push_back({std::move(path), std::move(message)});
  }

  // Calls the reader of each field present (null values count as absent) and reports unknown ones.
  void read_map(const YAML::Node& node, const std::string& path, const FieldReaders& fields) {
    if (node.IsNull()) return;
    std::vector<std::string> names;
    for (const auto& [name, reader] : fields) names.push_back(name);
    if (!node.IsMap()) {
      error(path, "expected a map with fields " + join_names(names) + ", got " + describe(node));
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        error(path, "field names must be plain words, got " + describe(entry.first));
        continue;
      }
      const std::string& key = entry.first.Scalar();
      const std::string field_path = join_path(path, key);
      if (!seen.insert(key).second) {
        error(field_path, "given more than once");
        continue;
      }
      auto field = std::find_if(fields.begin(), fields.end(),
                                [&](const auto& candidate) { return candidate.first == key; });
      if (field == fields.end()) {
        error(field_path, "unknown field" + did_you_mean(key, names));
        continue;
      }
      if (!entry.second.IsNull()) field->second(entry.second, field_path);
    }
  }

  // The text of a scalar, or nullopt (with an error) for maps and lists.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path,
                                    std::string_view expected) {
    if (node.IsScalar()) return node.Scalar();
    error(path, "expected " + std::string(expected) + ", got " + describe(node));
    return std::nullopt;
  }

  bool read_string(const YAML::Node& node, const std::string& path, std::string& out) {
    std::optional<std::string> text = scalar(node, path, "a string");
    if (!text) return false;
    out = *text;
    return true;
  }

  void read_int(const YAML::Node& node, const std::string& path, int minimum, int& out) {
    std::optional<std::string> text = scalar(node, path, "a whole number");
    if (!text) return;
    const std::string_view digits = without_plus(*text);
    const char* end = digits.data() + digits.size();
    long long value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ptr != end || digits.empty()) {
      error(path, "expected a whole number, got " + in_quotes(*text));
      return;
    }
    if (ec == std::errc::result_out_of_range || value > std::numeric_limits<int>::max()) {
      error(path, in_quotes(*text) + " is too large");
      return;
    }
    if (value < minimum) {
      error(path, "must be at least " + std::to_string(minimum) + ", got " + *text);
      return;
    }
    out = static_cast<int>(value);
  }

  void read_positive_double(const YAML::Node& node, const std::string& path,
                            std::optional<double>& out) {
    std::optional<std::string> text = scalar(node, path, "a number");
    if (!text) return;
    const std::string_view digits = without_plus(*text);
    const char* end = digits.data() + digits.size();
    double value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec != std::errc() || ptr != end || digits.empty() || !std::isfinite(value)) {
      error(path, "expected a number, got " + in_quotes(*text));
      return;
    }
    if (value <= 0) {
      error(path, "must be greater than 0, got " + *text);
      return;
    }
    out = value;
  }

  // Reads a unit-bearing scalar with `parse` (from units.h) and reports its error verbatim.
  template <class T, class Parse>
  std::optional<T> read_unit(const YAML::Node& node, const std::string& path,
                             std::string_view expected, Parse parse) {
    std::optional<std::string> text = scalar(node, path, expected);
    if (!text) return std::nullopt;
    Result<T> parsed = parse(*text);
    if (!parsed.ok()) {
      error(path, parsed.error());
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  std::optional<uint64_t> read_size(const YAML::Node& node, const std::string& path) {
    return read_unit<uint64_t>(node, path, "a size such as 1KiB", parse_size);
  }
  std::optional<std::chrono::nanoseconds> read_duration(const YAML::Node& node,
                                                        const std::string& path) {
    return read_unit<std::chrono::nanoseconds>(node, path, "a duration such as 10s",
                                               parse_duration);
  }
  std::optional<double> read_rate(const YAML::Node& node, const std::string& path) {
    return read_unit<double>(node, path, "a rate such as 50k/s", parse_rate);
  }

  void read_positive_duration(const YAML::Node& node, const std::string& path,
                              std::chrono::nanoseconds& out) {
    std::optional<std::chrono::nanoseconds> value = read_duration(node, path);
    if (!value) return;
    if (value->count() <= 0) {
      error(path, "must be longer than 0");
      return;
    }
    out = *value;
  }

  void read_settings(const YAML::Node& node, const std::string& path, Settings& out) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      error(path, "expected a map of names to values, got " + describe(node));
      return;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        error(path, "setting names must be plain words, got " + describe(entry.first));
        continue;
      }
      const std::string& key = entry.first.Scalar();
      const std::string field_path = join_path(path, key);
      if (out.contains(key)) {
        error(field_path, "given more than once");
        continue;
      }
      if (entry.second.IsNull()) {
        error(field_path, "has no value (write \"\" for an empty string)");
        continue;
      }
      if (!entry.second.IsScalar()) {
        error(field_path,
              "expected a single value (string, number or boolean), got " + describe(entry.second));
        continue;
      }
      out[key] = entry.second.Scalar();
    }
  }

  void read_workload(const YAML::Node& node, const std::string& path, Workload& workload) {
    auto count = [&](int minimum, int& out) {
      return [this, minimum, &out](const YAML::Node& field, const std::string& field_path) {
        read_int(field, field_path, minimum, out);
      };
    };
    read_map(node, path,
             {{"message_size",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<uint64_t> size = read_size(field, field_path);
                 if (!size) return;
                 if (*size < kMinMessageSize) {
                   error(field_path, "must be at least 32B (dec's message header), got " +
                                         in_quotes(field.Scalar()));
                 } else if (*size > kMaxMessageSize) {
                   error(field_path, "must be at most 64MiB, got " + in_quotes(field.Scalar()));
                 } else {
                   workload.message_size = *size;
                 }
               }},
              {"producers", count(1, workload.producers)},
              {"consumers", count(0, workload.consumers)},
              {"rate",
               [&](const YAML::Node& field, const std::string& field_path) {
                 if (std::optional<double> rate = read_rate(field, field_path)) {
                   workload.rate = *rate;
                 }
               }},
              {"duration",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_positive_duration(field, field_path, workload.duration);
               }},
              {"warmup",
               [&](const YAML::Node& field, const std::string& field_path) {
                 if (auto warmup = read_duration(field, field_path)) workload.warmup = *warmup;
               }},
              {"drain_timeout",
               [&](const YAML::Node& field, const std::string& field_path) {
                 if (auto timeout = read_duration(field, field_path)) {
                   workload.drain_timeout = *timeout;
                 }
               }},
              {"topics", count(1, workload.topics)},
              {"partitions", count(1, workload.partitions)},
              {"keys", count(0, workload.keys)},
              {"consumer_groups", count(1, workload.consumer_groups)},
              {"client", [&](const YAML::Node& field, const std::string& field_path) {
                 read_client(field, field_path, workload.client);
               }}});
  }

  void read_client(const YAML::Node& node, const std::string& path, ClientSettings& client) {
    auto wait = [this](std::optional<std::chrono::nanoseconds>& out) {
      return [this, &out](const YAML::Node& field, const std::string& field_path) {
        std::optional<std::chrono::nanoseconds> value = read_duration(field, field_path);
        if (!value) return;
        if (*value > kMaxClientWait) {
          error(field_path, "must be at most 60s (the longest every driver accepts), got " +
                                in_quotes(field.Scalar()));
          return;
        }
        out = value;
      };
    };
    read_map(node, path,
             {{"max_in_flight",
               [&](const YAML::Node& field, const std::string& field_path) {
                 int value = 0;
                 const size_t before = errors_.size();
                 read_int(field, field_path, 1, value);
                 if (errors_.size() == before) client.max_in_flight = value;
               }},
              {"linger", wait(client.linger)},
              {"fetch_wait", wait(client.fetch_wait)}});
  }

  void read_systems(const YAML::Node& node, const std::string& path, std::vector<System>& out) {
    if (!node.IsSequence()) {
      error(path, "expected a list of systems, got " + describe(node));
      return;
    }
    if (node.size() == 0) {
      error(path, "must list at least one system");
      return;
    }
    std::map<std::string, size_t> first_use;  // system name → index that used it first
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string system_path = index_path(path, i);
      System system = read_system(node[i], system_path);
      if (!system.name.empty()) {
        auto [existing, inserted] = first_use.emplace(system.name, i);
        if (!inserted) {
          error(system_path + ".name", "duplicate name " + in_quotes(system.name) +
                                           " (also used by " + index_path(path, existing->second) +
                                           "); each system needs its own name");
        }
      }
      out.push_back(std::move(system));
    }
  }

  System read_system(const YAML::Node& node, const std::string& path) {
    System system;
    if (node.IsNull()) {
      error(path, "expected a map with fields name, driver, config or deploy, got nothing");
      return system;
    }
    bool has_name = false;
    bool has_driver = false;
    bool driver_known = false;
    bool config_ok = true;
    read_map(node, path,
             {{"name",
               [&](const YAML::Node& field, const std::string& field_path) {
                 has_name = true;
                 if (read_string(field, field_path, system.name) && !is_valid_name(system.name)) {
                   error(field_path, in_quotes(system.name) +
                                         " is not a valid name: use letters, digits, '_', '.' "
                                         "and '-' only");
                 }
               }},
              {"driver",
               [&](const YAML::Node& field, const std::string& field_path) {
                 has_driver = true;
                 if (!read_string(field, field_path, system.driver)) return;
                 const auto& names = catalog_.names;
                 driver_known = std::find(names.begin(), names.end(), system.driver) != names.end();
                 if (driver_known) return;
                 std::string suggestion = did_you_mean(system.driver, names);
                 error(field_path,
                       "unknown driver " + in_quotes(system.driver) +
                           (suggestion.empty() ? " (known drivers: " + join_names(names) + ")"
                                               : suggestion));
               }},
              {"config",
               [&](const YAML::Node& field, const std::string& field_path) {
                 const size_t before = errors_.size();
                 read_settings(field, field_path, system.config);
                 config_ok = errors_.size() == before;
               }},
              {"deploy", [&](const YAML::Node& field, const std::string& field_path) {
                 read_deploy(field, field_path, system.deploy);
               }}});
    if (!node.IsMap()) return system;
    if (!has_name) error(path + ".name", "required field missing");
    if (!has_driver) {
      error(path + ".driver", "required field missing: one of " + join_names(catalog_.names));
    }
    if (driver_known && config_ok && catalog_.validate_config) {
      const std::string config_path = path + ".config";
      for (FieldError& config_error :
           catalog_.validate_config(system.driver, system.config, config_path)) {
        if (config_error.path.empty()) config_error.path = config_path;
        errors_.push_back(std::move(config_error));
      }
    }
    return system;
  }

  void read_deploy(const YAML::Node& node, const std::string& path, Deploy& deploy) {
    read_map(node, path,
             {{"provider",
               [&](const YAML::Node& field, const std::string& field_path) {
                 const std::vector<std::string>& providers = provider_names();
                 std::string provider;
                 if (!read_string(field, field_path, provider)) return;
                 if (std::find(providers.begin(), providers.end(), provider) != providers.end()) {
                   deploy.provider = provider;
                   return;
                 }
                 std::string suggestion = did_you_mean(provider, providers);
                 error(field_path, "unknown provider " + in_quotes(provider) +
                                       (suggestion.empty() ? ": expected " + join_names(providers)
                                                           : suggestion));
               }},
              {"nodes",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_int(field, field_path, 1, deploy.nodes);
               }},
              {"cpus",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_positive_double(field, field_path, deploy.cpus);
               }},
              {"memory",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<uint64_t> memory = read_size(field, field_path);
                 if (!memory) return;
                 if (*memory == 0) {
                   error(field_path, "must be greater than 0");
                   return;
                 }
                 deploy.memory = memory;
               }},
              {"bandwidth",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<uint64_t> bandwidth = read_unit<uint64_t>(
                     field, field_path, "a bandwidth such as 100Mbit", parse_bandwidth);
                 if (!bandwidth) return;
                 if (*bandwidth == 0) {
                   error(field_path, "must be greater than 0");
                   return;
                 }
                 deploy.bandwidth = bandwidth;
               }},
              {"settings",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_settings(field, field_path, deploy.settings);
               }},
              {"server", [&](const YAML::Node& field, const std::string& field_path) {
                 read_settings(field, field_path, deploy.server);
               }}});
  }

  void read_targets(const YAML::Node& node, const std::string& path, Targets& targets) {
    read_map(node, path,
             {{"p99_latency",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::chrono::nanoseconds latency{0};
                 read_positive_duration(field, field_path, latency);
                 if (latency.count() > 0) targets.p99_latency = latency;
               }},
              {"min_throughput", [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<double> rate = read_rate(field, field_path);
                 if (!rate) return;
                 if (*rate <= 0) {
                   error(field_path, "must be greater than 0 (leave it out for no target)");
                   return;
                 }
                 targets.min_throughput = rate;
               }}});
  }

  void read_faults(const YAML::Node& node, const std::string& path, std::vector<FaultEntry>& out) {
    if (!node.IsSequence()) {
      error(path,
            "expected a list of faults (each a map with at and action), got " + describe(node));
      return;
    }
    for (size_t i = 0; i < node.size(); ++i)
      out.push_back(read_fault(node[i], index_path(path, i)));
  }

  FaultEntry read_fault(const YAML::Node& node, const std::string& path) {
    FaultEntry entry;
    entry.path = path;
    Fault& fault = entry.fault;
    if (node.IsNull()) {
      error(path,
            "expected a map with fields at, action, target, bandwidth or system, got nothing");
      return entry;
    }
    bool has_at = false;
    bool has_action = false;
    bool action_known = false;
    bool bandwidth_ok = true;
    read_map(node, path,
             {{"at",
               [&](const YAML::Node& field, const std::string& field_path) {
                 has_at = true;
                 // parse_duration rejects negative durations, so a parsed `at` is >= 0.
                 if (auto at = read_duration(field, field_path)) {
                   fault.at = *at;
                   entry.at_ok = true;
                 }
               }},
              {"action",
               [&](const YAML::Node& field, const std::string& field_path) {
                 has_action = true;
                 if (!read_string(field, field_path, fault.action)) return;
                 const std::vector<std::string>& actions = fault_actions();
                 action_known =
                     std::find(actions.begin(), actions.end(), fault.action) != actions.end();
                 if (action_known) return;
                 std::string suggestion = did_you_mean(fault.action, actions);
                 error(field_path,
                       "unknown action " + in_quotes(fault.action) +
                           (suggestion.empty() ? ": expected " + join_names(actions) : suggestion));
               }},
              {"target",
               [&](const YAML::Node& field, const std::string& field_path) {
                 const size_t before = errors_.size();
                 read_int(field, field_path, 0, fault.target);
                 entry.target_ok = errors_.size() == before;
               }},
              {"bandwidth",
               [&](const YAML::Node& field, const std::string& field_path) {
                 bandwidth_ok = false;
                 std::optional<uint64_t> bandwidth = read_unit<uint64_t>(
                     field, field_path, "a bandwidth such as 10Mbit", parse_bandwidth);
                 if (!bandwidth) return;
                 if (*bandwidth == 0) {
                   error(field_path, "must be greater than 0 (use disconnect to cut the link)");
                   return;
                 }
                 fault.bandwidth = bandwidth;
                 bandwidth_ok = true;
               }},
              {"system", [&](const YAML::Node& field, const std::string& field_path) {
                 entry.has_system = true;
                 entry.system_ok = read_string(field, field_path, fault.system);
                 if (entry.system_ok && fault.system.empty()) {
                   entry.system_ok = false;
                   error(field_path, "must not be empty (leave it out to apply to every system)");
                 }
               }}});
    if (!node.IsMap()) return entry;
    if (!has_at) {
      error(path + ".at",
            "required field missing: when to inject the fault, e.g. 20s after warm-up starts");
    }
    if (!has_action) {
      error(path + ".action", "required field missing: one of " + join_names(fault_actions()));
    }
    if (action_known && bandwidth_ok) {
      if (fault.action == "throttle" && !fault.bandwidth) {
        error(path + ".bandwidth",
              "required field missing: throttle needs the bandwidth to shape the link to, e.g. "
              "10Mbit");
      } else if (fault.action != "throttle" && fault.bandwidth) {
        error(path + ".bandwidth",
              "only throttle takes a bandwidth; remove it or use action: "
              "throttle");
      }
    }
    return entry;
  }

  // A fault at or after the end of sending would hit a system that no longer carries load.
  void check_fault_times(const std::vector<FaultEntry>& faults, const Workload& workload) {
    const std::chrono::nanoseconds end = workload.warmup + workload.duration;
    for (const FaultEntry& entry : faults) {
      if (!entry.at_ok || entry.fault.at < end) continue;
      error(entry.path + ".at",
            exact_duration(entry.fault.at) + " is not inside the run, which ends at " +
                exact_duration(end) + " (workload.warmup " + exact_duration(workload.warmup) +
                " + workload.duration " + exact_duration(workload.duration) +
                "; faults count from the start of warm-up): use an earlier time or a longer "
                "workload.duration");
    }
  }

  void check_fault_targets(const std::vector<FaultEntry>& faults,
                           const std::vector<System>& systems) {
    std::vector<std::string> names;
    for (const System& system : systems) names.push_back(system.name);
    for (const FaultEntry& entry : faults) {
      const Fault& fault = entry.fault;
      const System* only = nullptr;
      if (entry.has_system) {
        if (!entry.system_ok) continue;
        auto found = std::find_if(systems.begin(), systems.end(),
                                  [&](const System& s) { return s.name == fault.system; });
        if (found == systems.end()) {
          std::string suggestion = did_you_mean(fault.system, names);
          error(entry.path + ".system",
                "no system named " + in_quotes(fault.system) +
                    (suggestion.empty() ? " (systems: " + join_names(names) + ")" : suggestion));
          continue;
        }
        only = &*found;
      }
      if (!entry.target_ok) continue;
      for (const System& system : systems) {
        if (only != nullptr && only != &system) continue;
        if (fault.target < system.deploy.nodes) continue;
        const int nodes = system.deploy.nodes;
        error(entry.path + ".target",
              std::to_string(fault.target) + " is out of range: system " + in_quotes(system.name) +
                  " has " + std::to_string(nodes) +
                  (nodes == 1 ? " node (0)" : " nodes (0.." + std::to_string(nodes - 1) + ")"));
        break;  // one error per field; the first system that is too small says enough
      }
    }
  }

  // Few keys over many partitions: hashing leaves some partitions empty and others doubled up, so
  // per-partition load (and ordering checks) differ from what the spec seems to ask for.
  void warn_about_keys(const Workload& workload) {
    const int64_t wanted = kKeysPerPartition * workload.partitions;
    if (workload.keys == 0 || workload.keys >= wanted) return;
    warning("workload.keys",
            std::to_string(workload.keys) + " keys over " + std::to_string(workload.partitions) +
                " partitions: a hash partitioner can leave partitions empty or uneven (Kafka's "
                "puts 4 keys on 4 partitions into 2); use at least 4×partitions keys (" +
                std::to_string(wanted) + ") or keys: 0");
  }

  // Redis shards whole streams over its nodes and a Kafka partition is led by one broker, so a
  // node beyond the number of partitions carries no load and the comparison pays for idle nodes.
  // Other drivers (Kinesis) do not place partitions on dec's nodes.
  void warn_about_idle_nodes(const Workload& workload, const std::vector<System>& systems) {
    const int64_t partitions = int64_t{workload.partitions} * workload.topics;
    for (size_t i = 0; i < systems.size(); ++i) {
      const System& system = systems[i];
      if (system.deploy.nodes <= partitions) continue;
      const std::string intro = std::to_string(system.deploy.nodes) + " nodes but only " +
                                std::to_string(partitions) + " partitions: only " +
                                std::to_string(partitions) + " node(s) will ";
      const std::string path = index_path("systems", i) + ".deploy.nodes";
      if (system.driver == "redis") {
        warning(path, intro + "hold data");
      } else if (system.driver == "kafka") {
        warning(path, intro +
                          "lead a partition and take writes (the others at most hold "
                          "replicas)");
      }
    }
  }

  const DriverCatalog& catalog_;
  std::vector<FieldError> errors_;
  std::vector<FieldError> warnings_;
};

// ---- --set overrides ----------------------------------------------------------------------------

using PathStep = std::variant<std::string, size_t>;  // a map key or a list index

// Maps whose keys are free-form (driver config, provider settings, broker settings): everything
// after them in an override path is one key, so `systems[0].config.linger.ms=5` sets "linger.ms".
bool is_free_form_map(const std::vector<PathStep>& steps) {
  auto key_at = [&](size_t i) -> const std::string* {
    return i < steps.size() ? std::get_if<std::string>(&steps[i]) : nullptr;
  };
  auto is_key = [&](size_t i, std::string_view key) {
    const std::string* step = key_at(i);
    return step != nullptr && *step == key;
  };
  if (steps.size() < 3 || !is_key(0, "systems") || !std::holds_alternative<size_t>(steps[1])) {
    return false;
  }
  if (steps.size() == 3) return is_key(2, "config");
  return steps.size() == 4 && is_key(2, "deploy") && (is_key(3, "settings") || is_key(3, "server"));
}

Result<std::vector<PathStep>> parse_override_path(std::string_view path) {
  std::vector<PathStep> steps;
  size_t pos = 0;
  auto fail = [](std::string message) { return make_error(std::move(message)); };
  if (path.empty()) return fail("the path before '=' is empty");
  while (true) {
    if (is_free_form_map(steps)) {
      std::string_view key = path.substr(pos);
      if (key.empty()) return fail("a setting name is missing after the last '.'");
      steps.emplace_back(std::string(key));
      return steps;
    }
    size_t key_end = path.find_first_of(".[]", pos);
    if (key_end == std::string_view::npos) key_end = path.size();
    if (key_end == pos) {
      return fail("expected a field name at position " + std::to_string(pos + 1) +
                  " of the path (e.g. workload.duration or systems[0].config.pipeline)");
    }
    steps.emplace_back(std::string(path.substr(pos, key_end - pos)));
    pos = key_end;
    while (pos < path.size() && path[pos] == '[') {
      size_t close = path.find(']', pos);
      if (close == std::string_view::npos) return fail("missing ']' after '['");
      std::string_view digits = path.substr(pos + 1, close - pos - 1);
      size_t index = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
        return fail("invalid index " + in_quotes(digits) + ": expected a number such as [0]");
      }
      steps.emplace_back(index);
      pos = close + 1;
    }
    if (pos == path.size()) return steps;
    if (path[pos] != '.') {
      return fail("unexpected " + in_quotes(path.substr(pos, 1)) + " at position " +
                  std::to_string(pos + 1) + " of the path");
    }
    ++pos;
  }
}

std::string render_path(const std::vector<PathStep>& steps, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (const auto* key = std::get_if<std::string>(&steps[i])) {
      out = join_path(out, *key);
    } else {
      out = index_path(out, std::get<size_t>(steps[i]));
    }
  }
  return out;
}

// Sets the scalar at `path` to `value`, creating missing maps on the way; lists are never grown.
Status apply_override(YAML::Node& root, const std::vector<PathStep>& steps,
                      const std::string& value) {
  YAML::Node current = root;
  for (size_t i = 0; i < steps.size(); ++i) {
    const bool last = i + 1 == steps.size();
    const std::string here = render_path(steps, i);
    const std::string target = render_path(steps, i + 1);
    if (const auto* key = std::get_if<std::string>(&steps[i])) {
      if (!current.IsMap() && !current.IsNull()) {
        return make_error(here + " is " + describe(current) + ", not a map, so " + target +
                          " cannot be set");
      }
      if (last) {
        current[*key] = YAML::Node(value);
        return Status::Ok();
      }
      YAML::Node next = current[*key];
      if (!next.IsDefined() || next.IsNull()) {
        if (std::holds_alternative<size_t>(steps[i + 1])) {
          return make_error(target + " does not exist, so it has no entry " +
                            render_path(steps, i + 2).substr(target.size()));
        }
        current[*key] = YAML::Node(YAML::NodeType::Map);
      }
      current.reset(current[*key]);
    } else {
      const size_t index = std::get<size_t>(steps[i]);
      if (!current.IsSequence()) {
        return make_error(here + " is " + describe(current) + ", not a list");
      }
      if (index >= current.size()) {
        return make_error("index " + std::to_string(index) + " is out of range: " + here + " has " +
                          std::to_string(current.size()) +
                          (current.size() == 1 ? " entry" : " entries"));
      }
      if (last) {
        current[index] = YAML::Node(value);
        return Status::Ok();
      }
      current.reset(current[index]);
    }
  }
  return Status::Ok();
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     std::vector<FieldError>& errors) {
  for (const std::string& text : overrides) {
    const std::string path = "--set " + text;
    const size_t equals = text.find('=');
    if (equals == std::string::npos) {
      errors.push_back({path, "expected path=value, e.g. workload.duration=5s"});
      continue;
    }
    Result<std::vector<PathStep>> steps = parse_override_path(text.substr(0, equals));
    if (!steps.ok()) {
      errors.push_back({path, steps.error()});
      continue;
    }
    Status applied = apply_override(root, *steps, text.substr(equals + 1));
    if (!applied.ok()) errors.push_back({path, applied.error()});
  }
}

}  // namespace

ParseResult parse_spec(const std::string& text, const std::vector<std::string>& overrides,
                       const DriverCatalog& catalog) {
  ParseResult result;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? ""
                                         : " at line " + std::to_string(e.mark.line + 1) +
                                               ", column " + std::to_string(e.mark.column + 1);
    result.errors.push_back({"", "syntax error" + where + ": " + e.msg});
    return result;
  }
  if (root.IsNull() || !root.IsDefined()) {
    result.errors.push_back(
        {"", "the spec is empty: it needs at least a name and a list of systems"});
    return result;
  }
  if (!root.IsMap()) {
    result.errors.push_back({"",
                             "expected a map with fields name, description, workload, "
                             "systems, targets and faults at the top level, got " +
                                 describe(root)});
    return result;
  }
  try {
    apply_overrides(root, overrides, result.errors);
    SpecReader reader(catalog);
    result.spec = reader.read(root);
    for (FieldError& error : reader.take_errors()) result.errors.push_back(std::move(error));
    result.warnings = reader.take_warnings();
  } catch (const YAML::Exception& e) {
    // yaml-cpp only throws here on trees it did not build itself; report rather than crash.
    result.errors.push_back({"", std::string("could not read the spec: ") + e.what()});
  }
  return result;
}

ParseResult parse_spec_file(const std::string& path, const std::vector<std::string>& overrides,
                            const DriverCatalog& catalog) {
  auto unreadable = [&](const std::string& reason) {
    ParseResult result;
    result.errors.push_back({"", "cannot read spec file " + in_quotes(path) + ": " + reason});
    return result;
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return unreadable("it is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int open_errno = errno;
    return unreadable(std::strerror(open_errno));
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return unreadable("read failed");
  return parse_spec(text.str(), overrides, catalog);
}

std::string spec_to_json(const Spec& spec) {
  using Json = nlohmann::ordered_json;
  const Workload& w = spec.workload;
  Json workload = {
      {"message_size", w.message_size},
      {"producers", w.producers},
      {"consumers", w.consumers},
      {"rate", w.rate},
      {"duration", exact_duration(w.duration)},
      {"warmup", exact_duration(w.warmup)},
      {"drain_timeout", exact_duration(w.drain_timeout)},
      {"topics", w.topics},
      {"partitions", w.partitions},
      {"keys", w.keys},
      {"consumer_groups", w.consumer_groups},
  };
  // Only when given, so the stored form of a spec without it stays what it was.
  if (!w.client.empty()) {
    Json client = Json::object();
    if (w.client.max_in_flight) client["max_in_flight"] = *w.client.max_in_flight;
    if (w.client.linger) client["linger"] = exact_duration(*w.client.linger);
    if (w.client.fetch_wait) client["fetch_wait"] = exact_duration(*w.client.fetch_wait);
    workload["client"] = std::move(client);
  }
  Json systems = Json::array();
  for (const System& system : spec.systems) {
    const Deploy& d = system.deploy;
    Json deploy = {{"provider", d.provider}, {"nodes", d.nodes}};
    if (d.cpus) deploy["cpus"] = *d.cpus;
    if (d.memory) deploy["memory"] = *d.memory;
    if (d.bandwidth) deploy["bandwidth"] = exact_bandwidth(*d.bandwidth);
    deploy["settings"] = d.settings;
    deploy["server"] = d.server;
    Json system_json = {{"name", system.name},
                        {"driver", system.driver},
                        {"config", system.config},
                        {"deploy", std::move(deploy)}};
    systems.push_back(std::move(system_json));
  }
  Json targets = Json::object();
  if (spec.targets.p99_latency) targets["p99_latency"] = exact_duration(*spec.targets.p99_latency);
  if (spec.targets.min_throughput) targets["min_throughput"] = *spec.targets.min_throughput;
  Json faults = Json::array();
  for (const Fault& fault : spec.faults) {
    Json fault_json = {
        {"at", exact_duration(fault.at)}, {"action", fault.action}, {"target", fault.target}};
    if (fault.bandwidth) fault_json["bandwidth"] = exact_bandwidth(*fault.bandwidth);
    if (!fault.system.empty()) fault_json["system"] = fault.system;
    faults.push_back(std::move(fault_json));
  }
  Json json = {{"name", spec.name},
               {"description", spec.description},
               {"workload", std::move(workload)},
               {"systems", std::move(systems)},
               {"targets", std::move(targets)},
               {"faults", std::move(faults)}};
  return json.dump(2);
}

}  // namespace dec::core
