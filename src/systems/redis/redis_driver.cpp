#include "systems/redis/redis_driver.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
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

constexpr int kDefaultPort = 6379;

// ---- config -------------------------------------------------------------------------------

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

using Address = HostPort;

Result<Address> parse_address(const std::string& text) {
  return parse_host_port(text, kDefaultPort, "redis");
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view reply_text(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

// The value of `name` in a reply that lists names and values alternately (XINFO, in RESP2);
// nullptr when the reply has no such field.
const redisReply* reply_field(const redisReply* fields, std::string_view name) {
  if (fields->type != REDIS_REPLY_ARRAY) return nullptr;
  for (size_t f = 0; f + 1 < fields->elements; f += 2) {
    if (reply_text(fields->element[f]) == name) return fields->element[f + 1];
  }
  return nullptr;
}

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

timeval to_timeval(int milliseconds) {
  return {milliseconds / 1000, static_cast<suseconds_t>(milliseconds % 1000) * 1000};
}

// Waits up to `timeout` until one of `descriptors` can be read (or has failed); false on timeout.
// The caller checks each descriptor's revents.
bool wait_readable(std::span<pollfd> descriptors, std::chrono::nanoseconds timeout) {
  timeout = std::max(timeout, std::chrono::nanoseconds(0));
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec wait{static_cast<time_t>(seconds.count()),
                static_cast<decltype(timespec::tv_nsec)>((timeout - seconds).count())};
  return ::ppoll(descriptors.data(), descriptors.size(), &wait, nullptr) > 0;
}

// One blocking connection. hiredis connects and parses replies; dec formats commands itself
// (RESP is trivial) into a buffer that is reused, so a message costs no allocation, and writes
// with MSG_NOSIGNAL, so a server that goes away is an error rather than a SIGPIPE.
class Connection {
 public:
  // Connects, waiting up to `timeout_ms`.
  static Result<std::unique_ptr<Connection>> open(const Address& address, int timeout_ms,
                                                  const core::Settings& properties) {
    ContextPtr context(
        redisConnectWithTimeout(address.host.c_str(), address.port, to_timeval(timeout_ms)));
    if (!context) return make_error("cannot connect to redis at " + address.label);
    if (context->err) {
      return make_error("cannot connect to redis at " + address.label + ": " + context->errstr);
    }
    return set_up(std::move(context), address, timeout_ms, properties);
  }

  // Takes over `fd`, a blocking socket already connected to `address`.
  static Result<std::unique_ptr<Connection>> adopt(int fd, const Address& address, int timeout_ms,
                                                   const core::Settings& properties) {
    ContextPtr context(redisConnectFd(fd));
    if (!context) {
      ::close(fd);
      return make_error("cannot connect to redis at " + address.label + ": out of memory");
    }
    return set_up(std::move(context), address, timeout_ms, properties);
  }

  const std::string& label() const { return address_.label; }
  int fd() const { return context_->fd; }
  bool has_output() const { return !output_.empty(); }

  void append(std::span<const std::string_view> args) {
    append_header('*', args.size());
    for (std::string_view arg : args) append_bulk(arg);
  }

  // Pieces of a command formatted by the caller (a cached prefix of constant arguments).
  void append_raw(std::string_view bytes) { output_.append(bytes); }

  // One argument: $<length>, the bytes, CRLF, written with one append for the header.
  void append_bulk(std::string_view arg) {
    append_header('$', arg.size());
    output_.append(arg);
    output_.append("\r\n", 2);
  }

  // The outcome of a command whose reply is one line or one bulk string (XADD): `error` holds
  // the server's error text, empty for success.
  struct SimpleReply {
    bool present = false;    // false: none has arrived yet (only with wait == false)
    std::string_view error;  // points into the read buffer: valid until the next call
  };

  // The next reply of a connection that only sends commands answered by a bulk string, a status
  // or an integer, parsed in place from dec's own read buffer: no reply object is allocated,
  // which hiredis's reader does for every reply (its allocations were a quarter of a producer's
  // CPU per message). Must not be mixed with next_reply() on unread data: a producer's
  // connection uses only this one after its set-up commands.
  Result<SimpleReply> next_simple_reply(bool wait) {
    for (;;) {
      if (auto parsed = parse_simple_reply(); !parsed.ok() || parsed->present) return parsed;
      if (!wait && !readable(std::chrono::nanoseconds(0))) return SimpleReply{};
      if (input_.empty()) input_.resize(kReadBuffer);
      if (input_begin_ > 0) {  // keep a partial reply, at the front
        std::memmove(input_.data(), input_.data() + input_begin_, input_end_ - input_begin_);
        input_end_ -= input_begin_;
        input_begin_ = 0;
      }
      if (input_end_ == input_.size()) input_.resize(input_.size() * 2);  // one huge reply
      ssize_t got = ::recv(context_->fd, input_.data() + input_end_, input_.size() - input_end_, 0);
      int error = errno;
      if (got > 0) input_end_ += static_cast<size_t>(got);
      if (got == 0) return make_error("redis at " + address_.label + ": connection closed");
      if (got < 0) {
        if (error == EINTR) continue;
        return make_error(io_error(error));
      }
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
    return wait_readable(std::span<pollfd>(&descriptor, 1), timeout);
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
  Connection(ContextPtr context, Address address, int timeout_ms)
      : context_(std::move(context)), address_(std::move(address)), timeout_ms_(timeout_ms) {}

  static Result<std::unique_ptr<Connection>> set_up(ContextPtr context, const Address& address,
                                                    int timeout_ms,
                                                    const core::Settings& properties) {
    if (redisSetTimeout(context.get(), to_timeval(timeout_ms)) != REDIS_OK) {
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

  void append_header(char kind, size_t number) {
    std::array<char, 24> text;
    text[0] = kind;
    auto end = std::to_chars(text.data() + 1, text.data() + text.size() - 2, number).ptr;
    *end++ = '\r';
    *end++ = '\n';
    output_.append(text.data(), static_cast<size_t>(end - text.data()));
  }

  static constexpr size_t kReadBuffer = 64 * 1024;

  // One complete reply at input_begin_, consumed; `present` false when it is not all there yet.
  Result<SimpleReply> parse_simple_reply() {
    std::string_view data(input_.data() + input_begin_, input_end_ - input_begin_);
    size_t line_end = data.find("\r\n");
    if (line_end == std::string_view::npos) return SimpleReply{};
    const char kind = data[0];
    std::string_view line = data.substr(1, line_end - 1);
    size_t consumed = line_end + 2;
    SimpleReply reply;
    reply.present = true;
    if (kind == '$') {
      long long length = -1;
      auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), length);
      if (ec != std::errc() || end != line.data() + line.size() || length < -1) {
        return make_error("redis at " + address_.label + " sent a malformed bulk reply");
      }
      if (length >= 0) {
        if (data.size() < consumed + static_cast<size_t>(length) + 2) return SimpleReply{};
        consumed += static_cast<size_t>(length) + 2;
      }
    } else if (kind == '-') {
      reply.error = line;
    } else if (kind != '+' && kind != ':') {
      return make_error("redis at " + address_.label + " sent an unexpected reply type '" +
                        std::string(1, kind) + "' to a producer");
    }
    input_begin_ += consumed;
    if (input_begin_ == input_end_) input_begin_ = input_end_ = 0;
    return reply;
  }

  std::string io_error(int error) const {
    if (error == EAGAIN || error == EWOULDBLOCK) {
      return "redis at " + address_.label + " did not answer within " +
             std::to_string(timeout_ms_) + " ms (config timeout_ms)";
    }
    return "redis at " + address_.label + ": " + (error ? std::strerror(error) : "I/O error");
  }

  ContextPtr context_;
  Address address_;
  int timeout_ms_;
  std::string output_;
  // next_simple_reply's read buffer: unread bytes in [input_begin_, input_end_).
  std::vector<char> input_;
  size_t input_begin_ = 0;
  size_t input_end_ = 0;
};

// ---- nodes ----------------------------------------------------------------------------------

constexpr std::chrono::milliseconds kReconnectInterval{500};
constexpr int kMaxReconnectAttempts = 120;

// Node failures seen by a driver's producers and consumers, for Driver::counters().
struct NodeStats {
  std::atomic<uint64_t> connections_lost{0};
  std::atomic<uint64_t> reconnect_attempts{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> sends_to_down_node{0};
};

// A connection attempt in progress on a non-blocking socket.
struct PendingConnect {
  int fd = -1;
  Clock::time_point started;
  PendingConnect(int fd, Clock::time_point started) : fd(fd), started(started) {}
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;
  ~PendingConnect() {
    if (fd >= 0) ::close(fd);
  }
};

// A producer's or consumer's connection to one node. After lost(), the node is down for this
// client: reconnect() tries again without ever waiting (a non-blocking connect, checked on each
// call), starting an attempt at most every kReconnectInterval and at most kMaxReconnectAttempts
// times in a row; then the node stays down. A blackholed node thus never stalls the client's
// other nodes for longer than its first timeout.
class NodeLink {
 public:
  NodeLink(std::unique_ptr<Connection> connection, Address address, int timeout_ms,
           core::Settings properties, std::shared_ptr<NodeStats> stats)
      : connection_(std::move(connection)),
        address_(std::move(address)),
        timeout_ms_(timeout_ms),
        properties_(std::move(properties)),
        stats_(std::move(stats)) {}

  // Null while the node is down.
  Connection* connection() const { return connection_.get(); }
  const std::string& label() const { return address_.label; }
  // Why the node is down, for the messages that cannot be sent to it.
  const std::string& down_error() const { return down_error_; }

  void lost(const std::string& error) {
    connection_.reset();
    stats_->connections_lost.fetch_add(1, std::memory_order_relaxed);
    attempts_ = 0;
    next_attempt_ = Clock::now() + kReconnectInterval;
    set_down(error);
  }

  // True when connected, possibly again after this call.
  bool reconnect() {
    if (connection_) return true;
    Clock::time_point now = Clock::now();
    if (pending_ && finish_attempt(now)) return true;
    if (pending_ || now < next_attempt_ || attempts_ >= kMaxReconnectAttempts) return false;
    ++attempts_;
    stats_->reconnect_attempts.fetch_add(1, std::memory_order_relaxed);
    next_attempt_ = now + kReconnectInterval;
    if (std::string error = start_attempt(now); !error.empty()) {
      set_down("cannot connect to redis at " + address_.label + ": " + error);
      return false;
    }
    return finish_attempt(now);  // a local server often accepts at once
  }

 private:
  // Starts a non-blocking connect; returns why it failed at once, or "".
  std::string start_attempt(Clock::time_point now) {
    if (!resolved_) {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      std::string port = std::to_string(address_.port);
      if (int error = ::getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &found)) {
        return ::gai_strerror(error);
      }
      // IPv4 first, as hiredis does: "localhost" must reach a server bound to 127.0.0.1.
      const addrinfo* chosen = found;
      for (const addrinfo* entry = found; entry; entry = entry->ai_next) {
        if (entry->ai_family == AF_INET) {
          chosen = entry;
          break;
        }
      }
      std::memcpy(&resolved_address_, chosen->ai_addr, chosen->ai_addrlen);
      resolved_length_ = chosen->ai_addrlen;
      ::freeaddrinfo(found);
      resolved_ = true;
    }
    int fd = ::socket(resolved_address_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::strerror(errno);
    pending_ = std::make_unique<PendingConnect>(fd, now);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&resolved_address_), resolved_length_) !=
            0 &&
        errno != EINPROGRESS) {
      int error = errno;
      pending_.reset();
      return std::strerror(error);
    }
    return "";
  }

  // Checks the attempt in progress without waiting; true once it has connected.
  bool finish_attempt(Clock::time_point now) {
    pollfd descriptor{pending_->fd, POLLOUT, 0};
    int ready = ::poll(&descriptor, 1, 0);
    if (ready == 0) {
      if (now - pending_->started < kReconnectInterval) return false;
      pending_.reset();
      set_down("cannot connect to redis at " + address_.label + ": no answer within " +
               std::to_string(kReconnectInterval.count()) + " ms");
      return false;
    }
    int error = ready < 0 ? errno : 0;
    socklen_t length = sizeof(error);
    if (ready > 0 && ::getsockopt(pending_->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      error = errno;
    }
    if (error != 0) {
      pending_.reset();
      set_down("cannot connect to redis at " + address_.label + ": " + std::strerror(error));
      return false;
    }
    // Blocking from here on, as hiredis expects; no Nagle delay, as hiredis sets up its own.
    int fd = std::exchange(pending_->fd, -1);
    pending_.reset();
    int flags = ::fcntl(fd, F_GETFL);
    int no_delay = 1;
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay)) != 0) {
      set_down("cannot set up the connection to redis at " + address_.label + ": " +
               std::strerror(errno));
      ::close(fd);
      return false;
    }
    auto connection = Connection::adopt(fd, address_, timeout_ms_, properties_);
    if (!connection.ok()) {
      set_down(connection.error());
      return false;
    }
    connection_ = std::move(*connection);
    stats_->reconnects.fetch_add(1, std::memory_order_relaxed);
    down_error_.clear();
    return true;
  }

  void set_down(const std::string& cause) {
    down_error_ = "redis node down (" + cause + "); ";
    if (attempts_ >= kMaxReconnectAttempts && !pending_) {
      down_error_ +=
          "gave up after " + std::to_string(kMaxReconnectAttempts) + " reconnection attempts";
    } else {
      down_error_ +=
          "reconnecting at most every " + std::to_string(kReconnectInterval.count()) + " ms";
    }
  }

  std::unique_ptr<Connection> connection_;
  Address address_;
  int timeout_ms_;
  core::Settings properties_;
  std::shared_ptr<NodeStats> stats_;
  std::string down_error_;
  std::unique_ptr<PendingConnect> pending_;
  Clock::time_point next_attempt_;
  int attempts_ = 0;  // attempts since the connection was lost
  bool resolved_ = false;
  sockaddr_storage resolved_address_{};
  socklen_t resolved_length_ = 0;
};

