#include "drivers/redis_driver.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDefaultPort = 6379;

// ---- config -------------------------------------------------------------------------------

std::function<std::string(const std::string&)> one_of_check(std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](const std::string& value) -> std::string {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return "";
    std::string expected = "one of ";
    for (size_t i = 0; i < allowed.size(); ++i) expected += (i ? ", " : "") + allowed[i];
    return expected;
  };
}

struct RedisConfig {
  int pipeline = 1;
  int64_t maxlen = 0;
  bool trim_exact = false;
  bool plain_reads = false;
  int read_count = 500;
  int block_ms = 100;
  int timeout_ms = 10000;
};

std::vector<ConfigKey> redis_config_keys() {
  return {
      {"pipeline", "XADD commands in flight per producer (1 = wait for each reply)", "1",
       integer_check(1, 10000)},
      {"maxlen", "trim each stream to about this many entries on XADD (0 = never trim)", "0",
       integer_check(0, 1'000'000'000'000)},
      {"trim_exact", "trim to exactly maxlen (MAXLEN =) instead of the cheaper MAXLEN ~", "false",
       one_of_check({"true", "false"})},
      {"read_mode",
       "group: XREADGROUP with consumer groups and XACK; plain: XREAD, no server-side state",
       "group", one_of_check({"group", "plain"})},
      {"read_count", "entries per stream asked for in one read (COUNT)", "500",
       integer_check(1, 100000)},
      {"block_ms", "longest a single read blocks in the server (BLOCK)", "100",
       integer_check(1, 60000)},
      {"timeout_ms", "connect timeout and longest wait for a reply before giving up", "10000",
       integer_check(100, 600000)},
  };
}

// `settings` must have passed validate_driver_config.
RedisConfig config_from(const core::Settings& settings) {
  RedisConfig config;
  auto integer = [&](const char* key, int64_t fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? fallback : parse_integer(it->second).value_or(fallback);
  };
  auto text = [&](const char* key, const char* fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? std::string(fallback) : it->second;
  };
  config.pipeline = static_cast<int>(integer("pipeline", config.pipeline));
  config.maxlen = integer("maxlen", config.maxlen);
  config.trim_exact = text("trim_exact", "false") == "true";
  config.plain_reads = text("read_mode", "group") == "plain";
  config.read_count = static_cast<int>(integer("read_count", config.read_count));
  config.block_ms = static_cast<int>(integer("block_ms", config.block_ms));
  config.timeout_ms = static_cast<int>(integer("timeout_ms", config.timeout_ms));
  return config;
}

// ---- connection -----------------------------------------------------------------------------

struct Address {
  std::string host;
  int port = kDefaultPort;
  std::string label;  // "host:port", for messages
};

