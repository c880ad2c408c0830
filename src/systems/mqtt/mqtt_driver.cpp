#include "systems/mqtt/mqtt_driver.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

#include "core/hash.h"
#include "drivers/address.h"
#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kDefaultPort = 1883;
constexpr milliseconds kReconnectInterval{500};
constexpr int kMaxReconnectAttempts = 120;
constexpr int kMaxPartitions = 100000;
// MQTT packet ids are 16 bits and 0 is not one: the most messages that can await an ack at once.
constexpr int kMaxInflight = 65535;
// Most messages one Consumer::poll() hands over, so a flood cannot keep it from returning.
constexpr size_t kMaxMessagesPerPoll = 10000;

// ---- config -------------------------------------------------------------------------------

struct MqttConfig {
  int qos = 1;
  bool clean_session = true;
  int max_inflight = 20;
  bool v5 = true;
  int keepalive_s = 60;
  uint32_t session_expiry_s = 3600;
  int timeout_ms = 10000;
};

std::vector<ConfigKey> mqtt_config_keys() {
  return {
      {"qos",
       "QoS of publishes and subscriptions: 0 at most once (acked once written to the socket), "
       "1 at least once (PUBACK), 2 exactly once (PUBCOMP)",
       "1", one_of_check({"0", "1", "2"})},
      {"clean_session",
       "true: a consumer's subscription ends with its connection; false: the broker keeps a "
       "session per consumer and queues QoS >= 1 messages while it is disconnected",
       "true", one_of_check({"true", "false"})},
      {"max_inflight", "messages a producer keeps awaiting their ack (send() waits when full)",
       "20", integer_check(1, kMaxInflight)},
      {"protocol", "MQTT version: 5 (shared subscriptions for consumer groups) or 3.1.1", "5",
       one_of_check({"5", "3.1.1"})},
      {"keepalive_s", "seconds between keepalive pings on an idle connection (0 = none)", "60",
       [](const std::string& value) -> std::string {
         auto number = parse_integer(value);
         if (number && (*number == 0 || (*number >= 5 && *number <= 65535))) return "";
         return "0 or an integer from 5 to 65535";
       }},
      {"session_expiry_s",
       "MQTT 5 with clean_session false: how long the broker keeps a disconnected consumer's "
       "session (4294967295 = forever)",
       "3600", integer_check(0, 4294967295LL)},
      {"timeout_ms",
       "connect timeout, and the longest wait for an ack while messages await one before the "
       "connection counts as lost",
       "10000", integer_check(100, 600000)},
  };
}

// `settings` must have passed validate_driver_config.
MqttConfig config_from(const core::Settings& settings) {
  MqttConfig config;
  auto integer = [&](const char* key, long long fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? fallback : parse_integer(it->second).value_or(fallback);
  };
  auto text = [&](const char* key, const char* fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? std::string(fallback) : it->second;
  };
  config.qos = static_cast<int>(integer("qos", config.qos));
  config.clean_session = text("clean_session", "true") == "true";
  config.max_inflight = static_cast<int>(integer("max_inflight", config.max_inflight));
  config.v5 = text("protocol", "5") == "5";
  config.keepalive_s = static_cast<int>(integer("keepalive_s", config.keepalive_s));
  config.session_expiry_s = static_cast<uint32_t>(integer("session_expiry_s", 3600));
  config.timeout_ms = static_cast<int>(integer("timeout_ms", config.timeout_ms));
  return config;
}

// ---- addresses and sessions ---------------------------------------------------------------

// Where the broker is, and the credentials the provider gave (if any).
struct Target {
  std::string host;
  int port = kDefaultPort;
  std::string label;  // "host:port", for messages
  std::string username;
  std::string password;
};

Result<Target> parse_target(const std::string& text, const core::Settings& properties) {
  auto address = parse_host_port(text, kDefaultPort, "mqtt");
  if (!address.ok()) return make_error(address.error());
  Target target;
  target.host = address->host;
  target.port = address->port;
  target.label = target.host + ":" + std::to_string(target.port);
  if (auto user = properties.find("username"); user != properties.end()) {
    target.username = user->second;
  }
  if (auto password = properties.find("password"); password != properties.end()) {
    target.password = password->second;
  }
  return target;
}

// How one client connects.
struct SessionOptions {
  std::string client_id;
  bool clean = true;
  bool v5 = true;
  int keepalive_s = 60;
  int send_maximum = 20;  // QoS 1/2 messages libmosquitto keeps in flight to the broker
  // MQTT 5: QoS 1/2 messages the broker may have in flight to us. Always the most MQTT allows:
  // mosquitto 2.0.11 sends more than a smaller receive maximum (thousands were measured against
  // 64), and libmosquitto drops the connection as a protocol error when a QoS 2 message arrives
  // beyond it, so a smaller value would only break consumers.
  int receive_maximum = kMaxInflight;
  uint32_t session_expiry_s = 0;
};

// A client id nobody else uses: the broker drops the older of two connections with one id.
std::string random_client_id(const std::string& prefix) {
  static const char digits[] = "0123456789abcdef";
  std::random_device device;
  std::mt19937_64 generator((static_cast<uint64_t>(device()) << 32) ^ device());
  uint64_t bits = generator();
  std::string id = prefix;
  for (int i = 0; i < 16; ++i) id += digits[(bits >> (4 * i)) & 15];
  return id;
}

std::string mosquitto_error(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

// Errors of a publish that are about the message or the configuration, not the connection.
bool is_request_error(int rc) {
  return rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_MALFORMED_UTF8 ||
         rc == MOSQ_ERR_QOS_NOT_SUPPORTED || rc == MOSQ_ERR_OVERSIZE_PACKET ||
         rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_NOT_SUPPORTED;
}

// ---- TCP reachability ---------------------------------------------------------------------

// libmosquitto connects with a blocking connect(), which an unreachable host (a link taken
// down, packets dropped) holds for minutes. A non-blocking connect of dec's own comes first, so
// libmosquitto only ever connects to a broker that has just accepted a connection.
class TcpProbe {
 public:
  TcpProbe() = default;
  TcpProbe(const TcpProbe&) = delete;
  TcpProbe& operator=(const TcpProbe&) = delete;
  ~TcpProbe() { close(); }

  // Starts connecting; "" or why it failed at once.
  std::string start(const Target& target) {
    close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(target.port);
    if (int error = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found)) {
      return ::gai_strerror(error);
    }
    // IPv4 first, as libmosquitto's own lookup tends to land on it for "localhost".
    const addrinfo* chosen = found;
    for (const addrinfo* entry = found; entry; entry = entry->ai_next) {
      if (entry->ai_family == AF_INET) {
        chosen = entry;
        break;
      }
    }
    fd_ = ::socket(chosen->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      int error = errno;
      ::freeaddrinfo(found);
      return std::strerror(error);
    }
    int rc = ::connect(fd_, chosen->ai_addr, chosen->ai_addrlen);
    int error = errno;
    ::freeaddrinfo(found);
    if (rc != 0 && error != EINPROGRESS) {
      close();
      return std::strerror(error);
    }
    started_ = Clock::now();
    return "";
  }

  bool active() const { return fd_ >= 0; }
  Clock::time_point started() const { return started_; }

  // Waits up to `wait` for the outcome: 1 connected, 0 still connecting, -1 failed (`error`).
  int check(milliseconds wait, std::string& error) {
    pollfd descriptor{fd_, POLLOUT, 0};
    int ready = ::poll(&descriptor, 1, static_cast<int>(wait.count()));
    if (ready == 0) return 0;
    int code = ready < 0 ? errno : 0;
    socklen_t length = sizeof(code);
    if (ready > 0 && ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &code, &length) != 0) code = errno;
    close();
    if (code != 0) {
      error = std::strerror(code);
      return -1;
    }
    return 1;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  Clock::time_point started_;
};

