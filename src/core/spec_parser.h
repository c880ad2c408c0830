// Parsing and validation of experiment specs (YAML or JSON, same model), with `--set` overrides.
// Every problem is reported with its field path, e.g.
//   systems[1].driver: unknown driver "redsi" (did you mean "redis"?)
// and parsing never stops at the first error: all are collected.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "core/spec_policy.h"

namespace dec::core {

struct FieldError {
  std::string path;     // "systems[1].config.pipeline"
  std::string message;  // "expected a positive integer, got \"-3\""
  std::string to_string() const { return path.empty() ? message : path + ": " + message; }
};

// What the spec layer needs to know about drivers without depending on them.
struct DriverCatalog {
  std::vector<std::string> names;  // known driver names
  // Validates one driver's config; returns errors with paths relative to `path_prefix`.
  std::function<std::vector<FieldError>(const std::string& driver, const Settings& config,
                                        const std::string& path_prefix)>
      validate_config;
};

struct ParseResult {
  Spec spec;
  std::vector<FieldError> errors;  // empty = valid
  // Valid but probably not what the user meant (e.g. fewer keys than partitions); shown by
  // `dec validate` / `dec run` and stored with the results.
  std::vector<FieldError> warnings;
  bool ok() const { return errors.empty(); }
};

// `text` may be YAML or JSON (JSON is YAML). `overrides` are "path=value" strings such as
// "workload.duration=5s", "systems[0].config.pipeline=64" or "systems[redis].config.pipeline=64"
// (a system by name), applied before validation. A `matrix` is validated point by point: errors
// name the axis and value (`matrix["workload.message_size"][1]: ...`) or the point.
// An untrusted `policy` (a spec from the API) may not name files on dec's machine
// (workload.payload.file): refused without being opened.
ParseResult parse_spec(const std::string& text, const std::vector<std::string>& overrides,
                       const DriverCatalog& catalog, const SpecPolicy& policy = SpecPolicy());

// Reads the file and parses it; a missing file is reported as a FieldError with an empty path.
ParseResult parse_spec_file(const std::string& path, const std::vector<std::string>& overrides,
                            const DriverCatalog& catalog, const SpecPolicy& policy = SpecPolicy());

// One combination of matrix values ("point") and the spec with those values set.
struct SweepPoint {
  size_t index = 0;                                         // 0-based, in expansion order
  std::vector<std::pair<std::string, std::string>> values;  // matrix path → value, axis order
  Spec spec;  // the values applied; no matrix; repeats as in the sweep
};

// The points of `spec.matrix` (a validated spec): its cross product, first axis outermost and
// the last varying fastest. Without a matrix, one point: the spec itself.
Result<std::vector<SweepPoint>> expand_matrix(const Spec& spec, const DriverCatalog& catalog,
                                              const SpecPolicy& policy = SpecPolicy());

// The candidate closest to `word` if it is close enough to be a likely typo (at most one edit
// for words of up to 3 letters, two for longer; case-insensitive; a swap of neighbours is one).
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// The spec as canonical JSON text (for storing with results and posting to the API).
std::string spec_to_json(const Spec& spec);

}  // namespace dec::core
