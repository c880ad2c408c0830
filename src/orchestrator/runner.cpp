#include "orchestrator/runner.h"

#include <chrono>

#include "drivers/driver.h"
#include "infra/executor.h"

namespace dec::orchestrator {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class ExperimentRun {
 public:
  ExperimentRun(const core::Spec& spec, std::string id, RunnerContext& context)
      : spec_(spec), id_(std::move(id)), context_(context) {}

  ExperimentOutcome run() {
    ExperimentOutcome outcome;
    outcome.result.id = id_;
    outcome.result.experiment = spec_.name;
    outcome.result.started_at = store::now_iso8601();
    outcome.result.workload = spec_.workload;
    outcome.result.targets = spec_.targets;
    std::vector<std::string> failures;
    for (const auto& system : spec_.systems) {
      report::RunResult run;
      if (stopped()) {
        run.system = system.name;
        run.driver = system.driver;
        run.provider = system.deploy.provider;
        run.status = "cancelled";
        run.error = "not started: experiment cancelled";
      } else {
        run = run_system(system);
      }
      if (run.status == "failed") failures.push_back(system.name + ": " + run.error);
      outcome.result.runs.push_back(std::move(run));
      // Store partial results after each system, so a crash later loses nothing finished.
      if (context_.store) (void)context_.store->set_results(id_, report::to_json(outcome.result));
    }
    if (stopped()) {
      outcome.state = "cancelled";
      outcome.error = "cancelled";
    } else if (!failures.empty()) {
      outcome.state = "failed";
      for (const auto& f : failures) outcome.error += (outcome.error.empty() ? "" : "; ") + f;
    } else {
      outcome.state = "succeeded";
    }
    set_state("", outcome.state, outcome.error);
    return outcome;
  }

 private:
  bool stopped() const { return context_.stop && context_.stop->load(); }

  void set_state(const std::string& system, const std::string& state,
                 const std::string& error = "") {
    // Persisted before acting, so a restarted server knows what may need cleaning.
    if (context_.store) (void)context_.store->set_state(id_, state, error);
    if (context_.events.on_state) context_.events.on_state(system, state);
  }

  void log(const std::string& line) {
    if (context_.events.on_log) context_.events.on_log(line);
  }

  report::RunResult run_system(const core::System& system) {
    report::RunResult run;
    run.run_id = id_ + "." + system.name;
    run.system = system.name;
    run.driver = system.driver;
    run.provider = system.deploy.provider;
    run.config = system.config;
    run.status = "failed";

    infra::ProviderContext& pc = context_.provider_context;
    infra::RunState state;
    state.run_id = run.run_id;
    state.experiment_id = id_;
    state.system = system.name;
    state.provider = system.deploy.provider;
    state.installation = pc.installation;
    state.owner = pc.env->self();
    infra::StateFile file(*pc.env, infra::state_path(pc.data_dir, run.run_id));
    auto logger = [this, name = system.name](const std::string& line) { log(name + ": " + line); };

    auto provider = infra::make_provider(system.deploy.provider, pc);
    if (!provider) {
      run.error = provider.error();
      return run;
    }
    // Provision
    set_state(system.name, "provisioning");
    auto phase_start = Clock::now();
    Status provisioned = [&]() -> Status {
      auto desired = (*provider)->resources_for(system, run.run_id);
      if (!desired) return make_error(desired.error());
      auto plan = infra::plan_changes(*desired, state, (*provider)->updatable_in_place());
      if (!plan) return make_error(plan.error());
      return infra::apply_plan(**provider, *plan, state, file, logger);
    }();
    run.phases_s.emplace_back("provision", seconds_since(phase_start));

    if (provisioned && !stopped()) {
      run_workload(system, **provider, state, run);
    } else if (!provisioned) {
      run.error = provisioned.error();
    } else {
      run.status = "cancelled";
      run.error = "cancelled";
    }

    // Destroy: always, whatever happened above.
    set_state(system.name, "destroying");
    phase_start = Clock::now();
    if (Status s = infra::destroy_run(**provider, state, file, logger); !s) {
      run.status = "failed";
      run.error += (run.error.empty() ? "" : "; ") + std::string("destroy: ") + s.error() +
                   " (run `dec reconcile` to retry)";
    }
    run.phases_s.emplace_back("destroy", seconds_since(phase_start));
    return run;
  }