// Blocks up to `timeout` until the broker accepts a TCP connection.
Status await_tcp(const Target& target, milliseconds timeout) {
  TcpProbe probe;
  if (std::string error = probe.start(target); !error.empty()) {
    return make_error("cannot connect to mqtt broker at " + target.label + ": " + error);
  }
  std::string error;
  int outcome = probe.check(timeout, error);
  if (outcome == 1) return Status::Ok();
  if (outcome == 0) {
    error = "no answer within " + std::to_string(timeout.count()) + " ms (config timeout_ms)";
  }
  return make_error("cannot connect to mqtt broker at " + target.label + ": " + error);
}

// ---- one libmosquitto client ----------------------------------------------------------------

// What a client reports; called from inside MqttClient::pump() (and publish, for QoS 0).
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  virtual void on_message(const mosquitto_message& message) { (void)message; }
  virtual void on_published(int mid, int reason_code) {
    (void)mid;
    (void)reason_code;
  }
  virtual void on_subscribed(int mid, std::span<const int> granted) {
    (void)mid;
    (void)granted;
  }
};

// One libmosquitto client driven with the non-threaded API from its owner's thread: nothing
// happens unless pump() (or a publish) is called. Callbacks only record what happened; the owner
// acts on failure() afterwards, never inside libmosquitto.
class MqttClient {
 public:
  // Creates the client, connects its socket and sends CONNECT; connected() once the broker
  // accepted (CONNACK). The caller has made sure the broker accepts TCP connections.
  static Result<std::unique_ptr<MqttClient>> start(const Target& target,
                                                   const SessionOptions& options,
                                                   ClientEvents* events) {
    std::unique_ptr<MqttClient> client(new MqttClient(target.label, options.v5, events));
    mosquitto* mosq = mosquitto_new(options.client_id.c_str(), options.clean, client.get());
    if (mosq == nullptr) {
      return make_error("cannot create an mqtt client: " + std::string(std::strerror(errno)));
    }
    client->mosq_ = mosq;
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         options.v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, options.send_maximum);
    mosquitto_int_option(mosq, MOSQ_OPT_RECEIVE_MAXIMUM, options.receive_maximum);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (!target.username.empty() || !target.password.empty()) {
      mosquitto_username_pw_set(mosq, target.username.c_str(),
                                target.password.empty() ? nullptr : target.password.c_str());
    }
    mosquitto_connect_v5_callback_set(mosq, &MqttClient::connect_callback);
    mosquitto_disconnect_v5_callback_set(mosq, &MqttClient::disconnect_callback);
    mosquitto_publish_v5_callback_set(mosq, &MqttClient::publish_callback);
    mosquitto_message_v5_callback_set(mosq, &MqttClient::message_callback);
    mosquitto_subscribe_v5_callback_set(mosq, &MqttClient::subscribe_callback);

