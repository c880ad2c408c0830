#include "systems/rabbitmq/rabbitmq_driver.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <variant>

#include "core/hash.h"
#include "drivers/address.h"
#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kDefaultPort = 5672;
// Channels of one connection: messages flow on the data channel; declarations and lookups use the
// admin channel, so a server error there (NOT_FOUND closes the channel) never closes the channel
// that has publishes awaiting confirms or deliveries awaiting acks. The records channel is put in
// transaction mode to write the topic's records.
constexpr amqp_channel_t kDataChannel = 1;
constexpr amqp_channel_t kAdminChannel = 2;
constexpr amqp_channel_t kRecordsChannel = 3;
constexpr int kFrameMax = 131072;
// Every partition is a queue per group: thousands of queues are a broker's whole job.
constexpr int kMaxPartitions = 1000;
constexpr uint16_t kNotFound = 404;  // AMQP reply code
constexpr milliseconds kReconnectInterval{500};
constexpr int kMaxReconnectAttempts = 120;
// The longest a reconnection attempt may stall a client's thread.
constexpr milliseconds kReconnectTimeout{1000};
// Deliveries handed over by one poll() at most, so a busy queue cannot keep it from returning.
constexpr size_t kMaxPollBatch = 8192;

// ---- config -------------------------------------------------------------------------------

struct RabbitConfig {
  bool quorum = false;
  bool confirm = true;
  int max_in_flight = 1000;
  int prefetch = 500;
  bool persistent = true;
  bool auto_ack = false;
  int timeout_ms = 10000;
};

std::vector<ConfigKey> rabbitmq_config_keys() {
  return {
      {"queue_type",
       "classic or quorum (x-queue-type) for the partition queues; quorum queues replicate through "
       "Raft and are always durable",
       "classic", one_of_check({"classic", "quorum"})},
      {"confirm",
       "publisher confirms: a message is acked when the broker confirms it; false = acked once "
       "written to the socket (the broker may not have it yet)",
       "true", one_of_check({"true", "false"})},
      {"max_in_flight",
       "publishes awaiting a confirm per producer (with confirm); send() waits for confirms when "
       "the window is full",
       "1000", integer_check(1, 1000000)},
      {"prefetch", "unacknowledged deliveries per subscription (basic.qos; 0 = unlimited)", "500",
       integer_check(0, 65535)},
      {"persistent", "delivery_mode 2 (written to disk by durable queues) instead of 1", "true",
       one_of_check({"true", "false"})},
      {"auto_ack",
       "no_ack subscriptions: the broker forgets a message once sent (at most once); false = "
       "basic.ack after the message is handed over",
       "false", one_of_check({"true", "false"})},
      {"timeout_ms",
       "connect, login and administration timeout, and the longest wait for a publisher confirm or "
       "for the socket to take a message before the connection counts as lost",
       "10000", integer_check(100, 600000)},
  };
}

// `settings` must have passed validate_driver_config.
RabbitConfig config_from(const core::Settings& settings) {
  RabbitConfig config;
  auto integer = [&](const char* key, int fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? fallback
                                : static_cast<int>(parse_integer(it->second).value_or(fallback));
  };
  auto flag = [&](const char* key, bool fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? fallback : it->second == "true";
  };
  auto queue_type = settings.find("queue_type");
  config.quorum = queue_type != settings.end() && queue_type->second == "quorum";
  config.confirm = flag("confirm", config.confirm);
  config.max_in_flight = integer("max_in_flight", config.max_in_flight);
  config.prefetch = integer("prefetch", config.prefetch);
  config.persistent = flag("persistent", config.persistent);
  config.auto_ack = flag("auto_ack", config.auto_ack);
  config.timeout_ms = integer("timeout_ms", config.timeout_ms);
  return config;
}

// ---- AMQP helpers ---------------------------------------------------------------------------

amqp_bytes_t to_bytes(std::string_view text) {
  amqp_bytes_t bytes;
  bytes.len = text.size();
  bytes.bytes = const_cast<char*>(text.data());
  return bytes;
}

std::string_view view_of(amqp_bytes_t bytes) {
  return bytes.len == 0 ? std::string_view()
                        : std::string_view(static_cast<const char*>(bytes.bytes), bytes.len);
}

timeval to_timeval(std::chrono::nanoseconds duration) {
  duration = std::max(duration, std::chrono::nanoseconds(0));
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(duration);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(duration - seconds);
  return {static_cast<time_t>(seconds.count()), static_cast<suseconds_t>(micros.count())};
}

// The reply text of a broker's channel.close or connection.close ("NOT_FOUND - no queue 'x' in
// vhost '/'"), and its reply code.
std::pair<std::string, uint16_t> close_reason(const amqp_method_t& method) {
  if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_channel_close_t*>(method.decoded);
    return {std::string(view_of(close->reply_text)), close->reply_code};
  }
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_connection_close_t*>(method.decoded);
    return {std::string(view_of(close->reply_text)), close->reply_code};
  }
  return {"unexpected method " + std::to_string(method.id), 0};
}

using Address = HostPort;

Result<Address> parse_address(const std::string& text) {
  return parse_host_port(text, kDefaultPort, "RabbitMQ");
}

struct Credentials {
  std::string username = "guest";
  std::string password = "guest";
  std::string vhost = "/";
};

Credentials credentials_from(const core::Settings& properties) {
  Credentials credentials;
  if (auto it = properties.find("username"); it != properties.end()) {
    credentials.username = it->second;
  }
  if (auto it = properties.find("password"); it != properties.end()) {
    credentials.password = it->second;
  }
  if (auto it = properties.find("vhost"); it != properties.end()) credentials.vhost = it->second;
  return credentials;
}

// What went wrong in a call to the broker.
struct Failure {
  std::string message;
  uint16_t code = 0;        // the broker's reply code when it closed the channel or connection
  bool connection = false;  // the connection is gone (not only a channel)
};

