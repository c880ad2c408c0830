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

#include "core/prices.h"
#include "core/text.h"
#include "core/units.h"
#include "core/utf8.h"

namespace dec::core {
namespace {

constexpr uint64_t kMinMessageSize = 32;  // dec's payload header
constexpr uint64_t kMaxMessageSize = uint64_t{64} << 20;
// workload.client.linger and fetch_wait: the largest every driver's key accepts (Redis block_ms,
// Kinesis linger_ms and poll_interval_ms stop at 60 s), so a mapped value is never rejected.
constexpr std::chrono::nanoseconds kMaxClientWait = std::chrono::seconds(60);
// A hash partitioner needs several keys per partition to fill them all evenly.
constexpr int64_t kKeysPerPartition = 4;
// Most runs one experiment may expand to (points x repeats x systems).
constexpr uint64_t kMaxRuns = 10000;
constexpr uint64_t kMaxPayloadPoolBytes = uint64_t{1} << 30;

const std::vector<std::string>& provider_names() {
  static const std::vector<std::string> kNames = {"local", "endpoints", "kubernetes", "terraform"};
  return kNames;
}

const std::vector<std::string>& fault_actions() {
  static const std::vector<std::string> kNames = {"kill",       "pause",     "resume",
                                                  "disconnect", "reconnect", "throttle"};
  return kNames;
}

const std::vector<std::string>& pricing_model_names() {
  static const std::vector<std::string> kNames = {"kinesis-provisioned", "kinesis-on-demand", "msk",
                                                  "self-managed"};
  return kNames;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

// `matrix["systems[kafka].config.acks"]`: how errors name a matrix axis (its key has dots).
std::string matrix_axis_path(std::string_view field) { return "matrix[" + in_quotes(field) + "]"; }

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

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("redsi" → "redis"
// is one edit), compared case-insensitively.
size_t edit_distance(std::string_view a_text, std::string_view b_text) {
  const std::string a = core::ascii_lower(a_text);
  const std::string b = core::ascii_lower(b_text);
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

}  // namespace

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

namespace {

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

// ---- Field paths (--set overrides and matrix axes) ----------------------------------------------

// A list entry addressed by its `name` field: `systems[kafka]` is the system named "kafka", so a
// path keeps meaning the same system when the list is reordered.
struct NamedEntry {
  std::string name;
};

using PathStep = std::variant<std::string, size_t, NamedEntry>;  // map key, list index or name

bool is_list_step(const PathStep& step) { return !std::holds_alternative<std::string>(step); }

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
  if (steps.size() < 3 || !is_key(0, "systems") || !is_list_step(steps[1])) return false;
  if (steps.size() == 3) return is_key(2, "config");
  return steps.size() == 4 && is_key(2, "deploy") && (is_key(3, "settings") || is_key(3, "server"));
}

Result<std::vector<PathStep>> parse_override_path(std::string_view path) {
  std::vector<PathStep> steps;
  size_t pos = 0;
  auto fail = [](std::string message) { return make_error(std::move(message)); };
  if (path.empty()) return fail("the path is empty");
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
      std::string_view inside = path.substr(pos + 1, close - pos - 1);
      size_t index = 0;
      auto [ptr, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), index);
      if (!inside.empty() && ec == std::errc() && ptr == inside.data() + inside.size()) {
        steps.emplace_back(index);
      } else if (is_valid_name(inside) && std::any_of(inside.begin(), inside.end(), [](char c) {
                   return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
                 })) {
        // A name has a letter: "-1" is a bad index, not a system called "-1".
        steps.emplace_back(NamedEntry{std::string(inside)});
      } else {
        return fail("invalid index " + in_quotes(inside) +
                    ": expected a number such as [0] or a system name such as [kafka]");
      }
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
    } else if (const auto* index = std::get_if<size_t>(&steps[i])) {
      out = index_path(out, *index);
    } else {
      out += "[" + std::get<NamedEntry>(steps[i]).name + "]";
    }
  }
  return out;
}

// The index of the entry of `list` whose `name` is `name`, or an error listing the names.
Result<size_t> find_named_entry(const YAML::Node& list, const std::string& list_path,
                                const std::string& name) {
  std::vector<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    if (!entry.IsMap()) continue;
    const YAML::Node entry_name = entry["name"];
    if (!entry_name.IsDefined() || !entry_name.IsScalar()) continue;
    if (entry_name.Scalar() == name) return i;
    names.push_back(entry_name.Scalar());
  }
  const std::string suggestion = did_you_mean(name, names);
  return make_error(list_path + " has no entry named " + in_quotes(name) +
                    (suggestion.empty() ? " (names: " + join_names(names) + ")" : suggestion));
}

