// The experiment spec as a JSON Schema (draft 2020-12), for editors and the web UI: every field
// spec_parser.cpp accepts, with its type, range and unit syntax (sizes, durations, rates and
// bandwidths as strings matching the units.h grammar). It describes the JSON form (YAML converted
// to JSON, or core::spec_to_json's canonical form); the parser stays the judge of what is valid:
// checks across fields (a fault's target against a system's nodes, a driver's config keys) are
// the parser's alone. Served as GET /api/schema/spec.json.
#pragma once

#include <nlohmann/json.hpp>

#include "core/spec_parser.h"

namespace dec::core {

// `catalog.names` become the enum of systems[].driver.
nlohmann::ordered_json spec_json_schema(const DriverCatalog& catalog);

}  // namespace dec::core
