#include "server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "core/spec_parser.h"
#include "core/spec_schema.h"
#include "core/utf8.h"
#include "drivers/driver.h"
#include "drivers/http_listen.h"
#include "infra/executor.h"
#include "infra/reconcile.h"
#include "orchestrator/measurement_lock.h"
#include "orchestrator/plan_preview.h"
#include "orchestrator/preflight.h"
#include "orchestrator/runner.h"
#include "report/hdr_export.h"
#include "report/percentiles.h"
#include "report/results.h"
#include "report/results_schema.h"
#include "report/summary.h"
#include "server/artifacts.h"
#include "server/http_guard.h"
#include "server/report_html.h"
#include "server/static_files.h"
#include "store/store.h"
#include "systems/registry.h"

namespace dec::server {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kInterrupted = "interrupted (server stopped during the run)";
constexpr int kMinRetryAfterSeconds = 5;
constexpr int kMaxRetryAfterSeconds = 300;
constexpr size_t kEventHistory = 2000;    // per experiment
constexpr size_t kFinishedLogsKept = 64;  // experiments whose event log outlives the run
// httplib serves each connection on a pool thread; an event stream holds its thread for the
// whole run. Streams are capped well below the pool size so the API always has threads to
// answer: with 24 streams open, 40 threads are left, so 50 clients polling at once are served
// side by side rather than queued behind a few threads while a run keeps the cores busy.
constexpr size_t kWorkerThreads = 64;
constexpr int kMaxEventStreams = 24;

// Answers quote what clients sent (paths, parameters, spec keys); invalid UTF-8 in those is
// replaced (U+FFFD) rather than thrown, so quoting a client's bytes never turns a 400 into a 500.
std::string dump_json(const json& value, int indent = -1) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body, 2) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message,
                json extra = json::object()) {
  json body = {{"error", message}};
  for (auto& [key, value] : extra.items()) body[key] = value;
  send_json(res, status, body);
}

// Health and metrics answer without the token: probes and scrapers hold none.
bool is_public_path(const std::string& openapi_path) {
  return openapi_path == "/api/health" || openapi_path == "/metrics";
}

// Events of one experiment, kept for late subscribers (bounded) and waited on by SSE streams.
struct EventLog {
  std::deque<std::pair<uint64_t, std::string>> events;  // (sequence, SSE-formatted text)
  uint64_t next = 0;
  bool finished = false;
  std::map<std::string, json> progress;  // latest progress per system
};

class EventHub {
 public:
  void publish(const std::string& id, const std::string& type, const json& data) {
    std::lock_guard lock(mutex_);
    append(id, type, data);
  }
  // Publishes only if `id` has no events yet: gives a stream opened on an experiment this
  // server has not touched (queued by a previous server) its current state.
  void publish_if_new(const std::string& id, const std::string& type, const json& data) {
    std::lock_guard lock(mutex_);
    if (logs_.count(id) == 0) append(id, type, data);
  }

  void progress(const std::string& id, const std::string& system, const json& data) {
    {
      std::lock_guard lock(mutex_);
      logs_[id].progress[system] = data;
    }
    publish(id, "progress", data);
  }
  // Changes a run's latest progress in place, without an event (phase "done" once its load is
  // over, rather than the last figure it had in flight).
  void amend_progress(const std::string& id, const std::string& system,
                      const std::function<void(json&)>& amend) {
    std::lock_guard lock(mutex_);
    auto log = logs_.find(id);
    if (log == logs_.end()) return;
    auto entry = log->second.progress.find(system);
    if (entry != log->second.progress.end()) amend(entry->second);
  }
  json progress_of(const std::string& id) {
    std::lock_guard lock(mutex_);
    json out = json::object();
    auto it = logs_.find(id);
    if (it != logs_.end()) {
      for (const auto& [system, value] : it->second.progress) out[system] = value;
    }
    return out;
  }
  // Events after `after` (exclusive); waits up to `timeout` for some. `finished` tells whether
  // the experiment reached a terminal state.
  std::vector<std::pair<uint64_t, std::string>> wait(const std::string& id, int64_t after,
                                                     std::chrono::milliseconds timeout,
                                                     bool* finished) {
    std::unique_lock lock(mutex_);
    auto ready = [&] {
      auto it = logs_.find(id);
      return it != logs_.end() && (it->second.finished ||
                                   (!it->second.events.empty() &&
                                    static_cast<int64_t>(it->second.events.back().first) > after));
    };
    changed_.wait_for(lock, timeout, ready);
    std::vector<std::pair<uint64_t, std::string>> out;
    auto it = logs_.find(id);
    *finished = it != logs_.end() && it->second.finished;
    if (it == logs_.end()) return out;
    for (const auto& event : it->second.events) {
      if (static_cast<int64_t>(event.first) > after) out.push_back(event);
    }
    return out;
  }

 private:
  void append(const std::string& id, const std::string& type, const json& data) {
    EventLog& log = logs_[id];
    log.events.emplace_back(log.next++, "event: " + type + "\ndata: " + dump_json(data) + "\n\n");
    if (log.events.size() > kEventHistory) log.events.pop_front();
    if (type == "state" && orchestrator::is_terminal_state(data.value("state", "")) &&
        !log.finished) {
      log.finished = true;
      // Finished experiments are read from the store; only the latest keep their live log, so
      // a long-lived server's memory stays bounded.
      finished_order_.push_back(id);
      if (finished_order_.size() > kFinishedLogsKept) {
        logs_.erase(finished_order_.front());
        finished_order_.pop_front();
      }
    }
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, EventLog> logs_;
  std::deque<std::string> finished_order_;
};

json progress_json(const load::Progress& p) {
  const char* phase = p.phase == load::Phase::kWarmup      ? "warmup"
                      : p.phase == load::Phase::kMeasuring ? "running"
                      : p.phase == load::Phase::kDraining  ? "draining"
                                                           : "done";
  return {{"phase", phase},
          {"elapsed_s", p.elapsed_s},
          {"total_s", p.total_s},
          {"sent", p.sent},
          {"received", p.received},
          {"produced_per_s", p.produced_per_s},
          {"consumed_per_s", p.consumed_per_s},
          {"p99_us", p.p99_us}};
}

// A finished experiment's progress: each run's entry says how the run ended (from the results,
// which are stored before the final state), not the last figure it had while in flight.
void ended_progress(const std::string& experiment_id, const json& results, json& progress) {
  if (!results.is_object() || !results.contains("runs") || !progress.is_object()) return;
  for (const auto& run : results["runs"]) {
    // Progress is keyed like the runner's labels: the run id without the experiment id.
    const std::string run_id = run.value("run_id", "");
    const std::string label = run_id.substr(std::min(run_id.size(), experiment_id.size() + 1));
    if (!progress.contains(label)) continue;
    json& entry = progress[label];
    const std::string status = run.value("status", "");
    entry["phase"] = "done";
    entry["status"] = status;
    if (status == "succeeded") entry["elapsed_s"] = entry.value("total_s", 0.0);
    if (run.contains("delivery")) {
      entry["sent"] = run["delivery"].value("sent", uint64_t{0});
      entry["received"] = run["delivery"].value("received", uint64_t{0});
    }
  }
}

// One entry per endpoint: both the HTTP registration and /api/openapi.json derive from it, so
// the description cannot miss a route.
struct Route {
  std::string method;
  std::string pattern;       // httplib regex
  std::string openapi_path;  // "/api/experiments/{id}"
  std::string summary;
  std::string media_type;          // of the success answer
  std::vector<int> statuses;       // answers besides 405/413/500, which any route may give
  std::vector<std::string> query;  // query parameters (integers except "state" and "format")
  std::function<void(const httplib::Request&, httplib::Response&)> handler;
  std::string body_schema;  // components.schemas name of the success answer ("" = by media type)
};

class Service {
 public:
  Service(const ServerOptions& options, std::unique_ptr<store::Store> store,
          std::unique_ptr<ArtifactStore> artifacts, ServiceLog& log)
      : options_(options), store_(std::move(store)), artifacts_(std::move(artifacts)), log_(log) {
    options_.provider_context.spec_policy = options_.spec_policy;
  }

  // Marks runs a dead server left mid-flight as failed and destroys their infrastructure.
  void recover() {
    // Reconcile first: it tells which runs still have a live owner (a `dec run` sharing this
    // data dir), whose experiments must not be marked interrupted.
    auto report = infra::reconcile(options_.provider_context, {}, [this](const std::string& line) {
      log_.info("reconcile", "reconcile: " + line);
    });
    for (const auto& error : report.errors) {
      log_.error("reconcile", "reconcile: " + error);
    }
    auto owned_elsewhere = [&](const std::string& id) {
      for (const auto& run : report.live_runs) {
        if (run.rfind(id + ".", 0) == 0) return true;
      }
      return false;
    };
    store::ListFilter filter;
    filter.limit = 1000000;
    auto all = store_->list(filter);
    if (!all.ok()) {
      log_.error("store", "cannot list experiments to recover: " + all.error());
      return;
    }
    for (const auto& record : *all) {
      if (record.state == "queued" || orchestrator::is_terminal_state(record.state)) continue;
      if (owned_elsewhere(record.id)) continue;
      track(record.id, record.name, record.state);
      note_state(record.id, "", "failed", kInterrupted);
      record_final(record.id, "failed", kInterrupted);
    }
  }

  void start_runner() {
    runner_ = std::thread([this] { run_queue(); });
  }

  // Stops the runner; a running experiment is stopped and torn down first.
  void stop_runner() {
    {
      std::lock_guard lock(mutex_);
      exiting_ = true;
      draining_ = true;
      if (current_stop_) current_stop_->store(true);
    }
    wake_.notify_all();
    if (runner_.joinable()) runner_.join();
  }