Result<Address> parse_address(const std::string& text) {
  Address address;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {  // [ipv6]:port
    size_t close = text.find(']');
    if (close == std::string::npos) return make_error("bad redis address \"" + text + "\"");
    address.host = text.substr(1, close - 1);
    if (close + 1 < text.size() && text[close + 1] == ':') port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    address.host = text.substr(0, colon);
    if (colon != std::string::npos) port_text = text.substr(colon + 1);
  }
  if (!port_text.empty()) {
    auto port = parse_integer(port_text);
    if (!port || *port < 1 || *port > 65535) {
      return make_error("bad redis address \"" + text + "\": expected host:port");
    }
    address.port = static_cast<int>(*port);
  }
  if (address.host.empty()) return make_error("bad redis address \"" + text + "\"");
  address.label = text;
  if (port_text.empty()) address.label += ":" + std::to_string(address.port);
  return address;
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view reply_text(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};

// One blocking connection. hiredis connects and parses replies; dec formats commands itself
// (RESP is trivial) into a buffer that is reused, so a message costs no allocation, and writes
// with MSG_NOSIGNAL, so a server that goes away is an error rather than a SIGPIPE.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const Address& address, int timeout_ms,
                                                  const core::Settings& properties) {
    timeval timeout{timeout_ms / 1000, static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
    std::unique_ptr<redisContext, ContextDeleter> context(
        redisConnectWithTimeout(address.host.c_str(), address.port, timeout));
    if (!context) return make_error("cannot connect to redis at " + address.label);
    if (context->err) {
      return make_error("cannot connect to redis at " + address.label + ": " + context->errstr);
    }
    if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
      return make_error("cannot set socket timeouts for redis at " + address.label);
    }
    auto connection =
        std::unique_ptr<Connection>(new Connection(std::move(context), address, timeout_ms));
    // Endpoint properties from the provider: a password (and ACL user) when the server has one.
    if (auto password = properties.find("password"); password != properties.end()) {
      std::vector<std::string_view> auth{"AUTH"};
      if (auto user = properties.find("username"); user != properties.end()) {
        auth.push_back(user->second);
      }
      auth.push_back(password->second);
      auto reply = connection->command(auth);
      if (!reply.ok()) return make_error(reply.error());
      if ((*reply)->type == REDIS_REPLY_ERROR) {
        return make_error("redis at " + address.label +
                          " refused AUTH: " + std::string(reply_text(reply->get())));
      }
    }
    return connection;
  }

  const std::string& label() const { return address_.label; }
  bool has_output() const { return !output_.empty(); }

  void append(std::span<const std::string_view> args) {
    append_header('*', args.size());
    for (std::string_view arg : args) {
      append_header('$', arg.size());
      output_.append(arg);
      output_.append("\r\n", 2);
    }
  }

  Status write_output() {
    size_t offset = 0;
    while (offset < output_.size()) {
      ssize_t written =
          ::send(context_->fd, output_.data() + offset, output_.size() - offset, MSG_NOSIGNAL);
      if (written < 0) {
        if (errno == EINTR) continue;
        output_.clear();
        return make_error(io_error(errno));
      }
      offset += static_cast<size_t>(written);
    }
    output_.clear();
    return Status::Ok();
  }

  // The next reply; with `wait` false returns a null reply when none has arrived yet.
  Result<ReplyPtr> next_reply(bool wait) {
    for (;;) {
      void* reply = nullptr;
      if (redisGetReplyFromReader(context_.get(), &reply) != REDIS_OK) {
        return make_error("redis at " + address_.label + ": " + context_->errstr);
      }
      if (reply) return ReplyPtr(static_cast<redisReply*>(reply));
      if (!wait && !readable(std::chrono::nanoseconds(0))) return ReplyPtr();
      if (redisBufferRead(context_.get()) != REDIS_OK) {
        int error = errno;
        if (context_->err == REDIS_ERR_IO) return make_error(io_error(error));
        return make_error("redis at " + address_.label + ": " + context_->errstr);
      }
    }
  }

  // Waits up to `timeout` for bytes to read; false on timeout.
  bool readable(std::chrono::nanoseconds timeout) {
    pollfd descriptor{context_->fd, POLLIN, 0};
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    timespec wait{static_cast<time_t>(seconds.count()),
                  static_cast<decltype(timespec::tv_nsec)>((timeout - seconds).count())};
    return ::ppoll(&descriptor, 1, &wait, nullptr) > 0;
  }

  // One command, sent and answered; the connection must have nothing else outstanding.
  Result<ReplyPtr> command(std::span<const std::string_view> args) {
    append(args);
    if (Status written = write_output(); !written.ok()) return make_error(written.error());
    return next_reply(true);
  }
  Result<ReplyPtr> command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>(args.begin(), args.size()));
  }

 private:
  Connection(std::unique_ptr<redisContext, ContextDeleter> context, Address address, int timeout_ms)
      : context_(std::move(context)), address_(std::move(address)), timeout_ms_(timeout_ms) {}

  void append_header(char kind, size_t number) {
    std::array<char, 24> text;
    text[0] = kind;
    auto end = std::to_chars(text.data() + 1, text.data() + text.size() - 2, number).ptr;
    *end++ = '\r';
    *end++ = '\n';
    output_.append(text.data(), static_cast<size_t>(end - text.data()));
  }

  std::string io_error(int error) const {
    if (error == EAGAIN || error == EWOULDBLOCK) {
      return "redis at " + address_.label + " did not answer within " +
             std::to_string(timeout_ms_) + " ms (config timeout_ms)";
    }
    return "redis at " + address_.label + ": " + (error ? std::strerror(error) : "I/O error");
  }

  std::unique_ptr<redisContext, ContextDeleter> context_;
  Address address_;
  int timeout_ms_;
  std::string output_;
};

