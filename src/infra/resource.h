// Resources, their recorded state, and plans: the provider-independent core of dec's
// infrastructure-as-code layer. A run's state is one JSON file written atomically after every
// step, so a crash at any point leaves a record of everything that may exist.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "infra/env.h"

namespace dec::infra {

using core::Settings;

// What should exist. `address` is unique within a run ("service.redis-aof.0").
struct Resource {
  std::string address;
  std::string type;                     // "service" (broker process), later host, topic, worker
  Settings attributes;                  // desired configuration; a change means update/replace
  std::vector<std::string> depends_on;  // addresses created before this one
  bool operator==(const Resource&) const = default;
};

// What dec has done about a resource. A record is written *before* the action ("creating",
// "deleting") so a crash mid-step still leaves a trace that reconcile follows.
struct ResourceRecord {
  Resource resource;
  std::string status;  // creating | created | updating | deleting | missing
  Settings outputs;    // pid, start_ticks, port, data_dir, address, ...
};

struct RunState {
  std::string run_id;  // "<experiment id>.<system name>"
  std::string experiment_id;
  std::string system;
  std::string provider;      // provider name, to destroy with the right one
  std::string installation;  // which dec data dir created it
  ProcessId owner;           // the dec process applying it; dead owner = interrupted run
  bool kept = false;         // created by `dec apply` to stay up until `dec destroy`: reconcile
                             // repairs it (recreates, adopts, fixes drift) instead of destroying it
  std::vector<ResourceRecord> resources;

  ResourceRecord* find(const std::string& address);
};

std::string run_state_to_json(const RunState& state);
Result<RunState> run_state_from_json(const std::string& text);

enum class ChangeKind { kCreate, kUpdate, kReplace, kDelete };

struct PlannedChange {
  ChangeKind kind;
  Resource resource;                        // desired (create/update/replace) or recorded (delete)
  std::vector<std::string> changed_fields;  // attribute names that differ (update/replace)
};

struct Plan {
  std::vector<PlannedChange> changes;  // deletes first (reverse dependency order), then creates
  bool empty() const { return changes.empty(); }
};

// Diffs desired resources against recorded state. Resources recorded but never finished
// ("creating") are replaced. Attributes listed in `updatable_in_place` change without replacement.
Result<Plan> plan_changes(const std::vector<Resource>& desired, const RunState& state,
                          const std::vector<std::string>& updatable_in_place = {});

// terraform-like text: "+ service.redis-a.0", "-/+ ...", "~ ...", "- ...", with attributes.
std::string plan_to_text(const Plan& plan);
std::string plan_to_json(const Plan& plan);

// Dependency order (Kahn); error names the cycle or the missing dependency.
Result<std::vector<Resource>> topological_order(const std::vector<Resource>& resources);

// Depth of each resource in the dependency graph (0 = depends on nothing in `resources`;
// dependencies outside the list are ignored). Resources of equal depth are independent.
std::vector<int> dependency_levels(const std::vector<Resource>& resources);

}  // namespace dec::infra
