#include "systems/kinesis/quota_proxy.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/units.h"
#include "drivers/aws_sigv4.h"
#include "drivers/config_checks.h"
#include "drivers/http_listen.h"
#include "systems/kinesis/quota.h"

namespace dec::systems {
namespace {

using kinesis_quota::Clock;
using kinesis_quota::Json;
using kinesis_quota::Quotas;
using kinesis_quota::QuotaState;
using kinesis_quota::ShardMap;
using std::chrono::milliseconds;

constexpr const char* kUsage =
    "usage: dec kinesis-quota --listen HOST:PORT [--ready-file FILE]\n"
    "                         [--write-records-per-s N] [--write-bytes-per-s SIZE]\n"
    "                         [--read-calls-per-s N] [--read-bytes-per-s SIZE] -- COMMAND ARGS...\n"
    "Starts COMMAND (a Kinesis emulator; every \"{port}\" argument becomes the 127.0.0.1 port it\n"
    "must listen on) and serves it on HOST:PORT with AWS's per-shard quotas enforced: 1000\n"
    "records/s and 1 MiB/s written, 5 GetRecords calls/s and 2 MiB/s read per shard unless\n"
    "given. FILE gets HOST:PORT once it serves. Runs until SIGTERM/SIGINT.\n";

constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";
constexpr const char* kJson = "application/x-amz-json-1.1";
constexpr const char* kThrottled = "ProvisionedThroughputExceededException";
// Every open connection holds a server thread while it is kept alive, and each dec producer and
// consumer keeps one: enough for large runs, idle threads cost only their stacks.
constexpr size_t kServerThreads = 256;
constexpr time_t kKeepAliveSeconds = 2;
// Upstream connections idle longer than this are not reused (node's keep-alive timeout is 5 s).
constexpr auto kUpstreamIdle = std::chrono::seconds(2);
constexpr auto kUpstreamStartTimeout = std::chrono::seconds(60);
constexpr int kUpstreamStartAttempts = 3;
constexpr auto kUpstreamStopTimeout = std::chrono::seconds(5);
// Pages of DescribeStream (100 shards each on AWS; kinesalite answers all in one).
constexpr int kMaxDescribePages = 1000;

// ---- processes and ports --------------------------------------------------------------------

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

bool loopback_port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

// SIGTERM, then SIGKILL once `timeout` has passed; always reaped.
void stop_child(pid_t pid) {
  ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + kUpstreamStopTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid || (reaped < 0 && errno == ECHILD)) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

struct Upstream {
  pid_t pid = -1;
  int port = 0;
};

// Starts the emulator on a free loopback port and waits until it accepts connections. The port
// is free when picked but not reserved, so a start that fails (another process took the port
// meanwhile) is retried on a new one.
Result<Upstream> start_upstream(const std::vector<std::string>& command,
                                const sigset_t& child_signal_mask) {
  std::string last_failure;
  for (int attempt = 0; attempt < kUpstreamStartAttempts; ++attempt) {
    Upstream upstream;
    upstream.port = free_loopback_port();
    if (upstream.port <= 0) return make_error("no free 127.0.0.1 port for the emulator");
    std::vector<std::string> argv = command;
    for (std::string& arg : argv) {
      if (arg == "{port}") arg = std::to_string(upstream.port);
    }
    std::vector<char*> raw;
    for (std::string& arg : argv) raw.push_back(arg.data());
    raw.push_back(nullptr);
    const pid_t parent = ::getpid();
    upstream.pid = ::fork();
    if (upstream.pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
    if (upstream.pid == 0) {
      // Dies with the proxy, whatever kills it; the parent may already be gone by now.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      // The proxy waits for its signals with them blocked; the emulator must get them.
      ::sigprocmask(SIG_SETMASK, &child_signal_mask, nullptr);
      ::execvp(raw[0], raw.data());
      std::fprintf(stderr, "dec kinesis-quota: cannot start %s: %s\n", raw[0],
                   std::strerror(errno));
      ::_exit(127);
    }
    auto deadline = Clock::now() + kUpstreamStartTimeout;
    bool exited = false;
    while (Clock::now() < deadline) {
      if (loopback_port_accepts(upstream.port)) return upstream;
      int status = 0;
      if (::waitpid(upstream.pid, &status, WNOHANG) == upstream.pid) {
        last_failure = command[0] + " " + describe_exit(status) + " before accepting connections";
        exited = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (!exited) {
      stop_child(upstream.pid);
      return make_error(
          command[0] + " did not accept connections on 127.0.0.1:" + std::to_string(upstream.port) +
          " within " + std::to_string(kUpstreamStartTimeout.count()) + " s");
    }
  }
  return make_error(last_failure);
}

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return make_error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return make_error("cannot rename " + temporary + " to " + path + ": " + why);
  }
  return Status::Ok();
}

// ---- the proxy ------------------------------------------------------------------------------

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Hop-by-hop headers and the ones the HTTP layers set themselves, never passed on.
bool passed_header(const std::string& name, bool request) {
  static const char* const kDropped[] = {
      "connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade",
      "proxy-connection", "expect",
      // httplib adds the peer's addresses to a request's headers.
      "remote_addr", "remote_port", "local_addr", "local_port"};
  std::string lower = lowercase(name);
  for (const char* dropped : kDropped) {
    if (lower == dropped) return false;
  }
  // The emulator answers uncompressed; the client library would decompress a compressed answer
  // and leave the header wrong. The content type travels with the body.
  if (request && lower == "accept-encoding") return false;
  if (!request && (lower == "content-encoding" || lower == "content-type")) return false;
  return true;
}

// The stream a request names: StreamName, or the name at the end of StreamARN.
std::string stream_of(const Json& body) {
  if (!body.is_object()) return "";
  if (auto name = body.find("StreamName"); name != body.end() && name->is_string()) {
    return name->get<std::string>();
  }
  if (auto arn = body.find("StreamARN"); arn != body.end() && arn->is_string()) {
    const std::string& text = arn->get_ref<const std::string&>();
    size_t slash = text.rfind("stream/");
    if (slash != std::string::npos) return text.substr(slash + 7);
  }
  return "";
}

// The account in an ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); "" when there is none.
std::string account_of(const std::string& arn) {
  size_t start = 0;
  for (int field = 0; field < 4; ++field) {
    start = arn.find(':', start);
    if (start == std::string::npos) return "";
    ++start;
  }
  size_t end = arn.find(':', start);
  return end == std::string::npos ? "" : arn.substr(start, end - start);
}

struct Answer {
  int status = 0;
  httplib::Headers headers;
  std::string body;
  std::string content_type;
};

class QuotaProxy {
 public:
  QuotaProxy(int upstream_port, Quotas quotas) : upstream_port_(upstream_port), state_(quotas) {
    // What kinesalite names the account when the stream's ARN has not been seen yet.
    const char* account = std::getenv("AWS_ACCOUNT_ID");
    for (char c : std::string(account != nullptr ? account : "000000000000")) {
      if (c >= '0' && c <= '9') default_account_.push_back(c);
    }
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    std::string target = req.get_header_value("X-Amz-Target");
    std::string operation =
        target.starts_with(kTargetPrefix) ? target.substr(kTargetPrefix.size()) : "";
    std::string content_type = lowercase(req.get_header_value("Content-Type"));
    bool json = content_type.starts_with(kJson);
    bool metered = operation == "PutRecords" || operation == "PutRecord" ||
                   operation == "GetRecords" || operation == "GetShardIterator";
    if (req.method != "POST" || operation.empty()) return pass_through(req, res);
    if (metered && !json) {
      return reply_error(res, 400, "SerializationException",
                         "dec's Kinesis quota proxy reads requests as application/x-amz-json-1.1 "
                         "only, so it cannot hold " +
                             (content_type.empty() ? std::string("this") : content_type) +
                             " requests to the per-shard quotas (AWS SDKs that send CBOR: set "
                             "AWS_CBOR_DISABLE=true)");
    }
    if (operation == "PutRecords" || operation == "PutRecord") {
      return handle_write(req, res, operation == "PutRecord");
    }
    if (operation == "GetRecords") return handle_get_records(req, res);
    if (operation == "GetShardIterator") return handle_get_shard_iterator(req, res);
    if (operation == "CreateStream" || operation == "DeleteStream" ||
        operation == "UpdateShardCount" || operation == "SplitShard" ||
        operation == "MergeShards") {
      return handle_stream_change(req, res, operation);
    }
    pass_through(req, res);
  }

  QuotaState::Counts counts() const { return state_.counts(); }

 private:
  struct StreamInfo {
    ShardMap shards;
    std::string account;
  };

  // ---- upstream ----

  std::unique_ptr<httplib::Client> take_client() {
    {
      std::lock_guard lock(clients_mutex_);
      // node closes a connection idle for 5 s; one reused just then fails the request. The most
      // recently used client is last: when it is idle too long, so are all the others.
      if (!clients_.empty() && Clock::now() - clients_.back().second > kUpstreamIdle) {
        clients_.clear();
      }
      if (!clients_.empty()) {
        auto client = std::move(clients_.back().first);
        clients_.pop_back();
        return client;
      }
    }
    auto client = std::make_unique<httplib::Client>("127.0.0.1", upstream_port_);
    client->set_keep_alive(true);
    // The request's headers and body go out as two writes: with Nagle's algorithm the body
    // waits for the emulator's delayed ACK of the headers, some 40 ms per request.
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(5, 0);
    // A GetRecords of 10 000 records takes kinesalite a while on a busy machine.
    client->set_read_timeout(60, 0);
    client->set_write_timeout(60, 0);
    return client;
  }

  void give_back(std::unique_ptr<httplib::Client> client) {
    std::lock_guard lock(clients_mutex_);
    clients_.emplace_back(std::move(client), Clock::now());
  }

  Result<Answer> send_upstream(const std::string& method, const std::string& path,
                               httplib::Headers headers, std::string body) {
    httplib::Request request;
    request.method = method;
    request.path = path.empty() ? "/" : path;
    request.headers = std::move(headers);
    request.body = std::move(body);
    auto client = take_client();
    auto result = client->send(request);
    if (!result) {
      // The connection may be unusable: this client is dropped, a fresh one replaces it.
      return make_error("kinesalite did not answer (" + httplib::to_string(result.error()) + ")");
    }
    Answer answer;
    answer.status = result->status;
    answer.body = std::move(result->body);
    answer.content_type = result->get_header_value("Content-Type");
    for (const auto& [name, value] : result->headers) {
      if (passed_header(name, /*request=*/false)) answer.headers.emplace(name, value);
    }
    give_back(std::move(client));
    return answer;
  }

  // The client's request, with `body` in place of its own (a PutRecords with fewer records).
  // kinesalite checks the shape of the Authorization header, not the signature, so the original
  // one still serves.
  Result<Answer> forward(const httplib::Request& req, std::string body) {
    httplib::Headers headers;
    for (const auto& [name, value] : req.headers) {
      if (passed_header(name, /*request=*/true)) headers.emplace(name, value);
    }
    return send_upstream(req.method, req.target, std::move(headers), std::move(body));
  }

  // A call of the proxy's own (DescribeStream), signed with dummy credentials as the driver signs
  // for emulators.
  Result<Answer> call(const std::string& operation, const std::string& body) {
    drivers::aws::SignableRequest request;
    request.headers = {{"content-type", kJson},
                       {"host", "127.0.0.1:" + std::to_string(upstream_port_)},
                       {"x-amz-target", std::string(kTargetPrefix) + operation}};
    request.payload_hash = drivers::aws::sha256_hex(body);
    drivers::aws::Signer signer({"DECQUOTAPROXYKEY", "dec-quota-proxy-secret", "", "dec"},
                                "us-east-1", "kinesis");
    std::string authorization = signer.sign(request, std::chrono::system_clock::now());
    httplib::Headers headers;
    for (const auto& [name, value] : request.headers) headers.emplace(name, value);
    headers.emplace("authorization", authorization);
    return send_upstream("POST", "/", std::move(headers), body);
  }

  // ---- answers ----

  static void reply(httplib::Response& res, const Answer& answer) {
    res.status = answer.status;
    for (const auto& [name, value] : answer.headers) res.set_header(name, value);
    res.set_content(answer.body, answer.content_type.empty() ? kJson : answer.content_type);
  }

  static void reply_error(httplib::Response& res, int status, const std::string& type,
                          const std::string& message) {
    res.status = status;
    res.set_content(Json{{"__type", type}, {"message", message}}.dump(), kJson);
  }

  void reply_upstream_failure(httplib::Response& res, const std::string& why) {
    reply_error(res, 500, "InternalFailure", "dec's Kinesis quota proxy: " + why);
  }

  void pass_through(const httplib::Request& req, httplib::Response& res) {
    auto answer = forward(req, req.body);
    if (!answer) return reply_upstream_failure(res, answer.error());
    reply(res, *answer);
  }

  // ---- shard maps ----

  // The stream's open shards, from the cache unless `refresh`; nullptr when the stream is not
  // there or not ACTIVE/UPDATING (the request then goes on as it is and the emulator answers).
  // Only an ACTIVE stream's map is kept: an UPDATING stream's shards are about to change.
  std::shared_ptr<const StreamInfo> stream_info(const std::string& stream, bool refresh) {
    if (!refresh) {
      std::lock_guard lock(streams_mutex_);
      if (auto it = streams_.find(stream); it != streams_.end()) return it->second;
    }
    Json shards = Json::array();
    std::string status;
    std::string account;
    std::string last_shard;
    for (int page = 0; page < kMaxDescribePages; ++page) {
      Json request = {{"StreamName", stream}};
      if (!last_shard.empty()) request["ExclusiveStartShardId"] = last_shard;
      auto answer = call("DescribeStream", request.dump());
      if (!answer || answer->status != 200) return nullptr;
      Json response = Json::parse(answer->body, nullptr, false);
      if (!response.is_object() || !response.contains("StreamDescription")) return nullptr;
      const Json& description = response["StreamDescription"];
      if (!description.is_object()) return nullptr;
      status = description.value("StreamStatus", "");
      account = account_of(description.value("StreamARN", ""));
      auto page_shards = description.find("Shards");
      if (page_shards == description.end() || !page_shards->is_array()) return nullptr;
      for (const Json& shard : *page_shards) {
        shards.push_back(shard);
        if (shard.is_object() && shard.contains("ShardId") && shard["ShardId"].is_string()) {
          last_shard = shard["ShardId"].get<std::string>();
        }
      }
      if (!description.value("HasMoreShards", false) || page_shards->empty()) break;
    }
    if (status != "ACTIVE" && status != "UPDATING") return nullptr;
    auto map = ShardMap::from_shards(shards);
    if (!map) {
      log_once("the shards of stream " + stream + " cannot be read (" + map.error() +
               "): its writes are not held to the quotas");
      return nullptr;
    }
    auto info = std::make_shared<StreamInfo>();
    info->shards = std::move(*map);
    info->account = account.empty() ? default_account_ : account;
    if (status == "ACTIVE") {
      std::lock_guard lock(streams_mutex_);
      streams_[stream] = info;
      if (!info->account.empty()) account_ = info->account;
    }
    return info;
  }

  void forget_stream_map(const std::string& stream) {
    std::lock_guard lock(streams_mutex_);
    streams_.erase(stream);
  }

  std::string account() {
    std::lock_guard lock(streams_mutex_);
    return account_.empty() ? default_account_ : account_;
  }

  void log_once(const std::string& message) {
    std::lock_guard lock(log_mutex_);
    if (!logged_.insert(message).second) return;
    std::printf("dec kinesis-quota: %s\n", message.c_str());
    std::fflush(stdout);
  }

  // ---- operations ----

  void handle_write(const httplib::Request& req, httplib::Response& res, bool single) {
    Json body = Json::parse(req.body, nullptr, false);
    std::string stream = stream_of(body);
    auto records = kinesis_quota::parse_write_records(body, single);
    // A request the quotas cannot judge (malformed, no such stream) is the emulator's to refuse.
    if (stream.empty() || !records) return pass_through(req, res);
    auto info = stream_info(stream, false);
    if (!info) return pass_through(req, res);
    std::vector<std::string> shard_ids(records->size());
    for (int round = 0; round < 2; ++round) {
      bool missing = false;
      for (size_t i = 0; i < records->size(); ++i) {
        const ShardMap::Range* range = info->shards.find((*records)[i].hash);
        shard_ids[i] = range ? range->shard_id : "";
        missing = missing || range == nullptr;
      }
      if (!missing || round == 1) break;
      // The shards changed (a split or merge the proxy did not see): ask again, once.
      info = stream_info(stream, true);
      if (!info) return pass_through(req, res);
    }
    std::vector<bool> admitted = state_.admit_writes(stream, shard_ids, *records, Clock::now());
    kinesis_quota::WriteSplit split;
    for (size_t i = 0; i < admitted.size(); ++i) {
      if (admitted[i]) {
        split.forwarded.push_back(i);
      } else {
        split.refused.push_back(i);
        split.refused_shards.push_back(shard_ids[i]);
      }
    }
    if (split.refused.empty()) return pass_through(req, res);
    if (single) {
      return reply_error(res, 400, kThrottled,
                         kinesis_quota::rate_exceeded_message(shard_ids[0], stream, info->account));
    }
    if (split.forwarded.empty()) {
      auto merged =
          kinesis_quota::merge_put_records(records->size(), split, nullptr, stream, info->account);
      res.status = 200;
      res.set_content(*merged, kJson);
      return;
    }
    auto answer = forward(req, kinesis_quota::forwarded_body(body, split.forwarded));
    if (!answer) return reply_upstream_failure(res, answer.error());
    // An error for the whole request (the stream went away meanwhile) is the answer as it is.
    if (answer->status != 200) return reply(res, *answer);
    Json upstream = Json::parse(answer->body, nullptr, false);
    auto merged =
        kinesis_quota::merge_put_records(records->size(), split, &upstream, stream, info->account);
    if (!merged) {
      return reply_upstream_failure(
          res, "cannot merge kinesalite's PutRecords answer: " + merged.error());
    }
    answer->body = std::move(*merged);
    reply(res, *answer);
  }

  void handle_get_shard_iterator(const httplib::Request& req, httplib::Response& res) {
    auto answer = forward(req, req.body);
    if (!answer) return reply_upstream_failure(res, answer.error());
    if (answer->status == 200) {
      Json request = Json::parse(req.body, nullptr, false);
      Json response = Json::parse(answer->body, nullptr, false);
      std::string stream = stream_of(request);
      if (response.is_object() && response.contains("ShardIterator") &&
          response["ShardIterator"].is_string() && request.contains("ShardId") &&
          request["ShardId"].is_string() && !stream.empty()) {
        state_.remember_iterator(response["ShardIterator"].get<std::string>(), stream,
                                 request["ShardId"].get<std::string>(), Clock::now());
      }
    }
    reply(res, *answer);
  }

  void handle_get_records(const httplib::Request& req, httplib::Response& res) {
    Json request = Json::parse(req.body, nullptr, false);
    if (!request.is_object() || !request.contains("ShardIterator") ||
        !request["ShardIterator"].is_string()) {
      return pass_through(req, res);
    }
    auto admission = state_.admit_read(request["ShardIterator"].get<std::string>(), Clock::now());
    if (!admission.shard) {
      log_once(
          "GetRecords with a shard iterator not handed out through this proxy (or older than "
          "5 minutes): such reads are not held to the quotas");
    } else if (!admission.admitted) {
      return reply_error(res, 400, kThrottled,
                         kinesis_quota::rate_exceeded_message(admission.shard->shard_id,
                                                              admission.shard->stream, account()));
    }
    auto answer = forward(req, req.body);
    if (!answer) return reply_upstream_failure(res, answer.error());
    if (answer->status == 200 && admission.shard) {
      Json response = Json::parse(answer->body, nullptr, false);
      if (response.is_object()) {
        auto now = Clock::now();
        state_.charge_read(*admission.shard, kinesis_quota::read_bytes(response), now);
        auto next = response.find("NextShardIterator");
        if (next != response.end() && next->is_string()) {
          state_.remember_iterator(next->get<std::string>(), admission.shard, now);
        }
      }
    }
    reply(res, *answer);
  }

  void handle_stream_change(const httplib::Request& req, httplib::Response& res,
                            const std::string& operation) {
    std::string stream = stream_of(Json::parse(req.body, nullptr, false));
    auto answer = forward(req, req.body);
    if (!answer) return reply_upstream_failure(res, answer.error());
    if (!stream.empty()) {
      forget_stream_map(stream);
      // A new stream's shards start with full buckets, not the old stream's.
      if (operation == "CreateStream" || operation == "DeleteStream") state_.forget_stream(stream);
    }
    reply(res, *answer);
  }

  int upstream_port_;
  QuotaState state_;
  std::string default_account_;

  std::mutex clients_mutex_;
  std::vector<std::pair<std::unique_ptr<httplib::Client>, Clock::time_point>> clients_;

  std::mutex streams_mutex_;
  std::map<std::string, std::shared_ptr<const StreamInfo>> streams_;
  std::string account_;

  std::mutex log_mutex_;
  std::set<std::string> logged_;
};

// ---- command line ---------------------------------------------------------------------------

int usage(const std::string& problem) {
  std::fprintf(stderr, "dec kinesis-quota: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

bool parse_listen(const std::string& text, std::string& host, int& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  auto number = drivers::parse_integer(text.substr(colon + 1));
  if (!number || *number < 0 || *number > 65535) return false;
  port = static_cast<int>(*number);
  return true;
}

}  // namespace

int kinesis_quota_main(const std::vector<std::string>& args) {
  std::string listen_host;
  int listen_port = -1;
  std::string ready_file;
  Quotas quotas;
  std::vector<std::string> command;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--") {
      command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (i + 1 >= args.size()) return usage(arg + " needs a value");
    const std::string& value = args[++i];
    if (arg == "--listen") {
      if (!parse_listen(value, listen_host, listen_port)) {
        return usage("--listen: expected HOST:PORT such as 127.0.0.1:4567, got \"" + value + "\"");
      }
    } else if (arg == "--ready-file") {
      ready_file = value;
    } else if (arg == "--write-records-per-s" || arg == "--read-calls-per-s") {
      auto number = drivers::parse_integer(value);
      if (!number || *number < 1 || *number > 1'000'000'000) {
        return usage(arg + ": expected a whole number from 1 to 1000000000, got \"" + value + "\"");
      }
      (arg == "--write-records-per-s" ? quotas.write_records_per_s : quotas.read_calls_per_s) =
          static_cast<double>(*number);
    } else if (arg == "--write-bytes-per-s" || arg == "--read-bytes-per-s") {
      auto bytes = core::parse_size(value);
      if (!bytes || *bytes < 1 || *bytes > (uint64_t{1} << 40)) {
        return usage(arg + ": expected a size from 1B to 1TiB such as 1MiB, got \"" + value + "\"" +
                     (bytes ? "" : " (" + bytes.error() + ")"));
      }
      (arg == "--write-bytes-per-s" ? quotas.write_bytes_per_s : quotas.read_bytes_per_s) =
          static_cast<double>(*bytes);
    } else {
      return usage("unexpected argument \"" + arg + "\"");
    }
  }
  if (listen_port < 0) return usage("missing --listen HOST:PORT");
  if (command.empty()) return usage("missing the emulator's command after --");
  if (std::find(command.begin(), command.end(), "{port}") == command.end()) {
    return usage("the emulator's command has no {port} argument to listen on");
  }

  // Blocked before any thread starts, so the server threads inherit the mask and the signals
  // wait for sigtimedwait below; the emulator gets the previous mask back.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal_number);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);

  auto upstream = start_upstream(command, previous);
  if (!upstream) {
    std::fprintf(stderr, "dec kinesis-quota: %s\n", upstream.error().c_str());
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return 1;
  }
  const pid_t child = upstream->pid;

  int exit_code = 0;
  bool child_reaped = false;
  {
    QuotaProxy proxy(upstream->port, quotas);
    httplib::Server server;
    server.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    server.set_tcp_nodelay(true);  // answers too are written as headers, then body
    server.set_keep_alive_max_count(1'000'000);
    // An idle kept-alive connection holds its thread until this timeout, and stopping the
    // server waits for every thread: short, so SIGTERM ends the proxy within the provider's
    // grace period while clients hold connections. Clients reconnect after an idle spell.
    server.set_keep_alive_timeout(kKeepAliveSeconds);
    // kinesalite refuses requests over 7 MiB itself; this only bounds the proxy's memory.
    server.set_payload_max_length(size_t{16} << 20);
    auto handler = [&proxy](const httplib::Request& req, httplib::Response& res) {
      proxy.handle(req, res);
    };
    server.Post(".*", handler);
    server.Get(".*", handler);
    server.Put(".*", handler);
    server.Delete(".*", handler);
    server.Options(".*", handler);

    bool bound = listen_port == 0
                     ? (listen_port = drivers::bind_http_server_any_port(server, listen_host)) > 0
                     : drivers::bind_http_server(server, listen_host, listen_port);
    std::string address = listen_host + ":" + std::to_string(listen_port);
    if (!bound) {
      std::fprintf(stderr, "dec kinesis-quota: cannot listen on %s: %s\n", address.c_str(),
                   std::strerror(errno));
      exit_code = 1;
    } else {
      std::thread serving([&server] { server.listen_after_bind(); });
      // stop() only stops a server that runs: a signal right away must not find it starting.
      for (int wait = 0; wait < 500 && !server.is_running(); ++wait) {
        std::this_thread::sleep_for(milliseconds(10));
      }
      Status published = Status::Ok();
      if (!ready_file.empty()) published = write_file_atomically(ready_file, address + "\n");
      if (!published) {
        std::fprintf(stderr, "dec kinesis-quota: %s\n", published.error().c_str());
        exit_code = 1;
      } else {
        std::printf(
            "dec kinesis-quota: serving %s, %s (pid %d) on 127.0.0.1:%d behind per-shard quotas "
            "of %.0f records/s and %.0f B/s written, %.0f calls/s and %.0f B/s read\n",
            address.c_str(), command[0].c_str(), static_cast<int>(child), upstream->port,
            quotas.write_records_per_s, quotas.write_bytes_per_s, quotas.read_calls_per_s,
            quotas.read_bytes_per_s);
        std::fflush(stdout);
        // Until a signal, or until the emulator exits (nothing left to serve).
        const timespec tick{0, 200'000'000};
        while (true) {
          int received = sigtimedwait(&signals, nullptr, &tick);
          if (received > 0) {
            std::printf("dec kinesis-quota: stopping on signal %d\n", received);
            break;
          }
          int status = 0;
          if (::waitpid(child, &status, WNOHANG) == child) {
            child_reaped = true;
            std::fprintf(stderr, "dec kinesis-quota: %s %s\n", command[0].c_str(),
                         describe_exit(status).c_str());
            exit_code = 1;
            break;
          }
        }
      }
      server.stop();
      serving.join();
      if (!ready_file.empty()) std::remove(ready_file.c_str());
    }
    auto counts = proxy.counts();
    std::printf(
        "dec kinesis-quota: records written %llu, refused %llu; GetRecords served %llu, "
        "refused %llu, not attributed to a shard %llu\n",
        static_cast<unsigned long long>(counts.records_admitted),
        static_cast<unsigned long long>(counts.records_refused),
        static_cast<unsigned long long>(counts.reads_admitted),
        static_cast<unsigned long long>(counts.reads_refused),
        static_cast<unsigned long long>(counts.reads_unattributed));
    std::fflush(stdout);
  }
  if (!child_reaped) stop_child(child);  // a reaped pid may belong to another process by now
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return exit_code;
}

}  // namespace dec::systems