// ---- topics ---------------------------------------------------------------------------------

std::string partitions_key(const std::string& topic) { return "dec:partitions:" + topic; }

// Partitions of a topic as recorded by create_topic; 1 when there is no record (a plain stream,
// possibly one dec did not create).
Result<int> topic_partitions(Connection& connection, const std::string& topic) {
  auto reply = connection.command({"GET", partitions_key(topic)});
  if (!reply.ok()) return make_error(reply.error());
  const redisReply* value = reply->get();
  if (value->type == REDIS_REPLY_NIL) return 1;
  if (value->type == REDIS_REPLY_STRING) {
    auto partitions = parse_integer(std::string(reply_text(value)));
    if (partitions && *partitions >= 1 && *partitions <= 1'000'000) {
      return static_cast<int>(*partitions);
    }
  }
  return make_error("redis key " + partitions_key(topic) + " does not hold a partition count");
}

Status expect_ok(const Result<ReplyPtr>& reply, const std::string& what) {
  if (!reply.ok()) return make_error(reply.error());
  if ((*reply)->type == REDIS_REPLY_ERROR) {
    return make_error(what + ": " + std::string(reply_text(reply->get())));
  }
  return Status::Ok();
}

// FNV-1a: stable across processes and builds, so dec workers agree on a key's partition.
uint64_t key_hash(std::string_view key) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// ---- producer -------------------------------------------------------------------------------

class RedisProducer final : public Producer {
 public:
  RedisProducer(std::unique_ptr<Connection> connection, const RedisConfig& config)
      : connection_(std::move(connection)),
        window_(static_cast<size_t>(config.pipeline)),
        callbacks_(window_),
        maxlen_(std::to_string(config.maxlen)),
        trim_(config.maxlen > 0),
        trim_operator_(config.trim_exact ? "=" : "~") {}

  ~RedisProducer() override {
    // Deliver what Redis has acknowledged; whatever is left is reported as lost.
    if (broken_.empty()) (void)drain();
    fail_outstanding("producer closed before redis acknowledged the message");
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    if (!broken_.empty()) return make_error(broken_);
    auto route = find_route(topic);
    if (!route.ok()) return make_error(route.error());
    Route& target = **route;
    size_t partition = target.streams.size() == 1 ? 0
                       : key.empty()              ? target.next_partition++ % target.streams.size()
                                                  : key_hash(key) % target.streams.size();

    std::array<std::string_view, 10> args;
    size_t count = 0;
    args[count++] = "XADD";
    args[count++] = target.streams[partition];
    if (trim_) {
      args[count++] = "MAXLEN";
      args[count++] = trim_operator_;
      args[count++] = maxlen_;
    }
    args[count++] = "*";
    if (!key.empty()) {
      args[count++] = "k";
      args[count++] = key;
    }
    args[count++] = "p";
    args[count++] = payload;
    connection_->append(std::span<const std::string_view>(args.data(), count));
    callbacks_[(first_ + outstanding_) % window_] = std::move(on_ack);
    ++outstanding_;
    ++unwritten_;

    // The message is accepted from here on: failures reach it through its callback.
    // Batching decides throughput: a write (and a read) per message costs the client more CPU
    // than Redis spends on the XADD, so commands are written in batches, as redis-benchmark -P
    // does, while an idle connection still gets each message at once.
    if (outstanding_ >= window_) {
      if (write()) receive(/*wait=*/true);  // full window: wait for the oldest replies
    } else if (outstanding_ == unwritten_) {
      write();  // nothing awaits a reply: latency matters more than batching
    } else if (unwritten_ == 1) {
      // A new batch behind commands sent earlier. If their replies are all in (a zero-timeout
      // poll, once per batch), the connection is idle after all.
      batch_started_ = Clock::now();
      if (receive(/*wait=*/false) && outstanding_ == unwritten_) write();
    } else if (Clock::now() - batch_started_ >= kMaxBatchDelay) {
      if (receive(/*wait=*/false)) write();  // a slow sender: do not hold its batch longer
    }
    return Status::Ok();
  }