    mosquitto_property* properties = nullptr;
    if (options.v5 && !options.clean) {
      // MQTT 5 ends a session when its connection closes unless it has an expiry.
      mosquitto_property_add_int32(&properties, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                   options.session_expiry_s);
    }
    int rc = mosquitto_connect_bind_v5(mosq, target.host.c_str(), target.port, options.keepalive_s,
                                       nullptr, properties);
    mosquitto_property_free_all(&properties);
    if (rc != MOSQ_ERR_SUCCESS) {
      return make_error("cannot connect to mqtt broker at " + target.label + ": " +
                        mosquitto_error(rc));
    }
    return client;
  }

  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  ~MqttClient() {
    if (mosq_ == nullptr) return;
    if (connected_) {
      // A clean DISCONNECT: the broker keeps a persistent session without treating it as lost.
      if (mosquitto_disconnect(mosq_) == MOSQ_ERR_SUCCESS) mosquitto_loop_write(mosq_, 1);
    }
    mosquitto_destroy(mosq_);
  }

  mosquitto* handle() const { return mosq_; }
  bool connected() const { return connected_ && failure_.empty(); }
  // Why the connection is gone; "" while it works.
  const std::string& failure() const { return failure_; }
  const std::string& label() const { return label_; }

  // Waits up to `wait` for the socket (to read, or to write while output is pending), reads what
  // has arrived, writes what is pending, and keeps the connection alive (PINGREQ). True when
  // anything was read.
  bool pump(std::chrono::nanoseconds wait) {
    if (!failure_.empty()) return false;
    int fd = mosquitto_socket(mosq_);
    if (fd < 0) {
      fail("connection to mqtt broker at " + label_ + " is closed");
      return false;
    }
    wait = std::max(wait, std::chrono::nanoseconds(0));
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(wait);
    timespec timeout{static_cast<time_t>(seconds.count()),
                     static_cast<decltype(timespec::tv_nsec)>((wait - seconds).count())};
    const bool want_write = mosquitto_want_write(mosq_);
    pollfd descriptor{fd, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    int ready = ::ppoll(&descriptor, 1, &timeout, nullptr);
    bool read = false;
    if (ready > 0 && (descriptor.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      // libmosquitto reads exactly one packet's bytes at a time, so the socket stays readable
      // while a packet is waiting: read until it is not (bounded, to return now and then).
      for (int round = 0; round < 1000; ++round) {
        int rc = mosquitto_loop_read(mosq_, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
          fail("connection to mqtt broker at " + label_ + " lost: " + mosquitto_error(rc));
          return true;
        }
        read = true;
        if (!failure_.empty() || mosquitto_socket(mosq_) < 0) return true;
        pollfd again{fd, POLLIN, 0};
        if (::poll(&again, 1, 0) <= 0) break;
      }
    }
    if (mosquitto_want_write(mosq_)) {
      int rc = mosquitto_loop_write(mosq_, 1);
      if (rc != MOSQ_ERR_SUCCESS) {
        fail("connection to mqtt broker at " + label_ + " lost: " + mosquitto_error(rc));
        return read;
      }
    }
    int rc = mosquitto_loop_misc(mosq_);
    if (rc != MOSQ_ERR_SUCCESS && failure_.empty()) {
      fail("connection to mqtt broker at " + label_ + " lost: " +
           (rc == MOSQ_ERR_NO_CONN ? std::string("no answer to keepalive ping")
                                   : mosquitto_error(rc)));
    }
    return read;
  }

  // Pumps until the broker accepted the connection, it failed, or `deadline` passed.
  Status wait_connected(Clock::time_point deadline) {
    while (!connected_ && failure_.empty()) {
      auto now = Clock::now();
      if (now >= deadline) {
        fail("mqtt broker at " + label_ + " did not answer CONNECT in time (config timeout_ms)");
        break;
      }
      pump(std::min<Clock::duration>(deadline - now, milliseconds(50)));
    }
    if (!failure_.empty()) return make_error(failure_);
    return Status::Ok();
  }

  void fail(std::string reason) {
    if (failure_.empty()) failure_ = std::move(reason);
  }

 private:
  MqttClient(std::string label, bool v5, ClientEvents* events)
      : events_(events), label_(std::move(label)), v5_(v5) {}

  static MqttClient* self(void* data) { return static_cast<MqttClient*>(data); }

  static void connect_callback(mosquitto*, void* data, int rc, int, const mosquitto_property*) {
    MqttClient* client = self(data);
    if (rc == 0) {
      client->connected_ = true;
      return;
    }
    client->fail("mqtt broker at " + client->label_ + " refused the connection: " +
                 (client->v5_ ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc)));
  }

  static void disconnect_callback(mosquitto*, void* data, int rc, const mosquitto_property*) {
    MqttClient* client = self(data);
    // A DISCONNECT from an MQTT 5 broker carries a reason code (>= 0x80 for errors); a broken
    // connection a libmosquitto error code.
    std::string why;
    if (rc >= 0x80) {
      why = mosquitto_reason_string(rc);
    } else if (rc == 0) {
      why = "closed";
    } else if (rc == MOSQ_ERR_ERRNO) {
      why = "connection lost";  // errno no longer tells why
    } else {
      why = mosquitto_strerror(rc);
    }
    client->fail("connection to mqtt broker at " + client->label_ + " lost: " + why);
  }

  static void publish_callback(mosquitto*, void* data, int mid, int reason_code,
                               const mosquitto_property*) {
    MqttClient* client = self(data);
    if (client->events_ != nullptr) client->events_->on_published(mid, reason_code);
  }

  static void message_callback(mosquitto*, void* data, const mosquitto_message* message,
                               const mosquitto_property*) {
    MqttClient* client = self(data);
    if (client->events_ != nullptr && message != nullptr) client->events_->on_message(*message);
  }

  static void subscribe_callback(mosquitto*, void* data, int mid, int count, const int* granted,
                                 const mosquitto_property*) {
    MqttClient* client = self(data);
    if (client->events_ != nullptr) {
      client->events_->on_subscribed(
          mid, std::span<const int>(granted, granted == nullptr ? 0 : static_cast<size_t>(count)));
    }
  }

  mosquitto* mosq_ = nullptr;
  ClientEvents* events_;
  std::string label_;
  bool v5_;
  bool connected_ = false;
  std::string failure_;
};

// Connects and waits for CONNACK, all within `timeout`.
Result<std::unique_ptr<MqttClient>> open_client(const Target& target, const SessionOptions& options,
                                                ClientEvents* events, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  if (Status reachable = await_tcp(target, timeout); !reachable.ok()) {
    return make_error(reachable.error());
  }
  auto client = MqttClient::start(target, options, events);
  if (!client.ok()) return client;
  if (Status connected = (*client)->wait_connected(deadline); !connected.ok()) {
    return make_error(connected.error());
  }
  return client;
}

// ---- reconnecting ---------------------------------------------------------------------------

struct Stats {
  std::atomic<uint64_t> connections_lost{0};
  std::atomic<uint64_t> reconnect_attempts{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> sends_while_disconnected{0};
};

// A producer's or consumer's connection. After lost(), reconnect() tries again without ever
// blocking for long: a non-blocking TCP connect first, then libmosquitto's connect (to a broker
// that just accepted one) and CONNACK, both checked on later calls; an attempt at most every
// kReconnectInterval, at most kMaxReconnectAttempts in a row, then the link stays down.
class Link {
 public:
  Link(Target target, SessionOptions options, ClientEvents* events, int timeout_ms,
       std::shared_ptr<Stats> stats)
      : target_(std::move(target)),
        options_(std::move(options)),
        events_(events),
        timeout_(timeout_ms),
        stats_(std::move(stats)) {}

  // Connects at once, waiting up to the timeout: for make_producer / make_consumer.
  Status open() {
    auto client = open_client(target_, options_, events_, timeout_);
    if (!client.ok()) return make_error(client.error());
    client_ = std::move(*client);
    ++generation_;
    return Status::Ok();
  }

  // The connected client; null while down or reconnecting.
  MqttClient* client() const { return client_ && client_->connected() ? client_.get() : nullptr; }
  // Incremented on each (re)connection: a consumer subscribes again when it changes.
  uint64_t generation() const { return generation_; }
  const std::string& down_error() const { return down_error_; }
  const Target& target() const { return target_; }

  // Drops the client (and everything libmosquitto still held for it); never called from inside
  // one of its callbacks.
  void lost(const std::string& error) {
    std::string cause = error;  // `error` may belong to the client being dropped
    client_.reset();
    probe_.close();
    stats_->connections_lost.fetch_add(1, std::memory_order_relaxed);
    attempts_ = 0;
    next_attempt_ = Clock::now() + kReconnectInterval;
    set_down(cause);
  }

  // True when connected, possibly again after this call.
  bool reconnect() {
    if (client() != nullptr) return true;
    Clock::time_point now = Clock::now();
    if (client_) return finish_connect(now);
    if (probe_.active()) return finish_probe(now);
    if (now < next_attempt_ || attempts_ >= kMaxReconnectAttempts) return false;
    ++attempts_;
    stats_->reconnect_attempts.fetch_add(1, std::memory_order_relaxed);
    next_attempt_ = now + kReconnectInterval;
    attempt_started_ = now;
    if (std::string error = probe_.start(target_); !error.empty()) {
      set_down("cannot connect to mqtt broker at " + target_.label + ": " + error);
      return false;
    }
    return finish_probe(now);  // a local broker often accepts at once
  }