  std::vector<Route> routes();
  bool shutdown_requested() const { return shutdown_ok_.load(); }

 private:
  // What the API says of an experiment this server moved, ahead of the store: the store may
  // fail to record a transition (disk full), and the API must not show a state that is over.
  struct LiveState {
    std::string name;
    std::string state;
    std::string error;
    std::optional<std::string> unrecorded_results;  // results the store refused
    bool unrecorded = false;                        // the store holds an older state
    int attempts = 0;                               // failed writes so far
  };
  // Starts following `id` (as in state `state`, unless it is followed already).
  void track(const std::string& id, const std::string& name, const std::string& state);
  // A transition of the experiment (`system` "" ) or of one of its systems: logged, kept as the
  // experiment's live state and published to its event stream.
  void note_state(const std::string& id, const std::string& system, const std::string& state,
                  const std::string& error = "");
  // Writes a final state (and results) to the store. What the store refuses is kept in memory,
  // shown by the API, logged, and retried by retry_unrecorded() until the store takes it.
  void record_final(const std::string& id, const std::string& state, const std::string& error,
                    const std::optional<std::string>& results = std::nullopt);
  void retry_unrecorded();
  // Replaces what the store says of `record` by what this server knows to be newer.
  void apply_live_state(store::ExperimentRecord& record);
  void run_queue();
  void run_one(const core::Spec& spec, const std::string& id, std::atomic<bool>& stop);
  static double expected_seconds(const core::Spec& spec);
  int retry_after_seconds() const;  // call with mutex_ held while an experiment runs
  void upload_artifacts(const std::string& id, const std::string& results, const std::string& state,
                        const std::string& error);
  json record_json(const store::ExperimentRecord& record, bool full);
  int queue_position(const std::string& id);
  int64_t count_in_state(const std::string& state);
  std::optional<store::ExperimentRecord> find(const std::string& id, httplib::Response& res);

  void handle_submit(const httplib::Request& req, httplib::Response& res);
  void handle_list(const httplib::Request& req, httplib::Response& res);
  void handle_get(const httplib::Request& req, httplib::Response& res);
  void handle_cancel(const httplib::Request& req, httplib::Response& res);
  void handle_events(const httplib::Request& req, httplib::Response& res);
  void handle_results(const httplib::Request& req, httplib::Response& res);
  void handle_results_csv(const httplib::Request& req, httplib::Response& res);
  void handle_export(const httplib::Request& req, httplib::Response& res);
  void handle_report(const httplib::Request& req, httplib::Response& res);
  void handle_percentiles(const httplib::Request& req, httplib::Response& res);
  // The report bundle of the web app (web/dist/report/report.js) report.html inlines; "" when
  // the web app is not built.
  std::string report_bundle() const;
  void handle_all_results(const httplib::Request& req, httplib::Response& res);
  void handle_shutdown(const httplib::Request& req, httplib::Response& res);
  void handle_health(const httplib::Request& req, httplib::Response& res);
  void handle_metrics(const httplib::Request& req, httplib::Response& res);
  void handle_drivers(const httplib::Request& req, httplib::Response& res);
  void handle_plan(const httplib::Request& req, httplib::Response& res);
  void handle_infrastructure(const httplib::Request& req, httplib::Response& res);
  void handle_reconcile(const httplib::Request& req, httplib::Response& res);
  void handle_destroy_run(const httplib::Request& req, httplib::Response& res);
  void handle_spec_schema(const httplib::Request& req, httplib::Response& res);
  void handle_results_schema(const httplib::Request& req, httplib::Response& res);
  void handle_examples(const httplib::Request& req, httplib::Response& res);
  // The body of a POST that carries a spec, parsed; nullopt after answering 400 (or 401).
  std::optional<core::ParseResult> parse_posted_spec(const httplib::Request& req,
                                                     httplib::Response& res);
  // Why an experiment has no results document, in words a user can act on.
  std::string no_results_message(const store::ExperimentRecord& record);
  bool cancel_requested(const std::string& id);

  ServerOptions options_;  // a copy: its provider context carries the spec policy
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  ServiceLog& log_;
  EventHub hub_;
  std::mutex live_mutex_;
  std::map<std::string, LiveState> live_;
  std::thread runner_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool exiting_ = false;
  bool draining_ = false;
  std::string current_;                        // running experiment id
  std::atomic<bool>* current_stop_ = nullptr;  // its stop flag
  Clock::time_point current_started_;
  std::atomic<double> current_expected_seconds_{0};
  std::atomic<bool> shutdown_ok_{false};
  std::atomic<int> open_streams_{0};
  std::atomic<double> last_run_seconds_{0};
};

void Service::upload_artifacts(const std::string& id, const std::string& results,
                               const std::string& state, const std::string& error) {
  auto report_html = render_report_html(results, state, error, report_bundle());
  std::vector<std::tuple<std::string, std::string, std::string>> files = {
      {id + "/results.json", results, "application/json"}};
  if (report_html.ok()) files.emplace_back(id + "/report.html", *report_html, "text/html");
  for (const auto& [name, body, type] : files) {
    auto url = artifacts_->put(name, body, type);
    std::string line = url.ok() ? "uploaded " + *url : "artifact upload failed: " + url.error();
    if (url.ok()) {
      log_.info("artifacts", "experiment " + id + ": " + line, {{"experiment", id}});
    } else {
      log_.error("artifacts", "experiment " + id + ": " + line, {{"experiment", id}});
    }
    hub_.publish(id, "log", {{"line", line}});
  }
}

void Service::run_queue() {
  // Experiments saturate the machine; the API must stay responsive. Threads (and processes)
  // created from here inherit this lower priority.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  while (true) {
    std::atomic<bool> stop{false};
    std::optional<store::ExperimentRecord> next;
    retry_unrecorded();
    {
      std::unique_lock lock(mutex_);
      if (exiting_) return;
      if (!draining_) {
        auto queued = store_->next_queued();
        if (!queued.ok()) log_.error("store", "cannot read the queue: " + queued.error());
        if (queued.ok() && queued->has_value()) next = std::move(**queued);
        // Cancelled while queued, but the store could not record it yet: not to be run.
        if (next) {
          std::lock_guard live_lock(live_mutex_);
          auto live = live_.find(next->id);
          if (live != live_.end() && orchestrator::is_terminal_state(live->second.state)) {
            next.reset();
          }
        }
      }
      if (!next) {
        wake_.wait_for(lock, std::chrono::milliseconds(500));
        continue;
      }
      // Claimed in the critical section that found it: a concurrent cancel or shutdown sees
      // it either still queued (and wins) or as the running experiment, never in between.
      current_ = next->id;
      current_stop_ = &stop;
      current_started_ = Clock::now();
      current_expected_seconds_ = 0;
    }
    const std::string id = next->id;
    track(id, next->name, next->state);
    auto parsed = core::parse_spec(next->spec_json, {}, systems::driver_catalog(),
                                   options_.provider_context.spec_policy);
    if (parsed.ok()) {
      current_expected_seconds_ = expected_seconds(parsed.spec);
      run_one(parsed.spec, id, stop);
    } else {
      const std::string error =
          "stored spec is no longer valid: " + parsed.errors.front().to_string();
      note_state(id, "", "failed", error);
      record_final(id, "failed", error);
    }
    {
      std::lock_guard lock(mutex_);
      current_.clear();
      current_stop_ = nullptr;
    }
    wake_.notify_all();
  }
}

void Service::run_one(const core::Spec& spec, const std::string& id, std::atomic<bool>& stop) {
  orchestrator::RunnerContext context;
  context.provider_context = options_.provider_context;
  context.store = store_.get();
  context.stop = &stop;
  context.events.on_state = [&](const std::string& system, const std::string& state) {
    if (!system.empty() && state == "destroying") {
      // The load is over (finished, failed or stopped): progress stops claiming a phase.
      hub_.amend_progress(id, system, [](json& progress) { progress["phase"] = "done"; });
    }
    note_state(id, system, state);
  };
  context.events.on_progress = [&](const std::string& system, const load::Progress& p) {
    json data = progress_json(p);
    data["system"] = system;
    hub_.progress(id, system, data);
  };
  context.events.on_log = [&](const std::string& line) {
    hub_.publish(id, "log", {{"line", line}});
  };
  // The same machine-wide lock as `dec run`: an experiment queued here waits for a CLI run (or
  // another server) on this machine to finish measuring.
  orchestrator::MeasurementLockOptions lock_options;
  lock_options.stop = &stop;
  lock_options.on_wait = [&](int holder, double waited_s) {
    if (static_cast<long>(waited_s) % 10 != 1) return;  // a line every 10 s
    hub_.publish(
        id, "log",
        {{"line", "waiting for another dec measurement" +
                      (holder > 0 ? " (pid " + std::to_string(holder) + ")" : "") + " to finish (" +
                      std::to_string(static_cast<long>(waited_s)) + " s)"}});
  };
  auto lock = orchestrator::MeasurementLock::acquire(lock_options);
  if (!lock) {
    note_state(id, "", "failed", lock.error());
    record_final(id, "failed", lock.error());
    return;
  }
  auto started = Clock::now();
  auto outcome = orchestrator::run_experiment(spec, id, context);
  (*lock)->record(outcome.result.environment);
  lock->reset();
  const std::string results = report::to_json(outcome.result);
  // The runner wrote each transition as it went, but a write may have failed (disk full): the
  // final state and results are checked, and kept and retried if the store lacks them.
  record_final(id, outcome.state, outcome.error, results);
  if (artifacts_) upload_artifacts(id, results, outcome.state, outcome.error);
  last_run_seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
}

