// The agent behind `dec worker`: one run at a time on a thread of its own, an HTTP API that
// starts, watches, stops and collects it, and a clean exit on /v1/shutdown or a signal.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "core/secret.h"
#include "drivers/http_listen.h"
#include "systems/registry.h"
#include "worker/worker.h"

namespace dec::worker {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kVersion = "0.1.0";
// A run needs no more than a poller, a stop and the odd health check at once.
constexpr size_t kHttpThreads = 4;
constexpr size_t kMaxBodyBytes = 1 << 20;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Replacing bytes that are not UTF-8 (from a request, echoed in an error) keeps dump() from
  // throwing: an answer is always written.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void send_body(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

bool active(const std::string& state) { return state == "starting" || state == "running"; }

// Writes `text` to `path` through a temporary file and a rename, so a reader polling for the
// file never sees it half written.
Status write_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return make_error("cannot write " + temporary + " (does its directory exist?)");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return make_error("cannot rename " + temporary + " to " + path + ": " + ec.message());
  }
  return Status::Ok();
}

int64_t unix_ns(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

class Agent {
 public:
  Agent(std::vector<drivers::DriverInfo> drivers, std::vector<std::string> allowed_targets)
      : drivers_(std::move(drivers)), allowed_targets_(std::move(allowed_targets)) {}
  ~Agent() { stop_and_join(); }

  void handle_health(const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"ok", true}, {"version", kVersion}});
  }

  void handle_run(const httplib::Request& req, httplib::Response& res) {
    auto request = work_request_from_json(req.body);
    if (!request.ok()) return send_error(res, 400, request.error());
    for (size_t i = 0; i < request->addresses.size(); ++i) {
      if (!target_allowed(request->addresses[i], allowed_targets_)) {
        return send_error(res, 403,
                          "addresses[" + std::to_string(i) + "]: \"" + request->addresses[i] +
                              "\" is not a target this worker may drive (see its --allow-target)");
      }
    }
    // The orchestrator's time base: this agent's wall clock, less its measured offset. Messages
    // carry intended times on it, and the common start is given on it.
    if (request->engine.shared()) {
      const int64_t wall_minus_steady = unix_ns(std::chrono::system_clock::now()) -
                                        load::to_steady_ns(std::chrono::steady_clock::now());
      request->engine.payload_clock_shift_ns = wall_minus_steady - request->clock_offset_ns;
      if (request->start_at_unix_ns > 0) {
        request->engine.start_at_steady_ns = std::max<int64_t>(
            1, request->start_at_unix_ns - request->engine.payload_clock_shift_ns);
      }
    }
    const drivers::DriverInfo* info = find_driver(request->driver);
    if (info == nullptr) {
      std::string known;
      for (const auto& driver : drivers_) known += (known.empty() ? "" : ", ") + driver.name;
      return send_error(
          res, 400, "driver: unknown driver \"" + request->driver + "\" (known: " + known + ")");
    }
    auto config_errors = drivers::validate_driver_config(*info, request->config, "config");
    if (!config_errors.empty()) {
      std::string message;
      for (const auto& error : config_errors) {
        message += (message.empty() ? "" : "; ") + error.to_string();
      }
      return send_error(res, 400, message);
    }

    std::lock_guard lock(mutex_);
    if (shutting_down_) return send_error(res, 503, "the worker is shutting down");
    if (active(state_)) {
      return send_error(res, 409,
                        "a run is active (state " + state_ +
                            "); POST /v1/stop and wait for done, or use another worker");
    }
    // A finished run's thread has set its final state and is only returning: joining is brief.
    if (run_thread_.joinable()) run_thread_.join();
    ++runs_;
    progress_ = load::Progress{};
    error_.clear();
    result_ = WorkResult{};
    stop_run_ = false;
    drained_ = false;
    set_state_locked("starting", "");
    run_thread_ = std::thread([this, work = std::move(*request), info] { execute(work, *info); });
    send_json(res, 202, {{"state", "starting"}});
  }

  static void handle_clock(const httplib::Request&, httplib::Response& res) {
    // Taken as late and as early as possible around the answer: the round trip the orchestrator
    // measures then bounds how far off the offset can be.
    const int64_t received = unix_ns(std::chrono::system_clock::now());
    json body = {{"receive_unix_ns", received}, {"send_unix_ns", 0}};
    body["send_unix_ns"] = unix_ns(std::chrono::system_clock::now());
    send_json(res, 200, body);
  }

  void handle_status(const httplib::Request&, httplib::Response& res) {
    WorkerStatus status;
    {
      std::lock_guard lock(mutex_);
      status.state = state_;
      status.progress = progress_;
      status.error = error_;
      // Elapsed as of this answer, not as of the last tick (up to a second old): whoever
      // schedules faults anchors on it, to within the request's round trip.
      if (progress_.started &&
          (progress_.phase == load::Phase::kWarmup || progress_.phase == load::Phase::kMeasuring)) {
        status.progress.elapsed_s +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - progress_at_).count();
      }
    }
    send_body(res, 200, worker_status_to_json(status));
  }

  void handle_stop(const httplib::Request&, httplib::Response& res) {
    stop_run_ = true;
    std::lock_guard lock(mutex_);
    // Answered 200 in every state: a stop that crosses the run's natural end is not an error.
    send_json(res, 200, {{"state", state_}});
  }

  void handle_drained(const httplib::Request&, httplib::Response& res) {
    drained_ = true;
    std::lock_guard lock(mutex_);
    send_json(res, 200, {{"state", state_}});
  }

  void handle_result(const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    if (state_ != "done" && state_ != "failed") {
      return send_error(res, 409,
                        "no result yet (state " + state_ +
                            "); poll GET /v1/status until the state is done or failed");
    }
    send_body(res, 200, work_result_to_json(result_));
  }

  void handle_shutdown(const httplib::Request&, httplib::Response& res) {
    {
      std::lock_guard lock(mutex_);
      shutting_down_ = true;
    }
    stop_run_ = true;
    send_json(res, 200, {{"status", "shutting down"}});
  }

  bool shutting_down() {
    std::lock_guard lock(mutex_);
    return shutting_down_;
  }

  // Refuses new runs, stops the active one and waits for its thread.
  void stop_and_join() {
    std::thread run_thread;
    {
      std::lock_guard lock(mutex_);
      shutting_down_ = true;
      run_thread = std::move(run_thread_);
    }
    stop_run_ = true;
    if (run_thread.joinable()) run_thread.join();
  }

 private:
  const drivers::DriverInfo* find_driver(const std::string& name) const {
    for (const auto& driver : drivers_) {
      if (driver.name == name) return &driver;
    }
    return nullptr;
  }

  void set_state_locked(const std::string& state, const std::string& error) {
    std::fprintf(stderr, "dec worker: run %d: %s -> %s%s\n", runs_, state_.c_str(), state.c_str(),
                 error.empty() ? "" : (" (" + error + ")").c_str());
    state_ = state;
    error_ = error;
  }

  void set_state(const std::string& state, const std::string& error = "") {
    std::lock_guard lock(mutex_);
    set_state_locked(state, error);
  }

  // The run thread: the same sequence as the in-process runner (connect, prepare the consumer
  // groups the engine will read with, run the engine), then the final state as its last act.
  void execute(const WorkRequest& request, const drivers::DriverInfo& info) {
    WorkResult result;
    std::string failure;
    try {
      std::unique_ptr<drivers::Driver> driver = info.create();
      Status connected =
          driver->connect(drivers::Endpoint{request.addresses, request.properties}, request.config);
      if (!connected.ok()) failure = "connect: " + connected.error();
      if (failure.empty()) {
        result.emulated = driver->emulated();
        const load::EngineOptions& options = request.engine;
        if (options.consumers > 0) {
          // The engine names group g "<group_prefix>-<g>" (dec-group-0, ...).
          std::vector<std::string> groups;
          groups.reserve(static_cast<size_t>(options.consumer_groups));
          for (int g = 0; g < options.consumer_groups; ++g) {
            groups.push_back(options.group_prefix + "-" + std::to_string(g));
          }
          Status prepared = driver->prepare_consumers(options.topics, groups);
          if (!prepared.ok()) failure = "preparing consumer groups: " + prepared.error();
        }
      }
      if (failure.empty() && stop_run_.load()) {
        result.engine.error = "stopped";  // stopped while connecting: nothing was sent
      } else if (failure.empty()) {
        set_state("running");
        load::Engine engine(*driver, request.engine);
        if (request.engine.shared()) engine.set_drain_signal(&drained_);
        auto ran = engine.run(
            [this](const load::Progress& progress) {
              std::lock_guard lock(mutex_);
              progress_ = progress;
              progress_at_ = std::chrono::steady_clock::now();
            },
            stop_run_);
        if (ran.ok()) {
          result.engine = std::move(*ran);
        } else {
          failure = ran.error();
        }
      }
      if (driver) result.counters = driver->counters();
      // Connections close before "done" is visible, so whoever collects the result can delete
      // topics or destroy the brokers at once.
      driver.reset();
    } catch (const std::exception& e) {
      failure = std::string("internal error: ") + e.what();
    }
    if (!failure.empty()) result.engine.error = failure;
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
    set_state_locked(failure.empty() ? "done" : "failed",
                     failure.empty() ? result_.engine.error : failure);
  }

  std::vector<drivers::DriverInfo> drivers_;
  std::vector<std::string> allowed_targets_;
  std::mutex mutex_;
  std::string state_ = "idle";
  load::Progress progress_;
  std::chrono::steady_clock::time_point progress_at_;  // when progress_ was reported
  std::string error_;
  WorkResult result_;
  int runs_ = 0;
  bool shutting_down_ = false;
  std::thread run_thread_;
  std::atomic<bool> stop_run_{false};
  std::atomic<bool> drained_{false};  // POST /v1/drained for the active run
};

}  // namespace