 private:
  bool finish_probe(Clock::time_point now) {
    std::string error;
    int outcome = probe_.check(milliseconds(0), error);
    if (outcome == 0) {
      if (now - probe_.started() >= kReconnectInterval) {
        probe_.close();
        set_down("cannot connect to mqtt broker at " + target_.label + ": no answer within " +
                 std::to_string(kReconnectInterval.count()) + " ms");
      }
      return false;
    }
    if (outcome < 0) {
      set_down("cannot connect to mqtt broker at " + target_.label + ": " + error);
      return false;
    }
    auto client = MqttClient::start(target_, options_, events_);
    if (!client.ok()) {
      set_down(client.error());
      return false;
    }
    client_ = std::move(*client);
    return finish_connect(now);
  }

  bool finish_connect(Clock::time_point now) {
    client_->pump(std::chrono::nanoseconds(0));
    if (client_->connected()) {
      ++generation_;
      stats_->reconnects.fetch_add(1, std::memory_order_relaxed);
      down_error_.clear();
      attempts_ = 0;
      return true;
    }
    if (!client_->failure().empty() || now - attempt_started_ >= timeout_) {
      std::string failure = client_->failure().empty()
                                ? "mqtt broker at " + target_.label + " did not answer CONNECT"
                                : client_->failure();
      client_.reset();
      set_down(failure);
    }
    return false;
  }

  void set_down(const std::string& cause) {
    down_error_ = "mqtt broker unreachable (" + cause + "); ";
    if (attempts_ >= kMaxReconnectAttempts) {
      down_error_ +=
          "gave up after " + std::to_string(kMaxReconnectAttempts) + " reconnection attempts";
    } else {
      down_error_ +=
          "reconnecting at most every " + std::to_string(kReconnectInterval.count()) + " ms";
    }
  }

  Target target_;
  SessionOptions options_;
  ClientEvents* events_;
  milliseconds timeout_;
  std::shared_ptr<Stats> stats_;
  std::unique_ptr<MqttClient> client_;  // connected, or connecting while reconnecting
  TcpProbe probe_;
  uint64_t generation_ = 0;
  int attempts_ = 0;  // attempts since the connection was lost
  Clock::time_point next_attempt_;
  Clock::time_point attempt_started_;
  std::string down_error_;
};

// ---- messages on the wire -------------------------------------------------------------------

// MQTT messages have no key: it goes in front of the payload, its length as a varint.
void frame_message(std::string& out, std::string_view key, std::string_view payload) {
  out.clear();
  size_t length = key.size();
  while (length >= 0x80) {
    out.push_back(static_cast<char>((length & 0x7F) | 0x80));
    length >>= 7;
  }
  out.push_back(static_cast<char>(length));
  out.append(key);
  out.append(payload);
}

// Splits what frame_message() made; false for anything else (a message from another client).
bool unframe_message(std::string_view wire, std::string_view& key, std::string_view& payload) {
  size_t length = 0;
  size_t i = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= wire.size() || shift > 28) return false;
    auto byte = static_cast<unsigned char>(wire[i++]);
    length |= static_cast<size_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (length > wire.size() - i) return false;
  key = wire.substr(i, length);
  payload = wire.substr(i + length);
  return true;
}

// "T/3" -> topic "T", partition 3; -1 when the last level is not a partition number.
std::pair<std::string_view, int> split_topic(std::string_view wire_topic) {
  size_t slash = wire_topic.rfind('/');
  if (slash == std::string_view::npos) return {wire_topic, -1};
  auto partition = parse_integer(wire_topic.substr(slash + 1));
  if (!partition || *partition < 0 || *partition >= kMaxPartitions) return {wire_topic, -1};
  return {wire_topic.substr(0, slash), static_cast<int>(*partition)};
}