  Status flush() override { return drain(); }

  size_t in_flight() const override { return outstanding_; }

  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    if (!broken_.empty()) return make_error(broken_);
    if (!write()) return make_error(broken_);
    if (outstanding_ == 0) {
      std::this_thread::sleep_for(max_wait);
      return Status::Ok();
    }
    size_t before = outstanding_;
    if (!receive(/*wait=*/false)) return make_error(broken_);
    if (outstanding_ == before && connection_->readable(max_wait)) {
      if (!receive(/*wait=*/false)) return make_error(broken_);
    }
    return Status::Ok();
  }

 private:
  struct Route {
    std::string topic;
    std::vector<std::string> streams;
    size_t next_partition = 0;
  };

  Status drain() {
    if (!broken_.empty()) return make_error(broken_);
    if (!write()) return make_error(broken_);
    while (outstanding_ > 0) {
      if (!receive(/*wait=*/true)) return make_error(broken_);
    }
    return Status::Ok();
  }

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
    // A new topic: ask Redis for its partitions on the now quiet connection (replies are
    // strictly ordered, so outstanding XADD replies must be read first).
    if (Status drained = drain(); !drained.ok()) return make_error(drained.error());
    auto partitions = topic_partitions(*connection_, topic);
    if (!partitions.ok()) {
      broken_ = partitions.error();
      return make_error(partitions.error());
    }
    routes_.push_back({topic, redis_stream_names(topic, *partitions), 0});
    last_route_ = routes_.size() - 1;
    return &routes_.back();
  }

  // Returns false (and fails everything outstanding) when the connection broke.
  bool write() {
    if (unwritten_ == 0) return broken_.empty();
    if (Status written = connection_->write_output(); !written.ok()) {
      fail_outstanding(written.error());
      return false;
    }
    unwritten_ = 0;
    return true;
  }

  // Delivers every reply that has arrived; with `wait`, blocks until at least one has.
  bool receive(bool wait) {
    for (;;) {
      auto reply = connection_->next_reply(wait);
      if (!reply.ok()) {
        fail_outstanding(reply.error());
        return false;
      }
      if (!*reply) return true;
      if (outstanding_ == unwritten_) {
        fail_outstanding("redis at " + connection_->label() + " sent a reply nobody asked for");
        return false;
      }
      AckCallback callback = std::move(callbacks_[first_]);
      first_ = (first_ + 1) % window_;
      --outstanding_;
      const redisReply* value = reply->get();
      if (value->type == REDIS_REPLY_ERROR) {
        callback(false, reply_text(value));
      } else {
        callback(true, {});
      }
      wait = false;  // one reply is enough; drain the rest without blocking
    }
  }

  void fail_outstanding(const std::string& error) {
    if (broken_.empty()) broken_ = error;
    while (outstanding_ > 0) {
      AckCallback callback = std::move(callbacks_[first_]);
      first_ = (first_ + 1) % window_;
      --outstanding_;
      if (callback) callback(false, broken_);
    }
    unwritten_ = 0;
  }

  // Longest a command waits in the batch while replies are pending, when send() is called at
  // all (an idle sender calls flush() or poll_acks(), which write at once).
  static constexpr std::chrono::microseconds kMaxBatchDelay{50};

  std::unique_ptr<Connection> connection_;
  size_t window_;
  Clock::time_point batch_started_;
  std::vector<AckCallback> callbacks_;  // ring of `window_`, oldest at first_
  size_t first_ = 0;
  size_t outstanding_ = 0;  // sent, not yet acknowledged (includes unwritten_)
  size_t unwritten_ = 0;    // formatted into the connection's buffer, not yet written
  std::string maxlen_;
  bool trim_;
  std::string trim_operator_;
  std::vector<Route> routes_;
  size_t last_route_ = 0;
  std::string broken_;  // the error that broke the connection; sends fail from then on
};