// Seconds the experiment should take: warm-up plus measurement per system (they run one after
// another) plus a rough allowance for provisioning and teardown. Used for Retry-After.
double Service::expected_seconds(const core::Spec& spec) {
  constexpr double kPerSystemOverheadSeconds = 5;
  const double per_system =
      std::chrono::duration<double>(spec.workload.warmup + spec.workload.duration).count() +
      kPerSystemOverheadSeconds;
  // A sweep runs every system once per point and repeat.
  double runs_per_system = spec.repeats;
  for (const auto& axis : spec.matrix) runs_per_system *= static_cast<double>(axis.values.size());
  return per_system * static_cast<double>(spec.systems.size()) * runs_per_system;
}

int Service::retry_after_seconds() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - current_started_).count();
  const double remaining = current_expected_seconds_.load() - elapsed;
  return std::clamp(static_cast<int>(std::ceil(remaining)), kMinRetryAfterSeconds,
                    kMaxRetryAfterSeconds);
}

void Service::track(const std::string& id, const std::string& name, const std::string& state) {
  std::lock_guard lock(live_mutex_);
  auto [entry, added] = live_.try_emplace(id);
  if (entry->second.name.empty()) entry->second.name = name;
  if (added) entry->second.state = state;
}

void Service::note_state(const std::string& id, const std::string& system, const std::string& state,
                         const std::string& error) {
  std::string from;
  std::string name;
  {
    std::lock_guard lock(live_mutex_);
    LiveState& live = live_[id];
    from = live.state;
    live.state = state;
    if (!error.empty()) live.error = error;
    name = live.name;
  }
  json fields = {
      {"experiment", id}, {"name", name}, {"system", system}, {"from", from}, {"to", state}};
  if (!error.empty()) fields["error"] = error;
  const std::string line =
      "experiment " + id + " \"" + name + "\"" + (system.empty() ? "" : " (" + system + ")") +
      ": " + (from.empty() ? "new" : from) + " -> " + state + (error.empty() ? "" : ": " + error);
  if (state == "failed") {
    log_.error("state", line, fields);
  } else {
    log_.info("state", line, fields);
  }
  json data = {{"system", system}, {"state", state}};
  if (!error.empty()) data["error"] = error;
  hub_.publish(id, "state", data);
}

void Service::record_final(const std::string& id, const std::string& state,
                           const std::string& error, const std::optional<std::string>& results) {
  std::string failure;
  if (results) {
    if (Status written = store_->set_results(id, *results, report::results_summary(*results));
        !written)
      failure = written.error();
  }
  if (failure.empty()) {
    auto stored = store_->get(id);
    const bool has_state = stored.ok() && stored->has_value() && (*stored)->state == state &&
                           (error.empty() || (*stored)->error == error);
    if (!has_state) {
      if (Status written = store_->set_state(id, state, error); !written) {
        failure = written.error();
      }
    }
  }
  std::lock_guard lock(live_mutex_);
  if (failure.empty()) {
    auto live = live_.find(id);
    if (live == live_.end()) return;
    if (live->second.attempts > 0) {
      log_.info("store",
                "experiment " + id + ": state " + state + " recorded after " +
                    std::to_string(live->second.attempts + 1) + " attempts",
                {{"experiment", id}, {"state", state}});
    }
    // Followed no longer: the store says what the API says.
    if (live->second.state == state) live_.erase(live);
    return;
  }
  LiveState& live = live_[id];
  live.state = state;
  if (!error.empty()) live.error = error;
  if (results) live.unrecorded_results = *results;
  live.unrecorded = true;
  // The first failure and then one a minute (retries come every 0.5 s), not a flood.
  if (live.attempts++ % 120 == 0) {
    log_.error("store",
               "experiment " + id + ": cannot record state " + state +
                   (results ? " and its results" : "") + ": " + failure +
                   "; the API shows it and the server retries",
               {{"experiment", id}, {"state", state}, {"error", failure}});
  }
}

void Service::retry_unrecorded() {
  std::vector<std::tuple<std::string, std::string, std::string, std::optional<std::string>>> due;
  {
    std::lock_guard lock(live_mutex_);
    for (const auto& [id, live] : live_) {
      if (live.unrecorded) due.emplace_back(id, live.state, live.error, live.unrecorded_results);
    }
  }
  for (const auto& [id, state, error, results] : due) record_final(id, state, error, results);
}

void Service::apply_live_state(store::ExperimentRecord& record) {
  std::lock_guard lock(live_mutex_);
  auto live = live_.find(record.id);
  if (live == live_.end() || live->second.state.empty()) return;
  record.state = live->second.state;
  if (!live->second.error.empty()) record.error = live->second.error;
  if (live->second.unrecorded_results) record.results_json = *live->second.unrecorded_results;
  if (orchestrator::is_terminal_state(record.state) && record.finished_at.empty()) {
    record.finished_at = store::now_iso8601();
  }
}

int Service::queue_position(const std::string& id) {
  auto position = store_->queue_position(id);
  return position.ok() ? *position : -1;
}

int64_t Service::count_in_state(const std::string& state) {
  auto counts = store_->count_by_state();
  if (!counts.ok()) return 0;
  for (const auto& [name, count] : *counts) {
    if (name == state) return count;
  }
  return 0;
}

json Service::record_json(const store::ExperimentRecord& r, bool full) {
  json item = {{"id", r.id},
               {"name", r.name},
               {"state", r.state},
               {"error", r.error},
               {"created_at", r.created_at},
               {"started_at", r.started_at},
               {"finished_at", r.finished_at}};
  if (r.state == "queued") item["queue_position"] = queue_position(r.id);
  if (!r.summary_json.empty()) item["summary"] = json::parse(r.summary_json, nullptr, false);
  if (!orchestrator::is_terminal_state(r.state) && cancel_requested(r.id)) {
    item["cancel_requested"] = true;
  }
  if (full) {
    item["spec"] = json::parse(r.spec_json, nullptr, false);
    item["results"] =
        r.results_json.empty()
            ? json(nullptr)
            : json::parse(report::results_with_spec(r.results_json, r.spec_json), nullptr, false);
    item["progress"] = hub_.progress_of(r.id);
    if (orchestrator::is_terminal_state(r.state)) {
      ended_progress(r.id, item["results"], item["progress"]);
    }
  }
  return item;
}

bool Service::cancel_requested(const std::string& id) {
  std::lock_guard lock(mutex_);
  return current_ == id && current_stop_ != nullptr && current_stop_->load();
}

std::string Service::no_results_message(const store::ExperimentRecord& record) {
  const std::string intro = "experiment " + record.id + " ";
  if (record.state == "queued") {
    return intro + "is queued (position " + std::to_string(queue_position(record.id)) +
           "); results appear once its first run finishes";
  }
  if (record.state == "cancelled") {
    return intro + "was cancelled before any run finished, so it has no results" +
           (record.error.empty() ? "" : " (" + record.error + ")");
  }
  if (record.state == "failed") {
    return intro + "failed before any run finished, so it has no results" +
           (record.error.empty() ? "" : ": " + record.error);
  }
  if (record.state == "succeeded") return intro + "succeeded but stored no results";
  return intro + "is " + record.state + "; results appear once its first run finishes";
}

std::optional<store::ExperimentRecord> Service::find(const std::string& id,
                                                     httplib::Response& res) {
  auto record = store_->get(id);
  if (!record.ok()) {
    send_error(res, 500, record.error());
    return std::nullopt;
  }
  if (!record->has_value()) {
    send_error(res, 404, "no experiment with id \"" + id + "\"");
    return std::nullopt;
  }
  apply_live_state(**record);
  return **record;
}

std::optional<core::ParseResult> Service::parse_posted_spec(const httplib::Request& req,
                                                            httplib::Response& res) {
  if (req.body.empty()) {
    send_error(res, 400, "empty body: send an experiment spec as JSON or YAML (see docs/spec.md)");
    return std::nullopt;
  }
  // Checked before parsing: the parsers' messages quote the input, and a spec is text.
  if (auto offset = core::first_invalid_utf8(req.body)) {
    send_error(
        res, 400,
        "body: invalid UTF-8 at byte " + std::to_string(*offset) +
            "; send the spec as UTF-8 text (JSON or YAML)",
        {{"errors",
          json::array(
              {{{"path", ""}, {"message", "invalid UTF-8 at byte " + std::to_string(*offset)}}})}});
    return std::nullopt;
  }
  // Every check `dec run` makes before creating anything (each system's provider plans every
  // point), so a spec accepted here does not fail on reaching its third system.
  auto parsed = orchestrator::validate_spec(req.body, {}, options_.provider_context);
  if (!parsed.ok()) {
    json errors = json::array();
    for (const auto& e : parsed.errors)
      errors.push_back({{"path", e.path}, {"message", e.message}});
    send_error(res, 400, "invalid spec: " + parsed.errors.front().to_string(),
               {{"errors", errors}});
    return std::nullopt;
  }
  return parsed;
}

void Service::handle_submit(const httplib::Request& req, httplib::Response& res) {
  auto parsed = parse_posted_spec(req, res);
  if (!parsed) return;
  Result<std::string> id = make_error("not stored");
  int position = 0;
  {
    // Stored and placed under the lock the runner claims experiments with: the answer's
    // queue_position is where it entered the queue (1 = next to start, at once on an idle
    // server), not a race with the runner picking it up.
    std::lock_guard lock(mutex_);
    id = store_->create_experiment(parsed->spec.name, core::spec_to_json(parsed->spec), "queued");
    if (id.ok()) position = queue_position(*id);
  }
  if (!id.ok()) {
    send_error(res, 500, id.error());
    return;
  }
  track(*id, parsed->spec.name, "");
  note_state(*id, "", "queued");
  wake_.notify_all();
  res.set_header("Location", "/api/experiments/" + *id);
  send_json(res, 201, {{"id", *id}, {"state", "queued"}, {"queue_position", position}});
}