// Topic names dec can map: MQTT forbids wildcards in published topics, and "$" topics belong to
// the broker.
std::string topic_name_problem(const std::string& topic) {
  if (topic.empty()) return "an MQTT topic name cannot be empty";
  if (topic.find_first_of("+#") != std::string::npos) {
    return "an MQTT topic name cannot contain the wildcards + or #";
  }
  if (topic.front() == '$') return "MQTT topic names starting with $ belong to the broker";
  if (topic.find('\0') != std::string::npos) return "an MQTT topic name cannot contain NUL";
  if (mosquitto_pub_topic_check2((topic + "/0").c_str(), topic.size() + 2) != MOSQ_ERR_SUCCESS ||
      mosquitto_validate_utf8(topic.c_str(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS) {
    return "not a valid MQTT topic name (UTF-8, at most 65535 bytes)";
  }
  return "";
}

// Control sessions (records, session set-up) collect what happened for their blocking waits.
struct ControlEvents : ClientEvents {
  void on_message(const mosquitto_message& message) override {
    messages.emplace_back(
        message.topic ? message.topic : "",
        std::string(static_cast<const char*>(message.payload),
                    message.payload ? static_cast<size_t>(message.payloadlen) : 0));
  }
  void on_published(int mid, int reason_code) override { published[mid] = reason_code; }
  void on_subscribed(int mid, std::span<const int> granted) override {
    subscribed[mid].assign(granted.begin(), granted.end());
  }
  std::vector<std::pair<std::string, std::string>> messages;  // topic, payload
  std::map<int, int> published;                               // mid -> reason code
  std::map<int, std::vector<int>> subscribed;                 // mid -> granted QoS / reason
};

// Pumps `client` until `done`; an error naming `what` when the connection fails or `deadline`
// passes first.
Status pump_until(MqttClient& client, Clock::time_point deadline, const std::function<bool()>& done,
                  const std::string& what) {
  while (!done()) {
    if (!client.failure().empty()) return make_error(what + ": " + client.failure());
    auto now = Clock::now();
    if (now >= deadline) {
      return make_error(what + ": no answer from mqtt broker at " + client.label() +
                        " in time (config timeout_ms)");
    }
    client.pump(std::min<Clock::duration>(deadline - now, milliseconds(50)));
  }
  return Status::Ok();
}

// Subscribes and waits for SUBACK; an error naming the first filter the broker refused.
Status subscribe_and_wait(MqttClient& client, ControlEvents& events,
                          const std::vector<std::string>& filters, int qos,
                          Clock::time_point deadline) {
  std::vector<char*> pointers;
  for (const std::string& filter : filters) pointers.push_back(const_cast<char*>(filter.c_str()));
  int mid = 0;
  int rc = mosquitto_subscribe_multiple(client.handle(), &mid, static_cast<int>(pointers.size()),
                                        pointers.data(), qos, 0, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    return make_error("cannot subscribe at mqtt broker at " + client.label() + ": " +
                      mosquitto_error(rc));
  }
  Status acked = pump_until(
      client, deadline, [&] { return events.subscribed.count(mid) > 0; }, "subscribing");
  if (!acked.ok()) return acked;
  const std::vector<int>& granted = events.subscribed[mid];
  for (size_t i = 0; i < filters.size(); ++i) {
    if (i >= granted.size() || granted[i] >= 0x80) {
      return make_error(
          "mqtt broker at " + client.label() + " refused the subscription to " + filters[i] +
          (i < granted.size() ? " (" + std::string(mosquitto_reason_string(granted[i])) + ")"
                              : std::string()));
    }
  }
  return Status::Ok();
}

// Publishes one control message at QoS 1 and waits for its PUBACK.
Status publish_and_wait(MqttClient& client, ControlEvents& events, const std::string& topic,
                        const std::string& payload, bool retain, Clock::time_point deadline) {
  int mid = 0;
  int rc =
      mosquitto_publish_v5(client.handle(), &mid, topic.c_str(), static_cast<int>(payload.size()),
                           payload.data(), 1, retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    return make_error("cannot publish " + topic + " to mqtt broker at " + client.label() + ": " +
                      mosquitto_error(rc));
  }
  Status acked = pump_until(
      client, deadline, [&] { return events.published.count(mid) > 0; }, "publishing " + topic);
  if (!acked.ok()) return acked;
  if (int reason = events.published[mid]; reason >= 0x80) {
    return make_error("mqtt broker at " + client.label() + " refused " + topic + ": " +
                      mosquitto_reason_string(reason));
  }
  return Status::Ok();
}

}  // namespace

// ---- driver state -------------------------------------------------------------------------

struct MqttDriver::State {
  Target target;
  MqttConfig config;
  std::shared_ptr<Stats> stats = std::make_shared<Stats>();
  bool connected = false;
  std::mutex mutex;                       // guards partitions
  std::map<std::string, int> partitions;  // records created or read by this driver

  milliseconds timeout() const { return milliseconds(config.timeout_ms); }

  SessionOptions session(std::string client_id, bool clean) const {
    SessionOptions options;
    options.client_id = std::move(client_id);
    options.clean = clean;
    options.v5 = config.v5;
    options.keepalive_s = config.keepalive_s;
    options.send_maximum = config.max_inflight;
    options.session_expiry_s = clean ? 0 : config.session_expiry_s;
    return options;
  }

  // A short-lived clean session for records and session set-up.
  Result<std::unique_ptr<MqttClient>> control(ControlEvents& events) const {
    return open_client(target, session(random_client_id("dec-control-"), true), &events, timeout());
  }

  // The subscription filter of `topic` for a consumer of `group` ("" = none).
  std::string filter(const std::string& topic, const std::string& group) const {
    if (!group.empty() && config.v5) return "$share/" + group + "/" + topic + "/+";
    return topic + "/+";
  }

  // Partitions of `topic`: recorded by this driver, else read from the broker. The retained
  // record arrives (if there is one) after SUBACK and before the answer to a publish this
  // client makes afterwards, because the broker handles one client's packets in order: so the
  // marker's arrival proves there is no record, without waiting for a timeout.
  Result<int> partitions_of(const std::string& topic) {
    std::lock_guard lock(mutex);
    if (auto known = partitions.find(topic); known != partitions.end()) return known->second;
    ControlEvents events;
    auto client = control(events);
    if (!client.ok()) return make_error(client.error());
    auto deadline = Clock::now() + timeout();
    const std::string record = mqtt_partitions_record(topic);
    const std::string marker = "dec/lookup/" + random_client_id("");
    if (Status s = subscribe_and_wait(**client, events, {record, marker}, 0, deadline); !s.ok()) {
      return make_error("looking up the partitions of " + topic + ": " + s.error());
    }
    int mid = 0;
    int rc =
        mosquitto_publish_v5((*client)->handle(), &mid, marker.c_str(), 1, "x", 0, false, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return make_error("looking up the partitions of " + topic + ": " + mosquitto_error(rc));
    }
    auto marker_seen = [&] {
      return std::any_of(events.messages.begin(), events.messages.end(),
                         [&](const auto& message) { return message.first == marker; });
    };
    if (Status s =
            pump_until(**client, deadline, marker_seen, "looking up the partitions of " + topic);
        !s.ok()) {
      return make_error(s.error());
    }
    int count = 1;  // no record: a topic dec did not create, one partition
    for (const auto& [name, payload] : events.messages) {
      if (name == marker) break;
      if (name != record || payload.empty()) continue;
      auto parsed = parse_integer(payload);
      if (!parsed || *parsed < 1 || *parsed > kMaxPartitions) {
        return make_error("the retained message " + record +
                          " does not hold a partition count: \"" + payload + "\"");
      }
      count = static_cast<int>(*parsed);
    }
    partitions[topic] = count;
    return count;
  }
};

std::vector<std::string> mqtt_topic_names(const std::string& topic, int partitions) {
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(std::max(partitions, 1)));
  for (int p = 0; p < std::max(partitions, 1); ++p)
    names.push_back(topic + "/" + std::to_string(p));
  return names;
}

std::string mqtt_partitions_record(const std::string& topic) { return "dec/partitions/" + topic; }

namespace {

using core::fnv1a;  // stable across processes, so dec workers agree on a key's partition

// ---- producer -----------------------------------------------------------------------------

class MqttProducer final : public Producer, public ClientEvents {
 public:
  MqttProducer(std::shared_ptr<MqttDriver::State> state, const SessionOptions& options)
      : state_(std::move(state)),
        link_(state_->target, options, this, state_->config.timeout_ms, state_->stats),
        callbacks_(static_cast<size_t>(kMaxInflight) + 1),
        window_(static_cast<size_t>(state_->config.max_inflight)),
        qos_(state_->config.qos),
        timeout_(state_->config.timeout_ms) {}

  Status open() { return link_.open(); }