// ---- topics ---------------------------------------------------------------------------------

std::string partitions_key(const std::string& topic) { return "dec:partitions:" + topic; }

// Partitions of a topic from the reply to GET dec:partitions:<topic>; 1 when there is no record
// (a plain stream, possibly one dec did not create).
Result<int> partitions_from_reply(const redisReply* value, const std::string& topic) {
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

using core::fnv1a;  // stable across processes, so dec workers agree on a key's stream and node

// ---- producer -------------------------------------------------------------------------------

class RedisProducer final : public Producer {
 public:
  RedisProducer(std::vector<NodeLink> links, const RedisConfig& config,
                std::shared_ptr<NodeStats> stats)
      : window_(static_cast<size_t>(config.pipeline)),
        maxlen_(std::to_string(config.maxlen)),
        trim_(config.maxlen > 0),
        trim_operator_(config.trim_exact ? "=" : "~"),
        stats_(std::move(stats)) {
    nodes_.reserve(links.size());
    for (NodeLink& link : links) nodes_.push_back({std::move(link), {}, {}, 0, 0, 0});
    for (ProducerNode& node : nodes_) node.callbacks.resize(window_);
  }

  ~RedisProducer() override {
    // Deliver what Redis has acknowledged; whatever is left is reported as lost.
    drain();
    for (ProducerNode& node : nodes_) {
      fail_outstanding(node, "producer closed before redis acknowledged the message");
    }
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    auto route = find_route(topic);
    if (!route.ok()) return make_error(route.error());
    if (*route == nullptr) {  // no node holding the topic's record answers: try again later
      stats_->sends_to_down_node.fetch_add(1, std::memory_order_relaxed);
      on_ack(false, unreachable_error_);
      return Status::Ok();
    }
    Route& target = **route;
    size_t partition = target.streams.size() == 1 ? 0
                       : key.empty()              ? target.next_partition++ % target.streams.size()
                                                  : fnv1a(key) % target.streams.size();
    ProducerNode& node = nodes_[target.nodes[partition]];
    Connection* connection = node.link.connection();
    if (connection == nullptr) {
      if (!node.link.reconnect()) {
        // The message is accepted and fails at once: the other nodes carry on.
        stats_->sends_to_down_node.fetch_add(1, std::memory_order_relaxed);
        on_ack(false, node.link.down_error());
        return Status::Ok();
      }
      connection = node.link.connection();
    }

    // XADD <stream> [MAXLEN <op> <n>] * [k <key>] p <payload>: everything up to the key is
    // constant per stream and formatted once.
    const std::string& prefix =
        key.empty() ? target.prefix_without_key[partition] : target.prefix_with_key[partition];
    connection->append_raw(prefix);
    if (!key.empty()) connection->append_bulk(key);
    connection->append_raw("$1\r\np\r\n");
    connection->append_bulk(payload);
    node.callbacks[(node.first + node.outstanding) % window_] = std::move(on_ack);
    ++node.outstanding;
    ++node.unwritten;
    ++outstanding_;

    // The message is accepted from here on: failures reach it through its callback.
    // Batching decides throughput: a write (and a read) per message costs the client more CPU
    // than Redis spends on the XADD, so commands are written in batches, as redis-benchmark -P
    // does, while an idle connection still gets each message at once.
    if (node.outstanding >= window_) {
      if (write(node)) receive(node, /*wait=*/true);  // full window: wait for the oldest replies
    } else if (node.outstanding == node.unwritten) {
      write(node);  // nothing awaits a reply: latency matters more than batching
    } else if (node.unwritten == 1) {
      // A new batch behind commands sent earlier. If their replies are all in (a zero-timeout
      // poll, once per batch), the connection is idle after all.
      node.batch_started = Clock::now();
      if (receive(node, /*wait=*/false) && node.outstanding == node.unwritten) write(node);
    } else if (Clock::now() - node.batch_started >= kMaxBatchDelay) {
      if (receive(node, /*wait=*/false)) write(node);  // a slow sender: do not hold its batch
    }
    return Status::Ok();
  }

  // Failures, including a node that went down, reach the messages through their callbacks.
  Status flush() override {
    drain();
    return Status::Ok();
  }

  size_t in_flight() const override { return outstanding_; }

  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    for (ProducerNode& node : nodes_) write(node);
    if (outstanding_ == 0) {
      std::this_thread::sleep_for(max_wait);
      return Status::Ok();
    }
    size_t before = outstanding_;
    for (ProducerNode& node : nodes_) {
      if (node.outstanding > 0) receive(node, /*wait=*/false);
    }
    if (outstanding_ != before) return Status::Ok();
    descriptors_.clear();
    waiting_.clear();
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Connection* connection = nodes_[i].link.connection();
      if (connection != nullptr && nodes_[i].outstanding > 0) {
        descriptors_.push_back({connection->fd(), POLLIN, 0});
        waiting_.push_back(i);
      }
    }
    if (!descriptors_.empty() && wait_readable(descriptors_, max_wait)) {
      for (size_t k = 0; k < descriptors_.size(); ++k) {
        if (descriptors_[k].revents != 0) receive(nodes_[waiting_[k]], /*wait=*/false);
      }
    }
    return Status::Ok();
  }

 private:
  struct Route {
    std::string topic;
    std::vector<std::string> streams;
    // Per stream, the start of its XADD command in RESP, up to the key's or the payload's field
    // name ("k" is included in the prefix with a key).
    std::vector<std::string> prefix_with_key;
    std::vector<std::string> prefix_without_key;
    std::vector<uint32_t> nodes;  // per partition: index into nodes_
    size_t next_partition = 0;
  };

  // One node's connection with its window of commands awaiting replies.
  struct ProducerNode {
    NodeLink link;
    std::vector<AckCallback> callbacks;  // ring of `window_`, oldest at first
    Clock::time_point batch_started;
    size_t first = 0;
    size_t outstanding = 0;  // sent, not yet acknowledged (includes unwritten)
    size_t unwritten = 0;    // formatted into the connection's buffer, not yet written
  };

  void drain() {
    for (ProducerNode& node : nodes_) write(node);
    for (ProducerNode& node : nodes_) {
      while (node.outstanding > 0 && receive(node, /*wait=*/true)) {
      }
    }
  }

  // The topic's streams and nodes, looked up on first use; nullptr while no node answers.
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
    auto partitions = lookup_partitions(topic);
    if (!partitions.ok()) return make_error(partitions.error());
    if (!*partitions) return nullptr;
    Route route;
    route.topic = topic;
    route.streams = redis_stream_names(topic, **partitions);
    for (int p = 0; p < **partitions; ++p) {
      route.nodes.push_back(static_cast<uint32_t>(redis_stream_node(topic, p, nodes_.size())));
    }
    for (const std::string& stream : route.streams) {
      route.prefix_with_key.push_back(xadd_prefix(stream, /*with_key=*/true));
      route.prefix_without_key.push_back(xadd_prefix(stream, /*with_key=*/false));
    }
    routes_.push_back(std::move(route));
    last_route_ = routes_.size() - 1;
    return &routes_.back();
  }

  // XADD <stream> [MAXLEN <op> <n>] * [k]: the constant start of a message's command, with the
  // argument count of the whole command (the key and payload follow).
  std::string xadd_prefix(const std::string& stream, bool with_key) const {
    std::vector<std::string_view> args = {"XADD", stream};
    if (trim_) {
      args.insert(args.end(), {"MAXLEN", trim_operator_, maxlen_});
    }
    args.push_back("*");
    if (with_key) args.push_back("k");
    const size_t count = args.size() + (with_key ? 1 : 0) + 2;  // key, "p", payload
    std::string out = "*" + std::to_string(count) + "\r\n";
    for (std::string_view arg : args) {
      out += "$" + std::to_string(arg.size()) + "\r\n";
      out.append(arg);
      out += "\r\n";
    }
    return out;
  }

  // A new topic's partitions, from the record on its first node that answers (its home node
  // unless that one is down); nullopt, with unreachable_error_ set, when no node answers.
  Result<std::optional<int>> lookup_partitions(const std::string& topic) {
    size_t home = redis_stream_node(topic, 0, nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      ProducerNode& node = nodes_[(home + i) % nodes_.size()];
      // Replies are strictly ordered: the outstanding XADD replies must be read first.
      if (node.link.reconnect() && write(node)) {
        while (node.outstanding > 0 && receive(node, /*wait=*/true)) {
        }
      }
      Connection* connection = node.link.connection();
      if (connection == nullptr) {
        unreachable_error_ = node.link.down_error();
        continue;
      }
      auto reply = connection->command({"GET", partitions_key(topic)});
      if (!reply.ok()) {
        node_lost(node, reply.error());
        unreachable_error_ = node.link.down_error();
        continue;
      }
      auto partitions = partitions_from_reply(reply->get(), topic);
      if (!partitions.ok()) return make_error(partitions.error());
      return std::optional<int>(*partitions);
    }
    unreachable_error_ = "cannot find the partitions of topic " + topic + ": " + unreachable_error_;
    return std::optional<int>();
  }

  // Returns false (and fails everything outstanding on the node) when the node is down.
  bool write(ProducerNode& node) {
    if (node.unwritten == 0) return node.link.connection() != nullptr;
    if (Status written = node.link.connection()->write_output(); !written.ok()) {
      node_lost(node, written.error());
      return false;
    }
    node.unwritten = 0;
    return true;
  }

  // Delivers every reply of the node that has arrived; with `wait`, blocks until at least one
  // has. Returns false when the node is down.
  bool receive(ProducerNode& node, bool wait) {
    Connection* connection = node.link.connection();
    if (connection == nullptr) return false;
    for (;;) {
      auto reply = connection->next_simple_reply(wait);
      if (!reply.ok()) {
        node_lost(node, reply.error());
        return false;
      }
      if (!reply->present) return true;
      if (node.outstanding == node.unwritten) {
        node_lost(node, "redis at " + connection->label() + " sent a reply nobody asked for");
        return false;
      }
      AckCallback callback = std::move(node.callbacks[node.first]);
      node.first = (node.first + 1) % window_;
      --node.outstanding;
      --outstanding_;
      if (!reply->error.empty()) {
        callback(false, reply->error);
      } else {
        callback(true, {});
      }
      wait = false;  // one reply is enough; drain the rest without blocking
    }
  }

  void node_lost(ProducerNode& node, const std::string& error) {
    std::string message = error;  // `error` may belong to the connection being closed
    node.link.lost(message);
    fail_outstanding(node, message);
  }

  void fail_outstanding(ProducerNode& node, const std::string& error) {
    while (node.outstanding > 0) {
      AckCallback callback = std::move(node.callbacks[node.first]);
      node.first = (node.first + 1) % window_;
      --node.outstanding;
      --outstanding_;
      if (callback) callback(false, error);
    }
    node.unwritten = 0;
  }

  // Longest a command waits in the batch while replies are pending, when send() is called at
  // all (an idle sender calls flush() or poll_acks(), which write at once).
  static constexpr std::chrono::microseconds kMaxBatchDelay{50};

  size_t window_;  // commands in flight per node
  std::vector<ProducerNode> nodes_;
  size_t outstanding_ = 0;  // over all nodes
  std::string maxlen_;
  bool trim_;
  std::string trim_operator_;
  std::shared_ptr<NodeStats> stats_;
  std::vector<Route> routes_;
  size_t last_route_ = 0;
  std::string unreachable_error_;    // why the last topic lookup found no node
  std::vector<pollfd> descriptors_;  // poll_acks: reused
  std::vector<size_t> waiting_;      // poll_acks: node of each descriptor
};

