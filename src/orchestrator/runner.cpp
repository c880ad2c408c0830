#include "orchestrator/runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "core/spec_parser.h"
#include "drivers/client_settings.h"
#include "drivers/config_checks.h"
#include "drivers/driver.h"
#include "infra/executor.h"
#include "orchestrator/preflight.h"
#include "orchestrator/rate_search.h"
#include "orchestrator/sweep.h"
#include "orchestrator/usage_sampler.h"
#include "report/faults.h"
#include "report/summary.h"
#include "systems/registry.h"
#include "worker/worker.h"

namespace dec::orchestrator {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `prefix` is the run prefix; a sweep's has dots ("<id>.p1.r0"), which NATS takes as subject
// separators, so they become '-' ("dec-<id>-p1-r0-0").
std::vector<std::string> topic_names(const core::Spec& spec, const std::string& prefix) {
  std::string base = prefix;
  std::replace(base.begin(), base.end(), '.', '-');
  std::vector<std::string> topics;
  for (int i = 0; i < spec.workload.topics; ++i) {
    topics.push_back("dec-" + base + "-" + std::to_string(i));
  }
  return topics;
}

// A fault as the results describe it, before it is applied.
report::FaultImpact impact_of(const core::Fault& fault) {
  report::FaultImpact impact;
  impact.at_s = std::chrono::duration<double>(fault.at).count();
  impact.action = fault.action;
  impact.target = fault.target;
  impact.bandwidth = fault.bandwidth;
  return impact;
}

// Executes a system's faults at their times, measured from the start of the engine's warm-up.
// The schedule is anchored on the first progress report from a started engine: the engine
// reports at once when its schedule starts, and a worker agent reports the elapsed time as of its
// answer, so the anchor is off by at most half a status request's round trip. Each fault's
// applied_at_s is when the provider's call returned: the fault was in effect by then.
class FaultInjector {
 public:
  FaultInjector(std::vector<core::Fault> faults, infra::Provider& provider,
                const infra::RunState& state, const std::atomic<bool>* stop,
                std::function<void(const std::string&)> log)
      : faults_(std::move(faults)),
        provider_(provider),
        state_(state),
        stop_(stop),
        log_(std::move(log)) {}
  ~FaultInjector() { finish(); }

  // Called with every progress report; starts the schedule on the first one from a started
  // engine (before that, clients are still connecting or joining their groups).
  void on_progress(const load::Progress& progress) {
    if (faults_.empty() || thread_.joinable() || !progress.started) return;
    anchor_ = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(progress.elapsed_s));
    thread_ = std::thread([this] { execute(); });
  }

  // Stops the schedule; returns what was applied (unapplied faults marked as such).
  std::vector<report::FaultImpact> finish() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::vector<report::FaultImpact> out = applied_;
    for (size_t i = out.size(); i < faults_.size(); ++i) {
      report::FaultImpact impact = impact_of(faults_[i]);
      impact.applied = false;
      impact.error = "not reached: the run ended first";
      out.push_back(impact);
    }
    return out;
  }

 private:
  void execute() {
    for (const auto& fault : faults_) {
      std::unique_lock<std::mutex> lock(mutex_);
      auto when = anchor_ + std::chrono::duration_cast<Clock::duration>(fault.at);
      while (!done_ && Clock::now() < when && !(stop_ && stop_->load())) {
        wake_.wait_until(lock, std::min(when, Clock::now() + std::chrono::milliseconds(100)));
      }
      if (done_ || (stop_ && stop_->load())) return;
      lock.unlock();
      report::FaultImpact impact = impact_of(fault);
      Status s = provider_.inject_fault(state_, fault);
      impact.applied_at_s = std::chrono::duration<double>(Clock::now() - anchor_).count();
      impact.applied = s.ok();
      if (!s) impact.error = s.error();
      if (log_) {
        log_("fault " + fault.action + " node " + std::to_string(fault.target) + " at " +
             std::to_string(impact.applied_at_s).substr(0, 5) + " s" +
             (s ? "" : ": failed: " + s.error()));
      }
      lock.lock();
      applied_.push_back(std::move(impact));
    }
  }

  std::vector<core::Fault> faults_;
  infra::Provider& provider_;
  const infra::RunState& state_;
  const std::atomic<bool>* stop_;
  std::function<void(const std::string&)> log_;
  Clock::time_point anchor_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::vector<report::FaultImpact> applied_;
};