// One AMQP connection. librabbitmq parses frames and keeps the protocol state; this class keeps
// track of which channels are open and of why the connection died, and answers the broker's
// channel.close / connection.close as the protocol requires.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const Address& address,
                                                  const Credentials& credentials,
                                                  milliseconds timeout) {
    amqp_connection_state_t state = amqp_new_connection();
    if (state == nullptr) return make_error("cannot allocate an AMQP connection");
    std::unique_ptr<Connection> connection(new Connection(state, address.label));
    amqp_socket_t* socket = amqp_tcp_socket_new(state);
    if (socket == nullptr) return make_error("cannot allocate an AMQP socket");
    timeval wait = to_timeval(timeout);
    int status = amqp_socket_open_noblock(socket, address.host.c_str(), address.port, &wait);
    if (status != AMQP_STATUS_OK) {
      return make_error("cannot connect to RabbitMQ at " + address.label + ": " +
                        amqp_error_string2(status));
    }
    amqp_set_handshake_timeout(state, &wait);
    amqp_set_rpc_timeout(state, &wait);
    // No heartbeats: librabbitmq only handles them inside its own calls, so an idle client would
    // be disconnected; dead connections show up as socket errors and timeouts instead.
    amqp_rpc_reply_t reply =
        amqp_login(state, credentials.vhost.c_str(), 0, kFrameMax, 0, AMQP_SASL_METHOD_PLAIN,
                   credentials.username.c_str(), credentials.password.c_str());
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      std::string why;
      if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        why = close_reason(reply.reply).first;
      } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        why = amqp_error_string2(reply.library_error);
      } else {
        why = "no reply";
      }
      return make_error("RabbitMQ at " + address.label + " refused the login of user \"" +
                        credentials.username + "\" on vhost \"" + credentials.vhost + "\": " + why);
    }
    connection->alive_ = true;
    return connection;
  }

  ~Connection() {
    if (alive_) {
      // A goodbye, not a wait: a broker that does not answer within a second is left as is.
      timeval wait = to_timeval(milliseconds(1000));
      amqp_set_rpc_timeout(state_, &wait);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state_);
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t state() const { return state_; }
  const std::string& label() const { return label_; }
  bool alive() const { return alive_; }
  // Why the connection died; "" while it lives.
  const std::string& death() const { return death_; }
  bool channel_open(amqp_channel_t channel) const { return open_[channel]; }

  void kill(const std::string& why) {
    if (!alive_) return;
    alive_ = false;
    death_ = why;
    open_.fill(false);
  }

  // Opens `channel` unless it is open.
  std::optional<Failure> ensure_channel(amqp_channel_t channel) {
    if (!alive_) return Failure{death_, 0, true};
    if (open_[channel]) return std::nullopt;
    amqp_channel_open(state_, channel);
    if (auto failure = check(channel, "cannot open a channel on RabbitMQ at " + label_)) {
      return failure;
    }
    open_[channel] = true;
    return std::nullopt;
  }

  // Closes `channel` (an RPC); the connection stays.
  std::optional<Failure> close_channel(amqp_channel_t channel) {
    if (!alive_ || !open_[channel]) return std::nullopt;
    open_[channel] = false;
    return check(channel, "cannot close a channel on RabbitMQ at " + label_,
                 amqp_channel_close(state_, channel, AMQP_REPLY_SUCCESS));
  }

  // The outcome of the last RPC librabbitmq made on `channel`: nullopt when it succeeded, else
  // what went wrong, prefixed with `what`.
  std::optional<Failure> check(amqp_channel_t channel, const std::string& what) {
    return check(channel, what, amqp_get_rpc_reply(state_));
  }
  std::optional<Failure> check(amqp_channel_t channel, const std::string& what,
                               const amqp_rpc_reply_t& reply) {
    switch (reply.reply_type) {
      case AMQP_RESPONSE_NORMAL:
        return std::nullopt;
      case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
          auto [text, code] = closed_channel(channel, reply.reply);
          return Failure{what + ": " + text, code, !alive_};
        }
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
          auto [text, code] = closed_connection(reply.reply);
          return Failure{what + ": " + text, code, true};
        }
        kill("RabbitMQ at " + label_ + " answered with an unexpected method " +
             std::to_string(reply.reply.id));
        return Failure{what + ": " + death_, 0, true};
      case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        kill("connection to RabbitMQ at " + label_ +
             " lost: " + amqp_error_string2(reply.library_error));
        return Failure{what + ": " + death_, 0, true};
      case AMQP_RESPONSE_NONE:
        break;
    }
    kill("RabbitMQ at " + label_ + " sent no reply");
    return Failure{what + ": " + death_, 0, true};
  }

  // Answers a channel.close from the broker (the channel may then be opened again); returns its
  // reply text and code.
  std::pair<std::string, uint16_t> closed_channel(amqp_channel_t channel,
                                                  const amqp_method_t& method) {
    auto reason = close_reason(method);
    open_[channel] = false;
    amqp_channel_close_ok_t close_ok{};
    if (int status = amqp_send_method(state_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        status != AMQP_STATUS_OK) {
      kill("connection to RabbitMQ at " + label_ + " lost: " + amqp_error_string2(status));
    }
    return reason;
  }

  // Answers a connection.close from the broker; the connection is dead afterwards.
  std::pair<std::string, uint16_t> closed_connection(const amqp_method_t& method) {
    auto reason = close_reason(method);
    amqp_connection_close_ok_t close_ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
    kill("RabbitMQ at " + label_ + " closed the connection: " + reason.first);
    return {death_, reason.second};
  }

  // The next frame, waiting up to `timeout` (0: only what has arrived). AMQP_STATUS_TIMEOUT when
  // none came; any other error kills the connection.
  int next_frame(amqp_frame_t& frame, std::chrono::nanoseconds timeout) {
    timeval wait = to_timeval(timeout);
    int status = amqp_simple_wait_frame_noblock(state_, &frame, &wait);
    if (status != AMQP_STATUS_OK && status != AMQP_STATUS_TIMEOUT) {
      kill("connection to RabbitMQ at " + label_ + " lost: " + amqp_error_string2(status));
    }
    return status;
  }

  // Frames already read from the socket (queued by an RPC or buffered), ready without waiting.
  bool has_pending_frames() const {
    return amqp_frames_enqueued(state_) || amqp_data_in_buffer(state_);
  }

  // Waits up to `timeout` until the socket takes more data. librabbitmq writes without a time
  // limit, so a broker that stops reading (a resource alarm blocks publishers; a frozen or
  // unreachable host) would block a publish for ever; this bounds it.
  bool wait_writable(milliseconds timeout) {
    pollfd descriptor{amqp_get_sockfd(state_), POLLOUT, 0};
    if (descriptor.fd < 0) return false;
    int ready = ::poll(&descriptor, 1, static_cast<int>(timeout.count()));
    return ready > 0 && (descriptor.revents & POLLOUT) != 0;
  }

 private:
  Connection(amqp_connection_state_t state, std::string label)
      : state_(state), label_(std::move(label)) {}

  amqp_connection_state_t state_;
  std::string label_;
  bool alive_ = false;
  std::string death_;
  std::array<bool, 4> open_{};
};

// A message's content: the header frame's properties and the body, from the frames following a
// basic.deliver / basic.return / basic.get-ok. `assembled` holds a body that spans frames; a body
// in one frame is viewed where librabbitmq keeps it (valid until its buffers are released).
struct Content {
  const amqp_basic_properties_t* properties = nullptr;
  std::string_view body;
};

// Returns nullopt on success, else why the message could not be read (the connection is then
// out of step and killed).
std::optional<std::string> read_content(Connection& connection, amqp_channel_t channel,
                                        milliseconds timeout, Content& out,
                                        std::string& assembled) {
  amqp_frame_t frame;
  auto next = [&]() -> std::optional<std::string> {
    int status = connection.next_frame(frame, timeout);
    if (status == AMQP_STATUS_TIMEOUT) {
      connection.kill("RabbitMQ at " + connection.label() + " sent a partial message");
    }
    if (status != AMQP_STATUS_OK) return connection.death();
    if (frame.channel != channel ||
        (frame.frame_type != AMQP_FRAME_HEADER && frame.frame_type != AMQP_FRAME_BODY)) {
      connection.kill("RabbitMQ at " + connection.label() + " interrupted a message's content");
      return connection.death();
    }
    return std::nullopt;
  };
  if (auto error = next()) return error;
  if (frame.frame_type != AMQP_FRAME_HEADER) {
    connection.kill("RabbitMQ at " + connection.label() + " sent a body without a header");
    return connection.death();
  }
  out.properties = static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
  const uint64_t size = frame.payload.properties.body_size;
  out.body = {};
  if (size == 0) return std::nullopt;
  if (auto error = next()) return error;
  if (frame.frame_type != AMQP_FRAME_BODY) {
    connection.kill("RabbitMQ at " + connection.label() + " sent a header without a body");
    return connection.death();
  }
  std::string_view first = view_of(frame.payload.body_fragment);
  if (first.size() >= size) {
    out.body = first.substr(0, size);
    return std::nullopt;
  }
  assembled.assign(first);
  while (assembled.size() < size) {
    if (auto error = next()) return error;
    assembled.append(view_of(frame.payload.body_fragment));
  }
  out.body = std::string_view(assembled).substr(0, size);
  return std::nullopt;
}