// Sets the scalar at `path` to `value`, creating missing maps on the way; lists are never grown.
// Named entries are resolved to their index in `steps`, so the caller can name the field set.
Status apply_override(YAML::Node& root, std::vector<PathStep>& steps, const std::string& value) {
  YAML::Node current = root;
  for (size_t i = 0; i < steps.size(); ++i) {
    const bool last = i + 1 == steps.size();
    const std::string here = render_path(steps, i);
    if (const auto* named = std::get_if<NamedEntry>(&steps[i])) {
      if (!current.IsSequence()) {
        return make_error(here + " is " + describe(current) + ", not a list, so " +
                          render_path(steps, i + 1) + " cannot be found");
      }
      Result<size_t> index = find_named_entry(current, here, named->name);
      if (!index.ok()) return make_error(index.error());
      steps[i] = *index;
    }
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
        if (is_list_step(steps[i + 1])) {
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

// Walks the YAML tree, fills a Spec and records every problem with its field path.
class SpecReader {
 public:
  SpecReader(const DriverCatalog& catalog, const SpecPolicy& policy)
      : catalog_(catalog), policy_(policy) {}

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
              {"reuse_infrastructure",
               [&](const YAML::Node& node, const std::string& path) {
                 std::optional<std::string> text = scalar(node, path, "true or false");
                 if (!text) return;
                 if (*text == "true" || *text == "yes") {
                   spec.reuse_infrastructure = true;
                 } else if (*text == "false" || *text == "no") {
                   spec.reuse_infrastructure = false;
                 } else {
                   error(path, "expected true or false, got " + in_quotes(*text));
                 }
               }},
              {"slo",
               [&](const YAML::Node& node, const std::string& path) {
                 Slo slo;
                 const size_t before = errors_.size();
                 read_slo(node, path, slo);
                 if (errors_.size() == before) spec.slo = slo;
               }},
              {"faults", [&](const YAML::Node& node,
                             const std::string& path) { read_faults(node, path, faults); }},
              {"pricing", [&](const YAML::Node& node,
                              const std::string& path) { read_pricing(node, path, spec.pricing); }},
              {"matrix", [&](const YAML::Node& node,
                             const std::string& path) { read_matrix(node, path, spec.matrix); }},
              {"repeats", [&](const YAML::Node& node, const std::string& path) {
                 const size_t before = errors_.size();
                 int repeats = 1;
                 read_int(node, path, 1, repeats);
                 if (errors_.size() != before) return;
                 if (repeats > kMaxRepeats) {
                   error(path, "must be at most " + std::to_string(kMaxRepeats) + ", got " +
                                   std::to_string(repeats));
                   return;
                 }
                 spec.repeats = repeats;
               }}});
    if (!has_name) error("name", "required field missing: give the experiment a name");
    check_run_count(spec);
    if (!has_systems) error("systems", "required field missing: list at least one system");
    if (workload_ok) check_fault_times(faults, spec.workload);
    if (workload_ok) warn_about_keys(spec.workload);
    if (workload_ok && systems_ok && has_systems)
      warn_about_idle_nodes(spec.workload, spec.systems);
    if (systems_ok && has_systems) check_fault_targets(faults, spec.systems);
    if (workload_ok) check_search(spec, faults.empty());
    if (systems_ok && has_systems) check_pricing(spec.pricing, spec.systems);
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

  // Where a field found in the wrong map belongs, for a mis-indented one: a system's
  // `nodes: 3` meant as deploy.nodes (the fields read_deploy reads).
  static std::optional<std::string> misplaced_field(const std::string& path,
                                                    const std::string& key) {
    static const std::vector<std::string> deploy_fields = {
        "provider", "nodes", "cpus", "memory", "bandwidth", "settings", "server", "workers"};
    const bool in_system =
        path.starts_with("systems[") && path.ends_with("]") && path.find('.') == std::string::npos;
    if (in_system &&
        std::find(deploy_fields.begin(), deploy_fields.end(), key) != deploy_fields.end()) {
      return "deploy." + key;
    }
    return std::nullopt;
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
        if (std::optional<std::string> home = misplaced_field(path, key)) {
          error(field_path, "unknown field here (did you mean " + *home + "? indent " + key +
                                ": under " + home->substr(0, home->rfind('.')) + ":)");
        } else {
          error(field_path, "unknown field" + did_you_mean(key, names));
        }
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

  // A finite number, or nullopt (with an error naming the field).
  std::optional<double> read_number(const YAML::Node& node, const std::string& path) {
    std::optional<std::string> text = scalar(node, path, "a number");
    if (!text) return std::nullopt;
    const std::string_view digits = without_plus(*text);
    const char* end = digits.data() + digits.size();
    double value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec != std::errc() || ptr != end || digits.empty() || !std::isfinite(value)) {
      error(path, "expected a number, got " + in_quotes(*text));
      return std::nullopt;
    }
    return value;
  }

  void read_positive_double(const YAML::Node& node, const std::string& path,
                            std::optional<double>& out) {
    std::optional<double> value = read_number(node, path);
    if (!value) return;
    if (*value <= 0) {
      error(path, "must be greater than 0, got " + node.Scalar());
      return;
    }
    out = value;
  }

  // Prices and quantities of `pricing:`: 0 is allowed (hardware already paid for).
  void read_non_negative_double(const YAML::Node& node, const std::string& path,
                                std::optional<double>& out) {
    std::optional<double> value = read_number(node, path);
    if (!value) return;
    if (*value < 0) {
      error(path, "must be 0 or more, got " + node.Scalar());
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
    bool find_max = false;
    bool search_given = false;
    RateSearch search;
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
                 if (field.IsScalar() && field.Scalar() == "find-max") {
                   find_max = true;
                   return;
                 }
                 if (std::optional<double> rate = read_rate(field, field_path)) {
                   workload.rate = *rate;
                 }
               }},
              {"search",
               [&](const YAML::Node& field, const std::string& field_path) {
                 search_given = true;
                 read_search(field, field_path, search);
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
              {"key_distribution",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<std::string> text =
                     scalar(field, field_path, "none, round_robin or random");
                 if (!text) return;
                 if (*text == "none") {
                   workload.key_distribution = KeyDistribution::kNone;
                 } else if (*text == "round_robin") {
                   workload.key_distribution = KeyDistribution::kRoundRobin;
                 } else if (*text == "random") {
                   workload.key_distribution = KeyDistribution::kRandom;
                 } else {
                   error(field_path,
                         "expected one of none, round_robin, random, got " + in_quotes(*text));
                 }
               }},
              {"seed",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<std::string> text = scalar(field, field_path, "a whole number");
                 if (!text) return;
                 uint64_t value = 0;
                 const char* end = text->data() + text->size();
                 auto [ptr, ec] = std::from_chars(text->data(), end, value);
                 if (ec != std::errc() || ptr != end || text->empty()) {
                   error(field_path,
                         "expected a whole number from 0 to 2^64-1, got " + in_quotes(*text));
                   return;
                 }
                 workload.seed = value;
               }},
              {"payload",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_payload(field, field_path, workload.payload);
               }},
              {"backlog",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_backlog(field, field_path, workload.backlog);
               }},
              {"client", [&](const YAML::Node& field, const std::string& field_path) {
                 read_client(field, field_path, workload.client);
               }}});
    check_keys(workload, path);
    check_payload(workload, path);
    if (find_max) {
      workload.rate = 0;
      workload.search = search;
      if (workload.backlog.enabled()) {
        error(join_path(path, "backlog"),
              "not with rate: find-max (each step of the search starts on empty topics); "
              "remove backlog or give a fixed rate");
      }
    } else if (search_given) {
      error(join_path(path, "search"),
            "only applies with rate: find-max; set rate: find-max or remove search");
    }
  }

  void read_search(const YAML::Node& node, const std::string& path, RateSearch& search) {
    auto positive_rate = [&](std::optional<double>& out) {
      return [&](const YAML::Node& field, const std::string& field_path) {
        std::optional<double> rate = read_rate(field, field_path);
        if (!rate) return;
        if (*rate <= 0) {
          error(field_path, "must be more than 0/s (leave it out for the default)");
          return;
        }
        out = rate;
      };
    };
    read_map(node, path,
             {{"start", positive_rate(search.start)},
              {"max", positive_rate(search.max)},
              {"precision",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<double> precision = read_fraction(field, field_path);
                 if (!precision) return;
                 if (*precision < 0.005 || *precision > 0.5) {
                   error(field_path, "must be from 0.005 (0.5 %) to 0.5 (50 %), got " +
                                         in_quotes(field.Scalar()));
                   return;
                 }
                 search.precision = *precision;
               }},
              {"max_steps",
               [&](const YAML::Node& field, const std::string& field_path) {
                 int steps = search.max_steps;
                 const size_t before = errors_.size();
                 read_int(field, field_path, 2, steps);
                 if (errors_.size() != before) return;
                 if (steps > kMaxSearchSteps) {
                   error(field_path, "must be at most " + std::to_string(kMaxSearchSteps) +
                                         ", got " + std::to_string(steps));
                   return;
                 }
                 search.max_steps = steps;
               }},
              {"max_time", [&](const YAML::Node& field, const std::string& field_path) {
                 std::chrono::nanoseconds time{0};
                 read_positive_duration(field, field_path, time);
                 if (time.count() > 0) search.max_time = time;
               }}});
    if (search.start && search.max && *search.start > *search.max) {
      error(join_path(path, "start"), "must not be above search.max");
    }
  }

  void read_slo(const YAML::Node& node, const std::string& path, Slo& slo) {
    read_map(node, path,
             {{"p99",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::chrono::nanoseconds latency{0};
                 read_positive_duration(field, field_path, latency);
                 if (latency.count() > 0) slo.p99 = latency;
               }},
              {"max_loss", [&](const YAML::Node& field, const std::string& field_path) {
                 if (field.IsScalar() && field.Scalar().ends_with('%')) {
                   YAML::Node number(field.Scalar().substr(0, field.Scalar().size() - 1));
                   if (auto percent = read_percent(number, field_path)) slo.max_loss = *percent;
                   return;
                 }
                 if (auto loss = read_fraction(field, field_path)) slo.max_loss = *loss;
               }}});
  }

  // "0.1" of "0.1%" as a fraction (0.001).
  std::optional<double> read_percent(const YAML::Node& node, const std::string& path) {
    std::optional<std::string> text = scalar(node, path, "a percentage such as 0.1%");
    if (!text) return std::nullopt;
    double value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc() || ptr != end || text->empty() || !(value >= 0 && value <= 100)) {
      error(path, "expected a percentage from 0% to 100%, got " + in_quotes(*text + "%"));
      return std::nullopt;
    }
    return value / 100.0;
  }

  // A number in [0, 1].
  std::optional<double> read_fraction(const YAML::Node& node, const std::string& path) {
    std::optional<std::string> text = scalar(node, path, "a number from 0.0 to 1.0");
    if (!text) return std::nullopt;
    const std::string_view digits = without_plus(*text);
    const char* end = digits.data() + digits.size();
    double value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec != std::errc() || ptr != end || digits.empty() || !std::isfinite(value)) {
      error(path, "expected a number from 0.0 to 1.0, got " + in_quotes(*text));
      return std::nullopt;
    }
    if (value < 0 || value > 1) {
      error(path, "must be from 0.0 to 1.0, got " + *text);
      return std::nullopt;
    }
    return value;
  }

  void read_payload(const YAML::Node& node, const std::string& path, Payload& payload) {
    read_map(node, path,
             {{"pool",
               [&](const YAML::Node& field, const std::string& field_path) {
                 int value = 0;
                 const size_t before = errors_.size();
                 read_int(field, field_path, 1, value);
                 if (errors_.size() == before) payload.pool = static_cast<uint64_t>(value);
               }},
              {"random_bytes_ratio",
               [&](const YAML::Node& field, const std::string& field_path) {
                 if (auto ratio = read_fraction(field, field_path)) {
                   payload.random_bytes_ratio = *ratio;
                 }
               }},
              {"file", [&](const YAML::Node& field, const std::string& field_path) {
                 std::string file;
                 if (!read_string(field, field_path, file)) return;
                 if (!policy_.trusted) {
                   // Not even opened: whether it exists is the server's business.
                   error(field_path,
                         "names a file on the server's machine, which specs from the API may not "
                         "use — remove it (pool and random_bytes_ratio shape the payload)");
                   return;
                 }
                 std::ifstream in(file, std::ios::binary);
                 if (file.empty() || !in) {
                   error(field_path, "cannot read " + in_quotes(file) + ": " +
                                         (file.empty() ? std::string("no path given")
                                                       : std::string(std::strerror(errno))) +
                                         " (give a readable file, relative to the directory "
                                         "dec runs in)");
                   return;
                 }
                 if (in.peek() == std::ifstream::traits_type::eof()) {
                   error(field_path, in_quotes(file) + " is empty (a payload file needs bytes)");
                   return;
                 }
                 payload.file = file;
               }}});
  }

  void read_backlog(const YAML::Node& node, const std::string& path, Backlog& backlog) {
    const size_t before = errors_.size();
    read_map(node, path,
             {{"size",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<uint64_t> size = read_size(field, field_path);
                 if (!size) return;
                 if (*size == 0) {
                   error(field_path, "must be more than 0 (leave backlog out for no backlog)");
                   return;
                 }
                 backlog.size = *size;
               }},
              {"messages",
               [&](const YAML::Node& field, const std::string& field_path) {
                 int value = 0;
                 const size_t before = errors_.size();
                 read_int(field, field_path, 1, value);
                 if (errors_.size() == before) backlog.messages = static_cast<uint64_t>(value);
               }},
              {"drain_ratio", [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<double> ratio = read_fraction(field, field_path);
                 if (!ratio) return;
                 if (*ratio <= 0) {
                   error(field_path, "must be more than 0 (1.0 = drain the whole backlog)");
                   return;
                 }
                 backlog.drain_ratio = *ratio;
               }}});
    if (node.IsMap() && backlog.size > 0 && backlog.messages > 0) {
      error(path, "give either size or messages, not both");
    } else if (node.IsMap() && !backlog.enabled() && errors_.size() == before) {
      error(path, "needs size (e.g. 1GiB) or messages (e.g. 100000)");
    }
  }

  void check_keys(const Workload& workload, const std::string& path) {
    if (!workload.key_distribution) return;
    const std::string field = join_path(path, "key_distribution");
    if (*workload.key_distribution == KeyDistribution::kNone && workload.keys > 0) {
      error(field, "none sends no key, but keys is " + std::to_string(workload.keys) +
                       ": set keys: 0 or choose round_robin or random");
    } else if (*workload.key_distribution != KeyDistribution::kNone && workload.keys == 0) {
      error(field, std::string(key_distribution_name(*workload.key_distribution)) +
                       " needs keys: N (N >= 1) to pick from");
    }
  }

  void check_payload(const Workload& workload, const std::string& path) {
    if (workload.backlog.enabled() && workload.consumers == 0) {
      error(join_path(path, "backlog"),
            "needs consumers to drain it: set consumers: 1 or more, or leave backlog out");
    }
    const Payload& payload = workload.payload;
    const std::string field = join_path(path, "payload");
    if (!payload.file.empty() && (payload.pool > 0 || payload.random_bytes_ratio != 1.0)) {
      error(join_path(field, "file"),
            "a payload file gives the bodies itself: leave out pool and random_bytes_ratio");
    }
    // Every producer shares the pool, but it lives in memory for the whole run.
    const uint64_t body = workload.message_size - std::min<uint64_t>(workload.message_size, 32);
    if (payload.pool > 0 && body > 0 && payload.pool > kMaxPayloadPoolBytes / body) {
      error(join_path(field, "pool"),
            std::to_string(payload.pool) + " bodies of " + std::to_string(body) +
                " bytes exceed the 1GiB a pool may hold: use a smaller pool");
    }
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
                 // No broker starts in less; a bare number is bytes, which is rarely meant.
                 constexpr uint64_t kMinMemory = 32ull << 20;
                 if (*memory < kMinMemory) {
                   error(field_path, "must be at least 32MiB (a bare number is bytes), got " +
                                         in_quotes(field.Scalar()) +
                                         "; write a unit, e.g. memory: 512MiB");
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
              {"server",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_settings(field, field_path, deploy.server);
               }},
              {"workers", [&](const YAML::Node& field, const std::string& field_path) {
                 read_workers(field, field_path, deploy);
               }}});
  }

  // `workers: N` (1 to kMaxWorkers) or `workers: [host:port, ...]` of agents already running.
  void read_workers(const YAML::Node& node, const std::string& path, Deploy& deploy) {
    constexpr int kMaxWorkers = 50;
    if (!node.IsSequence()) {
      int count = 1;
      const size_t before = errors_.size();
      read_int(node, path, 1, count);
      if (errors_.size() != before) return;
      if (count > kMaxWorkers) {
        error(path, "at most " + std::to_string(kMaxWorkers) + " load agents, got " +
                        std::to_string(count));
        return;
      }
      deploy.workers = count;
      return;
    }
    if (node.size() == 0) {
      error(path, "list at least one agent address (host:port), or give a number of agents");
      return;
    }
    std::vector<std::string> addresses;
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string item_path = index_path(path, i);
      std::string address;
      if (!read_string(node[i], item_path, address)) return;
      if (std::string problem = host_port_problem(address); !problem.empty()) {
        error(item_path, problem + ", got " + in_quotes(address));
        return;
      }
      if (std::find(addresses.begin(), addresses.end(), address) != addresses.end()) {
        error(item_path,
              "lists " + in_quotes(address) + " twice; each agent drives its share once");
        return;
      }
      addresses.push_back(address);
    }
    deploy.workers = static_cast<int>(addresses.size());
    deploy.worker_addresses = std::move(addresses);
  }

  // What is wrong with a "host:port" / "[ipv6]:port" agent address; "" when nothing is.
  static std::string host_port_problem(const std::string& address) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return "expected host:port (the agent's port is required)";
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
      return "expected host:port (write an IPv6 address as [addr]:port)";
    }
    if (host.empty()) return "expected host:port with a host";
    if (host.find_first_of(" \t/") != std::string::npos) return "expected host:port";
    const std::string port = address.substr(colon + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return "expected host:port with a port from 1 to 65535";
    }
    return "";
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

  // An instance type without a price of its own must be in the shipped table.
  void check_instance_type(const std::string& type, bool msk, const std::string& path) {
    const PriceTable& table = shipped_prices();
    const char* service = msk ? "msk" : "ec2";
    if (table.find(service, type) != nullptr) return;
    const std::vector<std::string> known = table.items(service);
    std::string hint = did_you_mean(type, known);
    if (hint.empty() && msk && table.find(service, "kafka." + type) != nullptr) {
      hint =
          " (did you mean " + in_quotes("kafka." + type) + "? MSK broker types start with kafka.)";
    }
    error(path, "no shipped price for " +
                    (msk ? std::string("MSK broker type ") : "instance type ") + in_quotes(type) +
                    hint + ": give its instance_hour too, or use one of " + join_names(known));
  }

  void read_pricing(const YAML::Node& node, const std::string& path, Pricing& pricing) {
    read_map(node, path,
             {{"instance_type",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::string type;
                 if (read_string(field, field_path, type)) pricing.instance_type = type;
               }},
              {"instance_hour",
               [&](const YAML::Node& field, const std::string& field_path) {
                 read_non_negative_double(field, field_path, pricing.instance_hour);
               }},
              {"systems", [&](const YAML::Node& field, const std::string& field_path) {
                 read_system_pricings(field, field_path, pricing.systems);
               }}});
    if (pricing.instance_type && !pricing.instance_hour) {
      check_instance_type(*pricing.instance_type, false, join_path(path, "instance_type"));
    }
  }

  void read_system_pricings(const YAML::Node& node, const std::string& path,
                            std::map<std::string, SystemPricing>& out) {
    if (!node.IsMap()) {
      error(path,
            "expected a map of system names to their pricing, e.g. kafka: {model: msk}, got " +
                describe(node));
      return;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        error(path, "system names must be plain words, got " + describe(entry.first));
        continue;
      }
      const std::string& name = entry.first.Scalar();
      const std::string entry_path = join_path(path, name);
      if (out.contains(name)) {
        error(entry_path, "given more than once");
        continue;
      }
      out[name] = read_system_pricing(entry.second, entry_path);
    }
  }

  SystemPricing read_system_pricing(const YAML::Node& node, const std::string& path) {
    SystemPricing pricing;
    auto price = [&](std::optional<double>& out) {
      return [this, &out](const YAML::Node& field, const std::string& field_path) {
        read_non_negative_double(field, field_path, out);
      };
    };
    read_map(node, path,
             {{"model",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::optional<std::string> text = scalar(field, field_path, "a pricing model");
                 if (!text) return;
                 const std::vector<std::string>& names = pricing_model_names();
                 for (size_t i = 0; i < names.size(); ++i) {
                   if (names[i] == *text) {
                     pricing.model = static_cast<PricingModel>(i);
                     return;
                   }
                 }
                 error(field_path, "expected one of " + join_names(names) + ", got " +
                                       in_quotes(*text) + did_you_mean(*text, names));
               }},
              {"instance_type",
               [&](const YAML::Node& field, const std::string& field_path) {
                 std::string type;
                 if (read_string(field, field_path, type)) pricing.instance_type = type;
               }},
              {"instance_hour", price(pricing.instance_hour)},
              {"storage_gb", price(pricing.storage_gb)},
              {"storage_gb_month", price(pricing.storage_gb_month)},
              {"shard_hour", price(pricing.shard_hour)},
              {"million_put_units", price(pricing.million_put_units)},
              {"stream_hour", price(pricing.stream_hour)},
              {"gb_written", price(pricing.gb_written)},
              {"gb_read", price(pricing.gb_read)}});
    return pricing;
  }

  // Each `pricing.systems` entry against its system: the name exists, the model suits the
  // driver, and every price given is one the model uses.
  void check_pricing(const Pricing& pricing, const std::vector<System>& systems) {
    std::vector<std::string> names;
    for (const System& system : systems) names.push_back(system.name);
    for (const auto& [name, entry] : pricing.systems) {
      const std::string path = join_path("pricing.systems", name);
      auto system = std::find_if(systems.begin(), systems.end(),
                                 [&name = name](const System& s) { return s.name == name; });
      if (system == systems.end()) {
        const std::string suggestion = did_you_mean(name, names);
        error(path,
              "no system named " + in_quotes(name) +
                  (suggestion.empty() ? " (systems: " + join_names(names) + ")" : suggestion));
        continue;
      }
      std::vector<PricingModel> allowed = {PricingModel::kSelfManaged};
      if (system->driver == "kinesis") {
        allowed = {PricingModel::kKinesisProvisioned, PricingModel::kKinesisOnDemand};
      } else if (system->driver == "kafka") {
        allowed = {PricingModel::kMsk, PricingModel::kSelfManaged};
      }
      const PricingModel model = entry.model ? *entry.model : default_pricing_model(*system);
      if (std::find(allowed.begin(), allowed.end(), model) == allowed.end()) {
        std::vector<std::string> allowed_names;
        for (PricingModel m : allowed) allowed_names.emplace_back(pricing_model_name(m));
        error(join_path(path, "model"), std::string(pricing_model_name(model)) +
                                            " does not price driver " + in_quotes(system->driver) +
                                            ": expected " + join_names(allowed_names));
        continue;
      }
      const bool instances = model == PricingModel::kMsk || model == PricingModel::kSelfManaged;
      const std::pair<const char*, bool> given[] = {
          {"instance_type", entry.instance_type.has_value() && !instances},
          {"instance_hour", entry.instance_hour.has_value() && !instances},
          {"storage_gb", entry.storage_gb.has_value() && !instances},
          {"storage_gb_month", entry.storage_gb_month.has_value() && !instances},
          {"shard_hour",
           entry.shard_hour.has_value() && model != PricingModel::kKinesisProvisioned},
          {"million_put_units",
           entry.million_put_units.has_value() && model != PricingModel::kKinesisProvisioned},
          {"stream_hour", entry.stream_hour.has_value() && model != PricingModel::kKinesisOnDemand},
          {"gb_written", entry.gb_written.has_value() && model != PricingModel::kKinesisOnDemand},
          {"gb_read", entry.gb_read.has_value() && model != PricingModel::kKinesisOnDemand}};
      for (const auto& [field, misplaced] : given) {
        if (!misplaced) continue;
        error(join_path(path, field), "not a price of model " +
                                          std::string(pricing_model_name(model)) + " (it takes " +
                                          pricing_fields(model) + ")");
      }
      if (instances && entry.instance_type && !entry.instance_hour) {
        check_instance_type(*entry.instance_type, model == PricingModel::kMsk,
                            join_path(path, "instance_type"));
      }
    }
  }

  static std::string pricing_fields(PricingModel model) {
    switch (model) {
      case PricingModel::kKinesisProvisioned:
        return "shard_hour and million_put_units";
      case PricingModel::kKinesisOnDemand:
        return "stream_hour, gb_written and gb_read";
      case PricingModel::kMsk:
      case PricingModel::kSelfManaged:
        return "instance_type, instance_hour, storage_gb and storage_gb_month";
    }
    return "";
  }

  void read_matrix(const YAML::Node& node, const std::string& path, std::vector<MatrixAxis>& out) {
    if (!node.IsMap()) {
      error(path,
            "expected a map of field paths to lists of values, e.g. workload.message_size: "
            "[100B, 1KiB], got " +
                describe(node));
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        error(path, "field paths must be plain text, got " + describe(entry.first));
        continue;
      }
      const std::string& field = entry.first.Scalar();
      const std::string axis_path = matrix_axis_path(field);
      if (!seen.insert(field).second) {
        error(axis_path, "given more than once");
        continue;
      }
      Result<std::vector<PathStep>> steps = parse_override_path(field);
      if (!steps.ok()) {
        error(axis_path, "not a field path: " + steps.error());
        continue;
      }
      const auto* first = std::get_if<std::string>(&steps->front());
      if (first != nullptr && (*first == "matrix" || *first == "repeats")) {
        error(axis_path, "the matrix cannot vary " + *first + " itself");
        continue;
      }
      const auto* last = std::get_if<std::string>(&steps->back());
      if (first != nullptr && *first == "systems" && steps->size() == 3 && last != nullptr &&
          *last == "name") {
        error(axis_path,
              "a system's name identifies its runs across points and cannot vary; list "
              "another system instead");
        continue;
      }
      if (!entry.second.IsSequence()) {
        error(axis_path,
              "expected a list of values, e.g. [1, 16, 64], got " + describe(entry.second));
        continue;
      }
      if (entry.second.size() == 0) {
        error(axis_path, "must list at least one value");
        continue;
      }
      MatrixAxis axis{field, {}};
      bool values_ok = true;
      for (size_t i = 0; i < entry.second.size(); ++i) {
        const YAML::Node value = entry.second[i];
        const std::string value_path = index_path(axis_path, i);
        if (!value.IsScalar()) {
          error(value_path,
                "expected a single value (string, number or boolean), got " + describe(value));
          values_ok = false;
          continue;
        }
        auto earlier = std::find(axis.values.begin(), axis.values.end(), value.Scalar());
        if (earlier != axis.values.end()) {
          error(value_path, in_quotes(value.Scalar()) + " is already listed at [" +
                                std::to_string(earlier - axis.values.begin()) +
                                "]; use repeats to run a point more than once");
          values_ok = false;
          continue;
        }
        axis.values.push_back(value.Scalar());
      }
      if (values_ok) out.push_back(std::move(axis));
    }
  }

  // A sweep's size is the product of its axes: a typo in one list can multiply it by hundreds.
  void check_run_count(const Spec& spec) {
    uint64_t points = 1;
    for (const MatrixAxis& axis : spec.matrix) {
      points = std::min<uint64_t>(points * axis.values.size(), kMaxRuns + 1);
    }
    const uint64_t systems = std::max<size_t>(spec.systems.size(), 1);
    const uint64_t runs = points * static_cast<uint64_t>(spec.repeats) * systems;
    if (runs <= kMaxRuns) return;
    error(spec.matrix.empty() ? "repeats" : "matrix",
          std::to_string(points) + " points x " + std::to_string(spec.repeats) + " repeats x " +
              std::to_string(systems) + " systems is more than " + std::to_string(kMaxRuns) +
              " runs: drop values or split the sweep into several experiments");
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

  // A rate search measures steady rates: faults would make every step a different experiment.
  void check_search(const Spec& spec, bool no_faults) {
    if (spec.workload.search) {
      if (!no_faults) {
        error("faults",
              "not with workload.rate: find-max (a fault would hit one step of the "
              "search, not the system's capacity); remove faults or give a fixed rate");
      }
      if (!spec.slo || !spec.slo->p99) {
        warning("slo.p99",
                "not given: the search accepts any latency, so it finds the rate where the "
                "system stops keeping up rather than one with a usable latency (e.g. slo: "
                "{p99: 50ms})");
      }
    } else if (spec.slo) {
      warning("slo",
              "only used with workload.rate: find-max; for a fixed rate use "
              "targets.p99_latency");
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
  const SpecPolicy& policy_;
  std::vector<FieldError> errors_;
  std::vector<FieldError> warnings_;
};

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     std::vector<FieldError>& errors) {
  for (const std::string& text : overrides) {
    const std::string path = "--set " + text;
    const size_t equals = text.find('=');
    if (equals == std::string::npos) {
      errors.push_back({path, "expected path=value, e.g. workload.duration=5s"});
      continue;
    }
    // `--set "a = b"`: the spaces would become part of the path and the value.
    if ((equals > 0 && text[equals - 1] == ' ') ||
        (equals + 1 < text.size() && text[equals + 1] == ' ')) {
      auto trim = [](std::string part) {
        part.erase(0, part.find_first_not_of(' '));
        part.erase(part.find_last_not_of(' ') + 1);
        return part;
      };
      errors.push_back({path, "spaces around '=': use --set " + trim(text.substr(0, equals)) + "=" +
                                  trim(text.substr(equals + 1)) + " without spaces"});
      continue;
    }
    Result<std::vector<PathStep>> steps = parse_override_path(text.substr(0, equals));
    if (!steps.ok()) {
      errors.push_back({path, (equals == 0 ? "the path before '=' is empty" : steps.error())});
      continue;
    }
    Status applied = apply_override(root, *steps, text.substr(equals + 1));
    if (!applied.ok()) errors.push_back({path, applied.error()});
  }
}

// ---- Matrix sweeps ------------------------------------------------------------------------------

using PointValues = std::vector<std::pair<std::string, std::string>>;

// The spec without its sweep, as the tree each point's values are set in.
YAML::Node sweep_base(const Spec& spec) {
  Spec base = spec;
  base.matrix.clear();
  base.repeats = 1;
  return YAML::Load(spec_to_json(base));
}

struct PointParse {
  Spec spec;
  std::vector<FieldError> errors;
  std::vector<FieldError> warnings;
  std::optional<std::string> path_error;  // a value could not be set: the path is wrong
  std::vector<std::string> set_paths;     // each value's field, named entries resolved
};

PointParse parse_point(const YAML::Node& base, const PointValues& values,
                       const DriverCatalog& catalog, const SpecPolicy& policy) {
  PointParse out;
  YAML::Node root = YAML::Clone(base);
  for (const auto& [path, value] : values) {
    Result<std::vector<PathStep>> steps = parse_override_path(path);
    if (!steps.ok()) {
      out.path_error = steps.error();
      return out;
    }
    if (Status set = apply_override(root, *steps, value); !set.ok()) {
      out.path_error = set.error();
      return out;
    }
    out.set_paths.push_back(render_path(*steps, steps->size()));
  }
  SpecReader reader(catalog, policy);
  out.spec = reader.read(root);
  out.errors = reader.take_errors();
  out.warnings = reader.take_warnings();
  return out;
}

size_t point_count(const std::vector<MatrixAxis>& axes) {
  size_t count = 1;
  for (const MatrixAxis& axis : axes) count *= axis.values.size();
  return count;
}

// The values of point `index`: the first axis is outermost, the last varies fastest, as nested
// loops written in the order of the matrix.
PointValues point_values(const std::vector<MatrixAxis>& axes, size_t index) {
  PointValues values(axes.size());
  for (size_t a = axes.size(); a-- > 0;) {
    const size_t size = axes[a].values.size();
    values[a] = {axes[a].path, axes[a].values[index % size]};
    index /= size;
  }
  return values;
}

std::string describe_values(const PointValues& values) {
  std::string out;
  for (const auto& [path, value] : values) out += (out.empty() ? "" : ", ") + path + "=" + value;
  return out;
}

// A point's error relative to the value that caused it: the message alone when it is about the
// field the value set, "path: message" otherwise.
std::string relative_error(const FieldError& error, const std::vector<std::string>& set_paths) {
  const bool about_value =
      std::find(set_paths.begin(), set_paths.end(), error.path) != set_paths.end();
  return about_value ? error.message : error.to_string();
}

// Every value alone first, so an error names the axis and value that caused it; then every
// combination, for errors only a combination makes (a fault target beyond a point's nodes).
void check_matrix(const Spec& spec, const DriverCatalog& catalog, const SpecPolicy& policy,
                  ParseResult& result) {
  const YAML::Node base = sweep_base(spec);
  const size_t errors_before = result.errors.size();
  for (const MatrixAxis& axis : spec.matrix) {
    const std::string axis_path = matrix_axis_path(axis.path);
    std::vector<std::vector<std::string>> per_value;
    bool path_failed = false;
    for (const std::string& value : axis.values) {
      PointParse parsed = parse_point(base, {{axis.path, value}}, catalog, policy);
      if (parsed.path_error) {
        result.errors.push_back({axis_path, *parsed.path_error});
        path_failed = true;
        break;
      }
      std::vector<std::string> messages;
      for (const FieldError& error : parsed.errors) {
        messages.push_back(relative_error(error, parsed.set_paths));
      }
      per_value.push_back(std::move(messages));
    }
    if (path_failed) continue;
    // The same errors for every value are about the path (an unknown field), not the values.
    const bool same_for_all =
        per_value.size() > 1 && !per_value.front().empty() &&
        std::all_of(per_value.begin(), per_value.end(),
                    [&](const auto& messages) { return messages == per_value.front(); });
    if (same_for_all) {
      for (const std::string& message : per_value.front()) {
        result.errors.push_back({axis_path, message});
      }
      continue;
    }
    for (size_t i = 0; i < per_value.size(); ++i) {
      for (const std::string& message : per_value[i]) {
        result.errors.push_back({index_path(axis_path, i), message});
      }
    }
  }
  if (result.errors.size() != errors_before) return;

  std::set<std::string> known_warnings;
  for (const FieldError& warning : result.warnings) known_warnings.insert(warning.to_string());
  constexpr size_t kMostPointErrors = 10;  // the rest are usually the same mistake again
  size_t points_failed = 0;
  const size_t points = point_count(spec.matrix);
  for (size_t index = 0; index < points; ++index) {
    const PointValues values = point_values(spec.matrix, index);
    PointParse parsed = parse_point(base, values, catalog, policy);
    const std::string point_path =
        "matrix point " + std::to_string(index) + " (" + describe_values(values) + ")";
    if (!parsed.errors.empty() && ++points_failed <= kMostPointErrors) {
      for (const FieldError& error : parsed.errors) {
        result.errors.push_back({point_path, error.to_string()});
      }
    }
    for (const FieldError& warning : parsed.warnings) {
      if (!known_warnings.contains(warning.to_string())) {
        result.warnings.push_back({point_path, warning.to_string()});
      }
    }
  }
  if (points_failed > kMostPointErrors) {
    result.errors.push_back({"matrix", std::to_string(points_failed - kMostPointErrors) +
                                           " more points fail in the same way"});
  }
}

// yaml-cpp places a syntax error in a JSON document (a flow mapping to YAML) where the mapping
// began, line 1 column 1 whatever the mistake. A text that starts like a JSON object ('{' and a
// quoted key) is parsed as JSON to say where it really breaks; nullopt when it does not start
// like JSON (YAML flow style, `{name: x}`) or parses as JSON.
std::optional<std::string> json_syntax_error(const std::string& text) {
  constexpr const char* kSpace = " \t\r\n";
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string::npos || text[first] != '{') return std::nullopt;
  const size_t key = text.find_first_not_of(kSpace, first + 1);
  if (key == std::string::npos || text[key] != '"') return std::nullopt;
  try {
    [[maybe_unused]] const nlohmann::json parsed = nlohmann::json::parse(text);
    return std::nullopt;
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based: the byte at which parsing failed (one past the end at end of input).
    const size_t offset = std::min(e.byte == 0 ? size_t{0} : e.byte - 1, text.size());
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    // nlohmann's what() is "[json.exception.parse_error.101] parse error at line L, column C:
    // <reason>"; the reason is what a user can act on.
    std::string reason = e.what();
    const size_t colon = reason.find(": ");
    if (colon != std::string::npos) reason = reason.substr(colon + 2);
    return "JSON syntax error at line " + std::to_string(line) + ", column " +
           std::to_string(offset - line_start + 1) + ": " + reason;
  } catch (const nlohmann::json::exception&) {
    // Valid JSON syntax that nlohmann cannot hold (a number like 1e30916): not a syntax error,
    // so yaml-cpp's own message stands (found by fuzz/spec_fuzz.cpp).
    return std::nullopt;
  }
}

}  // namespace