// ---- consumer -------------------------------------------------------------------------------

constexpr std::string_view kNewEntries = ">";  // XREADGROUP: entries never delivered to the group
constexpr std::string_view kOwnPendingFromStart = "0";  // XREADGROUP: this consumer's PEL

struct ConsumerStream {
  std::string stream;
  std::string topic;
  int partition = 0;            // index of the stream within its topic
  std::string last_id = "0-0";  // plain reads: where the next XREAD continues
  // Group reads: while not empty, the stream's reads take this consumer's pending entries after
  // this id instead of new ones (">"), a page at a time.
  std::string pending_after;
};

// A consumer's streams on one node, and the state of its connection there.
struct ConsumerNode {
  NodeLink link;
  std::vector<ConsumerStream> streams;
  bool read_pending = false;       // a read was written, its reply not yet taken
  uint64_t read_round = 0;         // the poll() call that wrote it
  Clock::time_point read_expires;  // when the server stops blocking on it
  size_t pending_ack_replies = 0;  // XACKs written, replies (which precede the read's) not read
};

class RedisConsumer final : public Consumer {
 public:
  RedisConsumer(std::vector<ConsumerNode> nodes, const RedisConfig& config, std::string group,
                std::string consumer_name)
      : nodes_(std::move(nodes)),
        config_(config),
        group_(std::move(group)),
        consumer_name_(std::move(consumer_name)),
        read_count_(std::to_string(config.read_count)) {
    // The first connection counts as well: a consumer made again under the same member name
    // takes over what its predecessor left unacknowledged.
    for (ConsumerNode& node : nodes_) reread_own_pending(node);
  }