// The value of header `name` (a string) in `properties`; empty when absent.
std::string_view header_value(const amqp_basic_properties_t* properties, std::string_view name) {
  if (properties == nullptr || (properties->_flags & AMQP_BASIC_HEADERS_FLAG) == 0) return {};
  const amqp_table_t& headers = properties->headers;
  for (int i = 0; i < headers.num_entries; ++i) {
    const amqp_table_entry_t& entry = headers.entries[i];
    if (view_of(entry.key) != name) continue;
    if (entry.value.kind == AMQP_FIELD_KIND_UTF8 || entry.value.kind == AMQP_FIELD_KIND_BYTES) {
      return view_of(entry.value.value.bytes);
    }
  }
  return {};
}

// The queue's x-queue-type argument.
struct QueueArguments {
  amqp_table_entry_t entry{};
  amqp_table_t table{};
  explicit QueueArguments(bool quorum) {
    entry.key = amqp_cstring_bytes("x-queue-type");
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = amqp_cstring_bytes(quorum ? "quorum" : "classic");
    table.num_entries = 1;
    table.entries = &entry;
  }
  QueueArguments(const QueueArguments&) = delete;
  QueueArguments& operator=(const QueueArguments&) = delete;
};

// ---- topic records and administration ---------------------------------------------------------

// Queue names are at most 255 bytes (AMQP short strings).
Status check_names(const std::string& topic, const std::string& group, int partitions) {
  if (topic.empty()) return make_error("a RabbitMQ topic needs a name");
  if (topic.rfind("amq.", 0) == 0) {
    return make_error("topic \"" + topic + "\": names starting with \"amq.\" are reserved by AMQP");
  }
  size_t longest = std::max(rabbitmq_partitions_queue(topic).size(),
                            rabbitmq_queue_name(topic, group, partitions - 1).size());
  if (longest > 255) {
    return make_error("topic \"" + topic + "\" with group \"" + group +
                      "\": RabbitMQ names are at most 255 bytes; use shorter names");
  }
  return Status::Ok();
}

