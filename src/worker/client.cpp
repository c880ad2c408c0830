// The orchestrator's side of the worker API.
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "worker/worker.h"

namespace dec::worker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCallTimeoutSeconds = 5;
constexpr auto kPollInterval = std::chrono::milliseconds(250);

struct Answer {
  bool reached = false;      // an HTTP answer arrived
  bool unreachable = false;  // no connection could be made: the request never left
  int status = 0;
  std::string body;
  std::string transport_error;  // when !reached
};

Answer call(const std::string& host, int port, const std::string& token, const std::string& method,
            const std::string& path, const std::string& body = "") {
  // A client per call: calls come from more than one thread (run() polls while the
  // orchestrator may stop()), and httplib::Client is not thread-safe.
  httplib::Client client(host, port);
  client.set_connection_timeout(kCallTimeoutSeconds, 0);
  client.set_read_timeout(kCallTimeoutSeconds, 0);
  client.set_write_timeout(kCallTimeoutSeconds, 0);
  if (!token.empty()) client.set_bearer_token_auth(token);
  httplib::Result res = method == "GET" ? client.Get(path.c_str())
                                        : client.Post(path.c_str(), body, "application/json");
  Answer answer;
  if (!res) {
    answer.unreachable = res.error() == httplib::Error::Connection;
    answer.transport_error = httplib::to_string(res.error());
    return answer;
  }
  answer.reached = true;
  answer.status = res->status;
  answer.body = res->body;
  return answer;
}

// The worker's {"error": ...} message, or the raw body when it is not one.
std::string error_message(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
    return parsed["error"].get<std::string>();
  }
  return body;
}

}  // namespace

WorkerClient::WorkerClient(std::string host, int port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

namespace {

// Turns an answer into the body of a `expected` status, or an error a person can act on.
Result<std::string> expect(const std::string& host, int port, const std::string& what,
                           const Answer& answer, int expected) {
  const std::string worker = "worker " + host + ":" + std::to_string(port);
  if (!answer.reached) {
    return make_error(worker + " did not answer " + what + " (" + answer.transport_error +
                      "); is `dec worker` running there?");
  }
  if (answer.status != expected) {
    return make_error(worker + ": " + what + " answered " + std::to_string(answer.status) + ": " +
                      error_message(answer.body));
  }
  return answer.body;
}

Status to_status(const Result<std::string>& body) {
  if (!body.ok()) return make_error(body.error());
  return Status::Ok();
}

}  // namespace

Status WorkerClient::health() {
  return to_status(
      expect(host_, port_, "GET /v1/health", call(host_, port_, token_, "GET", "/v1/health"), 200));
}

Result<ClockOffset> WorkerClient::clock_offset(int samples) {
  using WallClock = std::chrono::system_clock;
  const auto unix_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(WallClock::now().time_since_epoch())
        .count();
  };
  ClockOffset best;
  int64_t best_rtt = -1;
  for (int i = 0; i < samples; ++i) {
    const int64_t sent = unix_ns();
    Answer answer = call(host_, port_, token_, "GET", "/v1/clock");
    const int64_t returned = unix_ns();
    auto body = expect(host_, port_, "GET /v1/clock", answer, 200);
    if (!body.ok()) return make_error(body.error());
    auto parsed = nlohmann::json::parse(*body, nullptr, false);
    if (!parsed.is_object() || !parsed["receive_unix_ns"].is_number_integer() ||
        !parsed["send_unix_ns"].is_number_integer()) {
      return make_error("worker " + host_ + ":" + std::to_string(port_) +
                        ": GET /v1/clock: expected receive_unix_ns and send_unix_ns integers");
    }
    const auto received = parsed["receive_unix_ns"].get<int64_t>();
    const auto answered = parsed["send_unix_ns"].get<int64_t>();
    // NTP: the round trip less the agent's own time, and the offset at the midpoint.
    const int64_t rtt = std::max<int64_t>((returned - sent) - (answered - received), 0);
    if (best_rtt < 0 || rtt < best_rtt) {
      best_rtt = rtt;
      best.offset_ns = ((received - sent) + (answered - returned)) / 2;
      best.uncertainty_ns = rtt / 2;
    }
    ++best.samples;
  }
  if (best.samples == 0) return make_error("no clock sample taken (samples must be at least 1)");
  return best;
}

Status WorkerClient::start(const WorkRequest& request) {
  return to_status(
      expect(host_, port_, "POST /v1/run",
             call(host_, port_, token_, "POST", "/v1/run", work_request_to_json(request)), 202));
}