  ~MqttProducer() override {
    // Deliver what the broker has acknowledged; whatever is left is reported as lost.
    (void)flush();
    fail_outstanding("producer closed before the mqtt broker acknowledged the message");
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    MqttClient* client = connected_client();
    if (client == nullptr) {
      // Accepted and failed at once: the sender carries on while the link reconnects.
      state_->stats->sends_while_disconnected.fetch_add(1, std::memory_order_relaxed);
      on_ack(false, link_.down_error());
      return Status::Ok();
    }
    Route* route = find_route(topic);
    if (route == nullptr) {
      on_ack(false, lookup_error_);
      return Status::Ok();
    }
    size_t partition = route->topics.size() == 1 ? 0
                       : key.empty()             ? route->next++ % route->topics.size()
                                                 : fnv1a(key) % route->topics.size();
    frame_message(frame_, key, payload);
    while (outstanding_ >= window_ && await_ack()) {
    }
    client = link_.client();
    if (client == nullptr) {
      state_->stats->sends_while_disconnected.fetch_add(1, std::memory_order_relaxed);
      on_ack(false, link_.down_error());
      return Status::Ok();
    }
    int mid = 0;
    early_mid_ = 0;
    publishing_ = true;
    int rc =
        mosquitto_publish_v5(client->handle(), &mid, route->topics[partition].c_str(),
                             static_cast<int>(frame_.size()), frame_.data(), qos_, false, nullptr);
    publishing_ = false;
    if (rc != MOSQ_ERR_SUCCESS) {
      if (is_request_error(rc)) {
        return make_error("cannot publish to " + route->topics[partition] + ": " +
                          mosquitto_error(rc));
      }
      connection_lost("connection to mqtt broker at " + link_.target().label +
                      " lost: " + mosquitto_error(rc));
      on_ack(false, link_.down_error());
      return Status::Ok();
    }
    if (early_mid_ == mid && mid != 0) {  // QoS 0, written during the publish itself
      early_mid_ = 0;
      deliver(on_ack, early_reason_);
    } else {
      if (outstanding_ == 0) last_progress_ = Clock::now();
      callbacks_[static_cast<uint16_t>(mid)] = std::move(on_ack);
      ++outstanding_;
    }
    if (!client->failure().empty()) connection_lost(client->failure());
    return Status::Ok();
  }

  // Failures, including a lost connection, reach the messages through their callbacks.
  Status flush() override {
    while (outstanding_ > 0 && await_ack()) {
    }
    return Status::Ok();
  }

  size_t in_flight() const override { return outstanding_; }

  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    auto until = Clock::now() + max_wait;
    MqttClient* client = connected_client();
    if (client == nullptr) {
      std::this_thread::sleep_until(until);
      return Status::Ok();
    }
    if (outstanding_ > 0) {
      auto deadline = last_progress_ + timeout_;
      if (Clock::now() >= deadline) {
        connection_lost(no_ack_error());
        return Status::Ok();
      }
      until = std::min(until, deadline);
    }
    client->pump(until - Clock::now());
    if (!client->failure().empty()) connection_lost(client->failure());
    return Status::Ok();
  }

  // ClientEvents: an ack (QoS 1 PUBACK, QoS 2 PUBCOMP, QoS 0 written).
  void on_published(int mid, int reason_code) override {
    auto& slot = callbacks_[static_cast<uint16_t>(mid)];
    if (!slot) {
      if (publishing_) {  // the message being published: its callback is not stored yet
        early_mid_ = mid;
        early_reason_ = reason_code;
      }
      return;
    }
    AckCallback callback = std::move(slot);
    slot = nullptr;
    --outstanding_;
    last_progress_ = Clock::now();
    deliver(callback, reason_code);
  }

 private:
  struct Route {
    std::string topic;
    std::vector<std::string> topics;  // the MQTT topic of each partition
    size_t next = 0;
  };

  static void deliver(AckCallback& callback, int reason_code) {
    if (reason_code >= 0x80) {
      callback(false, std::string("mqtt broker refused the message: ") +
                          mosquitto_reason_string(reason_code));
    } else {
      callback(true, {});
    }
  }

  MqttClient* connected_client() {
    if (MqttClient* client = link_.client()) return client;
    if (link_.reconnect()) {
      routes_.clear();  // looked up again: the broker may have restarted without its records
      return link_.client();
    }
    return nullptr;
  }

  // The topic's partition topics, looked up on first use; nullptr (lookup_error_ set) when the
  // lookup failed, tried again at most every kReconnectInterval.
  Route* find_route(const std::string& topic) {
    if (last_route_ < routes_.size() && routes_[last_route_].topic == topic) {
      return &routes_[last_route_];
    }
    for (size_t i = 0; i < routes_.size(); ++i) {
      if (routes_[i].topic == topic) {
        last_route_ = i;
        return &routes_[i];
      }
    }
    if (Clock::now() < next_lookup_) return nullptr;
    auto partitions = state_->partitions_of(topic);
    if (!partitions.ok()) {
      lookup_error_ = partitions.error();
      next_lookup_ = Clock::now() + kReconnectInterval;
      return nullptr;
    }
    routes_.push_back({topic, mqtt_topic_names(topic, *partitions), 0});
    last_route_ = routes_.size() - 1;
    return &routes_.back();
  }

  // Waits for an ack (or a write to complete) within the timeout; false once the link is down.
  bool await_ack() {
    MqttClient* client = link_.client();
    if (client == nullptr) return false;
    auto deadline = last_progress_ + timeout_;
    auto now = Clock::now();
    if (now >= deadline) {
      connection_lost(no_ack_error());
      return false;
    }
    client->pump(deadline - now);
    if (!client->failure().empty()) {
      connection_lost(client->failure());
      return false;
    }
    return true;
  }

  std::string no_ack_error() const {
    return "no acknowledgement from mqtt broker at " + link_.target().label + " within " +
           std::to_string(timeout_.count()) + " ms (config timeout_ms)";
  }

  void connection_lost(const std::string& error) {
    link_.lost(error);
    fail_outstanding(link_.down_error());
  }

  void fail_outstanding(const std::string& error) {
    for (size_t mid = 1; mid < callbacks_.size() && outstanding_ > 0; ++mid) {
      if (!callbacks_[mid]) continue;
      AckCallback callback = std::move(callbacks_[mid]);
      callbacks_[mid] = nullptr;
      --outstanding_;
      callback(false, error);
    }
  }

  std::shared_ptr<MqttDriver::State> state_;
  Link link_;
  std::vector<AckCallback> callbacks_;  // by MQTT packet id
  size_t window_;
  int qos_;
  milliseconds timeout_;
  size_t outstanding_ = 0;
  Clock::time_point last_progress_;  // last ack, or when the first outstanding message was sent
  std::string frame_;                // reused for every message
  std::vector<Route> routes_;
  size_t last_route_ = 0;
  std::string lookup_error_;
  Clock::time_point next_lookup_;
  bool publishing_ = false;
  int early_mid_ = 0;
  int early_reason_ = 0;
};

