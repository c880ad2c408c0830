// A results document in a few hundred bytes: what a history list or a run picker shows without
// loading every run's timeline and histograms. Stored beside the results when they are written
// (store's summary_json), so listing 1 000 experiments reads no results document.
//
//   {"verdict": "2/3 runs succeeded, 1 with delivery problems, targets met",
//    "points": 1, "repeats": 1,
//    "runs": [{"run_id", "system", "driver", "status", "emulated", "point", "repeat",
//              "consumed_msgs_per_s", "produced_msgs_per_s", "p99_us", "delivery_ok",
//              "targets_met"}]}
//
// "targets_met" is true, false, or null when the spec set no target (or one could not be
// measured). The verdict is in the words of the web app's history list.
#pragma once

#include <string>

namespace dec::report {

// The summary of a results document (report::to_json's output) as compact JSON; "" when the
// document is not a JSON object.
std::string results_summary(const std::string& results_json);

}  // namespace dec::report