void Service::handle_list(const httplib::Request& req, httplib::Response& res) {
  store::ListFilter filter;
  filter.state = req.get_param_value("state");
  if (!filter.state.empty()) {
    const auto& states = orchestrator::lifecycle_states();
    if (std::find(states.begin(), states.end(), filter.state) == states.end()) {
      send_error(res, 400, "state: unknown state \"" + filter.state + "\"");
      return;
    }
  }
  for (const auto& [name, target, min, max] : std::vector<std::tuple<const char*, int*, int, int>>{
           {"limit", &filter.limit, 1, 1000}, {"offset", &filter.offset, 0, 1 << 30}}) {
    if (!req.has_param(name)) continue;
    const std::string text = req.get_param_value(name);
    char* end = nullptr;
    long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < min || value > max) {
      send_error(res, 400,
                 std::string(name) + ": expected an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got \"" + text + "\"");
      return;
    }
    *target = static_cast<int>(value);
  }
  filter.documents = false;  // the rows' summaries, not their specs and results
  auto list = store_->list(filter);
  if (!list.ok()) {
    send_error(res, 500, list.error());
    return;
  }
  json items = json::array();
  for (auto& r : *list) {
    // Results stored before summaries existed get theirs now, once.
    if (r.summary_json.empty() && r.has_results) {
      auto full = store_->get(r.id);
      if (full.ok() && *full && !(*full)->results_json.empty()) {
        r.summary_json = report::results_summary((*full)->results_json);
        (void)store_->set_summary(r.id, r.summary_json);
      }
    }
    apply_live_state(r);
    if (!filter.state.empty() && r.state != filter.state) continue;
    items.push_back(record_json(r, false));
  }
  send_json(res, 200, {{"experiments", items}, {"limit", filter.limit}, {"offset", filter.offset}});
}

void Service::handle_get(const httplib::Request& req, httplib::Response& res) {
  if (auto record = find(req.matches[1], res)) send_json(res, 200, record_json(*record, true));
}

void Service::handle_cancel(const httplib::Request& req, httplib::Response& res) {
  // Read under the lock the runner claims experiments with, so the state cannot be stale.
  std::lock_guard lock(mutex_);
  auto record = find(req.matches[1], res);
  if (!record) return;
  if (current_ == record->id && current_stop_ != nullptr &&
      !orchestrator::is_terminal_state(record->state)) {
    current_stop_->store(true);
    hub_.publish(
        record->id, "log",
        {{"line", "cancel requested: stopping the run and destroying its infrastructure"}});
    send_json(res, 202, {{"id", record->id}, {"state", "cancelling"}});
    return;
  }
  if (record->state == "queued") {
    track(record->id, record->name, record->state);
    note_state(record->id, "", "cancelled");
    record_final(record->id, "cancelled", "cancelled before it started");
    send_json(res, 200, {{"id", record->id}, {"state", "cancelled"}});
    return;
  }
  send_error(res, 409, "experiment " + record->id + " is " + record->state + "; nothing to cancel");
}

void Service::handle_events(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  const std::string id = record->id;
  if (orchestrator::is_terminal_state(record->state)) {
    // Finished before the stream opened: its final state is all there is to say.
    res.set_content(
        "event: state\ndata: " +
            dump_json(json{{"system", ""}, {"state", record->state}, {"error", record->error}}) +
            "\n\n",
        "text/event-stream");
    return;
  }
  if (open_streams_.fetch_add(1) >= kMaxEventStreams) {
    open_streams_.fetch_sub(1);
    res.set_header("Retry-After", "5");
    send_error(res, 503,
               "too many open event streams (" + std::to_string(kMaxEventStreams) +
                   "); poll GET /api/experiments/" + id + " instead");
    return;
  }
  hub_.publish_if_new(id, "state", {{"system", ""}, {"state", record->state}});
  auto last = std::make_shared<int64_t>(-1);
  auto deadline = Clock::now() + std::chrono::hours(24);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, id, last, deadline](size_t, httplib::DataSink& sink) {
        bool finished = false;
        auto events = hub_.wait(id, *last, std::chrono::seconds(1), &finished);
        for (const auto& [sequence, text] : events) {
          if (!sink.write(text.data(), text.size())) return false;
          *last = static_cast<int64_t>(sequence);
        }
        if (events.empty()) {
          const std::string keepalive = ": keep-alive\n\n";
          if (!sink.write(keepalive.data(), keepalive.size())) return false;
        }
        if (finished || Clock::now() > deadline) {
          sink.done();
          return false;
        }
        return true;
      },
      [this](bool) { open_streams_.fetch_sub(1); });
}

void Service::handle_results(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  if (record->results_json.empty()) {
    send_error(res, 404, no_results_message(*record));
    return;
  }
  res.status = 200;
  res.set_content(report::results_with_spec(record->results_json, record->spec_json),
                  "application/json");
}

void Service::handle_results_csv(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  json doc = json::parse(record->results_json, nullptr, false);
  if (record->results_json.empty() || doc.is_discarded()) {
    send_error(res, 404, no_results_message(*record));
    return;
  }
  auto csv = report::export_runs_csv(record->results_json);
  if (!csv) {
    send_error(res, 404, "experiment " + record->id + ": " + csv.error());
    return;
  }
  res.status = 200;
  res.set_header("Content-Disposition", "inline; filename=\"" + record->id + ".csv\"");
  res.set_content(*csv, "text/csv");
}

// The files of `dec results export`: ?format=csv (the runs, the default) or ?format=hdr (every
// run's latency histograms in one HdrHistogram interval log, tagged "<system>/e2e",
// "<system>/publish").
void Service::handle_export(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "csv";
  if (format != "csv" && format != "hdr") {
    send_error(res, 400, "format: expected csv or hdr, e.g. ?format=hdr, got \"" + format + "\"");
    return;
  }
  if (record->results_json.empty()) {
    send_error(res, 404, no_results_message(*record));
    return;
  }
  auto content = format == "csv" ? report::export_runs_csv(record->results_json)
                                 : report::export_hdr_log(record->results_json);
  if (!content) {
    send_error(res, 404, "experiment " + record->id + ": " + content.error());
    return;
  }
  const std::string extension = format == "csv" ? ".csv" : ".hlog";
  res.status = 200;
  res.set_header("Content-Disposition", "attachment; filename=\"" + record->id + extension + "\"");
  res.set_content(*content, format == "csv" ? "text/csv" : "text/plain");
}

void Service::handle_report(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  if (record->results_json.empty()) {
    send_error(res, 404, no_results_message(*record));
    return;
  }
  auto html =
      render_report_html(record->results_json, record->state, record->error, report_bundle());
  if (!html.ok()) {
    send_error(res, 404, "experiment " + record->id + " is " + record->state + "; " + html.error());
    return;
  }
  res.status = 200;
  res.set_content(*html, "text/html; charset=utf-8");
}

std::string Service::report_bundle() const {
  if (options_.web_root.empty()) return "";
  return (std::filesystem::path(options_.web_root) / "report" / "report.js").string();
}

// Every run's latency by percentile, decoded from its stored histograms (report/percentiles.h).
void Service::handle_percentiles(const httplib::Request& req, httplib::Response& res) {
  auto record = find(req.matches[1], res);
  if (!record) return;
  if (record->results_json.empty()) {
    send_error(res, 404, no_results_message(*record));
    return;
  }
  auto curves = report::percentile_curves(record->results_json);
  if (!curves) {
    send_error(res, 404, "experiment " + record->id + ": " + curves.error());
    return;
  }
  res.status = 200;
  res.set_content(*curves, "application/json");
}

void Service::handle_all_results(const httplib::Request&, httplib::Response& res) {
  store::ListFilter filter;
  filter.limit = 1000;
  auto list = store_->list(filter);
  if (!list.ok()) {
    send_error(res, 500, list.error());
    return;
  }
  json items = json::array();
  for (auto& r : *list) {
    apply_live_state(r);
    if (r.results_json.empty()) continue;
    json item = record_json(r, false);
    item["results"] =
        json::parse(report::results_with_spec(r.results_json, r.spec_json), nullptr, false);
    items.push_back(item);
  }
  send_json(res, 200, {{"results", items}});
}

void Service::handle_shutdown(const httplib::Request&, httplib::Response& res) {
  std::lock_guard lock(mutex_);
  draining_ = true;  // no new work from the queue, whatever the answer
  if (!current_.empty()) {
    const int retry_after = retry_after_seconds();
    res.set_header("Retry-After", std::to_string(retry_after));
    send_error(res, 409, "experiment running",
               {{"running", current_}, {"retry_after_s", retry_after}});
    return;
  }
  shutdown_ok_ = true;
  send_json(res, 200, {{"status", "shutting down"}, {"queued_kept", count_in_state("queued")}});
}