// ---- consumer -----------------------------------------------------------------------------

class MqttConsumer final : public Consumer, public ClientEvents {
 public:
  MqttConsumer(std::shared_ptr<MqttDriver::State> state, const SessionOptions& options,
               std::vector<std::string> filters)
      : state_(std::move(state)),
        link_(state_->target, options, this, state_->config.timeout_ms, state_->stats),
        filters_(std::move(filters)),
        qos_(state_->config.qos) {}

  Status open() {
    if (Status opened = link_.open(); !opened.ok()) return opened;
    return subscribe();
  }

  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    delivered_ = 0;
    // Messages that arrived outside poll() (with CONNACK, while reconnecting) first.
    while (!buffered_.empty() && delivered_ < kMaxMessagesPerPoll) {
      const Buffered& message = buffered_.front();
      ReceivedMessage received;
      received.topic = message.topic;
      received.key = message.key;
      received.payload = message.payload;
      received.partition = message.partition;
      on_message(received);
      ++delivered_;
      buffered_.pop_front();
    }
    auto deadline = Clock::now() + timeout;
    current_ = &on_message;
    struct Reset {
      const std::function<void(const ReceivedMessage&)>** current;
      ~Reset() { *current = nullptr; }
    } reset{&current_};
    for (;;) {
      MqttClient* client = link_.client();
      if (client == nullptr && link_.reconnect()) client = link_.client();
      if (client == nullptr) {
        // Down: nothing to read until the next attempt; do not spin.
        if (delivered_ == 0) std::this_thread::sleep_until(deadline);
        break;
      }
      if (subscribed_generation_ != link_.generation()) {
        if (Status s = subscribe(); !s.ok()) {
          link_.lost(s.error());
          continue;
        }
      }
      if (!refused_.empty()) return make_error(refused_);
      auto now = Clock::now();
      bool read = client->pump(delivered_ > 0 ? Clock::duration(0) : deadline - now);
      if (!client->failure().empty()) {
        std::string failure = client->failure();
        subscribed_ = false;
        link_.lost(failure);
        continue;
      }
      if (!refused_.empty()) return make_error(refused_);
      if (delivered_ >= kMaxMessagesPerPoll || Clock::now() >= deadline) break;
      if (!read && delivered_ > 0) break;
    }
    return delivered_;
  }

  bool ready() const override { return subscribed_ && link_.client() != nullptr; }

  // MQTT cannot tell: no packet asks the broker what it still queues for a subscription.
  std::optional<uint64_t> backlog() override { return std::nullopt; }

  void on_message(const mosquitto_message& message) override {
    std::string_view wire(static_cast<const char*>(message.payload),
                          message.payload ? static_cast<size_t>(message.payloadlen) : 0);
    std::string_view key;
    std::string_view payload = wire;
    if (!unframe_message(wire, key, payload)) {
      key = {};
      payload = wire;  // not dec's framing: handed over as is, the engine calls it foreign
    }
    auto [topic, partition] = split_topic(message.topic ? message.topic : "");
    if (current_ != nullptr) {
      ReceivedMessage received;
      received.topic = topic;
      received.key = key;
      received.payload = payload;
      received.partition = partition;
      (*current_)(received);
      ++delivered_;
      return;
    }
    buffered_.push_back({std::string(topic), std::string(key), std::string(payload), partition});
  }

  void on_subscribed(int mid, std::span<const int> granted) override {
    if (mid != subscribe_mid_) return;
    for (size_t i = 0; i < filters_.size(); ++i) {
      if (i >= granted.size() || granted[i] >= 0x80) {
        refused_ =
            "mqtt broker at " + link_.target().label + " refused the subscription to " +
            filters_[i] +
            (i < granted.size() ? " (" + std::string(mosquitto_reason_string(granted[i])) + ")"
                                : std::string());
        return;
      }
    }
    subscribed_ = true;
  }

 private:
  struct Buffered {
    std::string topic;
    std::string key;
    std::string payload;
    int partition;
  };

  // Sends SUBSCRIBE for every filter at once; ready() once SUBACK arrives (in poll()).
  Status subscribe() {
    MqttClient* client = link_.client();
    if (client == nullptr) return make_error(link_.down_error());
    std::vector<char*> pointers;
    for (const std::string& filter : filters_) {
      pointers.push_back(const_cast<char*>(filter.c_str()));
    }
    subscribed_ = false;
    int rc = mosquitto_subscribe_multiple(client->handle(), &subscribe_mid_,
                                          static_cast<int>(pointers.size()), pointers.data(), qos_,
                                          0, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return make_error("cannot subscribe at mqtt broker at " + link_.target().label + ": " +
                        mosquitto_error(rc));
    }
    subscribed_generation_ = link_.generation();
    return Status::Ok();
  }

  std::shared_ptr<MqttDriver::State> state_;
  Link link_;
  std::vector<std::string> filters_;
  int qos_;
  int subscribe_mid_ = -1;
  uint64_t subscribed_generation_ = 0;
  bool subscribed_ = false;
  std::string refused_;
  const std::function<void(const ReceivedMessage&)>* current_ = nullptr;
  size_t delivered_ = 0;
  std::deque<Buffered> buffered_;
};

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// A persistent session's client id: stable, so a consumer comes back to its own session.
std::string session_client_id(const std::string& group, int member) {
  return "dec-" + (group.empty() ? std::string("all") : group) + "-" + std::to_string(member);
}

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

MqttDriver::MqttDriver() : state_(std::make_shared<State>()) {}
MqttDriver::~MqttDriver() = default;

Status MqttDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  std::vector<core::FieldError> errors =
      validate_driver_config(mqtt_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }
  if (endpoint.addresses.empty()) return make_error("mqtt endpoint has no address");
  if (endpoint.addresses.size() > 1) {
    return make_error("the mqtt driver talks to one broker, got " +
                      std::to_string(endpoint.addresses.size()) +
                      " addresses (bridged or clustered brokers are not supported)");
  }
  auto target = parse_target(endpoint.addresses.front(), endpoint.properties);
  if (!target.ok()) return make_error(target.error());
  init_library();

  auto state = std::make_shared<State>();
  state->target = std::move(*target);
  state->config = config_from(config);
  state->stats = state_->stats;
  // Fail here, with the broker's own answer, rather than at the first producer.
  ControlEvents events;
  auto probe = state->control(events);
  if (!probe.ok()) return make_error(probe.error());
  state->connected = true;
  state_ = std::move(state);
  return Status::Ok();
}

