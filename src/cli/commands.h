// The `dec` command line. main() only forwards to run_cli so tests can call it in-process.
#pragma once

#include <string>
#include <vector>

namespace dec::cli {

// Exit codes: 0 success, 1 an experiment or operation failed, 2 bad usage or invalid spec,
// 3 a target was missed or a delivery check failed (with --fail-on-target-miss),
// 130 interrupted (infrastructure already destroyed).
int run_cli(const std::vector<std::string>& args);

}  // namespace dec::cli