// The partition count recorded for `topic` (the message count of its partitions queue); a
// Failure with code 404 when the topic was never created.
std::variant<int, Failure> lookup_partitions(Connection& connection, const std::string& topic) {
  if (auto failure = connection.ensure_channel(kAdminChannel)) return *failure;
  const std::string queue = rabbitmq_partitions_queue(topic);
  amqp_queue_declare_ok_t* declared = amqp_queue_declare(
      connection.state(), kAdminChannel, to_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  if (auto failure =
          connection.check(kAdminChannel, "cannot look up the partitions of topic " + topic)) {
    if (failure->code == kNotFound) {
      failure->message = "topic \"" + topic + "\" does not exist on RabbitMQ at " +
                         connection.label() + " (no queue " + queue + "; create the topic first)";
    }
    return *failure;
  }
  if (declared == nullptr || declared->message_count < 1 ||
      declared->message_count > static_cast<uint32_t>(kMaxPartitions)) {
    return Failure{"queue " + queue + " on RabbitMQ at " + connection.label() +
                   " does not hold a partition count (" +
                   std::to_string(declared ? declared->message_count : 0) +
                   " messages): delete the topic and create it again"};
  }
  return static_cast<int>(declared->message_count);
}

// Publishes `bodies` to `queue` (through the default exchange) in one transaction, persistent.
std::optional<Failure> publish_committed(Connection& connection, const std::string& queue,
                                         const std::vector<std::string>& bodies) {
  if (auto failure = connection.ensure_channel(kRecordsChannel)) return failure;
  amqp_tx_select(connection.state(), kRecordsChannel);
  if (auto failure = connection.check(kRecordsChannel, "cannot start a transaction")) {
    return failure;
  }
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  for (const std::string& body : bodies) {
    int status = amqp_basic_publish(connection.state(), kRecordsChannel, amqp_empty_bytes,
                                    to_bytes(queue), 0, 0, &properties, to_bytes(body));
    if (status != AMQP_STATUS_OK) {
      connection.kill("connection to RabbitMQ at " + connection.label() +
                      " lost: " + amqp_error_string2(status));
      return Failure{"cannot write to queue " + queue + ": " + connection.death(), 0, true};
    }
  }
  amqp_tx_commit(connection.state(), kRecordsChannel);
  if (auto failure = connection.check(kRecordsChannel, "cannot write to queue " + queue)) {
    return failure;
  }
  // A fresh channel next time: a channel stays in transaction mode.
  return connection.close_channel(kRecordsChannel);
}

std::optional<Failure> declare_queue(Connection& connection, const std::string& queue,
                                     bool quorum) {
  QueueArguments arguments(quorum);
  if (auto failure = connection.ensure_channel(kAdminChannel)) return failure;
  amqp_queue_declare(connection.state(), kAdminChannel, to_bytes(queue), 0, 1, 0, 0,
                     arguments.table);
  return connection.check(kAdminChannel, "cannot declare queue " + queue);
}

// Deletes `queue` (RabbitMQ answers delete-ok for a queue that does not exist).
std::optional<Failure> delete_queue(Connection& connection, const std::string& queue) {
  if (auto failure = connection.ensure_channel(kAdminChannel)) return failure;
  amqp_queue_delete(connection.state(), kAdminChannel, to_bytes(queue), 0, 0);
  auto failure = connection.check(kAdminChannel, "cannot delete queue " + queue);
  if (failure && failure->code == kNotFound) return std::nullopt;
  return failure;
}

// The groups recorded for `topic`, taken out of the record (delete_topic only).
std::variant<std::set<std::string>, Failure> take_groups(Connection& connection,
                                                         const std::string& topic) {
  std::set<std::string> groups;
  const std::string queue = rabbitmq_groups_queue(topic);
  std::string assembled;
  for (int taken = 0; taken < 1'000'000; ++taken) {
    if (auto failure = connection.ensure_channel(kAdminChannel)) return *failure;
    amqp_rpc_reply_t reply = amqp_basic_get(connection.state(), kAdminChannel, to_bytes(queue), 1);
    if (auto failure = connection.check(kAdminChannel, "cannot read queue " + queue, reply)) {
      if (failure->code == kNotFound) break;  // no group was ever prepared
      return *failure;
    }
    if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
    Content content;
    if (auto error =
            read_content(connection, kAdminChannel, milliseconds(10000), content, assembled)) {
      return Failure{"cannot read queue " + queue + ": " + *error, 0, true};
    }
    groups.insert(std::string(content.body));
    amqp_maybe_release_buffers(connection.state());
  }
  return groups;
}

// ---- clients ------------------------------------------------------------------------------

// Failures seen by a driver's producers and consumers, for Driver::counters().
struct Stats {
  std::atomic<uint64_t> connections_lost{0};
  std::atomic<uint64_t> reconnect_attempts{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> sends_while_down{0};
  std::atomic<uint64_t> returned{0};
  std::atomic<uint64_t> nacked{0};
};

// What producers and consumers need from their driver.
struct ClientContext {
  Address address;
  Credentials credentials;
  RabbitConfig config;
  std::shared_ptr<Stats> stats;
};

// A producer's or consumer's connection. Once lost, the client is down: reconnect() tries again,
// starting an attempt at most every kReconnectInterval and at most kMaxReconnectAttempts times in
// a row (each bounded by kReconnectTimeout); then the client stays down.
class Link {
 public:
  Link(std::shared_ptr<const ClientContext> context, std::unique_ptr<Connection> connection)
      : context_(std::move(context)), connection_(std::move(connection)) {}

  // Null while down.
  Connection* connection() const {
    return connection_ && connection_->alive() ? connection_.get() : nullptr;
  }
  const ClientContext& context() const { return *context_; }
  // Why the client is down, for the messages that cannot be sent meanwhile.
  const std::string& down_error() const { return down_error_; }

  // Drops the connection (dead or not); `why` says what happened.
  void lost(const std::string& why) {
    if (!connection_) return;
    std::string reason = why.empty() ? connection_->death() : why;
    if (reason.empty()) reason = "connection to RabbitMQ at " + context_->address.label + " lost";
    connection_->kill(reason);
    connection_.reset();
    context_->stats->connections_lost.fetch_add(1, std::memory_order_relaxed);
    attempts_ = 0;
    next_attempt_ = Clock::now() + kReconnectInterval;
    set_down(reason);
  }

  // True when connected, possibly again after this call (the caller sets its channels up).
  bool reconnect() {
    if (connection()) return true;
    if (connection_) lost("");  // died inside a call: note it first
    Clock::time_point now = Clock::now();
    if (now < next_attempt_ || attempts_ >= kMaxReconnectAttempts) return false;
    ++attempts_;
    context_->stats->reconnect_attempts.fetch_add(1, std::memory_order_relaxed);
    next_attempt_ = now + kReconnectInterval;
    milliseconds timeout = std::min(milliseconds(context_->config.timeout_ms), kReconnectTimeout);
    auto opened = Connection::open(context_->address, context_->credentials, timeout);
    if (!opened.ok()) {
      set_down(opened.error());
      return false;
    }
    connection_ = std::move(*opened);
    context_->stats->reconnects.fetch_add(1, std::memory_order_relaxed);
    down_error_.clear();
    return true;
  }

 private:
  void set_down(const std::string& cause) {
    down_error_ = "RabbitMQ connection down (" + cause + "); ";
    if (attempts_ >= kMaxReconnectAttempts) {
      down_error_ +=
          "gave up after " + std::to_string(kMaxReconnectAttempts) + " reconnection attempts";
    } else {
      down_error_ +=
          "reconnecting at most every " + std::to_string(kReconnectInterval.count()) + " ms";
    }
  }

  std::shared_ptr<const ClientContext> context_;
  std::unique_ptr<Connection> connection_;
  std::string down_error_;
  Clock::time_point next_attempt_;
  int attempts_ = 0;
};

// ---- producer -------------------------------------------------------------------------------

class RabbitProducer final : public Producer {
 public:
  RabbitProducer(std::shared_ptr<const ClientContext> context,
                 std::unique_ptr<Connection> connection)
      : link_(context, std::move(connection)),
        config_(context->config),
        window_(config_.confirm ? static_cast<size_t>(config_.max_in_flight) : 1),
        slots_(window_) {
    properties_._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties_.delivery_mode =
        config_.persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
    key_entry_.key = amqp_cstring_bytes("k");
    key_entry_.value.kind = AMQP_FIELD_KIND_UTF8;
  }

  ~RabbitProducer() override {
    // Deliver what RabbitMQ has confirmed; whatever is left is reported as lost.
    (void)flush();
    fail_outstanding("producer closed before RabbitMQ confirmed the message");
  }

  // Connects (again) if need be and sets the data channel up (confirm.select); false when that
  // failed, and setup_error() says why.
  bool ready_to_publish() {
    Connection* connection = link_.connection();
    if (connection == nullptr) {
      lose("");  // a connection that died inside a call: its messages fail first
      if (!link_.reconnect()) return false;
      connection = link_.connection();
    }
    if (connection->channel_open(kDataChannel)) return true;
    auto failure = connection->ensure_channel(kDataChannel);
    if (!failure && config_.confirm) {
      amqp_confirm_select(connection->state(), kDataChannel);
      failure = connection->check(kDataChannel, "cannot enable publisher confirms");
    }
    if (failure) {
      if (failure->connection) {
        lose(failure->message);
      } else {
        channel_error_ = failure->message;
      }
      return false;
    }
    // Delivery tags count from 1 on each channel.
    next_tag_ = 1;
    head_tag_ = 1;
    return true;
  }

  const std::string& setup_error() const {
    return channel_error_.empty() ? link_.down_error() : channel_error_;
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    channel_error_.clear();
    if (!ready_to_publish()) return fail_now(on_ack);
    auto route = find_route(topic);
    if (!route.ok()) return make_error(route.error());
    if (*route == nullptr) return fail_now(on_ack);
    Route& target = **route;
    while (config_.confirm && next_tag_ - head_tag_ >= window_) {
      receive(milliseconds(config_.timeout_ms));  // a full window: wait for the oldest confirms
      if (!link_.connection() || !link_.connection()->channel_open(kDataChannel)) {
        return fail_now(on_ack);
      }
    }
    Connection& connection = *link_.connection();
    size_t partition = target.routing_keys.size() == 1 ? 0
                       : key.empty() ? target.next_partition++ % target.routing_keys.size()
                                     : core::fnv1a(key) % target.routing_keys.size();

    amqp_basic_properties_t properties = properties_;
    if (!key.empty()) {
      key_entry_.value.value.bytes = to_bytes(key);
      properties._flags |= AMQP_BASIC_HEADERS_FLAG;
      properties.headers = {1, &key_entry_};
    }
    std::array<char, 24> tag_text;
    if (config_.confirm) {
      // A basic.return names no delivery tag: the message id tells which message came back.
      auto end = std::to_chars(tag_text.data(), tag_text.data() + tag_text.size(), next_tag_).ptr;
      properties._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
      properties.message_id =
          to_bytes({tag_text.data(), static_cast<size_t>(end - tag_text.data())});
    }
    const milliseconds timeout(config_.timeout_ms);
    if (!connection.wait_writable(timeout)) {
      lose("RabbitMQ at " + connection.label() + " took no data for " +
           std::to_string(config_.timeout_ms) +
           " ms (a resource alarm blocks publishers, or the broker is not responding; config "
           "timeout_ms)");
      return fail_now(on_ack);
    }
    int status = amqp_basic_publish(connection.state(), kDataChannel, to_bytes(topic),
                                    to_bytes(target.routing_keys[partition]),
                                    config_.confirm ? 1 : 0, 0, &properties, to_bytes(payload));
    if (status != AMQP_STATUS_OK) {
      lose("connection to RabbitMQ at " + connection.label() +
           " lost: " + amqp_error_string2(status));
      return fail_now(on_ack);
    }
    // The message is accepted from here on: failures reach it through its callback.
    if (!config_.confirm) {
      on_ack(true, {});
      // Nothing is acknowledged, but the broker may have closed the channel or the connection.
      if (++unchecked_sends_ >= 1024) {
        unchecked_sends_ = 0;
        receive(milliseconds(0));
      }
      return Status::Ok();
    }
    Slot& slot = slots_[next_tag_ % window_];
    slot.callback = std::move(on_ack);
    slot.returned.clear();
    slot.sent = Clock::now();
    ++next_tag_;
    ++outstanding_;
    return Status::Ok();
  }

  // Failures, including a lost connection, reach the messages through their callbacks.
  Status flush() override {
    if (!config_.confirm) {
      if (link_.connection()) receive(milliseconds(0));
      return Status::Ok();
    }
    // Bounded: receive() gives up on a confirm older than timeout_ms.
    while (outstanding_ > 0 && link_.connection() &&
           link_.connection()->channel_open(kDataChannel)) {
      receive(milliseconds(std::min(config_.timeout_ms, 100)));
    }
    return Status::Ok();
  }

  size_t in_flight() const override { return outstanding_; }

  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    if (outstanding_ == 0) {
      std::this_thread::sleep_for(max_wait);
      return Status::Ok();
    }
    receive(max_wait);
    return Status::Ok();
  }

 private:
  struct Slot {
    AckCallback callback;  // empty once completed
    std::string returned;  // why the broker returned the message, if it did
    Clock::time_point sent;
  };

  struct Route {
    std::string topic;
    std::vector<std::string> routing_keys;  // "0" .. "P-1"
    size_t next_partition = 0;
  };

  Status fail_now(const AckCallback& on_ack) {
    link_.context().stats->sends_while_down.fetch_add(1, std::memory_order_relaxed);
    on_ack(false, setup_error());
    return Status::Ok();
  }

  // The topic's partitions, looked up on first use; nullptr when the connection broke meanwhile.
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
    auto partitions = lookup_partitions(*link_.connection(), topic);
    if (auto* failure = std::get_if<Failure>(&partitions)) {
      if (failure->connection) {
        lose(failure->message);
        return static_cast<Route*>(nullptr);
      }
      return make_error(failure->message);
    }
    Route route{topic, {}, 0};
    for (int p = 0; p < std::get<int>(partitions); ++p) {
      route.routing_keys.push_back(std::to_string(p));
    }
    routes_.push_back(std::move(route));
    last_route_ = routes_.size() - 1;
    return &routes_.back();
  }

  // Handles what the broker sent: confirms, returns, closes. Waits up to `wait` for the first
  // frame, then takes whatever else has arrived. Also fails everything when the oldest publish
  // has waited longer than timeout_ms for its confirm.
  void receive(std::chrono::nanoseconds wait) {
    Connection* connection = link_.connection();
    if (connection == nullptr) return;
    amqp_frame_t frame;
    for (size_t frames = 0; frames < 100000; ++frames) {
      int status = connection->next_frame(frame, frames == 0 ? wait : std::chrono::nanoseconds(0));
      if (status == AMQP_STATUS_TIMEOUT) break;
      if (status != AMQP_STATUS_OK) {
        lose("");
        return;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      const amqp_method_t& method = frame.payload.method;
      switch (method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          const auto* ack = static_cast<const amqp_basic_ack_t*>(method.decoded);
          confirm(ack->delivery_tag, ack->multiple != 0, true, {});
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          const auto* nack = static_cast<const amqp_basic_nack_t*>(method.decoded);
          confirm(nack->delivery_tag, nack->multiple != 0, false,
                  "RabbitMQ at " + connection->label() +
                      " rejected the message (basic.nack: a queue could not take it)");
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          const auto* returned = static_cast<const amqp_basic_return_t*>(method.decoded);
          std::string why =
              "RabbitMQ returned the message: " + std::string(view_of(returned->reply_text)) +
              " (exchange \"" + std::string(view_of(returned->exchange)) + "\", routing key \"" +
              std::string(view_of(returned->routing_key)) + "\": no queue is bound for it)";
          Content content;
          if (auto error = read_content(*connection, frame.channel,
                                        milliseconds(config_.timeout_ms), content, assembled_)) {
            lose(*error);
            return;
          }
          mark_returned(content.properties, why);
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
          auto reason = connection->closed_channel(frame.channel, method).first;
          std::string why = "RabbitMQ at " + connection->label() + " closed the channel: " + reason;
          if (!connection->alive()) {
            lose(why);
            return;
          }
          fail_outstanding(why);
          channel_error_ = why;
          break;
        }
        case AMQP_CONNECTION_CLOSE_METHOD:
          connection->closed_connection(method);
          lose("");
          return;
        default:
          break;  // connection.blocked / unblocked and the like: only informative
      }
      if (!connection->has_pending_frames()) break;
    }
    amqp_maybe_release_buffers(connection->state());
    if (outstanding_ > 0 &&
        Clock::now() - slots_[head_tag_ % window_].sent > milliseconds(config_.timeout_ms)) {
      lose("no publisher confirm from RabbitMQ at " + connection->label() + " within " +
           std::to_string(config_.timeout_ms) + " ms (config timeout_ms)");
    }
  }

  void mark_returned(const amqp_basic_properties_t* properties, const std::string& why) {
    link_.context().stats->returned.fetch_add(1, std::memory_order_relaxed);
    if (properties == nullptr || (properties->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) == 0) return;
    auto tag = parse_integer(view_of(properties->message_id));
    if (!tag || *tag < static_cast<long long>(head_tag_) ||
        *tag >= static_cast<long long>(next_tag_)) {
      return;
    }
    slots_[static_cast<uint64_t>(*tag) % window_].returned = why;
  }

  // Completes `tag`, or every outstanding tag up to it with `multiple`.
  void confirm(uint64_t tag, bool multiple, bool ok, const std::string& why) {
    if (!ok) link_.context().stats->nacked.fetch_add(1, std::memory_order_relaxed);
    for (uint64_t t = multiple ? head_tag_ : tag; t <= tag && t < next_tag_; ++t) {
      if (t >= head_tag_) complete(t, ok, why);
    }
    while (head_tag_ < next_tag_ && !slots_[head_tag_ % window_].callback) ++head_tag_;
  }

  void complete(uint64_t tag, bool ok, std::string_view why) {
    Slot& slot = slots_[tag % window_];
    if (!slot.callback) return;
    AckCallback callback = std::move(slot.callback);
    slot.callback = nullptr;
    --outstanding_;
    if (ok && !slot.returned.empty()) {
      callback(false, slot.returned);
    } else {
      callback(ok, why);
    }
  }

  void fail_outstanding(const std::string& why) {
    for (uint64_t t = head_tag_; t < next_tag_; ++t) complete(t, false, why);
    head_tag_ = next_tag_;
  }

  void lose(const std::string& why) {
    link_.lost(why);
    fail_outstanding(link_.down_error());
  }

  Link link_;
  RabbitConfig config_;
  uint64_t window_;             // publishes awaiting confirms, at most
  std::vector<Slot> slots_;     // by delivery tag % window_
  uint64_t next_tag_ = 1;       // the delivery tag of the next publish on the data channel
  uint64_t head_tag_ = 1;       // the oldest tag not yet confirmed (next_tag_ when none)
  size_t outstanding_ = 0;      // published, not yet confirmed
  size_t unchecked_sends_ = 0;  // without confirms: sends since the last look at incoming frames
  std::string channel_error_;   // why the data channel cannot be used, when the connection can
  amqp_basic_properties_t properties_{};
  amqp_table_entry_t key_entry_{};
  std::vector<Route> routes_;
  size_t last_route_ = 0;
  std::string assembled_;  // reused by read_content
};

