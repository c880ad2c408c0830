#include "systems/nats/nats_driver.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "core/hash.h"
#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;
using core::fnv1a;  // stable across processes, so dec workers agree on a key's partition
using std::chrono::milliseconds;

// The header a message's key travels in (JetStream messages have no key of their own).
constexpr const char* kKeyHeader = "Dec-Key";
// Subjects of the acknowledgements JetStream expects for pulled messages.
constexpr std::string_view kAckPrefix = "$JS.ACK.";
constexpr std::string_view kPartitionsTag = "; partitions=";
// Reconnection and failure detection of every connection: a restarted or failed-over server is
// used again within a fraction of a second, a silent one (frozen, cut off) is given up after two
// unanswered pings instead of libnats's default of minutes.
constexpr milliseconds kReconnectWait{250};
constexpr milliseconds kPingInterval{1000};
constexpr int kMaxPingsOut = 2;
// A pull request is renewed this long after it expired even when no expiry notice (408) came:
// nats-server 2.9 often sends none (or late) for an expired request, and every message that
// arrives meanwhile waits for the renewal. With a 250 ms grace, fetch_wait_ms 10 gave a p50 of
// 40 ms and a p99 of 230 ms at 1k msg/s (1 ms and 4 ms with 5 ms); a request renewed while the
// old one is still open only overlaps it briefly (at most 2 x fetch_batch in flight).
constexpr milliseconds kPullGrace{5};
// Pull requests nobody answers (no consumer leader during an election) are retried this often.
constexpr milliseconds kPullRetry{100};
// A topic whose stream could not be looked up (server unreachable) is looked up again this often;
// meanwhile its messages fail at once.
constexpr milliseconds kRouteRetry{500};
// Pauses between attempts of a JetStream API call that failed for a reason a cluster recovers
// from by itself (no meta leader yet, peers still joining).
constexpr milliseconds kAdminRetry{250};
// How long an ephemeral consumer survives without pull requests (a consumer that crashed).
constexpr std::chrono::minutes kEphemeralInactivity{5};

// ---- config -------------------------------------------------------------------------------

struct NatsConfig {
  int max_in_flight = 1024;
  bool send_asap = false;  // linger_ms 0
  int fetch_batch = 100;
  int fetch_wait_ms = 500;
  int replicas = 0;  // 0: min(3, servers)
  bool memory_storage = false;
  int ack_wait_ms = 30000;
  int max_ack_pending = 1000;
  int timeout_ms = 5000;
};

std::vector<ConfigKey> nats_config_keys() {
  return {
      {"max_in_flight",
       "publishes per producer awaiting their JetStream acknowledgement; send() waits when full",
       "1024", integer_check(1, 1'000'000)},
      {"linger_ms",
       "0: write every publish to the socket at once; 1: libnats gathers writes for up to 1 ms",
       "1", integer_check(0, 1)},
      {"fetch_batch", "messages one pull request asks for", "100", integer_check(1, 10000)},
      {"fetch_wait_ms",
       "how long a pull request waits in the server (a poll returns as soon as messages arrive)",
       "500", integer_check(1, 60000)},
      {"replicas", "copies of each stream, at most the number of servers", "min(3, servers)",
       integer_check(1, 5)},
      {"storage", "where streams keep their messages", "file", one_of_check({"file", "memory"})},
      {"ack_wait_ms", "how long a pulled message may stay unacknowledged before redelivery",
       "30000", integer_check(100, 3'600'000)},
      {"max_ack_pending",
       "messages a group may hold unacknowledged; JetStream delivers no more until acks come",
       "1000", integer_check(1, 1'000'000)},
      {"timeout_ms",
       "connect timeout, longest wait for a JetStream API reply and for a publish acknowledgement",
       "5000", integer_check(100, 600000)},
  };
}

// `settings` must have passed validate_driver_config.
NatsConfig config_from(const core::Settings& settings) {
  NatsConfig config;
  auto integer = [&](const char* key, int fallback) {
    auto it = settings.find(key);
    if (it == settings.end()) return fallback;
    return static_cast<int>(parse_integer(it->second).value_or(fallback));
  };
  auto text = [&](const char* key, const char* fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? std::string(fallback) : it->second;
  };
  config.max_in_flight = integer("max_in_flight", config.max_in_flight);
  config.send_asap = integer("linger_ms", 1) == 0;
  config.fetch_batch = integer("fetch_batch", config.fetch_batch);
  config.fetch_wait_ms = integer("fetch_wait_ms", config.fetch_wait_ms);
  config.replicas = integer("replicas", config.replicas);
  config.memory_storage = text("storage", "file") == "memory";
  config.ack_wait_ms = integer("ack_wait_ms", config.ack_wait_ms);
  config.max_ack_pending = integer("max_ack_pending", config.max_ack_pending);
  config.timeout_ms = integer("timeout_ms", config.timeout_ms);
  return config;
}

// ---- libnats objects ------------------------------------------------------------------------

struct ConnectionDeleter {
  void operator()(natsConnection* connection) const { natsConnection_Destroy(connection); }
};
struct JetStreamDeleter {
  void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};
struct SubscriptionDeleter {
  void operator()(natsSubscription* subscription) const { natsSubscription_Destroy(subscription); }
};
struct MsgDeleter {
  void operator()(natsMsg* msg) const { natsMsg_Destroy(msg); }
};
struct OptionsDeleter {
  void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};