// ---- consumer -------------------------------------------------------------------------------

constexpr std::string_view kNewEntries = ">";  // XREADGROUP: entries never delivered to the group

struct ConsumerStream {
  std::string stream;
  std::string topic;
  std::string last_id = "0-0";  // plain reads: where the next XREAD continues
};

class RedisConsumer final : public Consumer {
 public:
  RedisConsumer(std::unique_ptr<Connection> connection, const RedisConfig& config,
                std::string group, std::string consumer_name, std::vector<ConsumerStream> streams)
      : connection_(std::move(connection)),
        config_(config),
        group_(std::move(group)),
        consumer_name_(std::move(consumer_name)),
        streams_(std::move(streams)),
        read_count_(std::to_string(config.read_count)) {}

  ~RedisConsumer() override {
    // The last batch's XACKs were written without waiting; read their replies so they are
    // known to have been applied before the connection closes.
    while (pending_ack_replies_ > 0 && connection_->next_reply(true).ok()) --pending_ack_replies_;
  }

  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    if (streams_.empty()) {  // a group member without a partition
      std::this_thread::sleep_for(timeout);
      return size_t{0};
    }
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto remaining =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      int64_t block_ms = std::min<int64_t>(remaining, config_.block_ms);
      append_read(timeout.count() > 0 && block_ms > 0 ? block_ms : 0);
      if (Status written = connection_->write_output(); !written.ok()) {
        return make_error(written.error());
      }
      if (Status acked = read_ack_replies(); !acked.ok()) return make_error(acked.error());
      auto reply = connection_->next_reply(true);
      if (!reply.ok()) return make_error(reply.error());
      const redisReply* value = reply->get();
      if (value->type == REDIS_REPLY_ERROR) {
        return make_error("redis at " + connection_->label() + ": " +
                          std::string(reply_text(value)) +
                          (group_.empty() ? "" : " (were the groups prepared?)"));
      }
      if (value->type == REDIS_REPLY_ARRAY) return deliver(value, on_message);
      if (block_ms == 0 || Clock::now() >= deadline) return size_t{0};
    }
  }

 private:
  // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s... > ...  or  XREAD ... STREAMS s... id...
  void append_read(int64_t block_ms) {
    std::string block_text = std::to_string(block_ms);
    args_.clear();
    if (group_.empty()) {
      args_.push_back("XREAD");
    } else {
      args_.insert(args_.end(), {"XREADGROUP", "GROUP", group_, consumer_name_});
    }
    args_.insert(args_.end(), {"COUNT", read_count_});
    if (block_ms > 0) args_.insert(args_.end(), {"BLOCK", block_text});
    args_.push_back("STREAMS");
    for (const ConsumerStream& stream : streams_) args_.push_back(stream.stream);
    for (const ConsumerStream& stream : streams_) {
      args_.push_back(group_.empty() ? stream.last_id : kNewEntries);
    }
    connection_->append(args_);
  }

  Status read_ack_replies() {
    for (; pending_ack_replies_ > 0; --pending_ack_replies_) {
      auto reply = connection_->next_reply(true);
      if (Status ok = expect_ok(reply, "XACK failed"); !ok.ok()) return ok;
    }
    return Status::Ok();
  }

  Result<size_t> deliver(const redisReply* value,
                         const std::function<void(const ReceivedMessage&)>& on_message) {
    size_t delivered = 0;
    for (size_t s = 0; s < value->elements; ++s) {
      const redisReply* stream_reply = value->element[s];
      if (stream_reply->type != REDIS_REPLY_ARRAY || stream_reply->elements != 2) continue;
      std::string_view name = reply_text(stream_reply->element[0]);
      auto stream = std::find_if(streams_.begin(), streams_.end(),
                                 [&](const ConsumerStream& c) { return c.stream == name; });
      if (stream == streams_.end()) continue;
      const redisReply* entries = stream_reply->element[1];
      if (!group_.empty()) args_.assign({"XACK", stream->stream, group_});
      for (size_t e = 0; e < entries->elements; ++e) {
        const redisReply* entry = entries->element[e];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
        ReceivedMessage message{stream->topic, {}, {}};
        const redisReply* fields = entry->element[1];
        // Entries read with ">" always have fields; a nil here would be a trimmed pending one.
        if (fields->type == REDIS_REPLY_ARRAY) {
          for (size_t f = 0; f + 1 < fields->elements; f += 2) {
            std::string_view field = reply_text(fields->element[f]);
            if (field == "p") message.payload = reply_text(fields->element[f + 1]);
            if (field == "k") message.key = reply_text(fields->element[f + 1]);
          }
        }
        on_message(message);
        ++delivered;
        if (!group_.empty()) args_.push_back(reply_text(entry->element[0]));
      }
      if (entries->elements > 0) {
        const redisReply* last = entries->element[entries->elements - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements == 2) {
          stream->last_id = std::string(reply_text(last->element[0]));
        }
      }
      if (!group_.empty() && args_.size() > 3) {
        connection_->append(args_);
        ++pending_ack_replies_;
      }
    }
    // Send the acks now, read their replies with the next read: no extra round trip.
    if (pending_ack_replies_ > 0) {
      if (Status written = connection_->write_output(); !written.ok()) {
        return make_error(written.error());
      }
    }
    return delivered;
  }

  std::unique_ptr<Connection> connection_;
  RedisConfig config_;
  std::string group_;  // empty: plain XREAD
  std::string consumer_name_;
  std::vector<ConsumerStream> streams_;
  std::string read_count_;
  std::vector<std::string_view> args_;  // reused for every command
  size_t pending_ack_replies_ = 0;
};

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