Status MqttDriver::create_topic(const std::string& topic, int partitions) {
  if (!state_->connected) return make_error("mqtt driver is not connected");
  if (std::string problem = topic_name_problem(topic); !problem.empty()) {
    return make_error("topic \"" + topic + "\": " + problem);
  }
  if (partitions < 1 || partitions > kMaxPartitions) {
    return make_error("topic " + topic + ": partitions must be from 1 to " +
                      std::to_string(kMaxPartitions));
  }
  ControlEvents events;
  auto client = state_->control(events);
  if (!client.ok()) return make_error(client.error());
  if (Status s =
          publish_and_wait(**client, events, mqtt_partitions_record(topic),
                           std::to_string(partitions), true, Clock::now() + state_->timeout());
      !s.ok()) {
    return make_error("cannot record the partitions of " + topic + ": " + s.error());
  }
  std::lock_guard lock(state_->mutex);
  state_->partitions[topic] = partitions;
  return Status::Ok();
}

// Clears the record (an empty retained message deletes it); the MQTT topics need no deletion.
Status MqttDriver::delete_topic(const std::string& topic) {
  if (!state_->connected) return make_error("mqtt driver is not connected");
  {
    std::lock_guard lock(state_->mutex);
    state_->partitions.erase(topic);
  }
  ControlEvents events;
  auto client = state_->control(events);
  if (!client.ok()) return make_error(client.error());
  return publish_and_wait(**client, events, mqtt_partitions_record(topic), "", true,
                          Clock::now() + state_->timeout());
}

// Clean sessions need nothing: a consumer's subscription starts with it. Persistent sessions
// start here, so messages sent before any consumer connects are queued for the group: member 0's
// session of each group is reset (a session left by an earlier run would hold its messages and
// subscriptions) and subscribed, then left disconnected.
Status MqttDriver::prepare_consumers(const std::vector<std::string>& topics,
                                     const std::vector<std::string>& groups) {
  if (!state_->connected) return make_error("mqtt driver is not connected");
  for (const std::string& topic : topics) {
    if (std::string problem = topic_name_problem(topic); !problem.empty()) {
      return make_error("topic \"" + topic + "\": " + problem);
    }
  }
  if (state_->config.clean_session || topics.empty()) return Status::Ok();
  for (const std::string& group : groups) {
    const std::string id = session_client_id(group, 0);
    {
      // Connecting with a clean session ends whatever session had this id.
      ControlEvents events;
      auto reset =
          open_client(state_->target, state_->session(id, true), &events, state_->timeout());
      if (!reset.ok()) return make_error("resetting session " + id + ": " + reset.error());
    }
    ControlEvents events;
    auto client =
        open_client(state_->target, state_->session(id, false), &events, state_->timeout());
    if (!client.ok()) return make_error("creating session " + id + ": " + client.error());
    std::vector<std::string> filters;
    for (const std::string& topic : topics) filters.push_back(state_->filter(topic, group));
    if (Status s = subscribe_and_wait(**client, events, filters, state_->config.qos,
                                      Clock::now() + state_->timeout());
        !s.ok()) {
      return make_error("creating session " + id + ": " + s.error());
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> MqttDriver::make_producer() {
  if (!state_->connected) return make_error("mqtt driver is not connected");
  // Producers keep no session: what they have in flight fails with the connection.
  auto producer = std::make_unique<MqttProducer>(
      state_, state_->session(random_client_id("dec-producer-"), true));
  if (Status s = producer->open(); !s.ok()) return make_error(s.error());
  return std::unique_ptr<Producer>(std::move(producer));
}

Result<std::unique_ptr<Consumer>> MqttDriver::make_consumer(const ConsumerOptions& options) {
  if (!state_->connected) return make_error("mqtt driver is not connected");
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  if (options.topics.empty()) return make_error("consumer has no topic to read");
  for (const std::string& topic : options.topics) {
    if (std::string problem = topic_name_problem(topic); !problem.empty()) {
      return make_error("topic \"" + topic + "\": " + problem);
    }
  }
  if (!options.group.empty()) {
    if (options.group.find_first_of("/+#") != std::string::npos) {
      return make_error("consumer group \"" + options.group +
                        "\": an MQTT shared subscription name cannot contain /, + or #");
    }
    if (!state_->config.v5 && options.group_size > 1) {
      return make_error(
          "config.protocol: a consumer group of " + std::to_string(options.group_size) +
          " members needs MQTT 5 shared subscriptions; set protocol: 5 or use one consumer per "
          "group");
    }
  }
  std::vector<std::string> filters;
  for (const std::string& topic : options.topics) {
    filters.push_back(state_->filter(topic, options.group));
  }
  const bool clean = state_->config.clean_session;
  std::string id = clean ? random_client_id("dec-consumer-")
                         : session_client_id(options.group, options.member_index);
  auto consumer =
      std::make_unique<MqttConsumer>(state_, state_->session(std::move(id), clean), filters);
  if (Status s = consumer->open(); !s.ok()) return make_error(s.error());
  return std::unique_ptr<Consumer>(std::move(consumer));
}

std::vector<std::pair<std::string, uint64_t>> MqttDriver::counters() const {
  const Stats& stats = *state_->stats;
  return {
      {"mqtt.connections_lost", stats.connections_lost.load()},
      {"mqtt.reconnect_attempts", stats.reconnect_attempts.load()},
      {"mqtt.reconnects", stats.reconnects.load()},
      {"mqtt.sends_while_disconnected", stats.sends_while_disconnected.load()},
  };
}

DriverInfo mqtt_driver_info() {
  DriverInfo info;
  info.name = "mqtt";
  info.description =
      "MQTT 5 / 3.1.1 through libmosquitto (Eclipse Mosquitto): topic T = MQTT topics T/<p>, "
      "acks by QoS (0: written to the socket, 1: PUBACK, 2: PUBCOMP), consumer groups as shared "
      "subscriptions";
  info.config_keys = mqtt_config_keys();
  info.client_keys = {
      // The producer's window; MQTT packet ids allow at most 65535 messages in flight.
      mapped_client_key(ClientField::kMaxInFlight, "max_inflight", 1, kMaxInflight),
      reported_client_key("qos"),
      reported_client_key("clean_session"),
      reported_client_key("protocol"),
  };
  info.create = [] { return std::make_unique<MqttDriver>(); };
  info.client_library = [] {
    int major = 0, minor = 0, revision = 0;
    mosquitto_lib_version(&major, &minor, &revision);
    return "libmosquitto " + std::to_string(major) + "." + std::to_string(minor) + "." +
           std::to_string(revision);
  };
  return info;
}

}  // namespace dec::drivers