class ExperimentRun {
 public:
  ExperimentRun(const core::Spec& spec, std::string id, RunnerContext& context)
      : spec_(spec),
        id_(std::move(id)),
        context_(context),
        key_seed_(spec.workload.seed ? *spec.workload.seed : std::random_device{}()) {}

  ExperimentOutcome run() {
    ExperimentOutcome outcome;
    outcome.result.id = id_;
    outcome.result.experiment = spec_.name;
    outcome.result.started_at = store::now_iso8601();
    outcome.result.workload = spec_.workload;
    outcome.result.targets = spec_.targets;
    outcome.result.repeats = spec_.repeats;
    outcome.result.spec_json = core::spec_to_json(spec_);
    outcome.result.environment = report::collect_environment();
    // The spec was validated by whoever queued it; its warnings are recomputed here so that they
    // travel with the results, whichever way the spec came in.
    const core::SpecPolicy& policy = context_.provider_context.spec_policy;
    for (const auto& warning :
         core::parse_spec(core::spec_to_json(spec_), {}, systems::driver_catalog(), policy)
             .warnings) {
      outcome.result.warnings.push_back(warning.to_string());
    }
    auto points = core::expand_matrix(spec_, systems::driver_catalog(), policy);
    if (!points) {
      outcome.state = "failed";
      outcome.error = points.error();
      set_state("", outcome.state, outcome.error);
      return outcome;
    }
    for (const auto& point : *points) outcome.result.points.push_back({point.index, point.values});
    // Whoever queued the spec validated it, but a provider may object now (a program removed,
    // dec no longer root): every system at every point is checked before the first is created.
    if (auto errors = deployment_errors(spec_, context_.provider_context); !errors.empty()) {
      outcome.state = "failed";
      for (const auto& error : errors) {
        outcome.error += (outcome.error.empty() ? "" : "; ") + error.to_string();
      }
      log("nothing created: " + outcome.error);
      set_state("", outcome.state, outcome.error);
      return outcome;
    }
    const bool sweep = is_sweep(spec_);
    if (sweep) log("sweep: " + sweep_headline(*points));
    if (spec_.workload.search) log(search_plan(spec_));
    std::vector<std::string> failures;
    const std::vector<PlannedRun> order =
        run_order(points->size(), spec_.repeats, spec_.systems.size());
    const std::vector<bool> reuse = reuse_plan(*points, order);
    for (size_t index = 0; index < order.size(); ++index) {
      const PlannedRun& planned = order[index];
      const core::SweepPoint& point = (*points)[planned.point];
      const core::System& system = point.spec.systems[planned.system];
      point_spec_ = &point.spec;
      run_prefix_ = run_prefix(id_, planned, sweep);
      // What progress and logs call the run: the system, and in a sweep which run of it.
      label_ = sweep ? "p" + std::to_string(planned.point) + ".r" + std::to_string(planned.repeat) +
                           "." + system.name
                     : system.name;
      report::RunResult run;
      if (stopped()) {
        run.run_id = run_prefix_ + "." + system.name;
        run.system = system.name;
        run.driver = system.driver;
        run.provider = system.deploy.provider;
        run.status = "cancelled";
        run.error = "not started: experiment cancelled";
      } else {
        const bool keep = index + 1 < order.size() && reuse[index + 1];
        run = run_system(system, reuse[index], keep);
      }
      run.point = planned.point;
      run.repeat = planned.repeat;
      if (run.status == "succeeded") {
        run.cost = report::estimate_cost(point.spec, system, run.engine);
      }
      if (run.status == "failed") {
        failures.push_back(label_ + ": " + run.error);
        // Said as it happens: the experiment goes on with the next run.
        log(label_ + ": failed: " + run.error);
      }
      outcome.result.runs.push_back(std::move(run));
      // Store partial results after each run, so a crash later loses nothing finished.
      if (context_.store) {
        const std::string results = report::to_json(outcome.result);
        (void)context_.store->set_results(id_, results, report::results_summary(results));
      }
    }
    if (live_) {
      // Kept for a run that never came (cancelled): destroyed now, as always.
      set_state(label_, "destroying");
      if (std::string error = destroy(*live_, [this](const std::string& line) { log(line); });
          !error.empty()) {
        failures.push_back(label_ + ": " + error);
      }
      live_.reset();
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

  // A system's deployed infrastructure: its provider, state and state file. Kept across runs
  // when the next run of the same system reuses it (sweep.h reuse_plan).
  struct Infrastructure {
    Infrastructure(infra::Env& env, const std::string& path) : file(env, path) {}
    core::System system;
    std::unique_ptr<infra::Provider> provider;
    infra::RunState state;
    infra::StateFile file;
    std::string run_id;  // the run that created it
  };

  // Destroys `infra` (always, whatever failed before); the error, if any, for the run's result.
  std::string destroy(Infrastructure& infra,
                      const std::function<void(const std::string&)>& logger) {
    if (Status s = infra::destroy_run(*infra.provider, infra.state, infra.file, logger); !s) {
      return "destroy: " + s.error() + " (run `dec reconcile` to retry)";
    }
    return "";
  }

  // New topics for this run on kept infrastructure: only topic changes may be planned.
  // Plans `system` with the topics of run prefix `prefix` against the recorded state and applies
  // it, provided only topics change (the old ones deleted, new ones created): how a search step
  // and a run on kept infrastructure get fresh topics on the same brokers.
  Status replan_topics(infra::Provider& provider, infra::RunState& state, infra::StateFile& file,
                       const core::System& system, const std::string& prefix,
                       const std::function<void(const std::string&)>& logger) {
    auto desired = provider.resources_for(system, deploy_request_for(*point_spec_, prefix, system));
    if (!desired) return make_error(desired.error());
    auto plan = infra::plan_changes(*desired, state, provider.updatable_in_place());
    if (!plan) return make_error(plan.error());
    for (const auto& change : plan->changes) {
      if (change.resource.type != "topic") {
        return make_error("would change " + change.resource.address + ", not only topics");
      }
    }
    return infra::apply_plan(provider, *plan, state, file, logger);
  }

  // `reuse`: the run before was this system's with equal infrastructure, which may have been
  // kept; `keep`: the next run reuses this one's infrastructure, so keep it up when this run
  // succeeds.
  report::RunResult run_system(const core::System& system, bool reuse, bool keep) {
    report::RunResult run;
    run.run_id = run_prefix_ + "." + system.name;
    run.system = system.name;
    run.driver = system.driver;
    run.provider = system.deploy.provider;
    run.config = system.config;
    if (const auto* info = systems::find_driver(system.driver); info && info->client_library) {
      run.client_library = info->client_library();
    }
    // Every driver's client gets the experiment's common client settings on its own keys; what
    // was in force is recorded so that two clients can be compared side by side.
    client_config_ = drivers::apply_client_settings(systems::find_driver(system.driver),
                                                    point_spec_->workload.client, system.config);
    run.client =
        drivers::effective_client_settings(systems::find_driver(system.driver), client_config_);
    run.status = "failed";

    infra::ProviderContext& pc = context_.provider_context;
    auto logger = [this, name = label_](const std::string& line) { log(name + ": " + line); };
    set_state(label_, "provisioning");
    auto phase_start = Clock::now();
    if (live_ && !(reuse && live_->system.name == system.name)) {
      (void)destroy(*live_, logger);  // not expected: reuse_plan keeps only for the next run
      live_.reset();
    }
    Status provisioned = Status::Ok();
    if (live_) {
      if (Status s = replan_topics(*live_->provider, live_->state, live_->file, system, run_prefix_,
                                   logger);
          s) {
        run.infrastructure_from = live_->run_id;
        logger("reusing the infrastructure of " + live_->run_id);
      } else {
        logger("cannot reuse the infrastructure of " + live_->run_id + " (" + s.error() +
               "): recreating it");
        if (std::string error = destroy(*live_, logger); !error.empty()) {
          run.error = error;
          live_.reset();
          run.phases_s.emplace_back("provision", seconds_since(phase_start));
          return run;
        }
        live_.reset();
      }
    }
    if (!live_) {
      // Long provider steps (a terraform apply) report progress into the run's log; the
      // label is read when a line comes, so a provider kept for the next point logs under it.
      infra::ProviderContext provider_context = pc;
      provider_context.log = [this](const std::string& line) { log(label_ + ": " + line); };
      auto provider = infra::make_provider(system.deploy.provider, provider_context);
      if (!provider) {
        run.error = provider.error();
        return run;
      }
      live_ = std::make_unique<Infrastructure>(*pc.env, infra::state_path(pc.data_dir, run.run_id));
      live_->provider = std::move(*provider);
      live_->run_id = run.run_id;
      infra::RunState& state = live_->state;
      state.run_id = run.run_id;
      state.experiment_id = id_;
      state.system = system.name;
      state.provider = system.deploy.provider;
      state.installation = pc.installation;
      state.owner = pc.env->self();
      provisioned = [&]() -> Status {
        auto desired = live_->provider->resources_for(
            system, deploy_request_for(*point_spec_, run_prefix_, system));
        if (!desired) return make_error(desired.error());
        auto plan = infra::plan_changes(*desired, state, live_->provider->updatable_in_place());
        if (!plan) return make_error(plan.error());
        return infra::apply_plan(*live_->provider, *plan, state, live_->file, logger);
      }();
    }
    live_->system = system;
    run.phases_s.emplace_back("provision", seconds_since(phase_start));

    if (provisioned && !stopped()) {
      run_workload(system, *live_->provider, live_->state, live_->file, logger, run);
    } else if (!provisioned) {
      run.error = provisioned.error();
    } else {
      run.status = "cancelled";
      run.error = "cancelled";
    }

    // Destroy: always, whatever happened above, unless the next run of this system reuses it
    // (and this one succeeded: a failed run may have left the system in any state).
    if (keep && run.status == "succeeded" && !stopped()) {
      logger("infrastructure kept for the next run");
      return run;
    }
    set_state(label_, "destroying");
    phase_start = Clock::now();
    if (std::string error = destroy(*live_, logger); !error.empty()) {
      run.status = "failed";
      run.error += (run.error.empty() ? "" : "; ") + error;
    }
    live_.reset();
    run.phases_s.emplace_back("destroy", seconds_since(phase_start));
    return run;
  }

  load::EngineOptions engine_options(const std::vector<std::string>& topics, double rate) const {
    const core::Workload& w = point_spec_->workload;
    load::EngineOptions options;
    options.producers = w.producers;
    options.consumers = w.consumers;
    options.consumer_groups = w.consumer_groups;
    options.rate = rate;
    options.warmup = w.warmup;
    options.duration = w.duration;
    options.drain_timeout = w.drain_timeout;
    options.message_size = w.message_size;
    options.keys = w.keys;
    options.key_distribution = w.effective_key_distribution();
    options.key_seed = key_seed_;
    options.payload.pool = w.payload.pool;
    options.payload.random_bytes_ratio = w.payload.random_bytes_ratio;
    options.payload.file = w.payload.file;
    options.backlog_messages = w.backlog_messages();
    options.backlog_drain_ratio = w.backlog.drain_ratio;
    options.topics = topics;
    options.group_prefix = "dec-group";
    return options;
  }

  // What one system's run needs between its steps: the provider and state it was deployed with,
  // the endpoint, and the orchestrator's own client (none when a worker agent runs the load).
  struct Deployment {
    const core::System& system;
    infra::Provider& provider;
    infra::RunState& state;
    infra::StateFile& file;
    std::function<void(const std::string&)> logger;
    std::optional<infra::ServiceEndpoint> endpoint;
    std::unique_ptr<drivers::Driver> driver;
    bool topics_recorded = false;  // topics are provider resources (else the driver's)
    std::vector<std::string> topics;
  };

  // One measured run of the workload at `rate` on the deployment's current topics: the engine
  // (here or in the worker agent), faults, resource sampling.
  struct Measurement {
    Result<load::EngineResult> engine = make_error("not run");
    std::vector<report::HostUsage> resources;
    std::vector<report::FaultImpact> faults;
    std::vector<std::pair<std::string, uint64_t>> counters;
    bool emulated = false;
    std::vector<worker::FleetAgentReport> agents;  // several agents: each one's share and clock
    int64_t clock_agreement_ns = 0;
  };

  static void record_agents(const Measurement& m, report::RunResult& run) {
    if (m.agents.size() < 2) return;
    run.load_agents.clear();
    for (const auto& agent : m.agents) {
      report::LoadAgentReport r;
      r.name = agent.name;
      r.address = agent.address;
      r.producers = agent.producers;
      r.consumers = agent.consumers;
      r.clock_offset_ns = agent.clock.offset_ns;
      r.clock_uncertainty_ns = agent.clock.uncertainty_ns;
      r.error = agent.error;
      run.load_agents.push_back(std::move(r));
    }
    run.clock_agreement_ns = m.clock_agreement_ns;
  }

  // How long an agent of several may not answer before it counts as lost: shorter than a single
  // agent's 30 s, since the others' results are waiting on it.
  static constexpr std::chrono::seconds kFleetUnreachableTimeout{10};

  // The endpoint's agents with their tokens (read from the provider's 0600 files, or
  // $DEC_WORKER_TOKEN for agents listed in deploy.workers).
  static Result<std::vector<worker::FleetAgent>> fleet_agents(
      const infra::ServiceEndpoint& endpoint) {
    std::vector<worker::FleetAgent> agents;
    const char* env_token = std::getenv("DEC_WORKER_TOKEN");
    for (size_t i = 0; i < endpoint.workers.size(); ++i) {
      worker::FleetAgent agent;
      agent.address = endpoint.workers[i];
      agent.name = i < endpoint.worker_names.size() ? endpoint.worker_names[i]
                                                    : "agent " + endpoint.workers[i];
      const std::string token_file =
          i < endpoint.worker_token_files.size() ? endpoint.worker_token_files[i] : "";
      if (!token_file.empty()) {
        std::ifstream in(token_file);
        if (!in || !std::getline(in, agent.token) || agent.token.empty()) {
          return make_error(agent.name + ": cannot read its token from " + token_file);
        }
      } else if (env_token != nullptr) {
        agent.token = env_token;
      }
      agents.push_back(std::move(agent));
    }
    return agents;
  }

  Measurement measure(Deployment& d, double rate, const std::vector<core::Fault>& faults) {
    const core::Workload& w = point_spec_->workload;
    Measurement m;
    FaultInjector injector(
        faults, d.provider, d.state, context_.stop,
        [this, name = label_](const std::string& line) { log(name + ": " + line); });
    set_state(label_, w.warmup.count() > 0 ? "warming" : "running");
    UsageSampler sampler(d.provider, d.state);
    load::Phase last_phase = w.warmup.count() > 0 ? load::Phase::kWarmup : load::Phase::kMeasuring;
    auto on_progress = [&](const load::Progress& progress) {
      injector.on_progress(progress);
      if (progress.started && progress.phase == load::Phase::kMeasuring) {
        sampler.mark_window_start();
      }
      if (progress.phase == load::Phase::kDraining || progress.phase == load::Phase::kDone) {
        sampler.mark_window_end();
      }
      if (progress.phase != last_phase) {
        last_phase = progress.phase;
        if (progress.phase == load::Phase::kMeasuring) set_state(label_, "running");
        if (progress.phase == load::Phase::kDraining) set_state(label_, "collecting");
      }
      if (context_.events.on_progress) context_.events.on_progress(label_, progress);
    };
    static const std::atomic<bool> never(false);
    const std::atomic<bool>& stop = context_.stop ? *context_.stop : never;
    if (!d.endpoint->workers.empty()) {
      // Every agent at once, each with its share of the producers and consumers.
      worker::WorkRequest request;
      request.driver = d.system.driver;
      request.addresses = d.endpoint->addresses;
      request.properties = d.endpoint->properties;
      request.config = client_config_;
      request.engine = engine_options(d.topics, rate);
      auto agents = fleet_agents(*d.endpoint);
      auto outcome = agents ? worker::run_fleet(*agents, request, on_progress, stop,
                                                agents->size() > 1 ? kFleetUnreachableTimeout
                                                                   : std::chrono::seconds(30))
                            : Result<worker::FleetResult>(make_error(agents.error()));
      if (!outcome) {
        const std::string& only = d.endpoint->workers.front();
        m.engine = make_error(d.endpoint->workers.size() == 1 && agents
                                  ? "worker " + only + ": " + outcome.error()
                                  : outcome.error());
      } else {
        m.emulated = outcome->emulated;
        m.counters = outcome->counters;
        m.agents = outcome->agents;
        m.clock_agreement_ns = outcome->clock_agreement_ns;
        m.engine = std::move(outcome->engine);
      }
    } else {
      load::Engine engine(*d.driver, engine_options(d.topics, rate));
      m.engine = engine.run(on_progress, stop);
      if (m.engine) m.counters = d.driver->counters();
    }
    m.resources = sampler.finish();
    m.faults = injector.finish();
    return m;
  }

  // Fresh topics for a search step, so that nothing of the last step (a backlog it left, a
  // group's offsets) reaches the next: through the provider's plan when topics are its
  // resources (the old ones are deleted, new ones created; nothing else changes), else with the
  // orchestrator's client.
  Status replace_topics(Deployment& d, const std::string& prefix) {
    const core::Workload& w = point_spec_->workload;
    std::vector<std::string> groups;
    for (int g = 0; g < w.consumer_groups; ++g) groups.push_back("dec-group-" + std::to_string(g));
    const std::vector<std::string> topics = topic_names(*point_spec_, prefix);
    if (d.topics_recorded) {
      if (Status s = replan_topics(d.provider, d.state, d.file, d.system, prefix, d.logger); !s) {
        return s;
      }
    } else if (d.driver) {
      for (const auto& topic : d.topics) (void)d.driver->delete_topic(topic);
      for (const auto& topic : topics) {
        if (Status s = d.driver->create_topic(topic, w.partitions); !s) return s;
      }
    }
    d.topics = topics;
    if (d.driver && w.consumers > 0) return d.driver->prepare_consumers(topics, groups);
    return Status::Ok();
  }

  void run_workload(const core::System& system, infra::Provider& provider, infra::RunState& state,
                    infra::StateFile& file, const std::function<void(const std::string&)>& logger,
                    report::RunResult& run) {
    set_state(label_, "deploying");
    auto phase_start = Clock::now();
    const core::Workload& w = point_spec_->workload;
    Deployment d{system,  provider, state,
                 file,    logger,   std::nullopt,
                 nullptr, false,    topic_names(*point_spec_, run_prefix_)};
    std::vector<std::string> groups;
    for (int g = 0; g < w.consumer_groups; ++g) groups.push_back("dec-group-" + std::to_string(g));
    for (const auto& record : state.resources) d.topics_recorded |= record.resource.type == "topic";

    // The load runs in a deployed worker agent when the provider placed one, otherwise here.
    Status deployed = [&]() -> Status {
      auto found = provider.endpoint(state);
      if (!found) return make_error(found.error());
      d.endpoint = *found;
      if (!system.deploy.worker_addresses.empty()) {
        // Agents already running elsewhere (deploy.workers: [host:port, ...]).
        d.endpoint->workers = system.deploy.worker_addresses;
        d.endpoint->worker_names.clear();
        d.endpoint->worker_token_files.clear();
      } else if (system.deploy.workers > 1 && d.endpoint->workers.empty()) {
        return make_error("deploy.workers: " + std::to_string(system.deploy.workers) +
                          " load agents need a provider that deploys them (local), or list "
                          "running agents' addresses (deploy.workers: [host:port, ...])");
      }
      run.emulated = d.endpoint->emulated;
      run.served_by = d.endpoint->label;
      if (!d.endpoint->placement.empty()) run.served_by += " on " + d.endpoint->placement;
      const drivers::DriverInfo* info = systems::find_driver(system.driver);
      if (info == nullptr) return make_error("unknown driver " + system.driver);
      // The worker connects itself; a search still needs a client here only when topics are
      // not the provider's to replace.
      if (!d.endpoint->workers.empty() && d.topics_recorded) return Status::Ok();
      d.driver = info->create();
      drivers::Endpoint de{d.endpoint->addresses, d.endpoint->properties};
      if (Status s = d.driver->connect(de, client_config_); !s) return s;
      run.emulated = run.emulated || d.driver->emulated();
      if (!d.topics_recorded) {
        for (const auto& topic : d.topics) {
          if (Status s = d.driver->create_topic(topic, w.partitions); !s) return s;
        }
      }
      if (w.consumers > 0 && d.endpoint->workers.empty()) {
        return d.driver->prepare_consumers(d.topics, groups);
      }
      return Status::Ok();
    }();
    run.phases_s.emplace_back("deploy", seconds_since(phase_start));
    if (!deployed) {
      run.error = deployed.error();
      return;
    }

    phase_start = Clock::now();
    Result<load::EngineResult> result = make_error("not run");
    if (w.search) {
      result = search_max_rate(d, run);
    } else {
      std::vector<core::Fault> faults;
      for (const auto& fault : point_spec_->faults) {
        if (fault.system.empty() || fault.system == system.name) faults.push_back(fault);
      }
      Measurement m = measure(d, w.rate, faults);
      record_agents(m, run);
      run.emulated = run.emulated || m.emulated;
      run.counters = std::move(m.counters);
      run.resources = std::move(m.resources);
      if (m.engine && !m.faults.empty()) {
        run.faults = report::analyze_faults(m.engine->timeline, m.faults,
                                            std::chrono::duration<double>(w.warmup).count());
      }
      result = std::move(m.engine);
    }
    run.phases_s.emplace_back("run", seconds_since(phase_start));
    if (!result) {
      run.error = result.error();
      return;
    }
    run.engine = std::move(*result);
    run.resource_verdict = report::analyze_resources(run.resources, resource_facts(system, run));
    set_state(label_, "collecting");
    if (d.driver && !d.topics_recorded) {
      for (const auto& topic : d.topics) (void)d.driver->delete_topic(topic);
    }
    if (!run.engine.error.empty()) {
      bool cancelled = stopped();
      run.status = cancelled ? "cancelled" : "failed";
      run.error = cancelled ? "cancelled" : run.engine.error;
      return;
    }
    run.status = "succeeded";
  }

  // `workload.rate: find-max` (rate_search.h): steps on the one deployment, each on fresh
  // topics; the run reports the highest passing step's figures, and every step as the curve.
  Result<load::EngineResult> search_max_rate(Deployment& d, report::RunResult& run) {
    const core::Workload& w = point_spec_->workload;
    struct Kept {
      load::EngineResult engine;
      std::vector<report::HostUsage> resources;
    };
    std::vector<Kept> steps;
    auto measure_step = [&](int index, const RateSearch::Step& step) -> Result<MeasuredStep> {
      if (index > 0) {
        if (Status s = replace_topics(d, run_prefix_ + ".s" + std::to_string(index)); !s) {
          return make_error(s.error());
        }
      }
      Measurement m = measure(d, step.rate, {});
      record_agents(m, run);
      run.emulated = run.emulated || m.emulated;
      run.counters = std::move(m.counters);
      if (!m.engine) return make_error(m.engine.error());
      report::RunResult step_run;
      step_run.engine = *m.engine;
      step_run.client = run.client;
      MeasuredStep measured{
          *m.engine, report::analyze_resources(m.resources, resource_facts(d.system, step_run))
                         .load_generator_saturated};
      steps.push_back({std::move(*m.engine), std::move(m.resources)});
      return measured;
    };
    auto search =
        run_rate_search(w, point_spec_->slo.value_or(core::Slo{}), measure_step, context_.stop,
                        [this](const std::string& line) { log(label_ + ": " + line); });
    if (!search) return make_error(search.error());
    Kept& reported = steps.at(static_cast<size_t>(search->reported_step));
    run.resources = std::move(reported.resources);
    run.search = std::move(*search);
    return std::move(reported.engine);
  }

  report::ResourceFacts resource_facts(const core::System& system,
                                       const report::RunResult& run) const {
    report::ResourceFacts facts;
    facts.window = run.engine.window;
    facts.measured_seconds = run.engine.measured_seconds;
    facts.received_in_window = run.engine.consumed_in_window;
    facts.producers = point_spec_->workload.producers;
    facts.consumers = point_spec_->workload.consumers;
    facts.machine_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (const drivers::DriverInfo* info = systems::find_driver(system.driver)) {
      for (const drivers::ClientKey& key : info->client_keys) {
        if (key.mapped_from != drivers::ClientField::kMaxInFlight) continue;
        if (auto value = run.client.find(key.name); value != run.client.end()) {
          facts.max_in_flight = drivers::parse_integer(value->second);
        }
      }
    }
    if (run.engine.publish_latency.count() > 0) {
      facts.publish_latency_p50_s =
          static_cast<double>(run.engine.publish_latency.percentile(50)) / 1e9;
    }
    return facts;
  }

  const core::Spec& spec_;
  std::string id_;
  RunnerContext& context_;
  std::unique_ptr<Infrastructure> live_;    // the running (or kept) system's infrastructure
  const core::Spec* point_spec_ = nullptr;  // the running point's spec (matrix values set)
  std::string run_prefix_;                  // "<id>" or "<id>.p<point>.r<repeat>"
  std::string label_;                       // the running run's name in states and logs
  core::Settings client_config_;  // the running system's driver config, client settings applied
  // One per experiment: every system compared gets the same random keys (reported with results).
  uint64_t key_seed_;
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

infra::DeployRequest deploy_request_for(const core::Spec& spec, const std::string& run_prefix,
                                        const core::System& system) {
  infra::DeployRequest request;
  request.run_id = run_prefix + "." + system.name;
  request.topics = topic_names(spec, run_prefix);
  request.partitions = spec.workload.partitions;
  // Agents listed in deploy.workers already run elsewhere: none is deployed.
  request.workers = system.deploy.worker_addresses.empty();
  request.worker_count = system.deploy.workers;
  return request;
}

ExperimentOutcome run_experiment(const core::Spec& spec, const std::string& experiment_id,
                                 RunnerContext& context) {
  ExperimentRun run(spec, experiment_id, context);
  return run.run();
}

}  // namespace dec::orchestrator