// GET /api/drivers: what the new-experiment form offers per driver. A key's description and
// default are the driver's own (DriverInfo::config_keys); a client key the driver does not list
// among its config keys (librdkafka properties) takes its default from DriverInfo::default_of.
void Service::handle_drivers(const httplib::Request&, httplib::Response& res) {
  const char* client_fields[] = {"max_in_flight", "linger", "fetch_wait"};
  json drivers = json::array();
  for (const auto& package : systems::all_systems()) {
    const drivers::DriverInfo& info = package.driver;
    auto config_key = [&](const std::string& name) -> const drivers::ConfigKey* {
      for (const auto& key : info.config_keys) {
        if (key.name == name) return &key;
      }
      return nullptr;
    };
    json config_keys = json::array();
    for (const auto& key : info.config_keys) {
      config_keys.push_back(
          {{"name", key.name}, {"description", key.description}, {"default", key.default_value}});
    }
    json client_keys = json::array();
    for (const auto& key : info.client_keys) {
      const drivers::ConfigKey* described = config_key(key.name);
      std::optional<std::string> fallback;
      if (described == nullptr && info.default_of) fallback = info.default_of(key.name);
      std::string description = described != nullptr ? described->description : "";
      if (description.empty()) {
        description = key.mapped_from ? std::string("set from workload.client.") +
                                            client_fields[static_cast<int>(*key.mapped_from)] +
                                            " unless the config sets it"
                                      : "reported with every result";
      }
      json item = {
          {"name", key.name},
          {"description", description},
          {"default", described != nullptr ? described->default_value : fallback.value_or("")}};
      item["mapped_from"] = key.mapped_from
                                ? json(std::string("workload.client.") +
                                       client_fields[static_cast<int>(*key.mapped_from)])
                                : json(nullptr);
      client_keys.push_back(std::move(item));
    }
    json variants = json::array();
    if (!package.local_variants.empty()) {
      variants.push_back(package.default_variant_name);
      for (const auto& [name, recipe] : package.local_variants) variants.push_back(name);
    }
    drivers.push_back({{"name", info.name},
                       {"label", package.local ? package.local->label : info.name},
                       {"description", info.description},
                       {"emulated", package.local && package.local->emulated},
                       {"client_library", info.client_library ? info.client_library() : ""},
                       {"accepts_unknown_keys", info.accepts_unknown_keys},
                       {"config_keys", config_keys},
                       {"client_keys", client_keys},
                       {"variants", variants}});
  }
  send_json(res, 200, {{"drivers", drivers}});
}

// POST /api/plan: `dec plan` for a posted spec. Nothing is created or recorded.
void Service::handle_plan(const httplib::Request& req, httplib::Response& res) {
  auto parsed = parse_posted_spec(req, res);
  if (!parsed) return;
  auto preview = orchestrator::preview_plan(parsed->spec, options_.provider_context);
  if (!preview) {
    send_error(res, 400, "invalid spec: " + preview.error(),
               {{"errors", json::array({{{"path", ""}, {"message", preview.error()}}})}});
    return;
  }
  json errors = json::array();
  json systems = json::array();
  for (const auto& system : preview->systems) {
    const std::string path = "systems[" + std::to_string(system.index) + "]";
    if (!system.error.empty()) {
      errors.push_back(
          {{"path", path},
           {"message",
            system.error +
                (system.point ? " (matrix point " + std::to_string(*system.point) + ")" : "")}});
      continue;
    }
    json resources = json::array();
    const json changes = json::parse(infra::plan_to_json(system.plan))["changes"];
    for (const auto& change : changes) {
      resources.push_back(
          {{"address", change["address"]}, {"type", change["type"]}, {"action", change["action"]}});
    }
    systems.push_back({{"name", system.system},
                       {"driver", system.driver},
                       {"provider", system.provider},
                       {"point", system.point ? json(*system.point) : json(nullptr)},
                       {"plan", infra::plan_to_text(system.plan)},
                       {"resources", resources}});
  }
  if (!errors.empty()) {
    send_error(res, 400,
               "invalid spec: " + errors[0]["path"].get<std::string>() + ": " +
                   errors[0]["message"].get<std::string>(),
               {{"errors", errors}});
    return;
  }
  json warnings = json::array();
  for (const auto& warning : parsed->warnings) warnings.push_back(warning.to_string());
  send_json(res, 200,
            {{"runs", preview->runs},
             {"estimated_s", preview->estimated.count()},
             {"headline", preview->headline},
             {"search", preview->search},
             {"infrastructure", preview->infrastructure},
             {"warnings", warnings},
             {"systems", systems}});
}

void Service::handle_spec_schema(const httplib::Request&, httplib::Response& res) {
  send_json(res, 200, core::spec_json_schema(systems::driver_catalog()));
}

void Service::handle_results_schema(const httplib::Request&, httplib::Response& res) {
  send_json(res, 200, report::results_json_schema());
}

// GET /api/examples: every *.yaml of the examples directory, by name, as written.
void Service::handle_examples(const httplib::Request&, httplib::Response& res) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (!options_.examples_dir.empty() && fs::is_directory(options_.examples_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(options_.examples_dir, ec)) {
      if (entry.is_regular_file(ec) && entry.path().extension() == ".yaml") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  json examples = json::array();
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) continue;
    std::ostringstream text;
    text << in.rdbuf();
    const std::string spec = text.str();
    examples.push_back(
        {{"name", file.stem().string()},
         {"description", core::parse_spec(spec, {}, systems::driver_catalog()).spec.description},
         {"spec", spec}});
  }
  send_json(res, 200, {{"examples", examples}});
}

// GET /api/infrastructure: every run recorded in the data dir (state files), whether its owner
// still lives (a run in progress, or a kept run of `dec apply`) and its resources.
void Service::handle_infrastructure(const httplib::Request&, httplib::Response& res) {
  infra::Env& env = *options_.provider_context.env;
  json runs = json::array();
  for (const std::string& id : infra::recorded_runs(env, options_.provider_context.data_dir)) {
    auto state =
        infra::StateFile(env, infra::state_path(options_.provider_context.data_dir, id)).load();
    if (!state) {
      runs.push_back({{"run", id}, {"error", state.error()}});
      continue;
    }
    json resources = json::array();
    for (const auto& record : state->resources) {
      resources.push_back({{"address", record.resource.address},
                           {"type", record.resource.type},
                           {"status", record.status}});
    }
    const bool owner_alive = env.process_alive(state->owner);
    runs.push_back({{"run", id},
                    {"experiment", state->experiment_id},
                    {"system", state->system},
                    {"provider", state->provider},
                    {"kept", state->kept},
                    {"owner_alive", owner_alive},
                    {"state", state->kept   ? "kept (dec apply)"
                              : owner_alive ? "in progress"
                                            : "interrupted: reconcile destroys it"},
                    {"resources", resources}});
  }
  send_json(res, 200, {{"runs", runs}});
}

// POST /api/reconcile[?dry_run=false]: what `dec reconcile [--dry-run]` does. A dry run unless
// asked otherwise; the real one waits for an idle server (it must not race the runner).
void Service::handle_reconcile(const httplib::Request& req, httplib::Response& res) {
  const bool dry_run = req.get_param_value("dry_run") != "false";
  if (!dry_run) {
    std::lock_guard lock(mutex_);
    if (!current_.empty()) {
      res.set_header("Retry-After", "10");
      send_error(res, 409, "experiment " + current_ + " is running: reconcile once it ended");
      return;
    }
  }
  infra::ReconcileOptions options;
  options.dry_run = dry_run;
  std::vector<std::string> log;
  auto report = infra::reconcile(options_.provider_context, options,
                                 [&](const std::string& line) { log.push_back(line); });
  send_json(res, 200,
            {{"dry_run", dry_run},
             {"actions", report.actions},
             {"errors", report.errors},
             {"live_runs", report.live_runs},
             {"cleaned_runs", report.cleaned_runs},
             {"drift", report.drift},
             {"log", log}});
}

// POST /api/runs/{id}/destroy: `dec destroy RUN` for one recorded run.
void Service::handle_destroy_run(const httplib::Request& req, httplib::Response& res) {
  const std::string run_id = req.matches[1];
  const auto recorded =
      infra::recorded_runs(*options_.provider_context.env, options_.provider_context.data_dir);
  if (std::find(recorded.begin(), recorded.end(), run_id) == recorded.end()) {
    send_error(res, 404, "no run " + run_id + " is recorded (already destroyed?)");
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (!current_.empty()) {
      res.set_header("Retry-After", "10");
      send_error(res, 409,
                 "experiment " + current_ + " is running: destroy " + run_id +
                     " once it ended, so the measurement is not disturbed");
      return;
    }
  }
  std::vector<std::string> log;
  Status s = infra::destroy_recorded_run(options_.provider_context, run_id,
                                         [&](const std::string& line) { log.push_back(line); });
  if (!s) {
    const bool in_use = s.error().find("is still running") != std::string::npos;
    send_error(res, in_use ? 409 : 500,
               s.error() + (in_use ? "" : " (what is left is recorded: retry, or dec reconcile)"),
               {{"log", log}});
    return;
  }
  send_json(res, 200, {{"destroyed", run_id}, {"log", log}});
}

void Service::handle_health(const httplib::Request&, httplib::Response& res) {
  std::string running;
  bool draining;
  {
    std::lock_guard lock(mutex_);
    running = current_;
    draining = draining_;
  }
  send_json(res, 200,
            {{"status", "ok"},
             {"running", running.empty() ? json(nullptr) : json(running)},
             {"queued", count_in_state("queued")},
             {"draining", draining}});
}

void Service::handle_metrics(const httplib::Request&, httplib::Response& res) {
  std::map<std::string, int64_t> by_state;
  for (const auto& state : orchestrator::lifecycle_states()) by_state[state] = 0;
  auto counts = store_->count_by_state();
  if (!counts.ok()) {
    send_error(res, 500, counts.error());
    return;
  }
  for (const auto& [state, count] : *counts) by_state[state] = count;
  std::ostringstream out;
  out << "# HELP dec_queue_length Experiments waiting to run.\n# TYPE dec_queue_length gauge\n"
      << "dec_queue_length " << by_state["queued"] << "\n"
      << "# HELP dec_experiments Experiments by lifecycle state.\n# TYPE dec_experiments gauge\n";
  for (const auto& [state, count] : by_state) {
    out << "dec_experiments{state=\"" << state << "\"} " << count << "\n";
  }
  out << "# HELP dec_last_run_duration_seconds Wall time of the last finished experiment.\n"
      << "# TYPE dec_last_run_duration_seconds gauge\n"
      << "dec_last_run_duration_seconds " << last_run_seconds_.load() << "\n";
  res.status = 200;
  res.set_content(out.str(), "text/plain; version=0.0.4");
}