  ~RedisConsumer() override {
    // The last batch's XACKs were written without waiting; read their replies so they are
    // known to have been applied before the connection closes.
    for (ConsumerNode& node : nodes_) {
      Connection* connection = node.link.connection();
      while (connection != nullptr && node.pending_ack_replies > 0 &&
             connection->next_reply(true).ok()) {
        --node.pending_ack_replies;
      }
    }
  }

  // Writes a read to every node that has none outstanding, then takes replies as they come.
  // Returns with the first batch of entries (from any node), or when the time is up and every
  // read written in this call has been answered; a read still blocking in a server (written by
  // an earlier call, whose BLOCK lasts longer) is left for the next call.
  Result<size_t> poll(std::chrono::milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    if (nodes_.empty()) {  // a group member without a partition
      std::this_thread::sleep_for(timeout);
      return size_t{0};
    }
    const uint64_t round = ++round_;
    const auto deadline = Clock::now() + timeout;
    const auto reply_timeout = std::chrono::milliseconds(config_.timeout_ms);
    for (bool first = true;; first = false) {
      auto now = Clock::now();
      if (first || now < deadline) {
        auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        int64_t block_ms = std::min<int64_t>(remaining, config_.block_ms);
        if (timeout.count() <= 0 || block_ms <= 0) block_ms = 0;
        for (ConsumerNode& node : nodes_) {
          if (node.read_pending || !node.link.reconnect()) continue;
          // Redis answers a read of pending entries at once, whatever BLOCK says.
          int64_t node_block_ms = rereading_own_pending(node) ? 0 : block_ms;
          append_read(node, node_block_ms);
          if (Status written = node.link.connection()->write_output(); !written.ok()) {
            node_lost(node, written.error());
            continue;
          }
          node.read_pending = true;
          node.read_round = round;
          node.read_expires = now + std::chrono::milliseconds(node_block_ms);
        }
      }

      auto wake = now < deadline ? deadline : Clock::time_point::max();
      descriptors_.clear();
      waiting_.clear();
      for (size_t i = 0; i < nodes_.size(); ++i) {
        ConsumerNode& node = nodes_[i];
        if (!node.read_pending) continue;
        descriptors_.push_back({node.link.connection()->fd(), POLLIN, 0});
        waiting_.push_back(i);
        wake = std::min(wake, node.read_expires + reply_timeout);
      }
      if (descriptors_.empty()) {
        // Every node is down: wait out the call; reconnection is tried on the next pass.
        if (now >= deadline) return size_t{0};
        std::this_thread::sleep_until(std::min(deadline, now + kReconnectInterval));
        continue;
      }

      size_t delivered = 0;
      bool got_entries = false;
      if (wait_readable(descriptors_, wake - now)) {
        for (size_t k = 0; k < descriptors_.size(); ++k) {
          if (descriptors_[k].revents == 0) continue;
          Status taken = take_replies(nodes_[waiting_[k]], on_message, delivered, got_entries);
          if (!taken.ok()) return make_error(taken.error());
        }
      }
      now = Clock::now();
      bool awaiting_this_round = false;
      for (ConsumerNode& node : nodes_) {
        if (!node.read_pending) continue;
        if (now > node.read_expires + reply_timeout) {
          node_lost(node, "redis at " + node.link.label() + " did not answer within " +
                              std::to_string(config_.timeout_ms) + " ms (config timeout_ms)");
        } else if (node.read_round == round) {
          awaiting_this_round = true;
        }
      }
      if (got_entries) return delivered;
      if (now >= deadline && !awaiting_this_round) return size_t{0};
    }
  }