struct RedisDriver::State {
  Address address;
  core::Settings properties;
  RedisConfig config;
  std::mutex control_mutex;  // guards control; producers and consumers have their own
  std::unique_ptr<Connection> control;

  Result<std::unique_ptr<Connection>> open() const {
    return Connection::open(address, config.timeout_ms, properties);
  }
};

std::vector<std::string> redis_stream_names(const std::string& topic, int partitions) {
  if (partitions <= 1) return {topic};
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(partitions));
  for (int p = 0; p < partitions; ++p) names.push_back(topic + "-" + std::to_string(p));
  return names;
}

RedisDriver::RedisDriver() : state_(std::make_unique<State>()) {}
RedisDriver::~RedisDriver() = default;

Status RedisDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  std::vector<core::FieldError> errors =
      validate_driver_config(redis_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }
  if (endpoint.addresses.empty()) return make_error("redis endpoint has no address");
  auto address = parse_address(endpoint.addresses.front());
  if (!address.ok()) return make_error(address.error());

  std::lock_guard lock(state_->control_mutex);
  state_->address = *address;
  state_->properties = endpoint.properties;
  state_->config = config_from(config);
  auto control = state_->open();
  if (!control.ok()) return make_error(control.error());
  auto pong = (*control)->command({"PING"});
  if (Status ok = expect_ok(pong, "redis at " + address->label + " answered PING with an error");
      !ok.ok()) {
    return ok;
  }
  state_->control = std::move(*control);
  return Status::Ok();
}

Status RedisDriver::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions must be from 1 to 100000");
  }
  std::lock_guard lock(state_->control_mutex);
  if (!state_->control) return make_error("redis driver is not connected");
  Connection& control = *state_->control;
  // Start clean: drop the streams of an earlier topic of this name, whatever its partitions.
  auto previous = topic_partitions(control, topic);
  std::vector<std::string> keys = redis_stream_names(topic, partitions);
  if (previous.ok() && *previous != partitions) {
    for (std::string& name : redis_stream_names(topic, *previous)) keys.push_back(std::move(name));
  }
  keys.push_back(partitions_key(topic));
  std::vector<std::string_view> del{"DEL"};
  del.insert(del.end(), keys.begin(), keys.end());
  if (Status ok = expect_ok(control.command(del), "cannot delete streams of " + topic); !ok.ok()) {
    return ok;
  }
  if (partitions == 1) return Status::Ok();
  return expect_ok(control.command({"SET", partitions_key(topic), std::to_string(partitions)}),
                   "cannot record the partitions of " + topic);
}