std::vector<Route> Service::routes() {
  auto bind = [this](void (Service::*method)(const httplib::Request&, httplib::Response&)) {
    return [this, method](const httplib::Request& req, httplib::Response& res) {
      (this->*method)(req, res);
    };
  };
  const std::string id = "([A-Za-z0-9._-]+)";
  const std::string kJson = "application/json";
  return {
      {"GET",
       "/api/health",
       "/api/health",
       "Liveness and queue summary",
       kJson,
       {200},
       {},
       bind(&Service::handle_health),
       "Health"},
      {"POST",
       "/api/experiments",
       "/api/experiments",
       "Submit an experiment spec (JSON or YAML)",
       kJson,
       {201, 400, 401},
       {},
       bind(&Service::handle_submit),
       "Submitted"},
      {"POST",
       "/api/plan",
       "/api/plan",
       "Plan preview of a spec (JSON or YAML): runs, duration, resources; creates nothing",
       kJson,
       {200, 400, 401},
       {},
       bind(&Service::handle_plan),
       "Plan"},
      {"GET",
       "/api/infrastructure",
       "/api/infrastructure",
       "What dec has recorded in this data dir now: runs, their resources, kept or interrupted",
       kJson,
       {200, 401},
       {},
       bind(&Service::handle_infrastructure),
       ""},
      {"POST",
       "/api/reconcile",
       "/api/reconcile",
       "Reconcile (docs/api.md): a dry run unless ?dry_run=false; 409 while an experiment runs",
       kJson,
       {200, 401, 409},
       {},
       bind(&Service::handle_reconcile),
       ""},
      {"POST",
       "/api/runs/" + id + "/destroy",
       "/api/runs/{id}/destroy",
       "Destroy a recorded run (a kept run of dec apply, or an interrupted one); 409 while it or "
       "an "
       "experiment runs",
       kJson,
       {200, 401, 404, 409, 500},
       {},
       bind(&Service::handle_destroy_run),
       ""},
      {"GET",
       "/api/drivers",
       "/api/drivers",
       "The drivers compiled in, their config and client keys with defaults",
       kJson,
       {200},
       {},
       bind(&Service::handle_drivers),
       "Drivers"},
      {"GET",
       "/api/examples",
       "/api/examples",
       "The shipped example specs",
       kJson,
       {200},
       {},
       bind(&Service::handle_examples),
       "Examples"},
      {"GET",
       "/api/schema/spec\\.json",
       "/api/schema/spec.json",
       "JSON Schema (2020-12) of the experiment spec",
       kJson,
       {200},
       {},
       bind(&Service::handle_spec_schema),
       ""},
      {"GET",
       "/api/schema/results\\.json",
       "/api/schema/results.json",
       "JSON Schema (2020-12) of the results document",
       kJson,
       {200},
       {},
       bind(&Service::handle_results_schema),
       ""},
      {"GET",
       "/api/experiments",
       "/api/experiments",
       "List experiments, newest first",
       kJson,
       {200, 400},
       {"state", "limit", "offset"},
       bind(&Service::handle_list),
       "ExperimentList"},
      {"GET",
       "/api/experiments/" + id,
       "/api/experiments/{id}",
       "One experiment: spec, state, progress, queue position, results",
       kJson,
       {200, 404},
       {},
       bind(&Service::handle_get),
       "Experiment"},
      {"POST",
       "/api/experiments/" + id + "/cancel",
       "/api/experiments/{id}/cancel",
       "Cancel a queued (200) or running (202) experiment",
       kJson,
       {200, 202, 401, 404, 409},
       {},
       bind(&Service::handle_cancel),
       ""},
      {"GET",
       "/api/experiments/" + id + "/events",
       "/api/experiments/{id}/events",
       "Server-sent events: state, progress (1/s), log",
       "text/event-stream",
       {200, 404, 503},
       {},
       bind(&Service::handle_events),
       ""},
      {"GET",
       "/api/experiments/" + id + "/results",
       "/api/experiments/{id}/results",
       "Results JSON",
       kJson,
       {200, 404},
       {},
       bind(&Service::handle_results),
       "Results"},
      {"GET",
       "/api/experiments/" + id + "/results.csv",
       "/api/experiments/{id}/results.csv",
       "Results as CSV, one row per system",
       "text/csv",
       {200, 404},
       {},
       bind(&Service::handle_results_csv),
       ""},
      {"GET",
       "/api/experiments/" + id + "/export",
       "/api/experiments/{id}/export",
       "Export: ?format=csv (one row per run) or ?format=hdr (HdrHistogram interval log)",
       "text/csv, text/plain",
       {200, 400, 404},
       {"format"},
       bind(&Service::handle_export),
       ""},
      {"GET",
       "/api/experiments/" + id + "/report.html",
       "/api/experiments/{id}/report.html",
       "Self-contained HTML comparison report",
       "text/html",
       {200, 404},
       {},
       bind(&Service::handle_report),
       ""},
      {"GET",
       "/api/experiments/" + id + "/percentiles",
       "/api/experiments/{id}/percentiles",
       "Latency by percentile per run, decoded from its histograms (HdrHistogram-style levels)",
       kJson,
       {200, 404},
       {},
       bind(&Service::handle_percentiles),
       "PercentileCurves"},
      {"GET",
       "/api/results",
       "/api/results",
       "Every experiment with results",
       kJson,
       {200},
       {},
       bind(&Service::handle_all_results),
       "AllResults"},
      {"POST",
       "/api/shutdown",
       "/api/shutdown",
       "Shut down when idle (200); 409 + Retry-After while an experiment runs",
       kJson,
       {200, 401, 409},
       {},
       bind(&Service::handle_shutdown),
       ""},
      {"GET",
       "/metrics",
       "/metrics",
       "Prometheus metrics",
       "text/plain",
       {200},
       {},
       bind(&Service::handle_metrics),
       ""},
  };
}

const char* status_description(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Queued";
    case 202:
      return "Cancelling: the runner stops the experiment and destroys its infrastructure";
    case 400:
      return "Invalid input; the error names the field";
    case 401:
      return "Missing or wrong bearer token";
    case 404:
      return "No such experiment, or no results yet";
    case 405:
      return "Method not allowed on this path";
    case 409:
      return "Conflict with the experiment's state (or an experiment is running)";
    case 413:
      return "Request body over the limit (1 MiB)";
    case 503:
      return "Too many open event streams";
    default:
      return "Internal error";
  }
}

// Adds a JSON Schema document to `schemas` as `name`: its $defs become components of their own
// ("<name>.<def>") and references follow them there; "spec.json" (the results' spec) becomes Spec.
void add_schema_document(json& schemas, const std::string& name, json document) {
  std::function<void(json&)> rewrite = [&](json& node) {
    if (node.is_array()) {
      for (auto& item : node) rewrite(item);
      return;
    }
    if (!node.is_object()) return;
    for (auto& [key, value] : node.items()) {
      if (key != "$ref" || !value.is_string()) {
        rewrite(value);
        continue;
      }
      const std::string target = value.get<std::string>();
      if (target.rfind("#/$defs/", 0) == 0) {
        value = "#/components/schemas/" + name + "." + target.substr(8);
      } else if (target == "spec.json") {
        value = "#/components/schemas/Spec";
      }
    }
  };
  rewrite(document);
  if (document.contains("$defs")) {
    for (auto& [def, schema] : document["$defs"].items()) schemas[name + "." + def] = schema;
    document.erase("$defs");
  }
  document.erase("$schema");
  document.erase("$id");
  schemas[name] = std::move(document);
}

json schema_ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

// An object schema whose listed fields are all present.
json object_schema(json properties) {
  json required = json::array();
  for (const auto& [key, value] : properties.items()) required.push_back(key);
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", required}};
}