struct StreamInfoDeleter {
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};
struct ConsumerInfoDeleter {
  void operator()(jsConsumerInfo* info) const { jsConsumerInfo_Destroy(info); }
};
struct AccountInfoDeleter {
  void operator()(jsAccountInfo* info) const { jsAccountInfo_Destroy(info); }
};
struct StatisticsDeleter {
  void operator()(natsStatistics* statistics) const { natsStatistics_Destroy(statistics); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;
using JetStreamPtr = std::unique_ptr<jsCtx, JetStreamDeleter>;
using SubscriptionPtr = std::unique_ptr<natsSubscription, SubscriptionDeleter>;
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDeleter>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, StreamInfoDeleter>;
using ConsumerInfoPtr = std::unique_ptr<jsConsumerInfo, ConsumerInfoDeleter>;
using AccountInfoPtr = std::unique_ptr<jsAccountInfo, AccountInfoDeleter>;
using StatisticsPtr = std::unique_ptr<natsStatistics, StatisticsDeleter>;

// Why `status` happened: libnats's last error on this thread when it is about this status (it
// carries JetStream's own description of an API error), else the status's generic text.
std::string error_text(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (last == status && text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(status);
}

// Counters of a driver's producers and consumers, for Driver::counters().
struct NatsStats {
  std::atomic<uint64_t> publish_timeouts{0};
  std::atomic<uint64_t> publish_errors{0};
  std::atomic<uint64_t> publish_send_failures{0};
  std::atomic<uint64_t> publish_no_responders{0};
  std::atomic<uint64_t> pull_no_responders{0};
  std::atomic<uint64_t> pull_interruptions{0};
  std::atomic<uint64_t> reconnects{0};
};

// What every connection of a driver is opened with.
struct ConnectionSpec {
  std::vector<std::string> urls;  // nats://host:port, one per server
  core::Settings properties;      // endpoint properties: username/password or token
  int timeout_ms = 5000;
  bool send_asap = false;
  bool reconnect = true;
};

std::string servers_label(const std::vector<std::string>& urls) {
  std::string label;
  for (const std::string& url : urls) label += (label.empty() ? "" : ", ") + url;
  return label;
}

Result<ConnectionPtr> open_connection(const ConnectionSpec& spec) {
  natsOptions* raw_options = nullptr;
  if (natsOptions_Create(&raw_options) != NATS_OK) {
    return make_error("cannot set up a NATS connection: out of memory");
  }
  OptionsPtr options(raw_options);
  std::vector<const char*> servers;
  for (const std::string& url : spec.urls) servers.push_back(url.c_str());
  natsStatus s =
      natsOptions_SetServers(options.get(), servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(options.get(), "dec");
  if (s == NATS_OK) s = natsOptions_SetTimeout(options.get(), spec.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(options.get(), spec.reconnect);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(options.get(), kReconnectWait.count());
  if (s == NATS_OK) s = natsOptions_SetPingInterval(options.get(), kPingInterval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(options.get(), kMaxPingsOut);
  if (s == NATS_OK && spec.send_asap) s = natsOptions_SetSendAsap(options.get(), true);
  if (auto user = spec.properties.find("username"); s == NATS_OK && user != spec.properties.end()) {
    auto password = spec.properties.find("password");
    s = natsOptions_SetUserInfo(
        options.get(), user->second.c_str(),
        password == spec.properties.end() ? nullptr : password->second.c_str());
  }
  if (auto token = spec.properties.find("token"); s == NATS_OK && token != spec.properties.end()) {
    s = natsOptions_SetToken(options.get(), token->second.c_str());
  }
  if (s != NATS_OK) return make_error("cannot set up a NATS connection: " + error_text(s));
  natsConnection* connection = nullptr;
  s = natsConnection_Connect(&connection, options.get());
  if (s != NATS_OK) {
    return make_error("cannot connect to NATS at " + servers_label(spec.urls) + ": " +
                      error_text(s));
  }
  return ConnectionPtr(connection);
}

Result<JetStreamPtr> open_jetstream(natsConnection* connection, int timeout_ms) {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = timeout_ms;
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, connection, &options);
  if (s != NATS_OK) return make_error("cannot use JetStream: " + error_text(s));
  return JetStreamPtr(js);
}

// A subscription on "<inbox>.*" whose messages are read by the client's own thread; `prefix`
// gets "<inbox>." for the reply subjects. No pending limit: what arrives is bounded by what the
// client asked for (its publishes in flight, its pull requests).
Result<SubscriptionPtr> subscribe_inbox(natsConnection* connection, std::string& prefix) {
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return make_error("cannot create a NATS inbox");
  prefix = std::string(inbox) + ".";
  natsInbox_Destroy(inbox);
  natsSubscription* subscription = nullptr;
  natsStatus s = natsConnection_SubscribeSync(&subscription, connection, (prefix + "*").c_str());
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(subscription, -1, -1);
  if (s != NATS_OK) {
    natsSubscription_Destroy(subscription);
    return make_error("cannot subscribe to a NATS inbox: " + error_text(s));
  }
  return SubscriptionPtr(subscription);
}

// The next message of a synchronous subscription, waiting up to `wait_ms`; with 0 only a message
// already queued (without the error bookkeeping libnats does for an empty non-blocking read).
// NATS_TIMEOUT when there is none.
natsStatus next_message(natsSubscription* subscription, int64_t wait_ms, MsgPtr& msg) {
  if (wait_ms <= 0) {
    uint64_t queued = 0;
    if (natsSubscription_QueuedMsgs(subscription, &queued) == NATS_OK && queued == 0) {
      return NATS_TIMEOUT;
    }
    wait_ms = 0;
  }
  natsMsg* raw = nullptr;
  natsStatus s = natsSubscription_NextMsg(&raw, subscription, wait_ms);
  msg.reset(raw);
  return s;
}

// Whole milliseconds until `until`, rounded up so a wait never ends early; 0 when it has passed.
int64_t milliseconds_until(Clock::time_point until, Clock::time_point now) {
  if (until <= now) return 0;
  return std::chrono::ceil<milliseconds>(until - now).count();
}

StatisticsPtr make_statistics() {
  natsStatistics* raw = nullptr;
  natsStatistics_Create(&raw);
  return StatisticsPtr(raw);
}

// How often the connection was re-established; `statistics` is scratch space.
uint64_t reconnects_of(natsConnection* connection, natsStatistics* statistics) {
  uint64_t reconnects = 0;
  if (statistics != nullptr && natsConnection_GetStats(connection, statistics) == NATS_OK) {
    natsStatistics_GetCounts(statistics, nullptr, nullptr, nullptr, nullptr, &reconnects);
  }
  return reconnects;
}

// Servers the connection knows: those it was given plus those the cluster told it about.
int known_servers(natsConnection* connection) {
  char** servers = nullptr;
  int count = 0;
  if (natsConnection_GetServers(connection, &servers, &count) != NATS_OK) return 1;
  for (int i = 0; i < count; ++i) std::free(servers[i]);
  std::free(servers);
  return std::max(count, 1);
}

// ---- names ----------------------------------------------------------------------------------

std::string hex64(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<size_t>(i)] = kDigits[value & 15];
  return out;
}

bool safe_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Letters, digits, '-' and '_' are what every JetStream name (and a single subject token)
// accepts; other characters become '_', and a hash of the original keeps names distinct.
std::string safe_name(const std::string& text) {
  constexpr size_t kMaxLength = 64;  // stream names are directory names on the servers
  std::string name;
  bool changed = text.empty() || text.size() > kMaxLength;
  for (char c : text.substr(0, kMaxLength)) {
    changed = changed || !safe_name_char(c);
    name += safe_name_char(c) ? c : '_';
  }
  if (changed) name += "-" + hex64(fnv1a(text));
  return name;
}

std::string stream_description(const std::string& topic, int partitions) {
  return "dec topic " + topic + std::string(kPartitionsTag) + std::to_string(partitions);
}

// The partitions recorded in a stream's description by create_topic; nullopt for a stream that
// dec did not create.
std::optional<int> partitions_from(const jsStreamInfo& info) {
  if (info.Config == nullptr || info.Config->Description == nullptr) return std::nullopt;
  std::string_view description = info.Config->Description;
  size_t tag = description.rfind(kPartitionsTag);
  if (tag == std::string_view::npos) return std::nullopt;
  auto partitions = parse_integer(description.substr(tag + kPartitionsTag.size()));
  if (!partitions || *partitions < 1 || *partitions > 100000) return std::nullopt;
  return static_cast<int>(*partitions);
}

// The delivery count in the ack subject of a pulled message:
// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>, or with
// a domain and account hash first ($JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>...,
// nine tokens or more). Names cannot contain dots, so counting tokens tells the two apart.
uint64_t delivery_count(std::string_view reply) {
  reply.remove_prefix(kAckPrefix.size());
  std::vector<std::string_view> tokens;
  while (tokens.size() < 12) {
    size_t dot = reply.find('.');
    tokens.push_back(reply.substr(0, dot));
    if (dot == std::string_view::npos) break;
    reply.remove_prefix(dot + 1);
  }
  std::string_view count;
  if (tokens.size() == 7) count = tokens[2];
  if (tokens.size() >= 9) count = tokens[4];
  return static_cast<uint64_t>(parse_integer(count).value_or(0));
}

// JetStream's answer to a publish: {"stream":"s","seq":7} when stored, or
// {"error":{"code":503,"err_code":10077,"description":"..."}}. "" when stored, else the error.
std::string pub_ack_error(std::string_view body) {
  if (body.find("\"error\"") == std::string_view::npos) {
    if (body.find("\"seq\"") != std::string_view::npos) return "";
    return "unexpected JetStream reply to a publish: " + std::string(body.substr(0, 200));
  }
  size_t field = body.find("\"description\"");
  size_t colon = field == std::string_view::npos ? field : body.find(':', field);
  size_t open = colon == std::string_view::npos ? colon : body.find('"', colon);
  size_t close = open == std::string_view::npos ? open : body.find('"', open + 1);
  if (close == std::string_view::npos) {
    return "JetStream rejected the message: " + std::string(body.substr(0, 200));
  }
  return "JetStream rejected the message: " + std::string(body.substr(open + 1, close - open - 1));
}

// Whole number at the end of `text` after `prefix` (a reply subject), or nullopt.
std::optional<uint64_t> number_after(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// ---- JetStream administration -----------------------------------------------------------------

bool transient_api_failure(natsStatus status, jsErrCode code) {
  if (status == NATS_TIMEOUT || status == NATS_NO_RESPONDERS) return true;
  return code == JSClusterNoPeersErr || code == JSClusterNotAvailErr ||
         code == JSClusterNotLeaderErr || code == JSInsufficientResourcesErr ||
         code == JSRaftGeneralErr;
}

// Runs one JetStream API call again while it fails for a reason a cluster recovers from by itself
// (no meta leader yet, peers still joining, a request lost in an election), for up to
// `timeout_ms` after the first failure. `call` returns its status and sets the error code.
template <class Call>
natsStatus with_retries(int timeout_ms, jsErrCode& code, const Call& call) {
  const auto give_up = Clock::now() + milliseconds(timeout_ms);
  for (;;) {
    code = static_cast<jsErrCode>(0);
    natsStatus status = call(&code);
    if (status == NATS_OK || !transient_api_failure(status, code) ||
        Clock::now() + kAdminRetry >= give_up) {
      return status;
    }
    std::this_thread::sleep_for(kAdminRetry);
  }
}

// A stream configuration with the strings it points to.
class StreamSpec {
 public:
  StreamSpec(const std::string& topic, int partitions, int replicas, bool memory)
      : name_(nats_stream_name(topic)),
        description_(stream_description(topic, partitions)),
        subjects_(name_ + ".*"),
        subject_list_{subjects_.c_str()} {
    jsStreamConfig_Init(&config_);
    config_.Name = name_.c_str();
    config_.Description = description_.c_str();
    config_.Subjects = subject_list_;
    config_.SubjectsLen = 1;
    config_.Retention = js_LimitsPolicy;
    config_.Storage = memory ? js_MemoryStorage : js_FileStorage;
    config_.Replicas = replicas;
  }
  StreamSpec(const StreamSpec&) = delete;
  StreamSpec& operator=(const StreamSpec&) = delete;

  const std::string& name() const { return name_; }
  jsStreamConfig* config() { return &config_; }

  // True when `info` describes this stream as dec would create it.
  bool matches(const jsStreamInfo& info) const {
    const jsStreamConfig* existing = info.Config;
    return existing != nullptr && existing->SubjectsLen == 1 && existing->Subjects != nullptr &&
           subjects_ == existing->Subjects[0] && existing->Description != nullptr &&
           description_ == existing->Description && existing->Storage == config_.Storage &&
           std::max<int64_t>(existing->Replicas, 1) == config_.Replicas;
  }

 private:
  std::string name_;
  std::string description_;
  std::string subjects_;
  const char* subject_list_[1];
  jsStreamConfig config_;
};

std::string storage_name(jsStorageType storage) {
  return storage == js_MemoryStorage ? "memory" : "file";
}

// ---- producer -------------------------------------------------------------------------------

class NatsProducer final : public Producer {
 public:
  NatsProducer(ConnectionPtr connection, JetStreamPtr js, SubscriptionPtr replies,
               std::string reply_prefix, const NatsConfig& config,
               std::map<std::string, int> known_partitions, std::shared_ptr<NatsStats> stats)
      : connection_(std::move(connection)),
        js_(std::move(js)),
        replies_(std::move(replies)),
        reply_prefix_(std::move(reply_prefix)),
        window_(static_cast<size_t>(config.max_in_flight)),
        timeout_(config.timeout_ms),
        timeout_error_("no acknowledgement from JetStream within " +
                       std::to_string(config.timeout_ms) + " ms (config timeout_ms)"),
        known_partitions_(std::move(known_partitions)),
        stats_(std::move(stats)) {}

  ~NatsProducer() override {
    // Every outstanding publish is answered or times out within timeout_ms.
    drain();
    stats_->reconnects.fetch_add(reconnects_of(connection_.get(), make_statistics().get()),
                                 std::memory_order_relaxed);
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    if (key.find_first_of("\r\n") != std::string_view::npos) {
      return make_error("a NATS message key cannot contain a line break (it travels in a header)");
    }
    auto route = find_route(topic);
    if (!route.ok()) return make_error(route.error());
    if (*route == nullptr) {  // the stream cannot be looked up right now: fail, try again later
      stats_->publish_send_failures.fetch_add(1, std::memory_order_relaxed);
      on_ack(false, route_error_);
      return Status::Ok();
    }
    // Acks that have arrived first: their latency is measured when they are delivered.
    take_replies(0);
    expire_overdue(Clock::now());
    while (outstanding_ >= window_) wait_for_replies();

    Route& target = **route;
    uint64_t partition = key.empty() ? target.next_partition++ : fnv1a(key);
    partition %= static_cast<uint64_t>(target.partitions);
    subject_.assign(target.subject_prefix);
    append_number(subject_, partition);
    reply_.assign(reply_prefix_);
    append_number(reply_, next_sequence());

    natsStatus s = publish(key, payload);
    if (s != NATS_OK) {
      // Accepted and failed at once (connection closed, reconnect buffer full, payload too
      // large): the producer goes on, as with any other failed publish.
      stats_->publish_send_failures.fetch_add(1, std::memory_order_relaxed);
      on_ack(false, "cannot publish to NATS: " + error_text(s));
      return Status::Ok();
    }
    pending_.push_back({std::move(on_ack), Clock::now() + timeout_, false});
    ++outstanding_;
    return Status::Ok();
  }

  // libnats writes what it buffered by itself; this waits for the acknowledgements.
  Status flush() override {
    drain();
    return Status::Ok();
  }

  size_t in_flight() const override { return outstanding_; }

  // libnats's flusher writes buffered publishes within a millisecond whoever waits, and the
  // replies are read here as they arrive.
  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    const auto until = Clock::now() + max_wait;
    if (take_replies(0) > 0) return Status::Ok();
    expire_overdue(Clock::now());
    if (outstanding_ == 0) {
      std::this_thread::sleep_until(until);
      return Status::Ok();
    }
    // libnats waits in whole milliseconds: wait the whole ones for a reply, sleep the rest.
    auto whole = std::chrono::floor<milliseconds>(until - Clock::now());
    if (whole.count() > 0 && take_replies(whole.count()) > 0) return Status::Ok();
    std::this_thread::sleep_until(until);
    take_replies(0);
    expire_overdue(Clock::now());
    return Status::Ok();
  }

 private:
  struct Route {
    std::string topic;
    std::string subject_prefix;  // "<stream>."
    int partitions = 1;
    uint64_t next_partition = 0;  // round robin for unkeyed messages
  };

  // One publish awaiting its acknowledgement; `done` once its callback was called.
  struct Pending {
    AckCallback callback;
    Clock::time_point deadline;
    bool done = false;
  };

  static void append_number(std::string& out, uint64_t value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
    out.append(digits, static_cast<size_t>(end - digits));
  }

  // Sequence numbers name the publishes in their reply subjects; pending_[0] is first_sequence_.
  uint64_t next_sequence() const { return first_sequence_ + pending_.size(); }

  natsStatus publish(std::string_view key, std::string_view payload) {
    const int length = static_cast<int>(payload.size());
    if (key.empty()) {
      return natsConnection_PublishRequest(connection_.get(), subject_.c_str(), reply_.c_str(),
                                           payload.data(), length);
    }
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subject_.c_str(), reply_.c_str(), payload.data(), length);
    MsgPtr msg(raw);
    key_.assign(key);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), kKeyHeader, key_.c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(connection_.get(), msg.get());
    return s;
  }

  // The topic's stream, looked up on first use; nullptr (with route_error_) while the lookup
  // cannot be made; an error when the topic has no stream dec created.
  Result<Route*> find_route(const std::string& topic) {
    if (last_route_ < routes_.size() && routes_[last_route_].topic == topic) {
      return &routes_[last_route_];
    }
    for (size_t i = 0; i < routes_.size(); ++i) {
      if (routes_[i].topic == topic) {
        last_route_ = i;
        return &routes_[i];
      }
    }
    std::optional<int> partitions;
    if (auto known = known_partitions_.find(topic); known != known_partitions_.end()) {
      partitions = known->second;
    } else {
      if (Clock::now() < next_lookup_) return nullptr;
      auto looked_up = look_up_partitions(topic);
      if (!looked_up.ok()) return make_error(looked_up.error());
      if (!*looked_up) return nullptr;
      partitions = *looked_up;
    }
    routes_.push_back({topic, nats_stream_name(topic) + ".", *partitions, 0});
    last_route_ = routes_.size() - 1;
    return &routes_.back();
  }

  Result<std::optional<int>> look_up_partitions(const std::string& topic) {
    const std::string stream = nats_stream_name(topic);
    jsStreamInfo* raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream.c_str(), nullptr, &code);
    StreamInfoPtr info(raw);
    if (s != NATS_OK && code == JSStreamNotFoundErr) {
      return make_error("topic " + topic + " has no JetStream stream " + stream +
                        " (create_topic creates it)");
    }
    if (s != NATS_OK) {
      route_error_ = "cannot look up the stream of topic " + topic + ": " + error_text(s);
      next_lookup_ = Clock::now() + kRouteRetry;
      return std::optional<int>();
    }
    std::optional<int> partitions = partitions_from(*info);
    if (!partitions) {
      return make_error("stream " + stream + " of topic " + topic +
                        " was not created by dec (no partition count in its description)");
    }
    return partitions;
  }

  // Delivers every reply that has arrived, waiting up to `wait_ms` for the first one; returns
  // how many publishes were answered.
  size_t take_replies(int64_t wait_ms) {
    size_t answered = 0;
    MsgPtr msg;
    for (natsStatus s = next_message(replies_.get(), wait_ms, msg);;) {
      if (s == NATS_OK) {
        answered += take_reply(msg.get());
      } else if (s == NATS_NO_RESPONDERS) {
        // No stream listens on the subject; libnats drops the notice without saying which
        // publish it answers, so that one fails when its timeout expires.
        stats_->publish_no_responders.fetch_add(1, std::memory_order_relaxed);
      } else if (s == NATS_TIMEOUT) {
        return answered;
      } else {
        answered += fail_all("NATS connection lost: " + error_text(s));
        return answered;
      }
      s = next_message(replies_.get(), 0, msg);
    }
  }

  size_t take_reply(natsMsg* msg) {
    auto sequence = number_after(natsMsg_GetSubject(msg), reply_prefix_);
    if (!sequence) return 0;
    std::string_view body(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    std::string error = pub_ack_error(body);
    if (!error.empty()) stats_->publish_errors.fetch_add(1, std::memory_order_relaxed);
    return resolve(*sequence, error.empty(), error);
  }

  // Calls the callback of publish `sequence` unless it was answered (or timed out) already.
  size_t resolve(uint64_t sequence, bool ok, std::string_view error) {
    if (sequence < first_sequence_ || sequence >= next_sequence()) return 0;
    Pending& entry = pending_[sequence - first_sequence_];
    if (entry.done) return 0;
    entry.done = true;
    AckCallback callback = std::move(entry.callback);
    --outstanding_;
    while (!pending_.empty() && pending_.front().done) {
      pending_.pop_front();
      ++first_sequence_;
    }
    callback(ok, error);
    return 1;
  }

  // Deadlines grow with the sequence, so only the oldest outstanding publish can be overdue
  // first (answered ones have left the front).
  void expire_overdue(Clock::time_point now) {
    while (!pending_.empty() && pending_.front().deadline <= now) {
      stats_->publish_timeouts.fetch_add(1, std::memory_order_relaxed);
      resolve(first_sequence_, false, timeout_error_);
    }
  }

  size_t fail_all(const std::string& error) {
    size_t failed = 0;
    while (!pending_.empty()) failed += resolve(first_sequence_, false, error);
    return failed;
  }

  // Waits for a reply until the oldest publish's deadline, then fails what is overdue.
  void wait_for_replies() {
    if (pending_.empty()) return;
    auto now = Clock::now();
    take_replies(milliseconds_until(pending_.front().deadline, now));
    expire_overdue(Clock::now());
  }

  void drain() {
    while (outstanding_ > 0) wait_for_replies();
  }

  // Destroyed last: the subscription and context belong to the connection.
  ConnectionPtr connection_;
  JetStreamPtr js_;
  SubscriptionPtr replies_;
  std::string reply_prefix_;
  size_t window_;
  milliseconds timeout_;
  std::string timeout_error_;
  std::map<std::string, int> known_partitions_;
  std::shared_ptr<NatsStats> stats_;

  std::vector<Route> routes_;
  size_t last_route_ = 0;
  std::string route_error_;
  Clock::time_point next_lookup_;
  std::deque<Pending> pending_;
  uint64_t first_sequence_ = 1;
  size_t outstanding_ = 0;
  std::string subject_;  // reused for every publish
  std::string reply_;
  std::string key_;
};

// ---- consumer -------------------------------------------------------------------------------

class NatsConsumer final : public Consumer {
 public:
  NatsConsumer(ConnectionPtr connection, JetStreamPtr js, const NatsConfig& config,
               std::shared_ptr<NatsStats> stats)
      : connection_(std::move(connection)),
        js_(std::move(js)),
        config_(config),
        stats_(std::move(stats)),
        request_body_("{\"batch\":" + std::to_string(config.fetch_batch) + ",\"expires\":" +
                      std::to_string(int64_t{config.fetch_wait_ms} * 1'000'000) + "}") {}

  ~NatsConsumer() override {
    // Acks are written by libnats's flusher; make sure they reached the server.
    natsConnection_FlushTimeout(connection_.get(), std::min(config_.timeout_ms, 2000));
    for (const Pull& pull : pulls_) {
      if (pull.ephemeral) {
        jsErrCode code = static_cast<jsErrCode>(0);
        js_DeleteConsumer(js_.get(), pull.stream.c_str(), pull.consumer.c_str(), nullptr, &code);
      }
    }
    stats_->reconnects.fetch_add(reconnects_of(connection_.get(), statistics_.get()),
                                 std::memory_order_relaxed);
  }

  Status open_inbox() {
    auto inbox = subscribe_inbox(connection_.get(), inbox_prefix_);
    if (!inbox.ok()) return make_error(inbox.error());
    inbox_ = std::move(*inbox);
    return Status::Ok();
  }

  // Reads `topic` through the durable consumer `durable`, or through an ephemeral consumer of
  // its own when `durable` is empty.
  Status add_topic(const std::string& topic, const std::string& group, const std::string& durable) {
    Pull pull;
    pull.topic = topic;
    pull.stream = nats_stream_name(topic);
    pull.subject_prefix = pull.stream;
    jsConsumerInfo* raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s;
    if (durable.empty()) {
      jsConsumerConfig config;
      jsConsumerConfig_Init(&config);
      config.AckPolicy = js_AckExplicit;
      config.DeliverPolicy = js_DeliverAll;
      config.AckWait = int64_t{config_.ack_wait_ms} * 1'000'000;
      config.MaxAckPending = config_.max_ack_pending;
      config.InactiveThreshold =
          std::chrono::duration_cast<std::chrono::nanoseconds>(kEphemeralInactivity).count();
      s = js_AddConsumer(&raw, js_.get(), pull.stream.c_str(), &config, nullptr, &code);
    } else {
      // Made by prepare_consumers; checked here so a missing one is a clear error, not a poll
      // that never receives anything.
      s = js_GetConsumerInfo(&raw, js_.get(), pull.stream.c_str(), durable.c_str(), nullptr, &code);
    }
    ConsumerInfoPtr info(raw);
    if (s != NATS_OK && code == JSConsumerNotFoundErr) {
      return make_error("consumer group " + group + " has no JetStream consumer " + durable +
                        " on stream " + pull.stream + " (prepare_consumers creates it)");
    }
    if (s != NATS_OK && code == JSStreamNotFoundErr) {
      return make_error("topic " + topic + " has no JetStream stream " + pull.stream +
                        " (create_topic creates it)");
    }
    if (s != NATS_OK) {
      return make_error("cannot set up the consumer of topic " + topic + ": " + error_text(s));
    }
    pull.consumer = info->Name;
    pull.ephemeral = durable.empty();
    pull.next_subject = "$JS.API.CONSUMER.MSG.NEXT." + pull.stream + "." + pull.consumer;
    pulls_.push_back(std::move(pull));
    return Status::Ok();
  }

  // Keeps a pull request open per topic and waits for what they bring; returns once messages
  // have arrived (all that are queued, up to fetch_batch per topic) or the time is up.
  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    const auto deadline = Clock::now() + std::max(timeout, milliseconds(0));
    const size_t limit = static_cast<size_t>(config_.fetch_batch) * pulls_.size();
    size_t delivered = 0;
    for (;;) {
      auto now = Clock::now();
      if (Status renewed = renew_requests(now); !renewed.ok()) return make_error(renewed.error());
      int64_t wait_ms = milliseconds_until(std::min(deadline, next_renewal()), now);
      MsgPtr msg;
      natsStatus s = next_message(inbox_.get(), wait_ms, msg);
      while (s == NATS_OK || s == NATS_NO_RESPONDERS) {
        if (s == NATS_NO_RESPONDERS) {
          no_responders();
        } else if (Status handled = handle(msg.get(), on_message, delivered); !handled.ok()) {
          return make_error(handled.error());
        }
        if (delivered == 0 || delivered >= limit) break;
        s = next_message(inbox_.get(), 0, msg);  // the rest of what has arrived
      }
      if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS) {
        return make_error("NATS consumer connection failed: " + error_text(s));
      }
      if (delivered > 0) {
        // Keep a request open while the caller handles the messages.
        if (Status renewed = renew_requests(Clock::now()); !renewed.ok()) {
          return make_error(renewed.error());
        }
        return delivered;
      }
      if (Clock::now() >= deadline) return size_t{0};
    }
  }