  // Group mode: XINFO GROUPS gives the group's lag (entries not yet delivered to it) and pending
  // count per stream. Plain mode keeps no server-side state: only a consumer that has read up
  // to the stream's last entry can tell (0).
  std::optional<uint64_t> backlog() override {
    uint64_t total = 0;
    for (ConsumerNode& node : nodes_) {
      std::optional<uint64_t> held = node_backlog(node);
      if (!held) return std::nullopt;
      total += *held;
    }
    return total;
  }

 private:
  // Dec's consumer names are stable per group member, so after a (re)connection the consumer
  // reads back its own Pending Entries List: entries Redis delivered to it in a reply that the
  // lost connection never handed over, or whose XACK was lost with it. XAUTOCLAIM would only be
  // needed for entries owned by another consumer name.
  void reread_own_pending(ConsumerNode& node) {
    if (group_.empty()) return;
    for (ConsumerStream& stream : node.streams) stream.pending_after = kOwnPendingFromStart;
  }

  static bool rereading_own_pending(const ConsumerNode& node) {
    return std::any_of(node.streams.begin(), node.streams.end(),
                       [](const ConsumerStream& stream) { return !stream.pending_after.empty(); });
  }

  // Unread + pending entries of the node's streams; nullopt when the node cannot be reached or
  // does not say. A poll() that ended with a read or XACKs outstanding left their replies first
  // in line; the read's entries can no longer be handed over, so in group mode they are read
  // again from the PEL by a later poll(), and in plain mode the next XREAD repeats them.
  std::optional<uint64_t> node_backlog(ConsumerNode& node) {
    if (!node.link.reconnect()) return std::nullopt;
    Connection* connection = node.link.connection();
    while (node.pending_ack_replies > 0 || node.read_pending) {
      auto reply = connection->next_reply(/*wait=*/true);
      if (!reply.ok()) {
        node_lost(node, reply.error());
        return std::nullopt;
      }
      if (node.pending_ack_replies > 0) {
        --node.pending_ack_replies;  // an XACK that failed leaves its entry pending: counted
        continue;
      }
      node.read_pending = false;
      if ((*reply)->type == REDIS_REPLY_ARRAY) reread_own_pending(node);
    }

    for (const ConsumerStream& stream : node.streams) {
      std::array<std::string_view, 3> info{"XINFO", "STREAM", stream.stream};
      connection->append(info);
      if (!group_.empty()) {
        info[1] = "GROUPS";
        connection->append(info);
      }
    }
    if (Status written = connection->write_output(); !written.ok()) {
      node_lost(node, written.error());
      return std::nullopt;
    }
    // Every reply is read before any is judged, so the connection stays in step.
    std::vector<ReplyPtr> replies;
    const size_t per_stream = group_.empty() ? 1 : 2;
    for (size_t i = 0; i < node.streams.size() * per_stream; ++i) {
      auto reply = connection->next_reply(/*wait=*/true);
      if (!reply.ok()) {
        node_lost(node, reply.error());
        return std::nullopt;
      }
      replies.push_back(std::move(*reply));
    }

    uint64_t total = 0;
    for (size_t s = 0; s < node.streams.size(); ++s) {
      const redisReply* info = replies[s * per_stream].get();
      // create_topic deleted the stream and nothing was written to it since (or the node was
      // restarted empty): it holds nothing.
      if (info->type == REDIS_REPLY_ERROR &&
          reply_text(info).find("no such key") != std::string_view::npos) {
        continue;
      }
      const redisReply* length = reply_field(info, "length");
      const redisReply* last_generated = reply_field(info, "last-generated-id");
      if (length == nullptr || length->type != REDIS_REPLY_INTEGER || last_generated == nullptr) {
        return std::nullopt;
      }
      const auto stream_length = static_cast<uint64_t>(length->integer);
      if (group_.empty()) {
        if (stream_length > 0 && reply_text(last_generated) != node.streams[s].last_id) {
          return std::nullopt;
        }
        continue;
      }
      const redisReply* group = find_group(replies[s * per_stream + 1].get());
      if (group == nullptr) return std::nullopt;
      const redisReply* pending = reply_field(group, "pending");
      const redisReply* lag = reply_field(group, "lag");
      const redisReply* last_delivered = reply_field(group, "last-delivered-id");
      if (pending == nullptr || pending->type != REDIS_REPLY_INTEGER) return std::nullopt;
      uint64_t unread = 0;
      if (lag != nullptr && lag->type == REDIS_REPLY_INTEGER) {
        // The lag still counts entries that trimming removed unread; they cannot be given.
        unread = std::min(static_cast<uint64_t>(lag->integer), stream_length);
      } else if (stream_length > 0 && (last_delivered == nullptr ||
                                       reply_text(last_delivered) != reply_text(last_generated))) {
        return std::nullopt;  // Redis cannot count the lag (e.g. after XDEL) and it is not 0
      }
      total += unread + static_cast<uint64_t>(pending->integer);
    }
    return total;
  }

