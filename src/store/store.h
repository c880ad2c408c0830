// Store: experiments, their lifecycle state and results, in one SQLite database
// (default ./dec-data/dec.db). Thread-safe; every write is a transaction, so a crash never
// loses what was stored before it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

struct sqlite3;

namespace dec::store {

struct ExperimentRecord {
  int64_t seq = 0;  // submission order
  std::string id;   // "20261125-063512-7f3a"
  std::string name;
  std::string state;  // lifecycle state (see orchestrator/lifecycle.h)
  std::string error;  // why it failed, if it did
  std::string spec_json;
  std::string results_json;  // "" until collected
  std::string summary_json;  // report::results_summary of results_json ("" if not computed)
  bool has_results = false;  // results_json is not empty (also known when it was not read)
  std::string created_at;    // ISO 8601 UTC
  std::string started_at;
  std::string finished_at;
};

struct ListFilter {
  std::string state;  // "" = any
  int limit = 100;
  int offset = 0;
  bool newest_first = true;
  // false: spec_json and results_json are left empty (the summary is still read), so a list
  // of many experiments reads a few hundred bytes per row instead of whole documents.
  bool documents = true;
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`; creates parent directories.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts a new experiment with a fresh id; returns the id.
  Result<std::string> create_experiment(const std::string& name, const std::string& spec_json,
                                        const std::string& state);
  Status set_state(const std::string& id, const std::string& state, const std::string& error = "");
  // Stores the results document and, when given, its summary (report::results_summary).
  Status set_results(const std::string& id, const std::string& results_json,
                     const std::string& summary_json = "");
  // Stores a summary computed later (for results written before summaries existed).
  Status set_summary(const std::string& id, const std::string& summary_json);
  Result<std::optional<ExperimentRecord>> get(const std::string& id);
  Result<std::vector<ExperimentRecord>> list(const ListFilter& filter);
  // Experiments whose id starts with `prefix` (lets users type a short id).
  Result<std::vector<std::string>> find_ids(const std::string& prefix);
  // The id of the most recently created experiment called `name`, if any.
  Result<std::optional<std::string>> latest_id_named(const std::string& name);

  // The queue, in submission order: the oldest queued experiment, if any.
  Result<std::optional<ExperimentRecord>> next_queued();
  // 1-based place of a queued experiment in the queue; 0 if it is not queued.
  Result<int> queue_position(const std::string& id);
  // Number of experiments in each state that has any (no spec or results are read).
  Result<std::vector<std::pair<std::string, int64_t>>> count_by_state();

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status exec(const std::string& sql);
  sqlite3* db_;
  std::mutex mutex_;
};

std::string now_iso8601();
// A new experiment id: UTC time plus random suffix, sortable and short enough to type.
std::string new_experiment_id();

}  // namespace dec::store
