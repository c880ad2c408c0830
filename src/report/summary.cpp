#include "report/summary.h"

#include <nlohmann/json.hpp>

namespace dec::report {
namespace {

using json = nlohmann::ordered_json;

uint64_t count(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<uint64_t>() : 0;
}

// Every message accounted for: nothing lost, duplicated, reordered, corrupt or undelivered,
// and no send error (redelivery is allowed: at-least-once systems redeliver by design).
bool delivery_ok(const json& run) {
  const auto it = run.find("delivery");
  if (it == run.end() || !it->is_object()) return false;
  for (const char* key :
       {"lost", "duplicated", "reordered", "corrupt", "send_errors", "undelivered"}) {
    if (count(*it, key) > 0) return false;
  }
  return true;
}

double number(const json& run, const char* object, const char* key) {
  const auto it = run.find(object);
  if (it == run.end() || !it->is_object()) return 0;
  const auto value = it->find(key);
  return value != it->end() && value->is_number() ? value->get<double>() : 0;
}

}  // namespace

static std::string results_summary_unguarded(const std::string& results_json);

std::string results_summary(const std::string& results_json) {
  try {
    return results_summary_unguarded(results_json);
  } catch (const nlohmann::json::exception&) {
    return "";  // a document this malformed has nothing to summarise
  }
}

static std::string results_summary_unguarded(const std::string& results_json) {
  const json doc = json::parse(results_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return "";
  json runs = json::array();
  size_t succeeded = 0, bad_delivery = 0, targets_set = 0, targets_missed = 0;
  const json empty = json::array();
  const json& all = doc.contains("runs") && doc["runs"].is_array() ? doc["runs"] : empty;
  for (const auto& run : all) {
    if (!run.is_object()) continue;
    const bool ok = run.value("status", "") == "succeeded";
    const bool delivered = ok && delivery_ok(run);
    succeeded += ok ? 1 : 0;
    bad_delivery += ok && !delivered ? 1 : 0;
    // Each target the spec set counts once per run: met, missed, or not measured (null).
    json met = nullptr;
    if (const auto targets = run.find("targets"); targets != run.end() && targets->is_object()) {
      for (const char* key : {"p99_latency_met", "min_throughput_met"}) {
        const auto it = targets->find(key);
        if (it == targets->end()) continue;
        ++targets_set;
        if (it->is_boolean()) {
          targets_missed += it->get<bool>() ? 0 : 1;
          met = met.is_null() ? json(it->get<bool>()) : json(met.get<bool>() && it->get<bool>());
        }
      }
    }
    runs.push_back({{"run_id", run.value("run_id", "")},
                    {"system", run.value("system", "")},
                    {"driver", run.value("driver", "")},
                    {"status", run.value("status", "")},
                    {"emulated", run.value("emulated", false)},
                    {"point", run.value("point", 0)},
                    {"repeat", run.value("repeat", 0)},
                    {"consumed_msgs_per_s", number(run, "throughput", "consumed_msgs_per_s")},
                    {"produced_msgs_per_s", number(run, "throughput", "produced_msgs_per_s")},
                    {"p99_us", number(run, "latency_us", "p99")},
                    {"delivery_ok", delivered},
                    {"targets_met", met}});
  }
  std::string verdict;
  if (!runs.empty()) {
    verdict = std::to_string(succeeded) + "/" + std::to_string(runs.size()) + " runs succeeded";
    if (bad_delivery > 0)
      verdict += ", " + std::to_string(bad_delivery) + " with delivery problems";
    if (targets_set > 0) {
      verdict += targets_missed > 0 ? ", " + std::to_string(targets_missed) + " target(s) missed"
                                    : ", targets met";
    }
  }
  const size_t points =
      doc.contains("points") && doc["points"].is_array() ? doc["points"].size() : 1;
  json summary = {{"verdict", verdict},
                  {"points", points},
                  {"repeats", doc.value("repeats", 1)},
                  {"runs", runs}};
  return summary.dump();
}

}  // namespace dec::report