  // NumPending + NumAckPending of every consumer this one reads; messages pulled into this
  // client but not handed over are still ack-pending, so they count.
  std::optional<uint64_t> backlog() override {
    if (natsConnection_FlushTimeout(connection_.get(), config_.timeout_ms) != NATS_OK) {
      return std::nullopt;  // the acks may not have reached the server
    }
    uint64_t total = 0;
    for (const Pull& pull : pulls_) {
      jsConsumerInfo* raw = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = js_GetConsumerInfo(&raw, js_.get(), pull.stream.c_str(), pull.consumer.c_str(),
                                        nullptr, &code);
      ConsumerInfoPtr info(raw);
      if (s != NATS_OK) return std::nullopt;
      total += info->NumPending + static_cast<uint64_t>(std::max<int64_t>(info->NumAckPending, 0));
    }
    return total;
  }

 private:
  // One topic's consumer and the pull request this client keeps open on it.
  struct Pull {
    std::string topic;
    std::string stream;
    std::string subject_prefix;  // the stream's subjects are "<prefix>.<partition>"
    std::string consumer;
    std::string next_subject;  // where pull requests go
    bool ephemeral = false;
    bool open = false;  // a request is open in the server
    uint64_t request = 0;
    int remaining = 0;  // messages the open request may still bring
    Clock::time_point expires;
  };