ParseResult parse_spec(const std::string& text, const std::vector<std::string>& overrides,
                       const DriverCatalog& catalog, const SpecPolicy& policy) {
  ParseResult result;
  // A spec is UTF-8 text (YAML and JSON both say so); a stray byte would otherwise reach the
  // stored JSON form and fail there, far from its cause.
  if (auto bad = first_invalid_utf8(text)) {
    result.errors.push_back({"", "not UTF-8 text: invalid byte at " +
                                     describe_text_position(text, *bad) +
                                     "; save the spec as UTF-8"});
    return result;
  }
  for (size_t i = 0; i < overrides.size(); ++i) {
    if (auto bad = first_invalid_utf8(overrides[i])) {
      result.errors.push_back({"", "--set " + std::to_string(i + 1) +
                                       ": not UTF-8 text: invalid byte at " +
                                       describe_text_position(overrides[i], *bad)});
      return result;
    }
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (auto json_error = json_syntax_error(text)) {
      result.errors.push_back({"", *json_error});
      return result;
    }
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
    SpecReader reader(catalog, policy);
    result.spec = reader.read(root);
    for (FieldError& error : reader.take_errors()) result.errors.push_back(std::move(error));
    result.warnings = reader.take_warnings();
    // Matrix values are checked against a valid spec (else every value would repeat its errors);
    // a bad `repeats` or matrix entry does not make the rest invalid. A sweep too large to run
    // ("matrix" itself) is not expanded.
    const bool rest_valid =
        std::all_of(result.errors.begin(), result.errors.end(), [](const FieldError& error) {
          return error.path.starts_with("repeats") ||
                 (error.path.starts_with("matrix") && error.path != "matrix");
        });
    if (rest_valid && !result.spec.matrix.empty())
      check_matrix(result.spec, catalog, policy, result);
  } catch (const YAML::Exception& e) {
    // yaml-cpp only throws here on trees it did not build itself; report rather than crash.
    result.errors.push_back({"", std::string("could not read the spec: ") + e.what()});
  }
  return result;
}