  // This consumer's group in a reply to XINFO GROUPS; nullptr when the reply does not list it.
  const redisReply* find_group(const redisReply* groups) const {
    if (groups->type != REDIS_REPLY_ARRAY) return nullptr;
    for (size_t g = 0; g < groups->elements; ++g) {
      const redisReply* name = reply_field(groups->element[g], "name");
      if (name != nullptr && reply_text(name) == group_) return groups->element[g];
    }
    return nullptr;
  }

  // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s... >|pending-id ...
  // or XREAD ... STREAMS s... id...
  void append_read(ConsumerNode& node, int64_t block_ms) {
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
    for (const ConsumerStream& stream : node.streams) args_.push_back(stream.stream);
    for (const ConsumerStream& stream : node.streams) {
      if (group_.empty()) {
        args_.push_back(stream.last_id);
      } else {
        args_.push_back(stream.pending_after.empty() ? kNewEntries : stream.pending_after);
      }
    }
    node.link.connection()->append(args_);
  }

  // Takes every complete reply of the node that has arrived, without waiting: XACK replies
  // first, then the read's, whose entries go to `on_message`.
  Status take_replies(ConsumerNode& node,
                      const std::function<void(const ReceivedMessage&)>& on_message,
                      size_t& delivered, bool& got_entries) {
    for (;;) {
      Connection* connection = node.link.connection();
      if (connection == nullptr) return Status::Ok();
      auto reply = connection->next_reply(/*wait=*/false);
      if (!reply.ok()) {
        node_lost(node, reply.error());
        return Status::Ok();
      }
      if (!*reply) return Status::Ok();
      const redisReply* value = reply->get();
      if (node.pending_ack_replies > 0) {
        --node.pending_ack_replies;
        if (value->type == REDIS_REPLY_ERROR) {
          return make_error("XACK failed: " + std::string(reply_text(value)));
        }
        continue;
      }
      if (!node.read_pending) {
        node_lost(node, "redis at " + connection->label() + " sent a reply nobody asked for");
        return Status::Ok();
      }
      node.read_pending = false;
      if (value->type == REDIS_REPLY_ERROR) {
        return make_error("redis at " + connection->label() + ": " +
                          std::string(reply_text(value)) +
                          (group_.empty() ? "" : " (were the groups prepared?)"));
      }
      if (value->type == REDIS_REPLY_ARRAY) {
        // A read of pending entries answers even when there are none.
        size_t handed_over = deliver(node, value, on_message);
        got_entries = got_entries || handed_over > 0;
        delivered += handed_over;
      }
    }
  }