  // Sends a pull request for every topic without an open one. A request is over once it has
  // brought fetch_batch messages, when the server says so (expired, interrupted), when it is
  // kPullGrace past its expiry with no word, and when the connection was re-established (the
  // server forgot it).
  Status renew_requests(Clock::time_point now) {
    if (now < retry_after_) return Status::Ok();
    uint64_t reconnects = reconnects_of(connection_.get(), statistics_.get());
    const bool reconnected = reconnects != reconnects_seen_;
    reconnects_seen_ = reconnects;
    for (size_t t = 0; t < pulls_.size(); ++t) {
      Pull& pull = pulls_[t];
      if (pull.open && !reconnected && now < pull.expires) continue;
      pull.request = ++requests_;
      reply_.assign(inbox_prefix_);
      reply_ += std::to_string(t) + "-" + std::to_string(pull.request);
      natsStatus s = natsConnection_PublishRequest(connection_.get(), pull.next_subject.c_str(),
                                                   reply_.c_str(), request_body_.data(),
                                                   static_cast<int>(request_body_.size()));
      if (s == NATS_CONNECTION_CLOSED) {
        return make_error("NATS consumer connection closed: " + error_text(s));
      }
      if (s != NATS_OK) {  // e.g. the reconnect buffer is full: try again shortly
        pull.open = false;
        retry_after_ = now + kPullRetry;
        continue;
      }
      pull.open = true;
      pull.remaining = config_.fetch_batch;
      pull.expires = now + milliseconds(config_.fetch_wait_ms) + kPullGrace;
    }
    return Status::Ok();
  }

