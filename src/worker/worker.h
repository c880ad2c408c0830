// The worker agent: `dec worker` is a small HTTP service that runs dec's load engine against a
// system and hands back mergeable results. The orchestrator deploys one or more per system
// (deploy.workers; each on its own host, apart from the brokers) and drives them over HTTP only,
// all at once (run_fleet): nothing here assumes an agent shares a filesystem, a clock or a
// process with the orchestrator, so the same agents run on remote machines.
//
// HTTP API (JSON bodies). With a token (AgentOptions::token), every route but /v1/health needs
// "Authorization: Bearer <token>" and answers 401 without it.
//   GET  /v1/health   -> {"ok":true,"version":...}
//   GET  /v1/clock    -> {"receive_unix_ns":..,"send_unix_ns":..}: the agent's wall clock when
//                     the request arrived and when the answer left (NTP-style offset probe)
//   POST /v1/run      WorkRequest -> 202 {"state":"starting"}; 409 while a run is active;
//                     400 naming the bad field
//   GET  /v1/status   -> WorkerStatus
//   POST /v1/stop     -> 200; the active run stops early (result.error = "stopped")
//   POST /v1/drained  -> 200; a shared run's drain ends now: the orchestrator saw every agent's
//                     consumers receive every acknowledged message (see Engine::set_drain_signal)
//   GET  /v1/result   -> WorkResult once state is done|failed; 409 before
//   POST /v1/shutdown -> 200, then the process exits 0
// Errors are JSON {"error": "..."}. Durations travel as integer nanoseconds (`*_ns` fields) and
// histograms in metrics::Histogram's serialized form, so nothing is lost between processes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "drivers/driver.h"
#include "load/engine.h"

namespace dec::worker {

// Everything a worker needs for one run. Topics exist already (created by the provider);
// the worker connects, prepares its consumer groups and runs the engine.
struct WorkRequest {
  std::string driver;                  // registry name (systems/registry.cpp)
  std::vector<std::string> addresses;  // drivers::Endpoint::addresses
  core::Settings properties;           // drivers::Endpoint::properties
  core::Settings config;               // the system's driver config
  load::EngineOptions engine;          // topics, producers, consumers, rate, ...
  // Several agents sharing one run (engine.total_producers > 0): the common start, on the
  // orchestrator's wall clock (0 = when the agent is ready), and this agent's clock offset from
  // it (agent - orchestrator, as measured through /v1/clock). The agent stamps messages on the
  // orchestrator's time base so latencies across agents compare.
  int64_t start_at_unix_ns = 0;
  int64_t clock_offset_ns = 0;
};

struct WorkerStatus {
  std::string state;  // idle | starting | running | done | failed
  load::Progress progress;
  std::string error;
};

struct WorkResult {
  load::EngineResult engine;
  std::vector<std::pair<std::string, uint64_t>> counters;  // Driver::counters()
  bool emulated = false;                                   // Driver::emulated()
};

std::string work_request_to_json(const WorkRequest& request);
Result<WorkRequest> work_request_from_json(const std::string& text);  // error names the field
std::string work_result_to_json(const WorkResult& result);            // histograms serialized
Result<WorkResult> work_result_from_json(const std::string& text);
std::string worker_status_to_json(const WorkerStatus& status);
Result<WorkerStatus> worker_status_from_json(const std::string& text);

// Merges the results of several workers of one run: counts and bytes add, histograms merge,
// timelines add point by point (same t_s), rates are recomputed from the merged counts over the
// longest measured window, errors are joined. One input is returned unchanged.
// Timeline points are matched by t_s rounded to the whole second (each worker ticks on its own
// clock, so their t_s differ by milliseconds); a merged point's p99_us is the largest of the
// workers' (percentiles do not add; the whole-run histograms merge exactly instead).
// When every input carries a DeliveryLedger (a shared run), the delivery counts, the window's
// received/lost/undelivered and the censored end-to-end samples are recomputed exactly from the
// ledgers (load::account_shared_delivery); `complete` = false says an agent's result is missing,
// so nothing counts as proven lost.
load::EngineResult merge_results(const std::vector<load::EngineResult>& results,
                                 bool complete = true);

// The split of a run's producers, consumers (per group), rate and message cap over `agents`
// agents: agent i's engine options (ids first_producer_id.. / first_consumer.., the rate in
// proportion to its producers). Producers and consumers are spread as evenly as counts allow;
// an agent may get no consumer (consumers 0) but every agent gets at least one producer, so
// `agents` must not exceed the producers.
Result<std::vector<load::EngineOptions>> split_engine_options(const load::EngineOptions& run,
                                                              int agents);

struct AgentOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;     // 0 = any free port
  std::string ready_file;  // when set, "host:port" is written here (atomically) once listening
  // The drivers a request may name; empty = every driver compiled in (systems::all_drivers()).
  // Tests pass an in-memory driver here to run the agent without a broker.
  std::vector<drivers::DriverInfo> drivers;
  // When set, every route but /v1/health needs "Authorization: Bearer <token>" (never logged).
  std::string token;
  // Addresses a WorkRequest may aim at ("198.18.0.10", "198.18.0.10:6379", "198.18.0.0/24");
  // empty = any. A request with any other address is refused with 403.
  std::vector<std::string> allowed_targets;
};

