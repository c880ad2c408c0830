#include "infra/resource.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace dec::infra {

using nlohmann::json;

ResourceRecord* RunState::find(const std::string& address) {
  for (auto& record : resources) {
    if (record.resource.address == address) return &record;
  }
  return nullptr;
}

std::string run_state_to_json(const RunState& state) {
  json doc;
  doc["version"] = 1;
  doc["run_id"] = state.run_id;
  doc["experiment_id"] = state.experiment_id;
  doc["system"] = state.system;
  doc["provider"] = state.provider;
  doc["installation"] = state.installation;
  doc["owner"] = {{"pid", state.owner.pid}, {"start_ticks", state.owner.start_ticks}};
  doc["kept"] = state.kept;
  json resources = json::array();
  for (const auto& record : state.resources) {
    resources.push_back({{"address", record.resource.address},
                         {"type", record.resource.type},
                         {"attributes", record.resource.attributes},
                         {"depends_on", record.resource.depends_on},
                         {"status", record.status},
                         {"outputs", record.outputs}});
  }
  doc["resources"] = resources;
  return doc.dump(2) + "\n";
}

Result<RunState> run_state_from_json(const std::string& text) {
  try {
    json doc = json::parse(text);
    RunState state;
    state.run_id = doc.at("run_id").get<std::string>();
    state.experiment_id = doc.value("experiment_id", "");
    state.system = doc.value("system", "");
    state.provider = doc.value("provider", "local");
    state.installation = doc.value("installation", "");
    state.owner.pid = doc.at("owner").value("pid", 0);
    state.owner.start_ticks = doc.at("owner").value("start_ticks", uint64_t{0});
    state.kept = doc.value("kept", false);
    for (const auto& item : doc.at("resources")) {
      ResourceRecord record;
      record.resource.address = item.at("address").get<std::string>();
      record.resource.type = item.at("type").get<std::string>();
      record.resource.attributes = item.value("attributes", Settings{});
      record.resource.depends_on = item.value("depends_on", std::vector<std::string>{});
      record.status = item.value("status", "creating");
      record.outputs = item.value("outputs", Settings{});
      state.resources.push_back(std::move(record));
    }
    return state;
  } catch (const json::parse_error& e) {
    return make_error("corrupt state file: not valid JSON (at byte " + std::to_string(e.byte) +
                      ")");
  } catch (const std::exception&) {
    return make_error(
        "corrupt state file: valid JSON, but a field of a run's state is missing or of the "
        "wrong type");
  }
}

Result<std::vector<Resource>> topological_order(const std::vector<Resource>& resources) {
  std::map<std::string, const Resource*> by_address;
  for (const auto& r : resources) {
    if (!by_address.emplace(r.address, &r).second) {
      return make_error("duplicate resource address " + r.address);
    }
  }
  std::map<std::string, int> pending;
  for (const auto& r : resources) {
    int count = 0;
    for (const auto& dep : r.depends_on) {
      if (!by_address.count(dep)) {
        return make_error(r.address + " depends on " + dep + ", which is not declared");
      }
      ++count;
    }
    pending[r.address] = count;
  }
  std::vector<Resource> ordered;
  std::set<std::string> done;
  // Stable: among ready resources, keep declaration order.
  while (ordered.size() < resources.size()) {
    bool progressed = false;
    for (const auto& r : resources) {
      if (done.count(r.address)) continue;
      bool ready = std::all_of(r.depends_on.begin(), r.depends_on.end(),
                               [&](const std::string& d) { return done.count(d) > 0; });
      if (!ready) continue;
      ordered.push_back(r);
      done.insert(r.address);
      progressed = true;
    }
    if (!progressed) {
      std::string cycle;
      for (const auto& r : resources) {
        if (!done.count(r.address)) cycle += (cycle.empty() ? "" : ", ") + r.address;
      }
      return make_error("dependency cycle among: " + cycle);
    }
  }
  return ordered;
}