// The answers' own schemas (besides Spec and Results).
void add_answer_schemas(json& schemas) {
  const json string = {{"type", "string"}};
  const json integer = {{"type", "integer"}};
  const json number = {{"type", "number"}};
  const json boolean = {{"type", "boolean"}};
  auto array_of = [](json items) { return json{{"type", "array"}, {"items", std::move(items)}}; };
  schemas["Error"] = {
      {"type", "object"},
      {"required", json::array({"error"})},
      {"properties",
       {{"error", string},
        {"errors", array_of(object_schema({{"path", string}, {"message", string}}))}}}};
  schemas["Health"] = object_schema({{"status", string},
                                     {"running", {{"type", json::array({"string", "null"})}}},
                                     {"queued", integer},
                                     {"draining", boolean}});
  schemas["Submitted"] =
      object_schema({{"id", string}, {"state", string}, {"queue_position", integer}});
  json key = object_schema({{"name", string}, {"description", string}, {"default", string}});
  json client_key = key;
  client_key["properties"]["mapped_from"] = {{"type", json::array({"string", "null"})}};
  schemas["Drivers"] =
      object_schema({{"drivers", array_of(object_schema({{"name", string},
                                                         {"label", string},
                                                         {"description", string},
                                                         {"emulated", boolean},
                                                         {"client_library", string},
                                                         {"accepts_unknown_keys", boolean},
                                                         {"config_keys", array_of(key)},
                                                         {"client_keys", array_of(client_key)},
                                                         {"variants", array_of(string)}}))}});
  json resource = object_schema(
      {{"address", string},
       {"type", string},
       {"action", {{"enum", json::array({"create", "update", "replace", "delete"})}}}});
  schemas["Plan"] = object_schema(
      {{"runs", integer},
       {"estimated_s", integer},
       {"headline", string},
       {"search", string},
       {"infrastructure", string},
       {"warnings", array_of(string)},
       {"systems", array_of(object_schema({{"name", string},
                                           {"driver", string},
                                           {"provider", string},
                                           {"point", {{"type", json::array({"integer", "null"})}}},
                                           {"plan", string},
                                           {"resources", array_of(resource)}}))}});
  schemas["Examples"] = object_schema(
      {{"examples",
        array_of(object_schema({{"name", string}, {"description", string}, {"spec", string}}))}});
  schemas["Progress"] = {
      {"type", "object"},
      {"properties",
       {{"system", string},
        {"phase", {{"enum", json::array({"warmup", "running", "draining", "done"})}}},
        {"status", {{"enum", json::array({"succeeded", "failed", "cancelled"})}}},
        {"elapsed_s", number},
        {"total_s", number},
        {"sent", integer},
        {"received", integer},
        {"produced_per_s", number},
        {"consumed_per_s", number},
        {"p99_us", number}}}};
  json summary = {{"type", "object"},
                  {"required", json::array({"id", "name", "state", "error", "created_at",
                                            "started_at", "finished_at"})},
                  {"properties",
                   {{"id", string},
                    {"name", string},
                    {"state", {{"enum", orchestrator::lifecycle_states()}}},
                    {"error", string},
                    {"created_at", string},
                    {"started_at", string},
                    {"finished_at", string},
                    {"queue_position", integer},
                    {"cancel_requested", boolean},
                    {"summary", schema_ref("ResultsSummary")}}}};
  // report::results_summary: what a history list shows without loading the results.
  const json nullable_boolean = {{"type", json::array({"boolean", "null"})}};
  schemas["ResultsSummary"] =
      object_schema({{"verdict", string},
                     {"points", integer},
                     {"repeats", integer},
                     {"runs", array_of(object_schema({{"run_id", string},
                                                      {"system", string},
                                                      {"driver", string},
                                                      {"status", string},
                                                      {"emulated", boolean},
                                                      {"point", integer},
                                                      {"repeat", integer},
                                                      {"consumed_msgs_per_s", number},
                                                      {"produced_msgs_per_s", number},
                                                      {"p99_us", number},
                                                      {"delivery_ok", boolean},
                                                      {"targets_met", nullable_boolean}}))}});
  schemas["ExperimentSummary"] = summary;
  json full = summary;
  full["properties"]["spec"] = schema_ref("Spec");
  full["properties"]["progress"] = {{"type", "object"},
                                    {"additionalProperties", schema_ref("Progress")}};
  full["properties"]["results"] = {
      {"oneOf", json::array({schema_ref("Results"), {{"type", "null"}}})}};
  schemas["Experiment"] = full;
  schemas["ExperimentList"] =
      object_schema({{"experiments", array_of(schema_ref("ExperimentSummary"))},
                     {"limit", integer},
                     {"offset", integer}});
  json with_results = summary;
  with_results["properties"]["results"] = schema_ref("Results");
  schemas["AllResults"] = object_schema({{"results", array_of(with_results)}});
  const json nullable_number = {{"type", json::array({"number", "null"})}};
  json curve = object_schema({{"count", integer},
                              {"censored", integer},
                              {"lower_bound_from", nullable_number},
                              {"points", array_of(object_schema({{"percentile", number},
                                                                 {"value_us", number},
                                                                 {"count", integer},
                                                                 {"lower_bound", boolean}}))}});
  json nullable_curve = {{"oneOf", json::array({curve, {{"type", "null"}}})}};
  schemas["PercentileCurves"] =
      object_schema({{"id", string},
                     {"experiment", string},
                     {"contains", string},
                     {"unit", {{"const", "us"}}},
                     {"ticks_per_half_distance", integer},
                     {"runs", array_of(object_schema({{"run_id", string},
                                                      {"system", string},
                                                      {"point", integer},
                                                      {"repeat", integer},
                                                      {"status", string},
                                                      {"end_to_end", nullable_curve},
                                                      {"publish", nullable_curve}}))}});
}