  size_t deliver(ConsumerNode& node, const redisReply* value,
                 const std::function<void(const ReceivedMessage&)>& on_message) {
    size_t delivered = 0;
    Connection& connection = *node.link.connection();
    for (size_t s = 0; s < value->elements; ++s) {
      const redisReply* stream_reply = value->element[s];
      if (stream_reply->type != REDIS_REPLY_ARRAY || stream_reply->elements != 2) continue;
      std::string_view name = reply_text(stream_reply->element[0]);
      auto stream = std::find_if(node.streams.begin(), node.streams.end(),
                                 [&](const ConsumerStream& c) { return c.stream == name; });
      if (stream == node.streams.end()) continue;
      const redisReply* entries = stream_reply->element[1];
      const bool own_pending = !stream->pending_after.empty();
      if (own_pending) {
        // A short page is the last one; a full one may have more behind it.
        if (entries->elements < static_cast<size_t>(config_.read_count)) {
          stream->pending_after.clear();
        } else if (const redisReply* last = entries->element[entries->elements - 1];
                   last->type == REDIS_REPLY_ARRAY && last->elements == 2) {
          stream->pending_after = std::string(reply_text(last->element[0]));
        } else {
          stream->pending_after.clear();
        }
      }
      if (!group_.empty()) args_.assign({"XACK", stream->stream, group_});
      for (size_t e = 0; e < entries->elements; ++e) {
        const redisReply* entry = entries->element[e];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
        if (!group_.empty()) args_.push_back(reply_text(entry->element[0]));
        const redisReply* fields = entry->element[1];
        // A pending entry that trimming removed comes back without fields: there is nothing to
        // hand over, and the XACK takes it off the PEL.
        if (fields->type != REDIS_REPLY_ARRAY) continue;
        ReceivedMessage message{stream->topic, {}, {}, stream->partition, own_pending};
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
          std::string_view field = reply_text(fields->element[f]);
          if (field == "p") message.payload = reply_text(fields->element[f + 1]);
          if (field == "k") message.key = reply_text(fields->element[f + 1]);
        }
        on_message(message);
        ++delivered;
      }
      if (entries->elements > 0) {
        const redisReply* last = entries->element[entries->elements - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements == 2) {
          stream->last_id = std::string(reply_text(last->element[0]));
        }
      }
      if (!group_.empty() && args_.size() > 3) {
        connection.append(args_);
        ++node.pending_ack_replies;
      }
    }
    // Send the acks now, read their replies with the next read: no extra round trip.
    if (node.pending_ack_replies > 0) {
      if (Status written = connection.write_output(); !written.ok()) {
        node_lost(node, written.error());
      }
    }
    return delivered;
  }

  void node_lost(ConsumerNode& node, const std::string& error) {
    std::string message = error;  // `error` may belong to the connection being closed
    node.link.lost(message);
    node.read_pending = false;
    node.pending_ack_replies = 0;
    reread_own_pending(node);
  }

  std::vector<ConsumerNode> nodes_;  // only nodes holding at least one of the streams
  RedisConfig config_;
  std::string group_;  // empty: plain XREAD
  std::string consumer_name_;
  std::string read_count_;
  uint64_t round_ = 0;                  // poll() calls so far
  std::vector<std::string_view> args_;  // reused for every command
  std::vector<pollfd> descriptors_;     // reused by poll()
  std::vector<size_t> waiting_;         // poll(): node of each descriptor
};

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

struct RedisDriver::State {
  std::vector<Address> addresses;  // one per node
  core::Settings properties;
  RedisConfig config;
  std::shared_ptr<NodeStats> stats = std::make_shared<NodeStats>();
  std::mutex control_mutex;  // guards controls; producers and consumers have their own
  // One per node, for topic and group administration; reopened after a command broke it.
  std::vector<std::unique_ptr<Connection>> controls;
  bool connected = false;

  // One command on a node's control connection. A connection that an earlier failure or a
  // restarted node left broken is reopened once (every control command is idempotent). The
  // caller holds control_mutex.
  Result<ReplyPtr> control_command(size_t node, std::span<const std::string_view> args) {
    for (int attempt = 0;; ++attempt) {
      bool reused = controls[node] != nullptr;
      if (!reused) {
        auto opened = Connection::open(addresses[node], config.timeout_ms, properties);
        if (!opened.ok()) return make_error(opened.error());
        controls[node] = std::move(*opened);
      }
      auto reply = controls[node]->command(args);
      if (reply.ok()) return reply;
      controls[node].reset();
      if (!reused || attempt > 0) return reply;
    }
  }
  Result<ReplyPtr> control_command(size_t node, std::initializer_list<std::string_view> args) {
    return control_command(node, std::span<const std::string_view>(args.begin(), args.size()));
  }

  // Partitions recorded for `topic`, from its home node or, when that one cannot be reached,
  // the next node that answers. The caller holds control_mutex.
  Result<int> partitions_of(const std::string& topic) {
    std::string last_error;
    size_t home = redis_stream_node(topic, 0, addresses.size());
    for (size_t i = 0; i < addresses.size(); ++i) {
      auto reply = control_command((home + i) % addresses.size(), {"GET", partitions_key(topic)});
      if (!reply.ok()) {
        last_error = reply.error();
        continue;
      }
      return partitions_from_reply(reply->get(), topic);
    }
    return make_error(last_error);
  }

  std::vector<std::string_view> del_command(const std::vector<std::string>& keys) const {
    std::vector<std::string_view> del{"DEL"};
    del.insert(del.end(), keys.begin(), keys.end());
    return del;
  }
};

std::vector<std::string> redis_stream_names(const std::string& topic, int partitions) {
  if (partitions <= 1) return {topic};
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(partitions));
  for (int p = 0; p < partitions; ++p) names.push_back(topic + "-" + std::to_string(p));
  return names;
}

size_t redis_stream_node(const std::string& topic, int partition, size_t nodes) {
  if (nodes <= 1) return 0;
  // (hash + partition) mod nodes, without the wrap-around of the 64-bit sum.
  return static_cast<size_t>((fnv1a(topic) % nodes + static_cast<uint64_t>(partition) % nodes) %
                             nodes);
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
  std::vector<Address> addresses;
  for (const std::string& text : endpoint.addresses) {
    auto address = parse_address(text);
    if (!address.ok()) return make_error(address.error());
    addresses.push_back(std::move(*address));
  }

  std::lock_guard lock(state_->control_mutex);
  state_->connected = false;
  state_->controls.clear();
  state_->addresses = std::move(addresses);
  state_->properties = endpoint.properties;
  state_->config = config_from(config);
  for (const Address& address : state_->addresses) {
    auto control = Connection::open(address, state_->config.timeout_ms, state_->properties);
    if (!control.ok()) return make_error(control.error());
    auto pong = (*control)->command({"PING"});
    if (Status ok = expect_ok(pong, "redis at " + address.label + " answered PING with an error");
        !ok.ok()) {
      return ok;
    }
    state_->controls.push_back(std::move(*control));
  }
  state_->connected = true;
  return Status::Ok();
}

Status RedisDriver::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions must be from 1 to 100000");
  }
  std::lock_guard lock(state_->control_mutex);
  if (!state_->connected) return make_error("redis driver is not connected");
  // Every node: drop the streams of an earlier topic of this name, whatever its partitions (and
  // whichever node held them), then record the partitions.
  for (size_t node = 0; node < state_->addresses.size(); ++node) {
    auto record = state_->control_command(node, {"GET", partitions_key(topic)});
    if (!record.ok()) return make_error(record.error());
    auto previous = partitions_from_reply(record->get(), topic);
    std::vector<std::string> keys = redis_stream_names(topic, partitions);
    if (previous.ok() && *previous != partitions) {
      for (std::string& name : redis_stream_names(topic, *previous))
        keys.push_back(std::move(name));
    }
    keys.push_back(partitions_key(topic));
    if (Status ok = expect_ok(state_->control_command(node, state_->del_command(keys)),
                              "cannot delete streams of " + topic);
        !ok.ok()) {
      return ok;
    }
    if (partitions == 1) continue;
    if (Status ok = expect_ok(state_->control_command(
                                  node, {"SET", partitions_key(topic), std::to_string(partitions)}),
                              "cannot record the partitions of " + topic);
        !ok.ok()) {
      return ok;
    }
  }
  return Status::Ok();
}