  // When the next request may need renewing without a message saying so.
  Clock::time_point next_renewal() const {
    Clock::time_point next = Clock::time_point::max();
    for (const Pull& pull : pulls_) next = std::min(next, pull.open ? pull.expires : retry_after_);
    return next;
  }

  // A pull request nobody received (no consumer leader during an election, or the consumer is
  // gone): which one libnats does not say, so every request is sent again after a pause.
  void no_responders() {
    stats_->pull_no_responders.fetch_add(1, std::memory_order_relaxed);
    for (Pull& pull : pulls_) pull.open = false;
    retry_after_ = Clock::now() + kPullRetry;
  }

  Status handle(natsMsg* msg, const std::function<void(const ReceivedMessage&)>& on_message,
                size_t& delivered) {
    const char* reply = natsMsg_GetReply(msg);
    if (reply != nullptr && std::string_view(reply).starts_with(kAckPrefix)) {
      deliver(msg, reply, on_message, delivered);
      return Status::Ok();
    }
    return handle_status(msg);
  }

  void deliver(natsMsg* msg, const char* reply,
               const std::function<void(const ReceivedMessage&)>& on_message, size_t& delivered) {
    std::string_view subject = natsMsg_GetSubject(msg);
    size_t dot = subject.rfind('.');
    std::string_view prefix = subject.substr(0, dot);
    auto pull = std::find_if(pulls_.begin(), pulls_.end(),
                             [&](const Pull& p) { return p.subject_prefix == prefix; });
    if (pull != pulls_.end()) {
      const char* key = nullptr;
      natsMsgHeader_Get(msg, kKeyHeader, &key);
      auto partition =
          dot == std::string_view::npos ? std::nullopt : parse_integer(subject.substr(dot + 1));
      ReceivedMessage message;
      message.topic = pull->topic;
      message.key = key == nullptr ? std::string_view() : std::string_view(key);
      message.payload =
          std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      message.partition = partition ? static_cast<int>(*partition) : -1;
      message.redelivered = delivery_count(reply) > 1;
      on_message(message);
      ++delivered;
      if (pull->open && --pull->remaining <= 0) pull->open = false;
    }
    // A lost ack only means a redelivery after ack_wait_ms, reported as such.
    natsConnection_Publish(connection_.get(), reply, "+ACK", 4);
  }