// ---- consumer -------------------------------------------------------------------------------

struct Subscription {
  std::string topic;
  std::vector<std::string> queues;  // grouped: the queues this member reads
  int partitions = 1;
};

class RabbitConsumer final : public Consumer {
 public:
  RabbitConsumer(std::shared_ptr<const ClientContext> context,
                 std::unique_ptr<Connection> connection, std::vector<Subscription> subscriptions,
                 bool grouped)
      : link_(context, std::move(connection)),
        config_(context->config),
        subscriptions_(std::move(subscriptions)),
        grouped_(grouped) {
    ack_every_ = config_.prefetch == 0 ? 1000 : std::max(1, config_.prefetch / 2);
  }

  // Subscribes; an error when the broker refuses (e.g. a queue that does not exist).
  Status start() {
    auto failure = subscribe();
    if (failure) return make_error(failure->message);
    return Status::Ok();
  }

  bool ready() const override { return subscribed_ && link_.connection() != nullptr; }

  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    const auto deadline = Clock::now() + timeout;
    size_t delivered = 0;
    if (!link_.connection()) {
      lose("");  // a connection that died inside a call
      if (!link_.reconnect()) {
        std::this_thread::sleep_until(deadline);
        return delivered;
      }
      reset_channel_state();
    }
    delivered += hand_over_held(on_message);
    if (!subscribed_) {
      if (auto failure = subscribe()) {
        if (!failure->connection) return make_error(failure->message);
        lose(failure->message);
        return delivered;
      }
    }
    Connection* connection = link_.connection();
    amqp_frame_t frame;
    while (delivered < kMaxPollBatch) {
      auto wait = delivered == 0 ? std::max(deadline - Clock::now(), Clock::duration::zero())
                                 : Clock::duration::zero();
      int status = connection->next_frame(frame, wait);
      if (status == AMQP_STATUS_TIMEOUT) break;
      if (status != AMQP_STATUS_OK) {
        lose("");
        return delivered;
      }
      auto handled = handle_frame(*connection, frame, &on_message, nullptr);
      if (!handled.ok()) return make_error(handled.error());
      if (!link_.connection()) return delivered;
      delivered += *handled;
      if (unacked_ >= ack_every_ && !acknowledge()) return delivered;
      amqp_maybe_release_buffers(connection->state());
      if (delivered > 0 && Clock::now() >= deadline && !connection->has_pending_frames()) break;
    }
    acknowledge();
    if (link_.connection()) amqp_maybe_release_buffers(connection->state());
    return delivered;
  }

  std::optional<uint64_t> backlog() override {
    Connection* connection = link_.connection();
    if (connection == nullptr) return std::nullopt;
    if (subscribed_) {
      // Every delivery of a subscription precedes its cancel-ok: after the cancels, what the
      // broker sent this consumer is in librabbitmq's queue or buffer, and is kept (held) for a
      // later poll(). The broker counts held messages as unacknowledged, not as ready.
      for (const std::string& tag : consumer_tags_) {
        amqp_basic_cancel(connection->state(), kDataChannel, to_bytes(tag));
        if (auto failure = connection->check(kDataChannel, "cannot cancel a subscription")) {
          if (failure->connection) lose(failure->message);
          return std::nullopt;
        }
      }
      consumer_tags_.clear();
      subscribed_ = false;
      amqp_frame_t frame;
      while (connection->has_pending_frames()) {
        if (connection->next_frame(frame, std::chrono::nanoseconds(0)) != AMQP_STATUS_OK) break;
        auto handled = handle_frame(*connection, frame, nullptr, &held_);
        if (!handled.ok() || !link_.connection()) return std::nullopt;
      }
      if (!acknowledge()) return std::nullopt;
    }
    uint64_t total = held_.size();
    for (const Subscription& subscription : subscriptions_) {
      for (const std::string& queue : subscription.queues) {
        if (connection->ensure_channel(kAdminChannel)) return std::nullopt;
        amqp_queue_declare_ok_t* declared = amqp_queue_declare(
            connection->state(), kAdminChannel, to_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
        if (connection->check(kAdminChannel, "cannot count queue " + queue) ||
            declared == nullptr) {
          return std::nullopt;
        }
        total += declared->message_count;
      }
    }
    amqp_maybe_release_buffers(connection->state());
    return total;
  }

 private:
  // A delivery taken out of librabbitmq's buffers without being handed over (see backlog()).
  struct Held {
    std::string topic;
    std::string key;
    std::string payload;
    int partition = -1;
    bool redelivered = false;
    uint64_t tag = 0;
  };

  std::optional<Failure> subscribe() {
    Connection* connection = link_.connection();
    if (connection == nullptr) return Failure{link_.down_error(), 0, true};
    if (auto failure = connection->ensure_channel(kDataChannel)) return failure;
    if (!config_.auto_ack) {
      amqp_basic_qos(connection->state(), kDataChannel, 0, static_cast<uint16_t>(config_.prefetch),
                     0);
      if (auto failure = connection->check(kDataChannel, "cannot set the prefetch (basic.qos)")) {
        return failure;
      }
    }
    if (!grouped_) {
      // A queue of its own (exclusive: it goes with the connection), bound to every partition.
      for (Subscription& subscription : subscriptions_) {
        amqp_queue_declare_ok_t* declared = amqp_queue_declare(
            connection->state(), kDataChannel, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        if (auto failure = connection->check(kDataChannel, "cannot declare a private queue")) {
          return failure;
        }
        std::string queue(view_of(declared->queue));
        for (int p = 0; p < subscription.partitions; ++p) {
          const std::string key = std::to_string(p);
          amqp_queue_bind(connection->state(), kDataChannel, to_bytes(queue),
                          to_bytes(subscription.topic), to_bytes(key), amqp_empty_table);
          if (auto failure = connection->check(
                  kDataChannel, "cannot bind queue " + queue + " to topic " + subscription.topic)) {
            return failure;
          }
        }
        subscription.queues = {queue};
      }
    }
    for (const Subscription& subscription : subscriptions_) {
      for (const std::string& queue : subscription.queues) {
        amqp_basic_consume_ok_t* consuming =
            amqp_basic_consume(connection->state(), kDataChannel, to_bytes(queue), amqp_empty_bytes,
                               0, config_.auto_ack ? 1 : 0, 0, amqp_empty_table);
        if (auto failure = connection->check(kDataChannel, "cannot subscribe to queue " + queue)) {
          if (failure->code == kNotFound) {
            failure->message += " (prepare_consumers declares the groups' queues)";
          }
          return failure;
        }
        consumer_tags_.emplace_back(view_of(consuming->consumer_tag));
      }
    }
    subscribed_ = true;
    return std::nullopt;
  }

  // One frame from the broker. A delivery is handed to `on_message`, or kept in `hold` (backlog);
  // returns the deliveries handed over (0 or 1), or an error for a channel the broker closed.
  Result<size_t> handle_frame(Connection& connection, const amqp_frame_t& frame,
                              const std::function<void(const ReceivedMessage&)>* on_message,
                              std::vector<Held>* hold) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return size_t{0};
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_DELIVER_METHOD: {
        const auto* deliver = static_cast<const amqp_basic_deliver_t*>(method.decoded);
        Content content;
        if (auto error = read_content(connection, frame.channel, milliseconds(config_.timeout_ms),
                                      content, assembled_)) {
          lose(*error);
          return size_t{0};
        }
        ReceivedMessage message;
        message.topic = view_of(deliver->exchange);
        message.key = header_value(content.properties, "k");
        message.payload = content.body;
        std::string_view routing_key = view_of(deliver->routing_key);
        int partition = -1;
        auto [end, error] =
            std::from_chars(routing_key.data(), routing_key.data() + routing_key.size(), partition);
        message.partition =
            error == std::errc() && end == routing_key.data() + routing_key.size() ? partition : -1;
        message.redelivered = deliver->redelivered != 0;
        if (hold != nullptr) {
          hold->push_back({std::string(message.topic), std::string(message.key),
                           std::string(message.payload), message.partition, message.redelivered,
                           deliver->delivery_tag});
          return size_t{0};
        }
        (*on_message)(message);
        note_delivered(deliver->delivery_tag);
        return size_t{1};
      }
      case AMQP_BASIC_CANCEL_METHOD: {
        const auto* cancel = static_cast<const amqp_basic_cancel_t*>(method.decoded);
        subscribed_ = false;
        return make_error("RabbitMQ at " + connection.label() + " cancelled subscription " +
                          std::string(view_of(cancel->consumer_tag)) + " (its queue was deleted)");
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto reason = connection.closed_channel(frame.channel, method).first;
        subscribed_ = false;
        consumer_tags_.clear();
        return make_error("RabbitMQ at " + connection.label() + " closed the channel: " + reason);
      }
      case AMQP_CONNECTION_CLOSE_METHOD:
        connection.closed_connection(method);
        lose("");
        return size_t{0};
      default:
        return size_t{0};
    }
  }

  size_t hand_over_held(const std::function<void(const ReceivedMessage&)>& on_message) {
    size_t handed = 0;
    for (const Held& held : held_) {
      ReceivedMessage message;
      message.topic = held.topic;
      message.key = held.key;
      message.payload = held.payload;
      message.partition = held.partition;
      message.redelivered = held.redelivered;
      on_message(message);
      note_delivered(held.tag);
      ++handed;
    }
    held_.clear();
    return handed;
  }

  void note_delivered(uint64_t tag) {
    if (config_.auto_ack) return;
    last_tag_ = std::max(last_tag_, tag);
    ++unacked_;
  }

  // Acknowledges everything handed over (basic.ack `multiple`); false when the connection broke.
  bool acknowledge() {
    if (config_.auto_ack || unacked_ == 0) return true;
    Connection* connection = link_.connection();
    if (connection == nullptr) return false;
    int status = amqp_basic_ack(connection->state(), kDataChannel, last_tag_, 1);
    if (status != AMQP_STATUS_OK) {
      lose("connection to RabbitMQ at " + connection->label() +
           " lost: " + amqp_error_string2(status));
      return false;
    }
    unacked_ = 0;
    return true;
  }

  void lose(const std::string& why) {
    link_.lost(why);
    reset_channel_state();
    // Unacknowledged deliveries come again (redelivered) on the next connection; with auto_ack
    // the broker has forgotten them, so the held ones are kept.
    if (!config_.auto_ack) held_.clear();
  }

  void reset_channel_state() {
    subscribed_ = false;
    consumer_tags_.clear();
    last_tag_ = 0;
    unacked_ = 0;
  }

  Link link_;
  RabbitConfig config_;
  std::vector<Subscription> subscriptions_;
  bool grouped_;
  bool subscribed_ = false;
  std::vector<std::string> consumer_tags_;
  std::vector<Held> held_;
  uint64_t last_tag_ = 0;  // the highest delivery tag handed over
  int unacked_ = 0;        // handed over since the last basic.ack
  int ack_every_ = 1;
  std::string assembled_;  // reused by read_content
};

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