// Best effort on every node: a node that is gone took its streams with it.
Status RedisDriver::delete_topic(const std::string& topic) {
  std::lock_guard lock(state_->control_mutex);
  if (!state_->connected) return make_error("redis driver is not connected");
  std::string first_error;
  for (size_t node = 0; node < state_->addresses.size(); ++node) {
    auto record = state_->control_command(node, {"GET", partitions_key(topic)});
    Result<int> partitions = record.ok() ? partitions_from_reply(record->get(), topic)
                                         : Result<int>(make_error(record.error()));
    Status deleted = partitions.ok() ? Status::Ok() : Status(make_error(partitions.error()));
    if (deleted.ok()) {
      std::vector<std::string> keys = redis_stream_names(topic, *partitions);
      keys.push_back(partitions_key(topic));
      deleted = expect_ok(state_->control_command(node, state_->del_command(keys)),
                          "cannot delete streams of " + topic);
    }
    if (!deleted.ok() && first_error.empty()) first_error = deleted.error();
  }
  if (!first_error.empty()) return make_error(first_error);
  return Status::Ok();
}

Status RedisDriver::prepare_consumers(const std::vector<std::string>& topics,
                                      const std::vector<std::string>& groups) {
  std::lock_guard lock(state_->control_mutex);
  if (!state_->connected) return make_error("redis driver is not connected");
  if (state_->config.plain_reads) return Status::Ok();  // XREAD keeps no server-side state
  for (const std::string& topic : topics) {
    auto partitions = state_->partitions_of(topic);
    if (!partitions.ok()) return make_error(partitions.error());
    std::vector<std::string> names = redis_stream_names(topic, *partitions);
    for (size_t p = 0; p < names.size(); ++p) {
      size_t node = redis_stream_node(topic, static_cast<int>(p), state_->addresses.size());
      for (const std::string& group : groups) {
        // From "0": create_topic emptied the stream, so everything in it belongs to this run,
        // including messages a producer sent before the group existed.
        auto reply =
            state_->control_command(node, {"XGROUP", "CREATE", names[p], group, "0", "MKSTREAM"});
        if (!reply.ok()) return make_error(reply.error());
        const redisReply* value = reply->get();
        if (value->type == REDIS_REPLY_ERROR && !reply_text(value).starts_with("BUSYGROUP")) {
          return make_error("cannot create consumer group " + group + " on stream " + names[p] +
                            ": " + std::string(reply_text(value)));
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> RedisDriver::make_producer() {
  if (!state_->connected) return make_error("redis driver is not connected");
  const RedisConfig& config = state_->config;
  std::vector<NodeLink> links;
  for (const Address& address : state_->addresses) {
    auto connection = Connection::open(address, config.timeout_ms, state_->properties);
    if (!connection.ok()) return make_error(connection.error());
    links.emplace_back(std::move(*connection), address, config.timeout_ms, state_->properties,
                       state_->stats);
  }
  return std::unique_ptr<Producer>(
      std::make_unique<RedisProducer>(std::move(links), config, state_->stats));
}

Result<std::unique_ptr<Consumer>> RedisDriver::make_consumer(const ConsumerOptions& options) {
  if (!state_->connected) return make_error("redis driver is not connected");
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  const RedisConfig& config = state_->config;
  const size_t node_count = state_->addresses.size();
  bool grouped = !config.plain_reads && !options.group.empty();
  // No group means "read everything", whatever the read mode.
  bool split = options.group_size > 1 && !options.group.empty();
  std::vector<std::vector<ConsumerStream>> streams_by_node(node_count);
  for (const std::string& topic : options.topics) {
    Result<int> partitions = make_error("");
    {
      std::lock_guard lock(state_->control_mutex);
      partitions = state_->partitions_of(topic);
    }
    if (!partitions.ok()) return make_error(partitions.error());
    std::vector<std::string> names = redis_stream_names(topic, *partitions);
    // Group mode with fewer partitions than members: all read all, Redis spreads the entries.
    bool split_topic = split && (config.plain_reads || *partitions >= options.group_size);
    for (size_t p = 0; p < names.size(); ++p) {
      if (split_topic && static_cast<int>(p % options.group_size) != options.member_index) {
        continue;
      }
      size_t node = redis_stream_node(topic, static_cast<int>(p), node_count);
      streams_by_node[node].push_back({names[p], topic, static_cast<int>(p), "0-0", ""});
    }
  }
  // The reply to a blocking read may take block_ms longer than any other reply.
  const int timeout_ms = config.timeout_ms + config.block_ms;
  std::vector<ConsumerNode> nodes;
  for (size_t node = 0; node < node_count; ++node) {
    if (streams_by_node[node].empty()) continue;
    const Address& address = state_->addresses[node];
    auto connection = Connection::open(address, timeout_ms, state_->properties);
    if (!connection.ok()) return make_error(connection.error());
    nodes.push_back(
        {NodeLink(std::move(*connection), address, timeout_ms, state_->properties, state_->stats),
         std::move(streams_by_node[node]),
         false,
         0,
         {},
         0});
  }
  std::string group = grouped ? options.group : "";
  std::string consumer_name = "dec-" + std::to_string(options.member_index);
  return std::unique_ptr<Consumer>(std::make_unique<RedisConsumer>(
      std::move(nodes), config, std::move(group), std::move(consumer_name)));
}

std::vector<std::pair<std::string, uint64_t>> RedisDriver::counters() const {
  const NodeStats& stats = *state_->stats;
  return {
      {"redis.connections_lost", stats.connections_lost.load()},
      {"redis.reconnect_attempts", stats.reconnect_attempts.load()},
      {"redis.reconnects", stats.reconnects.load()},
      {"redis.sends_to_down_node", stats.sends_to_down_node.load()},
  };
}

DriverInfo redis_driver_info() {
  DriverInfo info;
  info.name = "redis";
  info.description = "Redis Streams (XADD / XREADGROUP) through hiredis";
  info.config_keys = redis_config_keys();
  info.client_keys = {
      // A window per node: with N nodes a producer may keep up to N x max_in_flight in flight.
      mapped_client_key(ClientField::kMaxInFlight, "pipeline", 1, 10000),
      // BLOCK returns as soon as an entry arrives: the same bound as Kafka's fetch wait. 0 would
      // mean "block forever" to Redis, hence at least 1.
      mapped_client_key(ClientField::kFetchWait, "block_ms", 1, 60000),
      reported_client_key("read_mode"),
      reported_client_key("read_count"),
  };
  info.create = [] { return std::make_unique<RedisDriver>(); };
  info.client_library = [] {
    return "hiredis " + std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
           std::to_string(HIREDIS_PATCH);
  };
  return info;
}

}  // namespace dec::drivers