  // Status notices about a pull request: 404/408 (nothing more, expired), 409 (interrupted:
  // leadership change, too many waiting requests; or the consumer was deleted), 400 (refused).
  Status handle_status(natsMsg* msg) {
    std::string_view subject = natsMsg_GetSubject(msg);
    if (!subject.starts_with(inbox_prefix_)) return Status::Ok();
    subject.remove_prefix(inbox_prefix_.size());
    size_t dash = subject.find('-');
    auto topic = parse_integer(subject.substr(0, dash));
    auto request =
        dash == std::string_view::npos ? std::nullopt : parse_integer(subject.substr(dash + 1));
    const char* status = nullptr;
    const char* description = nullptr;
    natsMsgHeader_Get(msg, "Status", &status);
    natsMsgHeader_Get(msg, "Description", &description);
    std::string_view code = status == nullptr ? "" : status;
    std::string text = description == nullptr ? "" : description;
    if (!topic || !request || *topic < 0 || static_cast<size_t>(*topic) >= pulls_.size()) {
      return Status::Ok();
    }
    Pull& pull = pulls_[static_cast<size_t>(*topic)];
    if (code == "400" || (code == "409" && text.find("Consumer Deleted") != std::string::npos)) {
      return make_error("JetStream refused the pull request for topic " + pull.topic + " (" +
                        pull.consumer + "): " + std::string(code) + " " + text);
    }
    if (code == "409") {
      // Interrupted (leadership change, too many waiting requests): ask again after a pause.
      stats_->pull_interruptions.fetch_add(1, std::memory_order_relaxed);
      retry_after_ = Clock::now() + kPullRetry;
    }
    if (static_cast<uint64_t>(*request) == pull.request) pull.open = false;
    return Status::Ok();
  }

  // Destroyed last: the subscription and context belong to the connection.
  ConnectionPtr connection_;
  JetStreamPtr js_;
  SubscriptionPtr inbox_;
  std::string inbox_prefix_;
  NatsConfig config_;
  std::shared_ptr<NatsStats> stats_;
  StatisticsPtr statistics_ = make_statistics();
  std::string request_body_;  // {"batch":B,"expires":ns}
  std::vector<Pull> pulls_;
  uint64_t requests_ = 0;
  uint64_t reconnects_seen_ = 0;
  Clock::time_point retry_after_;
  std::string reply_;
};

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

struct NatsDriver::State {
  ConnectionSpec connection_spec;
  NatsConfig config;
  std::shared_ptr<NatsStats> stats = std::make_shared<NatsStats>();
  std::mutex mutex;  // guards everything below; producers and consumers have their own
  ConnectionPtr control;
  JetStreamPtr js;  // on `control`, destroyed before it
  int servers = 1;
  std::map<std::string, int> partitions;  // of the topics created or prepared here
  bool connected = false;

  int replicas() const { return config.replicas > 0 ? config.replicas : std::min(3, servers); }
  std::string label() const { return servers_label(connection_spec.urls); }