json openapi(const std::vector<Route>& routes) {
  const json error_schema = schema_ref("Error");
  json paths = json::object();
  for (const auto& route : routes) {
    std::string method = route.method;
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    json responses = json::object();
    std::vector<int> statuses = route.statuses;
    const bool needs_token = !is_public_path(route.openapi_path);
    if (needs_token && std::find(statuses.begin(), statuses.end(), 401) == statuses.end()) {
      statuses.push_back(401);
    }
    statuses.insert(statuses.end(), {405, 500});
    if (route.method == "POST") statuses.push_back(413);
    for (int status : statuses) {
      json response = {{"description", status_description(status)}};
      if (status >= 300) {
        response["content"] = {{"application/json", {{"schema", error_schema}}}};
      } else {
        // A route may answer in several media types ("text/csv, text/plain": by ?format=).
        response["content"] = json::object();
        std::string types = route.media_type;
        for (size_t start = 0; start < types.size();) {
          size_t end = types.find(", ", start);
          if (end == std::string::npos) end = types.size();
          const std::string type = types.substr(start, end - start);
          start = end + 2;
          // A text/event-stream schema describes each event (OpenAPI 3.2's itemSchema shape).
          const json schema = !route.body_schema.empty()   ? schema_ref(route.body_schema)
                              : type == "application/json" ? json{{"type", "object"}}
                              : type == "text/event-stream"
                                  ? json{{"type", "object"},
                                         {"required", json::array({"data"})},
                                         {"properties",
                                          {{"event", {{"type", "string"}}},
                                           {"data", {{"type", "string"}}},
                                           {"id", {{"type", "string"}}},
                                           {"retry", {{"type", "integer"}}}}}}
                                  : json{{"type", "string"}};
          response["content"][type] = {{"schema", schema}};
        }
      }
      responses[std::to_string(status)] = response;
    }
    json op = {{"summary", route.summary}, {"responses", responses}};
    json parameters = json::array();
    if (route.openapi_path.find("{id}") != std::string::npos) {
      parameters.push_back(
          {{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    for (const auto& name : route.query) {
      parameters.push_back(
          {{"name", name},
           {"in", "query"},
           {"required", false},
           {"schema", {{"type", name == "state" || name == "format" ? "string" : "integer"}}}});
    }
    if (route.openapi_path == "/api/experiments/{id}/export") {
      parameters.back()["schema"]["enum"] = {"csv", "hdr"};
      parameters.back()["schema"]["default"] = "csv";
    }
    if (!parameters.empty()) op["parameters"] = parameters;
    if (route.method == "POST" &&
        (route.openapi_path == "/api/experiments" || route.openapi_path == "/api/plan")) {
      op["requestBody"] = {
          {"required", true},
          {"description", "An experiment spec, the same format as `dec run` (docs/spec.md)"},
          {"content",
           {{"application/yaml", {{"schema", {{"type", "string"}}}}},
            {"application/json", {{"schema", schema_ref("Spec")}}}}}};
    }
    // With a token (dec serve --token), every route but health and metrics needs it: the
    // Authorization header, or ?access_token= where no header can be set (EventSource, links).
    op["security"] =
        needs_token ? json::array({{{"bearer", json::array()}}, {{"access_token", json::array()}}})
                    : json::array();
    paths[route.openapi_path][method] = op;
  }
  paths["/api/openapi.json"]["get"] = {
      {"summary", "This description"},
      {"security", json::array({{{"bearer", json::array()}}, {{"access_token", json::array()}}})},
      {"responses",
       {{"200",
         {{"description", "OK"},
          {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}},
        {"401",
         {{"description", status_description(401)},
          {"content", {{"application/json", {{"schema", error_schema}}}}}}}}}};
  json schemas = json::object();
  add_answer_schemas(schemas);
  add_schema_document(schemas, "Spec", core::spec_json_schema(systems::driver_catalog()));
  add_schema_document(schemas, "Results", report::results_json_schema());
  json components = {{"schemas", schemas},
                     {"securitySchemes",
                      {{"bearer",
                        {{"type", "http"},
                         {"scheme", "bearer"},
                         {"description", "dec serve --token TOKEN (or $DEC_TOKEN)"}}},
                       {"access_token",
                        {{"type", "apiKey"},
                         {"in", "query"},
                         {"name", "access_token"},
                         {"description",
                          "The same token, for clients that cannot set a "
                          "header (EventSource, download links)"}}}}}};
  // 3.1: schemas are JSON Schema 2020-12, the dialect of /api/schema/*.json.
  return {{"openapi", "3.1.0"},
          {"info", {{"title", "dec experiment service"}, {"version", "0.1.0"}}},
          {"paths", paths},
          {"components", components}};
}

std::string numeric_host(const sockaddr_storage& address, int* port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), sizeof address, host, sizeof host,
                  service, sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  *port = std::atoi(service);
  return host;
}

// The descriptor of the TCP connection between the two addresses, found among this process's
// descriptors (httplib 0.11 gives handlers the addresses of a request, not its socket); -1 if
// none. The pair names one live connection, so no other socket can match.
int connection_socket(const std::string& local_addr, int local_port, const std::string& remote_addr,
                      int remote_port) {
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return -1;
  int found = -1;
  while (const dirent* entry = readdir(fds)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    sockaddr_storage local{};
    sockaddr_storage remote{};
    socklen_t local_size = sizeof local;
    socklen_t remote_size = sizeof remote;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&remote), &remote_size) !=
            0) {
      continue;
    }
    int local_found = -1;
    int remote_found = -1;
    if (numeric_host(local, &local_found) == local_addr && local_found == local_port &&
        numeric_host(remote, &remote_found) == remote_addr && remote_found == remote_port) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(fds);
  return found;
}

// Answers `status` with an error and closes the connection once the answer is written: after a
// request whose framing cannot be trusted, what follows on the connection cannot be told from a
// next request (RFC 9112 §6.3, §11.2). httplib 0.11 keeps a connection open whatever the answer
// says, so the read side of its socket is shut down by the answer's release hook, which runs
// once the answer is written; httplib then reads end-of-file and closes it.
void answer_and_close(const httplib::Request& req, httplib::Response& res, int status,
                      const std::string& message) {
  auto body = std::make_shared<std::string>(dump_json(json{{"error", message}}, 2) + "\n");
  res.status = status;
  if (req.get_header_value("Connection") != "close") res.set_header("Connection", "close");
  res.set_content_provider(
      body->size(), "application/json",
      [body](size_t offset, size_t length, httplib::DataSink& sink) {
        return sink.write(body->data() + offset, length);
      },
      [local = req.local_addr, local_port = req.local_port, remote = req.remote_addr,
       remote_port = req.remote_port](bool) {
        const int fd = connection_socket(local, local_port, remote, remote_port);
        if (fd >= 0) shutdown(fd, SHUT_RD);
      });
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  std::string address = host;
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (address == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  return false;  // a name other than localhost, or 0.0.0.0 / :: (every address)
}

std::string ServerOptions::default_examples_dir() {
  std::error_code ec;
  return std::filesystem::is_directory(DEC_DEFAULT_EXAMPLES_DIR, ec) ? DEC_DEFAULT_EXAMPLES_DIR
                                                                     : "";
}

int serve(const ServerOptions& options, const std::atomic<bool>& stop) {
  ServiceLog log(options.log_format);
  if (options.token.empty() && !is_loopback_host(options.host)) {
    if (!options.insecure) {
      std::fprintf(stderr,
                   "dec serve: refusing to listen on %s without a token: anyone who reaches the "
                   "port could run experiments as this user. Set one with --token-file FILE (or "
                   "$DEC_TOKEN), listen on 127.0.0.1, or pass --insecure to accept the risk\n",
                   options.host.c_str());
      return 2;
    }
    log.error("insecure",
              "WARNING: --insecure: listening on " + options.host +
                  " WITHOUT A TOKEN; anyone who can reach port " + std::to_string(options.port) +
                  " can submit experiments, read results and shut the server down",
              {{"host", options.host}, {"port", options.port}});
  }
  auto store = store::Store::open(options.provider_context.data_dir + "/dec.db");
  if (!store.ok()) {
    log.error("store", store.error());
    return 1;
  }
  std::unique_ptr<ArtifactStore> artifacts;
  if (!options.artifacts.empty()) {
    auto opened = ArtifactStore::open(options.artifacts, options.artifacts_endpoint);
    if (!opened.ok()) {
      std::fprintf(stderr, "dec serve: %s\n", opened.error().c_str());
      return 2;
    }
    artifacts = std::move(*opened);
  }
  Service service(options, std::move(*store), std::move(artifacts), log);
  httplib::Server http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  http.set_payload_max_length(options.max_body_bytes);
  // Every route but health and metrics wants the token (when there is one); the web app's
  // files are public, the app asks for the token itself.
  auto guarded = [&options](const Route& route) {
    const bool needs_token = !options.token.empty() && !is_public_path(route.openapi_path);
    return [&options, needs_token, handler = route.handler](const httplib::Request& req,
                                                            httplib::Response& res) {
      if (needs_token && !secrets_equal(presented_token(req), options.token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, 401,
                   "missing or wrong bearer token (send Authorization: Bearer <token>, or "
                   "?access_token=<token> where a header cannot be set)");
        return;
      }
      handler(req, res);
    };
  };
  struct Registered {
    std::regex pattern;
    std::string method;
    httplib::Server::Handler handler;
  };
  std::vector<Registered> registered;  // for 405 answers and body-less POSTs
  auto routes = service.routes();
  const std::string openapi_text = dump_json(openapi(routes), 2);
  routes.push_back({"GET",
                    "/api/openapi\\.json",
                    "/api/openapi.json",
                    "",
                    "",
                    {},
                    {},
                    [&](const httplib::Request&, httplib::Response& res) {
                      res.set_content(openapi_text, "application/json");
                    },
                    ""});
  for (const auto& route : routes) {
    auto handler = guarded(route);
    registered.push_back({std::regex(route.pattern), route.method, handler});
    if (route.method == "GET") http.Get(route.pattern, handler);
    if (route.method == "POST") http.Post(route.pattern, handler);
  }
  // The web app at every other GET path; registered after the API so its routes win.
  http.Get("/.*", [&](const httplib::Request& req, httplib::Response& res) {
    auto file = static_file(req.path, options.web_root);
    if (!file) {
      res.status = 404;  // explained by the error handler below
      return;
    }
    res.status = file->status;
    if (!file->cache_control.empty()) res.set_header("Cache-Control", file->cache_control);
    res.set_content(std::move(file->content), file->content_type);
  });
  // Framing is checked before httplib reads a body, which it does by rules of its own
  // (cpp-httplib 0.11): a Content-Length that is not a number reads as 0 ("abc") or as
  // 2^64-5 ("-5"), the first of two differing ones wins, a GET's body is never read (its bytes
  // would be taken for the next request), and a POST with neither Content-Length nor
  // Transfer-Encoding is read until the client closes the connection, a 400 after the read
  // timeout for `curl -X POST URL`. RFC 9112 §6.3 says that POST has an empty body: it is
  // dispatched here, without reading.
  http.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    using Handled = httplib::Server::HandlerResponse;
    const Framing framing = request_framing(req.headers);
    if (framing.kind == Framing::Kind::kMalformed) {
      answer_and_close(req, res, 400, "malformed request: " + framing.error);
      return Handled::Handled;
    }
    const bool has_body = framing.kind == Framing::Kind::kChunked ||
                          (framing.kind == Framing::Kind::kLength && framing.length > 0);
    if (has_body && req.method != "POST") {
      answer_and_close(req, res, 400,
                       "malformed request: a " + req.method +
                           " request has no body here; send it without one (no Content-Length "
                           "or Transfer-Encoding)");
      return Handled::Handled;
    }
    if (req.method != "POST" || framing.kind != Framing::Kind::kNone) return Handled::Unhandled;
    httplib::Request bodiless = req;
    for (const auto& route : registered) {
      if (route.method == "POST" &&
          std::regex_match(bodiless.path, bodiless.matches, route.pattern)) {
        route.handler(bodiless, res);
        return Handled::Handled;
      }
    }
    res.status = 404;  // the error handler tells 404 from 405
    return Handled::Handled;
  });
  http.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    // A handler already explained the error (every answer of dec's sets a Content-Type).
    if (!res.body.empty() || res.has_header("Content-Type")) return;
    if (res.status == 413) {
      send_error(res, 413,
                 "request body larger than " + std::to_string(options.max_body_bytes) + " bytes");
      return;
    }
    if (res.status != 404) {
      send_error(res, res.status,
                 res.status == 400 ? "malformed HTTP request (request line, headers or body "
                                     "framing)"
                                   : "request failed");
      return;
    }
    std::string allowed;
    for (const auto& route : registered) {
      if (std::regex_match(req.path, route.pattern)) {
        allowed += (allowed.empty() ? "" : ", ") + route.method;
      }
    }
    if (!allowed.empty()) {
      res.set_header("Allow", allowed);
      send_error(res, 405,
                 "method " + req.method + " not allowed on " + req.path + "; use " + allowed);
    } else {
      send_error(res, 404, "no such endpoint: " + req.path + " (see /api/openapi.json)");
    }
  });
  // A library's exception text is no answer: it is logged, and the client is told the request
  // failed on the server's side.
  http.set_exception_handler(
      [&](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log.error("request", req.method + " " + req.path + ": internal error: " + what,
                  {{"method", req.method}, {"path", req.path}, {"error", what}});
        send_error(res, 500,
                   "internal error while answering " + req.method + " " + req.path +
                       " (the server log has the detail)");
      });
  // Every answer 5xx is logged (without the query string: it may hold the access token).
  http.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (res.status < 500) return;
    json body = json::parse(res.body, nullptr, false);
    const std::string error = body.is_object() ? body.value("error", "") : "";
    log.error(
        "request", req.method + " " + req.path + " -> " + std::to_string(res.status) + ": " + error,
        {{"method", req.method}, {"path", req.path}, {"status", res.status}, {"error", error}});
  });

  if (!drivers::bind_http_server(http, options.host, options.port)) {
    log.error("listen", "cannot listen on " + options.host + ":" + std::to_string(options.port) +
                            " (in use or not permitted)");
    return 1;
  }
  service.recover();
  service.start_runner();
  std::atomic<bool> listening_done{false};
  std::thread watcher([&] {
    while (!stop.load() && !service.shutdown_requested() && !listening_done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The runner stops first (a running experiment is torn down) while the API still answers,
    // so health checks keep working and event streams deliver the final state.
    service.stop_runner();
    // Let the last answers (the 200 to /api/shutdown, final events) reach their clients.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    http.stop();
  });
  log.info("start",
           "listening on http://" + options.host + ":" + std::to_string(options.port) +
               " (data in " + options.provider_context.data_dir + ", token " +
               (options.token.empty() ? "none" : "required") + ")",
           {{"host", options.host},
            {"port", options.port},
            {"data_dir", options.provider_context.data_dir},
            {"token", !options.token.empty()}});
  {
    // What posted specs may reach, so the operator sees what the flags allowed.
    std::string secrets, endpoints;
    for (const auto& name : options.spec_policy.secrets) {
      secrets += (secrets.empty() ? "" : ", ") + name;
    }
    for (const auto& rule : options.spec_policy.endpoints) {
      endpoints += (endpoints.empty() ? "" : ", ") + rule.text;
    }
    log.info("start",
             "specs may read secrets: " + (secrets.empty() ? "none" : secrets) +
                 "; may connect to endpoints: " +
                 (endpoints.empty() ? "none (only infrastructure dec creates)" : endpoints));
  }
  http.listen_after_bind();
  listening_done = true;
  watcher.join();
  log.info("stop", "stopped");
  return 0;
}

}  // namespace dec::server