int run_agent(const AgentOptions& options) {
  // SIGINT/SIGTERM are blocked in this thread before any other starts, so every thread the
  // agent creates inherits the mask and the signals wait for sigtimedwait below instead of
  // killing the process in the middle of a run.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigset_t previous_mask;
  pthread_sigmask(SIG_BLOCK, &signals, &previous_mask);
  struct MaskRestorer {
    sigset_t mask;
    ~MaskRestorer() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore_mask{previous_mask};

  for (const auto& target : options.allowed_targets) {
    if (Status valid = check_allowed_target(target); !valid.ok()) {
      std::fprintf(stderr, "dec worker: --allow-target: %s\n", valid.error().c_str());
      return 2;
    }
  }
  Agent agent(options.drivers.empty() ? systems::all_drivers() : options.drivers,
              options.allowed_targets);
  httplib::Server http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  http.set_payload_max_length(kMaxBodyBytes);
  http.set_keep_alive_timeout(1);  // an idle kept-alive connection must not delay the exit
  auto bind = [&agent](void (Agent::*method)(const httplib::Request&, httplib::Response&)) {
    return [&agent, method](const httplib::Request& req, httplib::Response& res) {
      (agent.*method)(req, res);
    };
  };
  // Every route but the health check needs the run's token; the token itself is never logged.
  http.set_pre_routing_handler([&options](const httplib::Request& req, httplib::Response& res) {
    if (options.token.empty() || req.path == "/v1/health") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (core::secrets_equal(core::bearer_token(req.get_header_value("Authorization")),
                            options.token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401,
               "missing or wrong token: send \"Authorization: Bearer <token>\" with the token "
               "the worker was started with (--token-file)");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.Get("/v1/health", bind(&Agent::handle_health));
  http.Get("/v1/clock", &Agent::handle_clock);
  http.Post("/v1/run", bind(&Agent::handle_run));
  http.Get("/v1/status", bind(&Agent::handle_status));
  http.Post("/v1/stop", bind(&Agent::handle_stop));
  http.Post("/v1/drained", bind(&Agent::handle_drained));
  http.Get("/v1/result", bind(&Agent::handle_result));
  http.Post("/v1/shutdown", bind(&Agent::handle_shutdown));
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already explained the error
    if (res.status == 413) {
      send_error(res, 413, "request body larger than " + std::to_string(kMaxBodyBytes) + " bytes");
    } else if (res.status == 404) {
      send_error(
          res, 404,
          "no such endpoint: " + req.method + " " + req.path +
              " (the worker serves GET /v1/health, /v1/clock, /v1/status, /v1/result and POST "
              "/v1/run, /v1/stop, /v1/drained, /v1/shutdown)");
    } else {
      send_error(res, res.status, "request failed");
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        // The library's message goes to the agent's log, not to the caller.
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          std::fprintf(stderr, "dec worker: internal error: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "dec worker: internal error\n");
        }
        send_error(res, 500, "internal error (see the worker's log)");
      });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "dec worker: %s %s %s -> %d\n", req.remote_addr.c_str(),
                 req.method.c_str(), req.path.c_str(), res.status);
  });

  int port = options.listen_port;
  const bool bound =
      port == 0 ? (port = drivers::bind_http_server_any_port(http, options.listen_host)) > 0
                : drivers::bind_http_server(http, options.listen_host, port);
  if (!bound) {
    std::fprintf(stderr, "dec worker: cannot listen on %s:%d (in use or not permitted)\n",
                 options.listen_host.c_str(), options.listen_port);
    return 1;
  }
  const std::string address = options.listen_host + ":" + std::to_string(port);
  if (!options.ready_file.empty()) {
    if (Status written = write_atomically(options.ready_file, address); !written.ok()) {
      std::fprintf(stderr, "dec worker: ready file: %s\n", written.error().c_str());
      return 1;
    }
  }

  std::atomic<bool> listen_returned{false};
  std::thread watcher([&] {
    const timespec step{0, 50'000'000};
    while (!agent.shutting_down() && !listen_returned.load()) {
      const int signal_number = sigtimedwait(&signals, nullptr, &step);
      if (signal_number > 0) {
        std::fprintf(stderr, "dec worker: %s received: stopping\n", strsignal(signal_number));
        break;
      }
    }
    // The API keeps answering while the run stops, so a poller sees its final state.
    agent.stop_and_join();
    // Lets the answer to /v1/shutdown reach its client before the listener closes.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // stop() only takes effect once listen_after_bind has started serving.
    while (!listen_returned.load()) {
      if (http.is_running()) http.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::fprintf(stderr, "dec worker: listening on http://%s\n", address.c_str());
  http.listen_after_bind();
  listen_returned = true;
  watcher.join();
  if (!options.ready_file.empty()) {
    // A stale ready file would send the next reader to a port nobody listens on.
    std::error_code ignored;
    std::filesystem::remove(options.ready_file, ignored);
  }
  std::fprintf(stderr, "dec worker: stopped\n");
  return 0;
}

}  // namespace dec::worker