  // nullptr when the stream does not exist.
  Result<StreamInfoPtr> stream_info(const std::string& name) {
    jsStreamInfo* raw = nullptr;
    jsErrCode code;
    natsStatus s = with_retries(config.timeout_ms, code, [&](jsErrCode* c) {
      return js_GetStreamInfo(&raw, js.get(), name.c_str(), nullptr, c);
    });
    StreamInfoPtr info(raw);
    if (s == NATS_OK) return info;
    if (code == JSStreamNotFoundErr) return StreamInfoPtr();
    return make_error("cannot look up JetStream stream " + name + ": " + error_text(s));
  }

  Status add_stream(StreamSpec& spec) {
    jsErrCode code;
    natsStatus s = with_retries(config.timeout_ms, code, [&](jsErrCode* c) {
      jsStreamInfo* raw = nullptr;
      natsStatus added = js_AddStream(&raw, js.get(), spec.config(), nullptr, c);
      jsStreamInfo_Destroy(raw);
      return added;
    });
    if (s == NATS_OK) return Status::Ok();
    std::string message = "cannot create JetStream stream " + spec.name() + ": " + error_text(s);
    if (code == JSStreamReplicasNotSupportedErr || code == JSInsufficientResourcesErr ||
        code == JSClusterNoPeersErr) {
      message += " (config replicas is " + std::to_string(spec.config()->Replicas) +
                 "; the servers must be a JetStream cluster of at least that many)";
    }
    return make_error(message);
  }

  Status delete_stream(const std::string& name) {
    jsErrCode code;
    natsStatus s = with_retries(config.timeout_ms, code, [&](jsErrCode* c) {
      return js_DeleteStream(js.get(), name.c_str(), nullptr, c);
    });
    if (s == NATS_OK || code == JSStreamNotFoundErr) return Status::Ok();
    return make_error("cannot delete JetStream stream " + name + ": " + error_text(s));
  }

  Status purge_stream(const std::string& name) {
    jsErrCode code;
    natsStatus s = with_retries(config.timeout_ms, code, [&](jsErrCode* c) {
      return js_PurgeStream(js.get(), name.c_str(), nullptr, c);
    });
    if (s == NATS_OK) return Status::Ok();
    return make_error("cannot purge JetStream stream " + name + ": " + error_text(s));
  }

  // The stream of `topic` with the config's replicas and storage: `info` as it exists now is
  // kept when it matches, re-created when it does not and holds no message yet.
  Status reconcile_stream(const std::string& topic, const jsStreamInfo& info, int partitions) {
    StreamSpec spec(topic, partitions, replicas(), config.memory_storage);
    if (spec.matches(info)) return Status::Ok();
    if (info.State.Msgs > 0) {
      return make_error("stream " + spec.name() + " of topic " + topic + " has " +
                        std::to_string(std::max<int64_t>(info.Config->Replicas, 1)) +
                        " replicas and " + storage_name(info.Config->Storage) +
                        " storage, the config asks for " + std::to_string(spec.config()->Replicas) +
                        " and " + storage_name(spec.config()->Storage) + ", and it already holds " +
                        std::to_string(info.State.Msgs) +
                        " messages; delete the topic or change the config");
    }
    if (Status s = delete_stream(spec.name()); !s.ok()) return s;
    return add_stream(spec);
  }

  // The group's durable pull consumer on `stream`, created or brought to the config's settings.
  Status ensure_durable(const std::string& stream, const std::string& group) {
    const std::string durable = nats_stream_name(group);
    jsConsumerConfig consumer;
    jsConsumerConfig_Init(&consumer);
    consumer.Durable = durable.c_str();
    consumer.Description = "dec consumer group";
    consumer.AckPolicy = js_AckExplicit;
    consumer.DeliverPolicy = js_DeliverAll;
    consumer.AckWait = int64_t{config.ack_wait_ms} * 1'000'000;
    consumer.MaxAckPending = config.max_ack_pending;
    jsErrCode code;
    natsStatus s = with_retries(config.timeout_ms, code, [&](jsErrCode* c) {
      jsConsumerInfo* raw = nullptr;
      natsStatus added = js_AddConsumer(&raw, js.get(), stream.c_str(), &consumer, nullptr, c);
      if (added != NATS_OK && *c == JSConsumerNameExistErr) {
        added = js_UpdateConsumer(&raw, js.get(), stream.c_str(), &consumer, nullptr, c);
      }
      jsConsumerInfo_Destroy(raw);
      return added;
    });
    if (s == NATS_OK) return Status::Ok();
    return make_error("cannot create JetStream consumer " + durable + " for group " + group +
                      " on stream " + stream + ": " + error_text(s));
  }
};

std::string nats_stream_name(const std::string& topic) { return safe_name(topic); }

// "host:port" or a URL with a scheme.
Result<std::string> server_url(const std::string& address) {
  if (address.find("://") != std::string::npos) return address;
  size_t colon = address.rfind(':');
  auto port = colon == std::string::npos ? std::nullopt : parse_integer(address.substr(colon + 1));
  if (colon == 0 || !port || *port < 1 || *port > 65535) {
    return make_error("bad NATS address \"" + address + "\": expected host:port");
  }
  return "nats://" + address;
}

std::string nats_jetstream_ready(const std::string& address, std::chrono::milliseconds timeout) {
  auto url = server_url(address);
  if (!url.ok()) return url.error();
  ConnectionSpec spec;
  spec.urls = {*url};
  spec.timeout_ms = static_cast<int>(timeout.count());
  spec.reconnect = false;
  auto connection = open_connection(spec);
  if (!connection.ok()) return connection.error();
  auto js = open_jetstream(connection->get(), spec.timeout_ms);
  if (!js.ok()) return js.error();
  jsAccountInfo* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetAccountInfo(&raw, js->get(), nullptr, &code);
  AccountInfoPtr info(raw);
  if (s != NATS_OK) return "JetStream at " + address + " does not answer yet: " + error_text(s);
  return "";
}

NatsDriver::NatsDriver() : state_(std::make_unique<State>()) {}
NatsDriver::~NatsDriver() = default;

Status NatsDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  std::vector<core::FieldError> errors =
      validate_driver_config(nats_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }
  if (endpoint.addresses.empty()) return make_error("NATS endpoint has no address");
  ConnectionSpec spec;
  for (const std::string& address : endpoint.addresses) {
    auto url = server_url(address);
    if (!url.ok()) return make_error(url.error());
    spec.urls.push_back(*url);
  }
  spec.properties = endpoint.properties;
  NatsConfig parsed = config_from(config);
  spec.timeout_ms = parsed.timeout_ms;

  std::lock_guard lock(state_->mutex);
  State& state = *state_;
  state.connected = false;
  state.js.reset();
  state.control.reset();
  state.partitions.clear();
  state.config = parsed;
  state.connection_spec = spec;
  auto control = open_connection(spec);
  if (!control.ok()) return make_error(control.error());
  state.control = std::move(*control);
  auto js = open_jetstream(state.control.get(), parsed.timeout_ms);
  if (!js.ok()) return make_error(js.error());
  state.js = std::move(*js);
  // JetStream must be on; in a cluster this also waits for a meta leader.
  jsErrCode code;
  natsStatus s = with_retries(parsed.timeout_ms, code, [&](jsErrCode* c) {
    jsAccountInfo* raw = nullptr;
    natsStatus answered = js_GetAccountInfo(&raw, state.js.get(), nullptr, c);
    jsAccountInfo_Destroy(raw);
    return answered;
  });
  if (s != NATS_OK) {
    return make_error("NATS at " + state.label() + " offers no JetStream (" + error_text(s) +
                      "); start nats-server with -js");
  }
  state.servers = std::max(known_servers(state.control.get()), static_cast<int>(spec.urls.size()));
  state.connected = true;
  return Status::Ok();
}