// Whether `address` ("host:port", "[v6]:port" or "host") is one of `allowed` (a host, a
// host:port, or an IPv4 CIDR block). Host names match only as written.
bool target_allowed(const std::string& address, const std::vector<std::string>& allowed);
// Parses an --allow-target value; the error says what a valid one looks like.
Status check_allowed_target(const std::string& target);

// Serves the API until /v1/shutdown, SIGTERM or SIGINT; returns the process exit code.
int run_agent(const AgentOptions& options);

// Client side, used by the orchestrator.
// One NTP-style sample: the agent's clock minus the orchestrator's, within +-uncertainty.
struct ClockOffset {
  int64_t offset_ns = 0;
  int64_t uncertainty_ns = 0;  // half the round trip of the sample kept
  int samples = 0;
};

class WorkerClient {
 public:
  WorkerClient(std::string host, int port, std::string token = "");
  Status health();
  // `samples` exchanges with GET /v1/clock; keeps the one with the smallest round trip.
  Result<ClockOffset> clock_offset(int samples = 8);
  Status start(const WorkRequest& request);
  Result<WorkerStatus> status();
  Status stop();
  Status release_drain();  // POST /v1/drained
  Result<WorkResult> result();
  Status shutdown();  // the agent stops any run and exits

  // start(), then polls status about 4 times a second, reporting progress, until the worker is
  // done or failed; sends stop() once when `stop` turns true. Connection failures are retried
  // for `unreachable_timeout` before giving up (a paused or throttled host answers late).
  // A run that ends "failed" (connect, consumer set-up or engine error) is returned as an error
  // with the worker's message; one that ends "done" is returned even when its engine.error is
  // set (stopped early, driver error mid-run), as load::Engine::run does.
  Result<WorkResult> run(const WorkRequest& request,
                         const std::function<void(const load::Progress&)>& on_progress,
                         const std::atomic<bool>& stop,
                         std::chrono::seconds unreachable_timeout = std::chrono::seconds(30));

 private:
  std::string host_;
  int port_;
  std::string token_;
};

// Several agents driving one system at once: the run's engine options are split over them
// (split_engine_options), each agent's clock offset is measured, all are started on one common
// start a moment ahead, and their results merged (merge_results). An agent that stops answering
// or fails is reported by name in the result's error (its producers' messages are not counted
// as delivered); the others' results still merge.
struct FleetAgent {
  std::string name;     // "worker.redis.1", for messages
  std::string address;  // host:port
  std::string token;
};

struct FleetAgentReport {
  std::string name;
  std::string address;
  ClockOffset clock;
  bool clock_measured = false;
  int producers = 0;
  int consumers = 0;
  std::string error;  // non-empty when this agent's result is missing
};

struct FleetResult {
  load::EngineResult engine;
  std::vector<FleetAgentReport> agents;
  std::vector<std::pair<std::string, uint64_t>> counters;  // summed
  bool emulated = false;
  // The largest clock uncertainty (or |offset| when not corrected) across agents: end-to-end
  // latency between agents is only as good as this.
  int64_t clock_agreement_ns = 0;
};

Result<FleetResult> run_fleet(const std::vector<FleetAgent>& agents, const WorkRequest& run,
                              const std::function<void(const load::Progress&)>& on_progress,
                              const std::atomic<bool>& stop,
                              std::chrono::seconds unreachable_timeout = std::chrono::seconds(30));

}  // namespace dec::worker
