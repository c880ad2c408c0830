// The worker agent: `dec worker` is a small HTTP service that runs dec's load engine against a
// system and hands back mergeable results. The orchestrator deploys one per system (on its own
// host, apart from the brokers) and drives it over HTTP only: nothing here assumes the agent
// shares a filesystem, a clock origin or a process with the orchestrator, so the same agent can
// later run on remote machines.
//
// HTTP API (JSON bodies):
//   GET  /v1/health   -> {"ok":true,"version":...}
//   POST /v1/run      WorkRequest -> 202 {"state":"starting"}; 409 while a run is active;
//                     400 naming the bad field
//   GET  /v1/status   -> WorkerStatus
//   POST /v1/stop     -> 200; the active run stops early (result.error = "stopped")
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
load::EngineResult merge_results(const std::vector<load::EngineResult>& results);

struct AgentOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;     // 0 = any free port
  std::string ready_file;  // when set, "host:port" is written here (atomically) once listening
  // The drivers a request may name; empty = every driver compiled in (systems::all_drivers()).
  // Tests pass an in-memory driver here to run the agent without a broker.
  std::vector<drivers::DriverInfo> drivers;
};

// Serves the API until /v1/shutdown, SIGTERM or SIGINT; returns the process exit code.
int run_agent(const AgentOptions& options);

// Client side, used by the orchestrator.
class WorkerClient {
 public:
  WorkerClient(std::string host, int port);
  Status health();
  Status start(const WorkRequest& request);
  Result<WorkerStatus> status();
  Status stop();
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
};

}  // namespace dec::worker