Status NatsDriver::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions must be from 1 to 100000");
  }
  std::lock_guard lock(state_->mutex);
  State& state = *state_;
  if (!state.connected) return make_error("NATS driver is not connected");
  if (state.replicas() > state.servers) {
    return make_error("config.replicas: " + std::to_string(state.replicas()) +
                      " replicas need as many JetStream servers, NATS at " + state.label() +
                      " has " + std::to_string(state.servers) + "; set replicas to at most " +
                      std::to_string(state.servers));
  }
  StreamSpec spec(topic, partitions, state.replicas(), state.config.memory_storage);
  auto info = state.stream_info(spec.name());
  if (!info.ok()) return make_error(info.error());
  Status ready = Status::Ok();
  if (!*info) {
    ready = state.add_stream(spec);
  } else if (spec.matches(**info)) {
    ready = state.purge_stream(spec.name());  // the run starts from an empty stream
  } else if (Status deleted = state.delete_stream(spec.name()); deleted.ok()) {
    ready = state.add_stream(spec);
  } else {
    ready = deleted;
  }
  if (ready.ok()) state.partitions[topic] = partitions;
  return ready;
}

Status NatsDriver::delete_topic(const std::string& topic) {
  std::lock_guard lock(state_->mutex);
  if (!state_->connected) return make_error("NATS driver is not connected");
  state_->partitions.erase(topic);
  return state_->delete_stream(nats_stream_name(topic));
}

Status NatsDriver::prepare_consumers(const std::vector<std::string>& topics,
                                     const std::vector<std::string>& groups) {
  std::lock_guard lock(state_->mutex);
  State& state = *state_;
  if (!state.connected) return make_error("NATS driver is not connected");
  for (const std::string& topic : topics) {
    const std::string stream = nats_stream_name(topic);
    auto info = state.stream_info(stream);
    if (!info.ok()) return make_error(info.error());
    if (!*info) {
      return make_error("topic " + topic + " has no JetStream stream " + stream +
                        " (create_topic creates it)");
    }
    std::optional<int> partitions = partitions_from(**info);
    if (!partitions) {
      return make_error("stream " + stream + " of topic " + topic +
                        " was not created by dec (no partition count in its description)");
    }
    // Topics created before the config was known (by the local provider) get its settings now.
    if (Status s = state.reconcile_stream(topic, **info, *partitions); !s.ok()) return s;
    state.partitions[topic] = *partitions;
    for (const std::string& group : groups) {
      if (Status s = state.ensure_durable(stream, group); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> NatsDriver::make_producer() {
  ConnectionSpec spec;
  NatsConfig config;
  std::map<std::string, int> partitions;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->connected) return make_error("NATS driver is not connected");
    spec = state_->connection_spec;
    config = state_->config;
    partitions = state_->partitions;
  }
  spec.send_asap = config.send_asap;
  auto connection = open_connection(spec);
  if (!connection.ok()) return make_error(connection.error());
  auto js = open_jetstream(connection->get(), config.timeout_ms);
  if (!js.ok()) return make_error(js.error());
  std::string reply_prefix;
  auto replies = subscribe_inbox(connection->get(), reply_prefix);
  if (!replies.ok()) return make_error(replies.error());
  return std::unique_ptr<Producer>(std::make_unique<NatsProducer>(
      std::move(*connection), std::move(*js), std::move(*replies), std::move(reply_prefix), config,
      std::move(partitions), state_->stats));
}

Result<std::unique_ptr<Consumer>> NatsDriver::make_consumer(const ConsumerOptions& options) {
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  ConnectionSpec spec;
  NatsConfig config;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->connected) return make_error("NATS driver is not connected");
    spec = state_->connection_spec;
    config = state_->config;
  }
  auto connection = open_connection(spec);
  if (!connection.ok()) return make_error(connection.error());
  auto js = open_jetstream(connection->get(), config.timeout_ms);
  if (!js.ok()) return make_error(js.error());
  auto consumer =
      std::make_unique<NatsConsumer>(std::move(*connection), std::move(*js), config, state_->stats);
  if (Status s = consumer->open_inbox(); !s.ok()) return make_error(s.error());
  const std::string durable = options.group.empty() ? "" : nats_stream_name(options.group);
  for (const std::string& topic : options.topics) {
    if (Status s = consumer->add_topic(topic, options.group, durable); !s.ok()) {
      return make_error(s.error());
    }
  }
  return std::unique_ptr<Consumer>(std::move(consumer));
}

std::vector<std::pair<std::string, uint64_t>> NatsDriver::counters() const {
  const NatsStats& stats = *state_->stats;
  return {
      {"nats.publish_timeouts", stats.publish_timeouts.load()},
      {"nats.publish_errors", stats.publish_errors.load()},
      {"nats.publish_send_failures", stats.publish_send_failures.load()},
      {"nats.publish_no_responders", stats.publish_no_responders.load()},
      {"nats.pull_no_responders", stats.pull_no_responders.load()},
      {"nats.pull_interruptions", stats.pull_interruptions.load()},
      {"nats.reconnects", stats.reconnects.load()},
  };
}

DriverInfo nats_driver_info() {
  DriverInfo info;
  info.name = "nats";
  info.description = "NATS JetStream (streams, durable pull consumers) through libnats";
  info.config_keys = nats_config_keys();
  info.topic_keys = {"replicas", "storage"};
  info.client_keys = {
      mapped_client_key(ClientField::kMaxInFlight, "max_in_flight", 1, 1'000'000),
      // libnats either writes each publish at once or lets its flusher gather writes for 1 ms:
      // any linger of a millisecond or more is the latter.
      mapped_client_key(ClientField::kLinger, "linger_ms", 0, 1),
      // How long a pull request waits in the server; messages arrive as soon as they exist.
      mapped_client_key(ClientField::kFetchWait, "fetch_wait_ms", 1, 60000),
      reported_client_key("fetch_batch"),
      reported_client_key("max_ack_pending"),
      reported_client_key("storage"),
      reported_client_key("replicas"),
  };
  info.create = [] { return std::make_unique<NatsDriver>(); };
  info.client_library = [] { return std::string("libnats ") + nats_GetVersion(); };
  return info;
}

}  // namespace dec::drivers