std::string rabbitmq_queue_name(const std::string& topic, const std::string& group, int partition) {
  return topic + "." + group + "." + std::to_string(partition);
}

std::string rabbitmq_partitions_queue(const std::string& topic) {
  return "dec.partitions." + topic;
}

std::string rabbitmq_groups_queue(const std::string& topic) { return "dec.groups." + topic; }

std::string rabbitmq_login_check(const std::string& address, const core::Settings& properties,
                                 std::chrono::milliseconds timeout) {
  auto parsed = parse_address(address);
  if (!parsed.ok()) return parsed.error();
  auto connection = Connection::open(*parsed, credentials_from(properties), timeout);
  return connection.ok() ? "" : connection.error();
}

struct RabbitMqDriver::State {
  std::shared_ptr<ClientContext> context;
  std::shared_ptr<Stats> stats = std::make_shared<Stats>();
  std::mutex control_mutex;  // guards control; producers and consumers have their own
  std::unique_ptr<Connection> control;
  bool connected = false;

  // The control connection, reopened when an earlier failure or a restarted broker broke it.
  // The caller holds control_mutex.
  Result<Connection*> control_connection() {
    if (!connected) return make_error("rabbitmq driver is not connected");
    if (control && control->alive()) return control.get();
    auto opened = Connection::open(context->address, context->credentials,
                                   milliseconds(context->config.timeout_ms));
    if (!opened.ok()) return make_error(opened.error());
    control = std::move(*opened);
    return control.get();
  }