Result<WorkerStatus> WorkerClient::status() {
  auto body =
      expect(host_, port_, "GET /v1/status", call(host_, port_, token_, "GET", "/v1/status"), 200);
  if (!body.ok()) return make_error(body.error());
  return worker_status_from_json(*body);
}

Status WorkerClient::stop() {
  return to_status(
      expect(host_, port_, "POST /v1/stop", call(host_, port_, token_, "POST", "/v1/stop"), 200));
}

Status WorkerClient::release_drain() {
  return to_status(expect(host_, port_, "POST /v1/drained",
                          call(host_, port_, token_, "POST", "/v1/drained"), 200));
}

Result<WorkResult> WorkerClient::result() {
  auto body =
      expect(host_, port_, "GET /v1/result", call(host_, port_, token_, "GET", "/v1/result"), 200);
  if (!body.ok()) return make_error(body.error());
  return work_result_from_json(*body);
}

Status WorkerClient::shutdown() {
  return to_status(expect(host_, port_, "POST /v1/shutdown",
                          call(host_, port_, token_, "POST", "/v1/shutdown"), 200));
}

Result<WorkResult> WorkerClient::run(const WorkRequest& request,
                                     const std::function<void(const load::Progress&)>& on_progress,
                                     const std::atomic<bool>& stop,
                                     std::chrono::seconds unreachable_timeout) {
  // Retries a call while the worker cannot be reached, up to unreachable_timeout since the
  // last answer. Only unreachable (connection refused or timed out) is retried for POST /v1/run:
  // then the request never arrived, whereas after a lost answer it may have started a run.
  Clock::time_point last_answer = Clock::now();
  auto with_retries = [&](const std::string& method, const std::string& path,
                          const std::string& body, bool retry_any_transport_error) {
    while (true) {
      Answer answer = call(host_, port_, token_, method, path, body);
      const bool retry = answer.unreachable || (!answer.reached && retry_any_transport_error);
      if (!retry) {
        if (answer.reached) last_answer = Clock::now();
        return answer;
      }
      if (Clock::now() - last_answer >= unreachable_timeout) return answer;
      std::this_thread::sleep_for(kPollInterval);
    }
  };
  const std::string worker = "worker " + host_ + ":" + std::to_string(port_);
  auto unreachable = [&](const std::string& what, const Answer& answer) {
    return make_error(worker + " unreachable for " + std::to_string(unreachable_timeout.count()) +
                      " s (" + what + ": " + answer.transport_error +
                      "); the worker host may be down or partitioned");
  };

  Answer started = with_retries("POST", "/v1/run", work_request_to_json(request), false);
  if (auto body = expect(host_, port_, "POST /v1/run", started, 202); !body.ok()) {
    return make_error(body.error());
  }

  bool stop_sent = false;
  double last_elapsed = -1;
  load::Phase last_phase = load::Phase::kWarmup;
  while (true) {
    if (stop.load() && !stop_sent) {
      Answer stopped = with_retries("POST", "/v1/stop", "", true);
      if (!stopped.reached) return unreachable("POST /v1/stop", stopped);
      stop_sent = true;
    }
    Answer answer = with_retries("GET", "/v1/status", "", true);
    if (!answer.reached) return unreachable("GET /v1/status", answer);
    auto body = expect(host_, port_, "GET /v1/status", answer, 200);
    if (!body.ok()) return make_error(body.error());
    auto status = worker_status_from_json(*body);
    if (!status.ok()) return make_error(worker + ": GET /v1/status: " + status.error());

    if (status->state == "failed") return make_error(worker + ": " + status->error);
    if (status->state == "idle") {
      return make_error(worker + " has no run (state idle): it restarted and lost the run");
    }
    if (status->state == "running" &&
        (status->progress.elapsed_s != last_elapsed || status->progress.phase != last_phase)) {
      last_elapsed = status->progress.elapsed_s;
      last_phase = status->progress.phase;
      if (on_progress) on_progress(status->progress);
    }
    if (status->state == "done") break;
    std::this_thread::sleep_for(kPollInterval);
  }

  Answer collected = with_retries("GET", "/v1/result", "", true);
  if (!collected.reached) return unreachable("GET /v1/result", collected);
  auto body = expect(host_, port_, "GET /v1/result", collected, 200);
  if (!body.ok()) return make_error(body.error());
  auto result = work_result_from_json(*body);
  if (!result.ok()) return make_error(worker + ": GET /v1/result: " + result.error());
  return result;
}

}  // namespace dec::worker