std::vector<int> dependency_levels(const std::vector<Resource>& resources) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < resources.size(); ++i) index.emplace(resources[i].address, i);
  std::vector<int> level(resources.size(), -1);
  // Iterative relaxation; a cycle (which plan_changes rejects earlier) stops at size() rounds.
  for (size_t round = 0; round <= resources.size(); ++round) {
    bool changed = false;
    for (size_t i = 0; i < resources.size(); ++i) {
      int depth = 0;
      bool known = true;
      for (const auto& dep : resources[i].depends_on) {
        auto it = index.find(dep);
        if (it == index.end() || it->second == i) continue;
        if (level[it->second] < 0) {
          known = false;
          break;
        }
        depth = std::max(depth, level[it->second] + 1);
      }
      if (known && level[i] != depth) {
        level[i] = depth;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (auto& l : level) l = std::max(l, 0);
  return level;
}

Result<Plan> plan_changes(const std::vector<Resource>& desired, const RunState& state,
                          const std::vector<std::string>& updatable_in_place) {
  auto ordered = topological_order(desired);
  if (!ordered) return make_error(ordered.error());
  Plan plan;
  std::set<std::string> desired_addresses;
  for (const auto& r : desired) desired_addresses.insert(r.address);

  // Deletes: recorded but no longer desired, in reverse of recorded (creation) order.
  for (auto it = state.resources.rbegin(); it != state.resources.rend(); ++it) {
    if (!desired_addresses.count(it->resource.address)) {
      plan.changes.push_back({ChangeKind::kDelete, it->resource, {}});
    }
  }
  for (const auto& want : *ordered) {
    const ResourceRecord* have = nullptr;
    for (const auto& record : state.resources) {
      if (record.resource.address == want.address) have = &record;
    }
    if (have == nullptr) {
      plan.changes.push_back({ChangeKind::kCreate, want, {}});
      continue;
    }
    if (have->status != "created" || have->resource.type != want.type) {
      plan.changes.push_back({ChangeKind::kReplace, want, {"status"}});
      continue;
    }
    std::vector<std::string> changed;
    std::set<std::string> keys;
    for (const auto& [k, v] : want.attributes) keys.insert(k);
    for (const auto& [k, v] : have->resource.attributes) keys.insert(k);
    for (const auto& key : keys) {
      auto a = want.attributes.find(key);
      auto b = have->resource.attributes.find(key);
      bool same = a != want.attributes.end() && b != have->resource.attributes.end() &&
                  a->second == b->second;
      if (!same) changed.push_back(key);
    }
    if (changed.empty()) continue;
    bool in_place = std::all_of(changed.begin(), changed.end(), [&](const std::string& k) {
      return std::find(updatable_in_place.begin(), updatable_in_place.end(), k) !=
             updatable_in_place.end();
    });
    plan.changes.push_back({in_place ? ChangeKind::kUpdate : ChangeKind::kReplace, want, changed});
  }
  return plan;
}

namespace {
const char* symbol(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kCreate:
      return "+";
    case ChangeKind::kUpdate:
      return "~";
    case ChangeKind::kReplace:
      return "-/+";
    case ChangeKind::kDelete:
      return "-";
  }
  return "?";
}
const char* verb(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kCreate:
      return "create";
    case ChangeKind::kUpdate:
      return "update";
    case ChangeKind::kReplace:
      return "replace";
    case ChangeKind::kDelete:
      return "delete";
  }
  return "?";
}
}  // namespace

std::string plan_to_text(const Plan& plan) {
  std::ostringstream out;
  int creates = 0, updates = 0, deletes = 0;
  for (const auto& change : plan.changes) {
    out << "  " << symbol(change.kind) << " " << change.resource.type << " "
        << change.resource.address << "\n";
    for (const auto& [key, value] : change.resource.attributes) {
      bool changed = std::find(change.changed_fields.begin(), change.changed_fields.end(), key) !=
                     change.changed_fields.end();
      out << "      " << (changed ? "~ " : "  ") << key << " = \"" << value << "\"\n";
    }
    switch (change.kind) {
      case ChangeKind::kCreate:
        ++creates;
        break;
      case ChangeKind::kUpdate:
        ++updates;
        break;
      case ChangeKind::kReplace:
        ++creates;
        ++deletes;
        break;
      case ChangeKind::kDelete:
        ++deletes;
        break;
    }
  }
  out << "Plan: " << creates << " to add, " << updates << " to change, " << deletes
      << " to destroy.\n";
  return out.str();
}

std::string plan_to_json(const Plan& plan) {
  json changes = json::array();
  for (const auto& change : plan.changes) {
    changes.push_back({{"action", verb(change.kind)},
                       {"address", change.resource.address},
                       {"type", change.resource.type},
                       {"attributes", change.resource.attributes},
                       {"depends_on", change.resource.depends_on},
                       {"changed", change.changed_fields}});
  }
  return json{{"changes", changes}}.dump(2);
}

}  // namespace dec::infra
