#include "infra/reconcile.h"

#include <map>
#include <set>

#include "infra/executor.h"
#include "infra/provider_registry.h"
#include "systems/registry.h"

namespace dec::infra {

void add_topic_config(const core::System& system, Settings& topic_attributes) {
  const drivers::DriverInfo* info = systems::find_driver(system.driver);
  if (info == nullptr) return;
  for (const std::string& key : info->topic_keys) {
    if (auto value = system.config.find(key); value != system.config.end()) {
      topic_attributes["config." + key] = value->second;
    }
  }
}

Settings topic_config(const Settings& topic_attributes) {
  Settings config;
  for (const auto& [key, value] : topic_attributes) {
    if (key.rfind("config.", 0) == 0) config[key.substr(7)] = value;
  }
  return config;
}

std::vector<std::string> recorded_runs(Env& env, const std::string& data_dir) {
  std::vector<std::string> runs;
  for (const auto& name : env.list_dir(data_dir + "/state")) {
    const std::string suffix = ".json";
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      runs.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  return runs;
}

namespace {

// Adds discovered resources of `state`'s run that the state lacks. Returns what was adopted.
std::vector<std::string> adopt(RunState& state, const std::vector<DiscoveredResource>& found) {
  std::vector<std::string> adopted;
  for (const auto& d : found) {
    if (d.run_id != state.run_id || d.type.empty() || d.address.empty()) continue;
    if (ResourceRecord* existing = state.find(d.address)) {
      // Several discoveries (a namespace and a cgroup) can describe one adopted resource.
      if (existing->resource.attributes.count("adopted")) {
        for (const auto& [k, v] : d.outputs) existing->outputs.emplace(k, v);
      }
      continue;
    }
    ResourceRecord record;
    record.resource.address = d.address;
    record.resource.type = d.type;
    record.resource.attributes["adopted"] = "true";
    record.status = "created";
    record.outputs = d.outputs;
    // No recorded dependencies: destroyed with the run's first level. Destroying a local
    // resource stops whatever runs inside it first, so the order within a level is free.
    state.resources.insert(state.resources.begin(), std::move(record));
    adopted.push_back(d.address);
  }
  return adopted;
}

std::string describe_drift(const std::string& key, const std::string& recorded,
                           const std::string& found) {
  return key + " recorded \"" + recorded + "\", found \"" + found + "\"";
}

}  // namespace

Status destroy_recorded_run(const ProviderContext& context, const std::string& run_id,
                            const LogFn& log) {
  Env& env = *context.env;
  StateFile file(env, state_path(context.data_dir, run_id));
  auto state = file.load();
  if (!state) return make_error(state.error());
  if (state->owner.valid() && env.process_alive(state->owner)) {
    return make_error(run_id + " is still running in dec process " +
                      std::to_string(state->owner.pid) + "; stop it first");
  }
  auto provider = make_provider(state->provider, context);
  if (!provider) return make_error(provider.error());
  state->kept = false;
  state->owner = env.self();
  return destroy_run(**provider, *state, file, log);
}

ReconcileReport reconcile(const ProviderContext& context, const ReconcileOptions& options,
                          const LogFn& log) {
  Env& env = *context.env;
  ReconcileReport report;
  auto act = [&](const std::string& action) {
    report.actions.push_back(action);
    if (log) log((options.dry_run ? "would " : "") + action);
  };
  const ProcessId self = env.self();
  std::set<std::string> live;
  // Every provider is asked: a crashed run of any of them leaves tagged resources behind.
  std::map<std::string, std::unique_ptr<Provider>> discoverers;
  std::vector<DiscoveredResource> found;
  for (const auto& name : discovering_providers(context)) {
    auto provider = make_provider(name, context);
    if (!provider) {
      report.errors.push_back("provider " + name + ": " + provider.error());
      continue;
    }
    for (auto& d : (*provider)->discover()) {
      d.provider = name;
      found.push_back(std::move(d));
    }
    discoverers[name] = std::move(*provider);
  }

  for (const auto& run_id : recorded_runs(env, context.data_dir)) {
    StateFile file(env, state_path(context.data_dir, run_id));
    auto text = env.read_file(file.path());
    if (!text) {
      report.errors.push_back(run_id + ": " + text.error() + " (" + file.path() + ")");
      live.insert(run_id);  // unreadable now, maybe not later: never delete what it describes
      continue;
    }
    auto state = run_state_from_json(*text);
    if (!state) {
      // Written atomically by its owner, so a file that does not parse was damaged (a crash on a
      // filesystem without atomic rename, a disk error, a hand edit): it describes nothing
      // reliably. Kept aside for a look, and the run's resources are found by their tags below,
      // as orphans, which is how reconcile cleans up after a run with no state at all.
      const std::string aside = file.path() + ".corrupt";
      act("set aside the unreadable state file of run " + run_id + " as " + aside + " (" +
          state.error() + "); its resources are cleaned up by their tags");
      if (options.dry_run) continue;
      if (Status s = env.write_file_atomic(aside, *text); !s) {
        report.errors.push_back(run_id +
                                ": cannot keep the corrupt state file aside: " + s.error());
        live.insert(run_id);
        continue;
      }
      (void)file.remove();
      continue;
    }
    bool owner_alive = state->owner.valid() && env.process_alive(state->owner);
    bool owner_is_self =
        state->owner.pid == self.pid && state->owner.start_ticks == self.start_ticks;
    if (owner_alive && !owner_is_self) {
      live.insert(run_id);
      report.live_runs.push_back(run_id);
      continue;
    }
    auto provider = make_provider(state->provider, context);
    if (!provider) {
      report.errors.push_back(run_id + ": " + provider.error());
      live.insert(run_id);
      continue;
    }
    for (const auto& address : adopt(*state, found)) {
      act("adopt " + address + " into run " + run_id + " (exists, missing from its state)");
      report.adopted.push_back(run_id + "/" + address);
    }
    if (!state->kept) {
      act("destroy interrupted run " + run_id + " (" + std::to_string(state->resources.size()) +
          " recorded resources)");
      if (options.dry_run) continue;
      if (Status s = destroy_run(**provider, *state, file, log); !s) {
        report.errors.push_back(run_id + ": " + s.error());
        live.insert(run_id);
      } else {
        report.cleaned_runs.push_back(run_id);
      }
      continue;
    }

    // A kept run: converge it back to its recorded resources.
    live.insert(run_id);
    report.live_runs.push_back(run_id);
    std::vector<Resource> desired;
    const auto in_place = (*provider)->updatable_in_place();
    std::vector<std::string> update_keys;
    // Adopted resources have no definition to recreate them from: if one vanished, forget it.
    std::erase_if(state->resources, [&](const ResourceRecord& record) {
      if (!record.resource.attributes.count("adopted") || (*provider)->exists(record)) {
        return false;
      }
      act("forget vanished adopted " + record.resource.address + " of run " + run_id);
      return true;
    });
    for (auto& record : state->resources) {
      desired.push_back(record.resource);
      if (record.resource.attributes.count("adopted")) continue;
      if (record.status == "created" && !(*provider)->exists(record)) {
        act("recreate " + record.resource.address + " of run " + run_id + " (vanished)");
        report.recreated.push_back(run_id + "/" + record.resource.address);
        record.status = "missing";
        continue;
      }
      if (record.status != "created") {
        act("recreate " + record.resource.address + " of run " + run_id + " (left " +
            record.status + ")");
        report.recreated.push_back(run_id + "/" + record.resource.address);
        continue;
      }
      for (const auto& [key, value] : (*provider)->observe(record)) {
        auto want = record.resource.attributes.find(key);
        std::string recorded = want == record.resource.attributes.end() ? "" : want->second;
        if (recorded == value) continue;
        std::string drift =
            run_id + "/" + record.resource.address + ": " + describe_drift(key, recorded, value);
        report.drift.push_back(drift);
        act("fix drift " + drift);
        // Make the plan see the drift: the record says what the platform has.
        record.resource.attributes[key] = value;
      }
    }
    if (options.dry_run) continue;
    auto plan = plan_changes(desired, *state, in_place);
    if (!plan) {
      report.errors.push_back(run_id + ": " + plan.error());
      continue;
    }
    if (plan->empty()) continue;
    state->owner = self;
    Status applied = apply_plan(**provider, *plan, *state, file, log);
    state->owner = ProcessId{};
    (void)file.save(*state);
    if (!applied) report.errors.push_back(run_id + ": " + applied.error());
  }

  // Orphans: tagged by this installation, but no run (live, kept or just cleaned) claims them.
  // Discovered again: destroying runs above removed much of what the first look found.
  for (const auto& [name, provider] : discoverers) {
    for (const auto& orphan : provider->discover()) {
      if (live.count(orphan.run_id)) continue;
      act("delete orphan " + orphan.description + " of run " + orphan.run_id +
          (name == "local" ? "" : " (provider " + name + ")"));
      if (options.dry_run) continue;
      if (Status s = provider->destroy_discovered(orphan); !s) {
        report.errors.push_back(orphan.description + ": " + s.error());
      }
    }
  }
  return report;
}

}  // namespace dec::infra
