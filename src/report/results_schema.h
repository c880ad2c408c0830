// The results document (report::to_json, docs/results.md) as a JSON Schema (draft 2020-12), for
// the web UI and other readers. Objects list every field to_json writes and refuse others, so a
// field added to to_json without its schema fails the schema test. Served as
// GET /api/schema/results.json.
#pragma once

#include <nlohmann/json.hpp>

namespace dec::report {

// The document's "spec" refers to the spec schema by its URL ("spec.json", relative to this
// schema's $id), so the two schemas stay one definition each.
nlohmann::ordered_json results_json_schema();

}  // namespace dec::report