  // delete_topic's work; the caller holds control_mutex.
  Status delete_topic(Connection& connection, const std::string& topic) {
    int partitions = 0;
    auto looked_up = lookup_partitions(connection, topic);
    if (auto* failure = std::get_if<Failure>(&looked_up)) {
      if (failure->code != kNotFound) return make_error(failure->message);
    } else {
      partitions = std::get<int>(looked_up);
    }
    auto groups = take_groups(connection, topic);
    if (auto* failure = std::get_if<Failure>(&groups)) return make_error(failure->message);
    for (const std::string& group : std::get<std::set<std::string>>(groups)) {
      for (int p = 0; p < partitions; ++p) {
        if (auto failure = delete_queue(connection, rabbitmq_queue_name(topic, group, p))) {
          return make_error(failure->message);
        }
      }
    }
    for (const std::string& queue :
         {rabbitmq_groups_queue(topic), rabbitmq_partitions_queue(topic)}) {
      if (auto failure = delete_queue(connection, queue)) return make_error(failure->message);
    }
    if (auto failure = connection.ensure_channel(kAdminChannel))
      return make_error(failure->message);
    amqp_exchange_delete(connection.state(), kAdminChannel, to_bytes(topic), 0);
    if (auto failure = connection.check(kAdminChannel, "cannot delete exchange " + topic)) {
      if (failure->code != kNotFound) return make_error(failure->message);
    }
    return Status::Ok();
  }
};

RabbitMqDriver::RabbitMqDriver() : state_(std::make_unique<State>()) {}
RabbitMqDriver::~RabbitMqDriver() = default;

Status RabbitMqDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  std::vector<core::FieldError> errors =
      validate_driver_config(rabbitmq_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }
  if (endpoint.addresses.empty()) return make_error("rabbitmq endpoint has no address");
  std::vector<Address> addresses;
  for (const std::string& text : endpoint.addresses) {
    auto address = parse_address(text);
    if (!address.ok()) return make_error(address.error());
    addresses.push_back(std::move(*address));
  }
  auto context = std::make_shared<ClientContext>();
  context->credentials = credentials_from(endpoint.properties);
  context->config = config_from(config);
  context->stats = state_->stats;

  std::lock_guard lock(state_->control_mutex);
  state_->connected = false;
  state_->control.reset();
  // One node: the first address that takes a login serves everything.
  std::string failures;
  for (const Address& address : addresses) {
    auto opened =
        Connection::open(address, context->credentials, milliseconds(context->config.timeout_ms));
    if (!opened.ok()) {
      failures += (failures.empty() ? "" : "; ") + opened.error();
      continue;
    }
    context->address = address;
    state_->control = std::move(*opened);
    state_->context = std::move(context);
    state_->connected = true;
    return Status::Ok();
  }
  return make_error(failures);
}

