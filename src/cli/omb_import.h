// `dec import omb`: turns OpenMessaging Benchmark workload and driver files into a dec spec.
// The mapping is documented field by field in docs/import.md. Fields dec cannot honour are
// never dropped silently: each becomes a warning naming the file and field.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace dec::cli {

struct OmbImport {
  std::string spec_yaml;              // a dec spec, with a comment saying where it came from
  std::vector<std::string> warnings;  // "<file>: <field>: <why it is not carried over>"
};

// `workload_path`: an OMB workload file; `driver_path`: an OMB driver file, or "" for one Kafka
// system with dec's defaults. Errors (unreadable file, not YAML, a field of the wrong type,
// a driverClass dec has no driver for) name the file and field.
Result<OmbImport> import_omb(const std::string& workload_path, const std::string& driver_path);

}  // namespace dec::cli