Status RedisDriver::delete_topic(const std::string& topic) {
  std::lock_guard lock(state_->control_mutex);
  if (!state_->control) return make_error("redis driver is not connected");
  Connection& control = *state_->control;
  auto partitions = topic_partitions(control, topic);
  if (!partitions.ok()) return make_error(partitions.error());
  std::vector<std::string> keys = redis_stream_names(topic, *partitions);
  keys.push_back(partitions_key(topic));
  std::vector<std::string_view> del{"DEL"};
  del.insert(del.end(), keys.begin(), keys.end());
  return expect_ok(control.command(del), "cannot delete streams of " + topic);
}

Status RedisDriver::prepare_consumers(const std::vector<std::string>& topics,
                                      const std::vector<std::string>& groups) {
  std::lock_guard lock(state_->control_mutex);
  if (!state_->control) return make_error("redis driver is not connected");
  if (state_->config.plain_reads) return Status::Ok();  // XREAD keeps no server-side state
  Connection& control = *state_->control;
  for (const std::string& topic : topics) {
    auto partitions = topic_partitions(control, topic);
    if (!partitions.ok()) return make_error(partitions.error());
    for (const std::string& stream : redis_stream_names(topic, *partitions)) {
      for (const std::string& group : groups) {
        // From "0": create_topic emptied the stream, so everything in it belongs to this run,
        // including messages a producer sent before the group existed.
        auto reply = control.command({"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"});
        if (!reply.ok()) return make_error(reply.error());
        const redisReply* value = reply->get();
        if (value->type == REDIS_REPLY_ERROR && !reply_text(value).starts_with("BUSYGROUP")) {
          return make_error("cannot create consumer group " + group + " on stream " + stream +
                            ": " + std::string(reply_text(value)));
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> RedisDriver::make_producer() {
  if (!state_->control) return make_error("redis driver is not connected");
  auto connection = state_->open();
  if (!connection.ok()) return make_error(connection.error());
  return std::unique_ptr<Producer>(
      std::make_unique<RedisProducer>(std::move(*connection), state_->config));
}

Result<std::unique_ptr<Consumer>> RedisDriver::make_consumer(const ConsumerOptions& options) {
  if (!state_->control) return make_error("redis driver is not connected");
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  const RedisConfig& config = state_->config;
  // The reply to a blocking read may take block_ms longer than any other reply.
  auto connection =
      Connection::open(state_->address, config.timeout_ms + config.block_ms, state_->properties);
  if (!connection.ok()) return make_error(connection.error());

  bool grouped = !config.plain_reads && !options.group.empty();
  // No group means "read everything", whatever the read mode.
  bool split = options.group_size > 1 && !options.group.empty();
  std::vector<ConsumerStream> streams;
  for (const std::string& topic : options.topics) {
    auto partitions = topic_partitions(**connection, topic);
    if (!partitions.ok()) return make_error(partitions.error());
    std::vector<std::string> names = redis_stream_names(topic, *partitions);
    // Group mode with fewer partitions than members: all read all, Redis spreads the entries.
    bool split_topic = split && (config.plain_reads || *partitions >= options.group_size);
    for (size_t p = 0; p < names.size(); ++p) {
      if (split_topic && static_cast<int>(p % options.group_size) != options.member_index) {
        continue;
      }
      streams.push_back({names[p], topic, "0-0"});
    }
  }
  std::string group = grouped ? options.group : "";
  std::string consumer_name = "dec-" + std::to_string(options.member_index);
  return std::unique_ptr<Consumer>(
      std::make_unique<RedisConsumer>(std::move(*connection), config, std::move(group),
                                      std::move(consumer_name), std::move(streams)));
}

DriverInfo redis_driver_info() {
  DriverInfo info;
  info.name = "redis";
  info.description = "Redis Streams (XADD / XREADGROUP) through hiredis";
  info.config_keys = redis_config_keys();
  info.create = [] { return std::make_unique<RedisDriver>(); };
  return info;
}

}  // namespace dec::drivers
