#include "report/results.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/units.h"

namespace dec::report {

using json = nlohmann::ordered_json;

namespace {

double round_to(double value, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

json latency_json(const metrics::Histogram& h) {
  auto us = [](uint64_t ns) { return round_to(static_cast<double>(ns) / 1000.0, 1); };
  return {{"count", h.count()},
          {"mean", round_to(h.mean() / 1000.0, 1)},
          {"p50", us(h.percentile(50))},
          {"p90", us(h.percentile(90))},
          {"p99", us(h.percentile(99))},
          {"p999", us(h.percentile(99.9))},
          {"p9999", us(h.percentile(99.99))},
          {"max", us(h.max())}};
}

json fault_json(const FaultImpact& fault) {
  json out = {
      {"at_s", round_to(fault.at_s, 3)}, {"action", fault.action}, {"target", fault.target}};
  if (fault.bandwidth) out["bandwidth"] = *fault.bandwidth;
  out["applied"] = fault.applied;
  if (!fault.error.empty()) out["error"] = fault.error;
  if (!fault.applied) return out;
  out["applied_at_s"] = round_to(fault.applied_at_s, 3);
  if (fault.ends_fault) {
    out["ends_fault"] = *fault.ends_fault;  // index in this list; the figures are there
    return out;
  }
  out["throughput_before"] = round_to(fault.throughput_before, 1);
  out["throughput_min"] = round_to(fault.throughput_min, 1);
  out["dip_pct"] = round_to(fault.dip_pct, 1);
  out["recovery_s"] = fault.recovery_s ? json(round_to(*fault.recovery_s, 2)) : json(nullptr);
  out["lost"] = fault.lost;
  out["duplicated"] = fault.duplicated;
  return out;
}

}  // namespace

std::string to_json(const ExperimentResult& result, bool pretty) {
  json runs = json::array();
  for (const auto& run : result.runs) {
    const auto& e = run.engine;
    json phases = json::object();
    for (const auto& [name, seconds] : run.phases_s) phases[name] = round_to(seconds, 3);
    json counters = json::object();
    for (const auto& [name, value] : run.counters) counters[name] = value;
    json timeline = json::array();
    for (const auto& point : e.timeline) {
      timeline.push_back({{"t_s", round_to(point.t_s, 2)},
                          {"produced_per_s", round_to(point.produced_per_s, 1)},
                          {"consumed_per_s", round_to(point.consumed_per_s, 1)},
                          {"p99_us", point.p99_us},
                          {"lost", point.lost},
                          {"duplicated", point.duplicated}});
    }
    json faults = json::array();
    for (const auto& fault : run.faults) faults.push_back(fault_json(fault));
    json item = {
        {"run_id", run.run_id},
        {"system", run.system},
        {"driver", run.driver},
        {"provider", run.provider},
        {"emulated", run.emulated},
        {"served_by", run.served_by},
        {"status", run.status},
        {"error", run.error},
        {"config", run.config},
        {"measured_s", round_to(e.measured_seconds, 3)},
        {"throughput",
         {{"produced_msgs_per_s", round_to(e.produced_msgs_per_s, 1)},
          {"consumed_msgs_per_s", round_to(e.consumed_msgs_per_s, 1)},
          {"produced_mb_per_s", round_to(e.produced_mb_per_s, 3)},
          {"consumed_mb_per_s", round_to(e.consumed_mb_per_s, 3)}}},
        {"latency_us", latency_json(e.end_to_end_latency)},
        {"publish_latency_us", latency_json(e.publish_latency)},
        {"delivery",
         {{"sent", e.delivery.sent},
          {"acked", e.delivery.acked},
          {"send_errors", e.delivery.send_errors},
          {"received", e.delivery.received},
          {"lost", e.delivery.lost},
          {"duplicated", e.delivery.duplicated},
          {"reordered", e.delivery.reordered},
          {"corrupt", e.delivery.corrupt}}},
        {"phases_s", phases},
        {"counters", counters},
        {"timeline", timeline},
        {"faults", faults},
        {"histograms",
         {{"end_to_end_ns", e.end_to_end_latency.serialize()},
          {"publish_ns", e.publish_latency.serialize()}}},
    };
    json targets = json::object();
    if (result.targets.p99_latency) {
      double limit_us = static_cast<double>(result.targets.p99_latency->count()) / 1000.0;
      targets["p99_latency_us"] = limit_us;
      targets["p99_latency_met"] =
          run.status == "succeeded" &&
          static_cast<double>(e.end_to_end_latency.percentile(99)) / 1000.0 <= limit_us;
    }
    if (result.targets.min_throughput) {
      targets["min_throughput"] = *result.targets.min_throughput;
      targets["min_throughput_met"] =
          run.status == "succeeded" && e.consumed_msgs_per_s >= *result.targets.min_throughput;
    }
    item["targets"] = targets;
    runs.push_back(item);
  }
  const auto& w = result.workload;
  json doc = {
      {"id", result.id},
      {"experiment", result.experiment},
      {"started_at", result.started_at},
      {"workload",
       {{"message_size", w.message_size},
        {"producers", w.producers},
        {"consumers", w.consumers},
        {"consumer_groups", w.consumer_groups},
        {"rate", w.rate},
        {"duration_s", std::chrono::duration<double>(w.duration).count()},
        {"warmup_s", std::chrono::duration<double>(w.warmup).count()},
        {"topics", w.topics},
        {"partitions", w.partitions},
        {"keys", w.keys}}},
      {"runs", runs},
  };
  return pretty ? doc.dump(2) : doc.dump();
}

namespace {

std::string with_commas(double value) {
  auto n = static_cast<long long>(std::llround(value));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

std::string latency_text(double us) {
  if (us >= 1e6) return fixed(us / 1e6, 2) + " s";
  if (us >= 1e3) return fixed(us / 1e3, 2) + " ms";
  return fixed(us, 0) + " us";
}

// 2 decimals at most and no trailing zeros: "20", "20.5", as people write them in specs.
std::string trimmed(double value) {
  std::string text = fixed(value, 2);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string fault_name(const json& fault) {
  std::string name =
      fault.value("action", "?") + " node " + std::to_string(fault.value("target", 0));
  if (fault.contains("bandwidth") && fault["bandwidth"].is_number()) {
    name += " to " + trimmed(fault["bandwidth"].get<double>() / 1e6) + "Mbit";
  }
  return name + " @" + trimmed(fault.value("at_s", 0.0)) + "s";
}

// One fault's figures for a table cell.
std::string fault_figures(const json& fault) {
  if (!fault.value("applied", false)) return "NOT APPLIED (below)";
  if (fault.contains("ends_fault") && fault["ends_fault"].is_number()) {
    return "ends fault " + std::to_string(fault["ends_fault"].get<size_t>() + 1);
  }
  std::string text = "dip " + fixed(fault.value("dip_pct", 0.0), 0) + "%, ";
  const bool paired =
      fault.value("action", "") == "pause" || fault.value("action", "") == "disconnect";
  if (fault.contains("recovery_s") && fault["recovery_s"].is_number()) {
    text += "recovered " + fixed(fault["recovery_s"].get<double>(), 1) + " s";
    // A pause or disconnect that was undone measures recovery from its undoing.
    if (paired)
      text +=
          " after " + std::string(fault.value("action", "") == "pause" ? "resume" : "reconnect");
  } else {
    text += "not recovered";
  }
  text += ", lost " + with_commas(static_cast<double>(fault.value("lost", uint64_t{0})));
  if (uint64_t duplicated = fault.value("duplicated", uint64_t{0}); duplicated > 0) {
    text += ", dup " + with_commas(static_cast<double>(duplicated));
  }
  return text;
}

const json& faults_of(const json& run) {
  static const json kNone = json::array();
  return run.contains("faults") && run["faults"].is_array() ? run["faults"] : kNone;
}

struct Row {
  std::string label;
  std::vector<std::string> cells;
  std::vector<double> values;  // for marking the best
  int better = 0;              // +1 higher is better, -1 lower is better, 0 no mark
};

}  // namespace

Result<std::string> comparison_table(const std::string& results_json) {
  json doc;
  try {
    doc = json::parse(results_json);
  } catch (const std::exception& e) {
    return make_error(std::string("results are not valid JSON: ") + e.what());
  }
  if (!doc.contains("runs") || !doc["runs"].is_array()) {
    return make_error("results JSON has no \"runs\" list");
  }
  const json& runs = doc["runs"];
  std::vector<Row> rows;
  auto add = [&](const std::string& label, int better, auto cell_of) {
    Row row{label, {}, {}, better};
    for (const auto& run : runs) {
      auto [text, value] = cell_of(run);
      row.cells.push_back(text);
      row.values.push_back(value);
    }
    rows.push_back(std::move(row));
  };
  auto number = [](const json& j, const char* a, const char* b) -> double {
    if (!j.contains(a) || !j[a].contains(b) || !j[a][b].is_number()) return 0;
    return j[a][b].get<double>();
  };
  bool ok_runs = false;
  for (const auto& run : runs) ok_runs = ok_runs || run.value("status", "") == "succeeded";

  add("driver", 0, [](const json& r) {
    return std::pair{r.value("driver", "") + (r.value("emulated", false) ? " (EMULATED)" : ""),
                     0.0};
  });
  add("served by", 0, [](const json& r) { return std::pair{r.value("served_by", ""), 0.0}; });
  add("status", 0, [](const json& r) { return std::pair{r.value("status", ""), 0.0}; });
  if (ok_runs) {
    add("produced msg/s", +1, [&](const json& r) {
      double v = number(r, "throughput", "produced_msgs_per_s");
      return std::pair{with_commas(v), v};
    });
    add("consumed msg/s", +1, [&](const json& r) {
      double v = number(r, "throughput", "consumed_msgs_per_s");
      return std::pair{with_commas(v), v};
    });
    add("produced MB/s", +1, [&](const json& r) {
      double v = number(r, "throughput", "produced_mb_per_s");
      return std::pair{fixed(v, 2), v};
    });
    add("consumed MB/s", +1, [&](const json& r) {
      double v = number(r, "throughput", "consumed_mb_per_s");
      return std::pair{fixed(v, 2), v};
    });
    for (const auto& [key, label] :
         std::vector<std::pair<const char*, const char*>>{{"p50", "latency p50"},
                                                          {"p90", "latency p90"},
                                                          {"p99", "latency p99"},
                                                          {"p999", "latency p99.9"},
                                                          {"p9999", "latency p99.99"},
                                                          {"max", "latency max"}}) {
      add(label, -1, [&, key = key](const json& r) {
        double v = number(r, "latency_us", key);
        return std::pair{latency_text(v), v};
      });
    }
    add("publish p99", -1, [&](const json& r) {
      double v = number(r, "publish_latency_us", "p99");
      return std::pair{latency_text(v), v};
    });
    auto delivery = [](const json& r, const char* key) -> uint64_t {
      if (!r.contains("delivery")) return 0;
      return r["delivery"].value(key, uint64_t{0});
    };
    add("sent / received", 0, [&](const json& r) {
      return std::pair{with_commas(static_cast<double>(delivery(r, "sent"))) + " / " +
                           with_commas(static_cast<double>(delivery(r, "received"))),
                       0.0};
    });
    add("delivery check", 0, [&](const json& r) {
      std::string text;
      for (const auto& [key, label] :
           std::vector<std::pair<const char*, const char*>>{{"lost", "lost"},
                                                            {"duplicated", "dup"},
                                                            {"reordered", "reordered"},
                                                            {"corrupt", "corrupt"},
                                                            {"send_errors", "send errors"}}) {
        if (uint64_t n = delivery(r, key); n > 0) {
          text += (text.empty() ? "" : ", ") + with_commas(static_cast<double>(n)) + " " + label;
        }
      }
      return std::pair{text.empty() ? std::string("ok") : "FAILED: " + text, 0.0};
    });
    // Throttling, where a driver reports it (Kinesis): users compare systems on exactly this.
    bool throttling = false;
    for (const auto& r : runs) {
      throttling = throttling ||
                   (r.contains("counters") && r["counters"].contains("kinesis.throttled_requests"));
    }
    if (throttling) {
      add("throttled requests", -1, [](const json& r) {
        double v =
            r.contains("counters") ? r["counters"].value("kinesis.throttled_requests", 0.0) : 0;
        return std::pair{with_commas(v), v};
      });
      add("retried records", -1, [](const json& r) {
        double v = r.contains("counters") ? r["counters"].value("kinesis.retried_records", 0.0) : 0;
        return std::pair{with_commas(v), v};
      });
    }
    for (const char* target : {"p99_latency_met", "min_throughput_met"}) {
      bool any = false;
      for (const auto& r : runs)
        any = any || (r.contains("targets") && r["targets"].contains(target));
      if (!any) continue;
      add(std::string(target) == "p99_latency_met" ? "target p99" : "target throughput", 0,
          [target](const json& r) {
            bool met = r.contains("targets") && r["targets"].value(target, false);
            return std::pair{std::string(met ? "met" : "MISSED"), 0.0};
          });
    }
  }
  // One row per fault. Systems may have different faults (a fault can name its system), so the
  // label says what the fault was only when every run that has it agrees.
  size_t most_faults = 0;
  for (const auto& r : runs) most_faults = std::max(most_faults, faults_of(r).size());
  for (size_t f = 0; f < most_faults; ++f) {
    std::optional<std::string> common;
    bool same = true;
    for (const auto& r : runs) {
      if (f >= faults_of(r).size()) continue;
      const std::string name = fault_name(faults_of(r)[f]);
      same = same && (!common || *common == name);
      common = name;
    }
    std::string label = "fault " + std::to_string(f + 1);
    if (same && common) label += " " + *common;
    add(label, 0, [&, f, same](const json& r) {
      if (f >= faults_of(r).size()) return std::pair{std::string("-"), 0.0};
      const json& fault = faults_of(r)[f];
      return std::pair{(same ? "" : fault_name(fault) + ": ") + fault_figures(fault), 0.0};
    });
  }

  // Phase names in the label, figures in the cells, so columns stay narrow.
  std::string phase_names;
  for (const auto& r : runs) {
    if (!r.contains("phases_s")) continue;
    std::string names;
    for (const auto& [name, value] : r["phases_s"].items())
      names += (names.empty() ? "" : "/") + name;
    if (names.size() > phase_names.size()) phase_names = names;
  }
  add("s " + phase_names, 0, [](const json& r) {
    std::string text;
    if (r.contains("phases_s")) {
      for (const auto& [name, value] : r["phases_s"].items()) {
        text += (text.empty() ? "" : "/") + fixed(value.get<double>(), 2);
      }
    }
    return std::pair{text, 0.0};
  });
  bool any_error = false;
  for (const auto& r : runs) any_error = any_error || !r.value("error", "").empty();

  // Layout: metric names down the left, one column per system.
  std::vector<std::string> headers;
  for (const auto& run : runs) headers.push_back(run.value("system", "?"));
  size_t label_width = 16;
  for (const auto& row : rows) label_width = std::max(label_width, row.label.size());
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    widths[c] = headers[c].size();
    for (const auto& row : rows) widths[c] = std::max(widths[c], row.cells[c].size() + 2);
  }
  std::ostringstream out;
  const json& w = doc.value("workload", json::object());
  out << "Experiment " << doc.value("experiment", "") << "  (id " << doc.value("id", "") << ")\n";
  if (!w.empty()) {
    double rate = w.value("rate", 0.0);
    out << "Workload: " << core::format_size(w.value("message_size", uint64_t{0})) << " messages, "
        << w.value("producers", 0) << " producers, " << w.value("consumers", 0) << " consumers, "
        << (rate == 0 ? std::string("max rate") : core::format_rate(rate)) << ", "
        << fixed(w.value("duration_s", 0.0), 0) << " s measured after "
        << fixed(w.value("warmup_s", 0.0), 0) << " s warm-up, " << w.value("partitions", 1)
        << " partition(s)\n";
  }
  out << "\n" << std::left << std::setw(static_cast<int>(label_width + 2)) << "";
  for (size_t c = 0; c < headers.size(); ++c) {
    out << std::right << std::setw(static_cast<int>(widths[c] + 2)) << headers[c];
  }
  out << "\n";
  for (const auto& row : rows) {
    out << std::left << std::setw(static_cast<int>(label_width + 2)) << row.label;
    int best = -1;
    if (row.better != 0 && row.cells.size() > 1) {
      for (size_t c = 0; c < row.values.size(); ++c) {
        if (runs[c].value("status", "") != "succeeded") continue;
        if (best < 0 || (row.better > 0 ? row.values[c] > row.values[best]
                                        : row.values[c] < row.values[best])) {
          best = static_cast<int>(c);
        }
      }
    }
    if (best >= 0) {
      // A tie has no winner.
      int equal = 0;
      for (size_t c = 0; c < row.values.size(); ++c) equal += row.values[c] == row.values[best];
      if (equal > 1) best = -1;
    }
    for (size_t c = 0; c < row.cells.size(); ++c) {
      std::string cell = row.cells[c] + (static_cast<int>(c) == best ? " *" : "  ");
      out << std::right << std::setw(static_cast<int>(widths[c] + 2)) << cell;
    }
    out << "\n";
  }
  out << "\n* best in row.";
  bool emulated = false;
  for (const auto& r : runs) emulated = emulated || r.value("emulated", false);
  if (emulated) {
    out << " EMULATED: a local stand-in speaking the product's protocol; its figures are not"
           " the product's.";
  }
  out << "\n";
  if (any_error) {
    out << "\nErrors:\n";
    for (const auto& r : runs) {
      if (!r.value("error", "").empty()) {
        out << "  " << r.value("system", "?") << ": " << r.value("error", "") << "\n";
      }
    }
  }
  std::string fault_errors;
  for (const auto& r : runs) {
    const json& faults = faults_of(r);
    for (size_t f = 0; f < faults.size(); ++f) {
      if (faults[f].value("applied", false)) continue;
      fault_errors += "  " + r.value("system", "?") + ": fault " + std::to_string(f + 1) + " (" +
                      fault_name(faults[f]) + "): " + faults[f].value("error", "no reason given") +
                      "\n";
    }
  }
  if (!fault_errors.empty()) out << "\nFaults not applied:\n" << fault_errors;
  return out.str();
}

}  // namespace dec::report