  void run_workload(const core::System& system, infra::Provider& provider,
                    const infra::RunState& state, report::RunResult& run) {
    set_state(system.name, "deploying");
    auto phase_start = Clock::now();
    const core::Workload& w = spec_.workload;
    std::vector<std::string> topics;
    for (int i = 0; i < w.topics; ++i) topics.push_back("dec-" + id_ + "-" + std::to_string(i));
    std::vector<std::string> groups;
    for (int g = 0; g < w.consumer_groups; ++g) groups.push_back("dec-group-" + std::to_string(g));

    std::unique_ptr<drivers::Driver> driver;
    Status deployed = [&]() -> Status {
      auto endpoint = provider.endpoint(state);
      if (!endpoint) return make_error(endpoint.error());
      run.emulated = endpoint->emulated;
      run.served_by = endpoint->label;
      const drivers::DriverInfo* info = drivers::find_driver(system.driver);
      if (info == nullptr) return make_error("unknown driver " + system.driver);
      driver = info->create();
      drivers::Endpoint de{endpoint->addresses, endpoint->properties};
      if (Status s = driver->connect(de, system.config); !s) return s;
      run.emulated = run.emulated || driver->emulated();
      for (const auto& topic : topics) {
        if (Status s = driver->create_topic(topic, w.partitions); !s) return s;
      }
      if (w.consumers > 0) return driver->prepare_consumers(topics, groups);
      return Status::Ok();
    }();
    run.phases_s.emplace_back("deploy", seconds_since(phase_start));
    if (!deployed) {
      run.error = deployed.error();
      return;
    }

    load::EngineOptions options;
    options.producers = w.producers;
    options.consumers = w.consumers;
    options.consumer_groups = w.consumer_groups;
    options.rate = w.rate;
    options.warmup = w.warmup;
    options.duration = w.duration;
    options.drain_timeout = w.drain_timeout;
    options.message_size = w.message_size;
    options.keys = w.keys;
    options.topics = topics;
    options.group_prefix = "dec-group";
    load::Engine engine(*driver, options);
    set_state(system.name, w.warmup.count() > 0 ? "warming" : "running");
    phase_start = Clock::now();
    load::Phase last_phase = w.warmup.count() > 0 ? load::Phase::kWarmup : load::Phase::kMeasuring;
    static const std::atomic<bool> never(false);
    auto result = engine.run(
        [&](const load::Progress& progress) {
          if (progress.phase != last_phase) {
            last_phase = progress.phase;
            if (progress.phase == load::Phase::kMeasuring) set_state(system.name, "running");
            if (progress.phase == load::Phase::kDraining) set_state(system.name, "collecting");
          }
          if (context_.events.on_progress) context_.events.on_progress(system.name, progress);
        },
        context_.stop ? *context_.stop : never);
    run.phases_s.emplace_back("run", seconds_since(phase_start));
    if (!result) {
      run.error = result.error();
      return;
    }
    run.engine = std::move(*result);
    run.counters = driver->counters();
    set_state(system.name, "collecting");
    for (const auto& topic : topics) (void)driver->delete_topic(topic);
    if (!run.engine.error.empty()) {
      bool cancelled = stopped();
      run.status = cancelled ? "cancelled" : "failed";
      run.error = cancelled ? "cancelled" : run.engine.error;
      return;
    }
    run.status = "succeeded";
  }

  const core::Spec& spec_;
  std::string id_;
  RunnerContext& context_;
};

}  // namespace

const std::vector<std::string>& lifecycle_states() {
  static const std::vector<std::string> states = {
      "queued",     "provisioning", "deploying", "warming", "running",
      "collecting", "destroying",   "succeeded", "failed",  "cancelled"};
  return states;
}

bool is_terminal_state(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

ExperimentOutcome run_experiment(const core::Spec& spec, const std::string& experiment_id,
                                 RunnerContext& context) {
  ExperimentRun run(spec, experiment_id, context);
  return run.run();
}

}  // namespace dec::orchestrator