ParseResult parse_spec_file(const std::string& path, const std::vector<std::string>& overrides,
                            const DriverCatalog& catalog, const SpecPolicy& policy) {
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
  return parse_spec(text.str(), overrides, catalog, policy);
}

const char* key_distribution_name(KeyDistribution distribution) {
  switch (distribution) {
    case KeyDistribution::kNone:
      return "none";
    case KeyDistribution::kRoundRobin:
      return "round_robin";
    case KeyDistribution::kRandom:
      return "random";
  }
  return "none";
}

const char* pricing_model_name(PricingModel model) {
  return pricing_model_names()[static_cast<size_t>(model)].c_str();
}

PricingModel default_pricing_model(const System& system) {
  if (system.driver != "kinesis") return PricingModel::kSelfManaged;
  auto mode = system.config.find("stream_mode");
  return mode != system.config.end() && mode->second == "ON_DEMAND"
             ? PricingModel::kKinesisOnDemand
             : PricingModel::kKinesisProvisioned;
}

namespace {

nlohmann::ordered_json pricing_json(const Pricing& pricing) {
  using Json = nlohmann::ordered_json;
  Json out = Json::object();
  if (pricing.instance_type) out["instance_type"] = *pricing.instance_type;
  if (pricing.instance_hour) out["instance_hour"] = *pricing.instance_hour;
  if (pricing.systems.empty()) return out;
  Json systems = Json::object();
  for (const auto& [name, entry] : pricing.systems) {
    Json item = Json::object();
    if (entry.model) item["model"] = pricing_model_name(*entry.model);
    if (entry.instance_type) item["instance_type"] = *entry.instance_type;
    const std::pair<const char*, std::optional<double>> prices[] = {
        {"instance_hour", entry.instance_hour},
        {"storage_gb", entry.storage_gb},
        {"storage_gb_month", entry.storage_gb_month},
        {"shard_hour", entry.shard_hour},
        {"million_put_units", entry.million_put_units},
        {"stream_hour", entry.stream_hour},
        {"gb_written", entry.gb_written},
        {"gb_read", entry.gb_read}};
    for (const auto& [key, value] : prices) {
      if (value) item[key] = *value;
    }
    systems[name] = std::move(item);
  }
  out["systems"] = std::move(systems);
  return out;
}

}  // namespace

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
  // Only when given, so the stored form of a spec without them stays what it was.
  if (w.search) {
    workload["rate"] = "find-max";
    Json search = {{"precision", w.search->precision}, {"max_steps", w.search->max_steps}};
    if (w.search->start) search["start"] = *w.search->start;
    if (w.search->max) search["max"] = *w.search->max;
    if (w.search->max_time) search["max_time"] = exact_duration(*w.search->max_time);
    workload["search"] = std::move(search);
  }
  if (w.key_distribution) workload["key_distribution"] = key_distribution_name(*w.key_distribution);
  if (w.seed) workload["seed"] = *w.seed;
  if (w.payload != Payload{}) {
    Json payload = Json::object();
    if (w.payload.pool > 0) payload["pool"] = w.payload.pool;
    if (w.payload.random_bytes_ratio != 1.0) {
      payload["random_bytes_ratio"] = w.payload.random_bytes_ratio;
    }
    if (!w.payload.file.empty()) payload["file"] = w.payload.file;
    workload["payload"] = std::move(payload);
  }
  if (w.backlog.enabled()) {
    Json backlog = Json::object();
    if (w.backlog.size > 0) backlog["size"] = w.backlog.size;
    if (w.backlog.messages > 0) backlog["messages"] = w.backlog.messages;
    backlog["drain_ratio"] = w.backlog.drain_ratio;
    workload["backlog"] = std::move(backlog);
  }
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
    // Only when not the default, so the stored form of a spec without it stays what it was.
    if (!d.worker_addresses.empty()) {
      deploy["workers"] = d.worker_addresses;
    } else if (d.workers != 1) {
      deploy["workers"] = d.workers;
    }
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
  // Only when given, so the stored form of a spec without it stays what it was.
  if (!spec.pricing.empty()) json["pricing"] = pricing_json(spec.pricing);
  // Only when given, so the stored form of a single-run spec stays what it was.
  if (!spec.matrix.empty()) {
    Json matrix = Json::object();
    for (const MatrixAxis& axis : spec.matrix) matrix[axis.path] = axis.values;
    json["matrix"] = std::move(matrix);
  }
  if (spec.repeats != 1) json["repeats"] = spec.repeats;
  if (!spec.reuse_infrastructure) json["reuse_infrastructure"] = false;
  if (spec.slo) {
    Json slo = {{"max_loss", spec.slo->max_loss}};
    if (spec.slo->p99) slo["p99"] = exact_duration(*spec.slo->p99);
    json["slo"] = std::move(slo);
  }
  return json.dump(2);
}

Result<std::vector<SweepPoint>> expand_matrix(const Spec& spec, const DriverCatalog& catalog,
                                              const SpecPolicy& policy) {
  std::vector<SweepPoint> points;
  if (spec.matrix.empty()) {
    points.push_back({0, {}, spec});
    return points;
  }
  try {
    const YAML::Node base = sweep_base(spec);
    const size_t count = point_count(spec.matrix);
    for (size_t index = 0; index < count; ++index) {
      PointValues values = point_values(spec.matrix, index);
      PointParse parsed = parse_point(base, values, catalog, policy);
      const std::string point_path =
          "matrix point " + std::to_string(index) + " (" + describe_values(values) + ")";
      if (parsed.path_error) return make_error(point_path + ": " + *parsed.path_error);
      if (!parsed.errors.empty()) {
        return make_error(point_path + ": " + parsed.errors.front().to_string());
      }
      parsed.spec.repeats = spec.repeats;
      points.push_back({index, std::move(values), std::move(parsed.spec)});
    }
  } catch (const YAML::Exception& e) {
    return make_error(std::string("could not expand the matrix: ") + e.what());
  }
  return points;
}

}  // namespace dec::core