Status RabbitMqDriver::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > kMaxPartitions) {
    return make_error("topic " + topic + ": partitions must be from 1 to " +
                      std::to_string(kMaxPartitions) + " (each is a queue per consumer group)");
  }
  if (Status ok = check_names(topic, "", partitions); !ok) return ok;
  std::lock_guard lock(state_->control_mutex);
  auto connection = state_->control_connection();
  if (!connection.ok()) return make_error(connection.error());
  Connection& control = **connection;
  // Start clean: whatever an earlier topic of this name left (its queues may differ in type).
  if (Status deleted = state_->delete_topic(control, topic); !deleted) return deleted;
  if (auto failure = control.ensure_channel(kAdminChannel)) return make_error(failure->message);
  amqp_exchange_declare(control.state(), kAdminChannel, to_bytes(topic),
                        amqp_cstring_bytes("direct"), 0, 1, 0, 0, amqp_empty_table);
  if (auto failure = control.check(kAdminChannel, "cannot declare exchange " + topic)) {
    return make_error(failure->message);
  }
  const std::string record = rabbitmq_partitions_queue(topic);
  if (auto failure = declare_queue(control, record, false)) return make_error(failure->message);
  if (auto failure = publish_committed(
          control, record, std::vector<std::string>(static_cast<size_t>(partitions), ""))) {
    return make_error(failure->message);
  }
  auto recorded = lookup_partitions(control, topic);
  if (auto* failure = std::get_if<Failure>(&recorded)) return make_error(failure->message);
  if (std::get<int>(recorded) != partitions) {
    return make_error("topic " + topic + ": recorded " + std::to_string(std::get<int>(recorded)) +
                      " partitions instead of " + std::to_string(partitions) +
                      " (another process created it at the same time?)");
  }
  return Status::Ok();
}

Status RabbitMqDriver::delete_topic(const std::string& topic) {
  std::lock_guard lock(state_->control_mutex);
  auto connection = state_->control_connection();
  if (!connection.ok()) return make_error(connection.error());
  return state_->delete_topic(**connection, topic);
}

Status RabbitMqDriver::prepare_consumers(const std::vector<std::string>& topics,
                                         const std::vector<std::string>& groups) {
  std::lock_guard lock(state_->control_mutex);
  auto connection = state_->control_connection();
  if (!connection.ok()) return make_error(connection.error());
  Connection& control = **connection;
  const bool quorum = state_->context->config.quorum;
  for (const std::string& topic : topics) {
    auto partitions = lookup_partitions(control, topic);
    if (auto* failure = std::get_if<Failure>(&partitions)) return make_error(failure->message);
    const int count = std::get<int>(partitions);
    for (const std::string& group : groups) {
      if (group.empty()) return make_error("a consumer group needs a name");
      if (Status ok = check_names(topic, group, count); !ok) return ok;
    }
    // Recorded first, so that delete_topic finds the queues even if a declaration fails below.
    if (auto failure = declare_queue(control, rabbitmq_groups_queue(topic), false)) {
      return make_error(failure->message);
    }
    if (auto failure = publish_committed(control, rabbitmq_groups_queue(topic), groups)) {
      return make_error(failure->message);
    }
    for (const std::string& group : groups) {
      for (int p = 0; p < count; ++p) {
        const std::string queue = rabbitmq_queue_name(topic, group, p);
        if (auto failure = declare_queue(control, queue, quorum)) {
          if (failure->code == 406) {
            failure->message +=
                " (the queue exists with other settings: delete the topic or use "
                "the same queue_type)";
          }
          return make_error(failure->message);
        }
        const std::string key = std::to_string(p);
        amqp_queue_bind(control.state(), kAdminChannel, to_bytes(queue), to_bytes(topic),
                        to_bytes(key), amqp_empty_table);
        if (auto failure =
                control.check(kAdminChannel, "cannot bind queue " + queue + " to topic " + topic)) {
          return make_error(failure->message);
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> RabbitMqDriver::make_producer() {
  if (!state_->connected) return make_error("rabbitmq driver is not connected");
  const ClientContext& context = *state_->context;
  auto connection = Connection::open(context.address, context.credentials,
                                     milliseconds(context.config.timeout_ms));
  if (!connection.ok()) return make_error(connection.error());
  auto producer = std::make_unique<RabbitProducer>(state_->context, std::move(*connection));
  if (!producer->ready_to_publish()) return make_error(producer->setup_error());
  return std::unique_ptr<Producer>(std::move(producer));
}

Result<std::unique_ptr<Consumer>> RabbitMqDriver::make_consumer(const ConsumerOptions& options) {
  if (!state_->connected) return make_error("rabbitmq driver is not connected");
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  const ClientContext& context = *state_->context;
  auto opened = Connection::open(context.address, context.credentials,
                                 milliseconds(context.config.timeout_ms));
  if (!opened.ok()) return make_error(opened.error());
  Connection& connection = **opened;
  const bool grouped = !options.group.empty();
  std::vector<Subscription> subscriptions;
  for (const std::string& topic : options.topics) {
    auto partitions = lookup_partitions(connection, topic);
    if (auto* failure = std::get_if<Failure>(&partitions)) return make_error(failure->message);
    Subscription subscription{topic, {}, std::get<int>(partitions)};
    if (grouped) {
      // Members split the partitions when there are enough; otherwise they compete for them.
      const bool split = options.group_size > 1 && subscription.partitions >= options.group_size;
      for (int p = 0; p < subscription.partitions; ++p) {
        if (split && p % options.group_size != options.member_index) continue;
        subscription.queues.push_back(rabbitmq_queue_name(topic, options.group, p));
      }
    }
    subscriptions.push_back(std::move(subscription));
  }
  auto consumer = std::make_unique<RabbitConsumer>(state_->context, std::move(*opened),
                                                   std::move(subscriptions), grouped);
  if (Status started = consumer->start(); !started) return make_error(started.error());
  return std::unique_ptr<Consumer>(std::move(consumer));
}

std::vector<std::pair<std::string, uint64_t>> RabbitMqDriver::counters() const {
  const Stats& stats = *state_->stats;
  return {
      {"rabbitmq.connections_lost", stats.connections_lost.load()},
      {"rabbitmq.reconnect_attempts", stats.reconnect_attempts.load()},
      {"rabbitmq.reconnects", stats.reconnects.load()},
      {"rabbitmq.sends_while_down", stats.sends_while_down.load()},
      {"rabbitmq.returned", stats.returned.load()},
      {"rabbitmq.nacked", stats.nacked.load()},
  };
}

DriverInfo rabbitmq_driver_info() {
  DriverInfo info;
  info.name = "rabbitmq";
  info.description =
      "RabbitMQ (AMQP 0-9-1 through librabbitmq): a direct exchange per topic, a queue per group "
      "and partition; publisher confirms (confirm=false: acked once written to the socket)";
  info.config_keys = rabbitmq_config_keys();
  info.client_keys = {
      // The publisher-confirm window: messages awaiting the broker's confirm per producer.
      mapped_client_key(ClientField::kMaxInFlight, "max_in_flight", 1, 1000000),
      // AMQP has no linger (every publish is written at once) and no fetch wait (the broker
      // pushes deliveries as they arrive): nothing to map those onto.
      reported_client_key("confirm"),
      reported_client_key("persistent"),
      reported_client_key("queue_type"),
      reported_client_key("prefetch"),
      reported_client_key("auto_ack"),
  };
  info.create = [] { return std::make_unique<RabbitMqDriver>(); };
  info.client_library = [] { return std::string("librabbitmq ") + amqp_version(); };
  return info;
}

}  // namespace dec::drivers
