#include "systems/kafka/kafka_driver.h"

#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "drivers/config_checks.h"
#include "systems/kafka/kafka_mock.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Endpoint properties that are dec's, not librdkafka's.
constexpr const char* kEmulatedProperty = "emulated";
constexpr const char* kMockControlProperty = "kafka_mock_control";

// Properties dec sets itself; a spec that sets them would silently break the experiment.
constexpr std::array<std::pair<const char*, const char*>, 3> kReservedProperties{{
    {"bootstrap.servers", "set by dec from the deployment's addresses"},
    {"metadata.broker.list", "set by dec from the deployment's addresses (bootstrap.servers)"},
    {"group.id", "set by dec from the workload's consumer groups"},
}};

// ---- config ---------------------------------------------------------------------------------

// Tries the property on a scratch configuration: librdkafka knows its ~200 properties and their
// value syntax far better than a copied table would. "" when accepted, else librdkafka's reason.
std::string librdkafka_rejects(const std::string& key, const std::string& value) {
  std::array<char, 512> reason{};
  rd_kafka_conf_t* scratch = rd_kafka_conf_new();
  rd_kafka_conf_res_t result =
      rd_kafka_conf_set(scratch, key.c_str(), value.c_str(), reason.data(), reason.size());
  rd_kafka_conf_destroy(scratch);
  return result == RD_KAFKA_CONF_OK ? "" : reason.data();
}

std::function<std::string(const std::string&)> librdkafka_check(std::string key) {
  return [key = std::move(key)](const std::string& value) -> std::string {
    std::string reason = librdkafka_rejects(key, value);
    return reason.empty() ? "" : "a value librdkafka accepts (" + reason + ")";
  };
}

struct KafkaSettings {
  int replication_factor = 0;  // 0: min(3, brokers)
  int timeout_ms = 30000;
  int poll_batch = 500;
};

// dec's own keys; every other config key is a librdkafka property.
const std::set<std::string>& dec_keys() {
  static const std::set<std::string> keys = {"replication_factor", "timeout_ms", "poll_batch"};
  return keys;
}

std::vector<ConfigKey> kafka_config_keys() {
  return {
      {"replication_factor", "replicas of each partition dec creates", "min(3, brokers)",
       integer_check(1, 1000)},
      {"timeout_ms",
       "bound on connecting, topic creation and deletion, flush, and on a send blocked by a full "
       "local queue",
       "30000", integer_check(100, 3'600'000)},
      {"poll_batch", "most messages one consumer poll hands over", "500",
       integer_check(1, 1'000'000)},
      // Common librdkafka properties, listed for `dec drivers`; any other one is accepted too.
      {"acks", "librdkafka: 0, 1 or all (-1) replicas acknowledge a produce", "all",
       librdkafka_check("acks")},
      {"linger.ms", "librdkafka: how long a producer waits to fill a batch", "5",
       librdkafka_check("linger.ms")},
      {"batch.size", "librdkafka: largest batch of messages in bytes", "1000000",
       librdkafka_check("batch.size")},
      {"compression.type", "librdkafka: none, gzip, snappy, lz4 or zstd", "none",
       librdkafka_check("compression.type")},
      // Listed for the emulator: the mock answers an empty fetch only after this wait, even
      // when records arrive meanwhile, so end-to-end latency spreads over 0 to this value.
      {"fetch.wait.max.ms",
       "librdkafka: longest a broker holds a consumer's fetch waiting for data (on the local "
       "mock cluster this sets end-to-end latency: try 10)",
       "500", librdkafka_check("fetch.wait.max.ms")},
  };
}

KafkaSettings settings_from(const core::Settings& config) {
  KafkaSettings settings;
  auto integer = [&](const char* key, int fallback) {
    auto it = config.find(key);
    if (it == config.end()) return fallback;
    return static_cast<int>(parse_integer(it->second).value_or(fallback));
  };
  settings.replication_factor = integer("replication_factor", settings.replication_factor);
  settings.timeout_ms = integer("timeout_ms", settings.timeout_ms);
  settings.poll_batch = integer("poll_batch", settings.poll_batch);
  return settings;
}

// One librdkafka property and where it came from, for error messages.
struct Property {
  std::string name;
  std::string value;
  std::string origin;  // "config key", "endpoint property", "dec default"
};
using Properties = std::vector<Property>;

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string joined;
  for (size_t i = 0; i < parts.size(); ++i) joined += (i ? separator : "") + parts[i];
  return joined;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 3'600'000));
}

// ---- clients --------------------------------------------------------------------------------

class KafkaProducer;
class KafkaConsumer;

// The opaque of every librdkafka client dec creates: what its callbacks report back.
struct ClientContext {
  KafkaProducer* producer = nullptr;  // receives delivery reports (producer clients only)
  KafkaConsumer* consumer = nullptr;  // receives rebalances (consumer clients only)
  std::atomic<bool> all_brokers_down{false};
  std::atomic<bool> fatal{false};
  std::mutex mutex;         // guards the strings below
  std::string first_error;  // the first error reported, usually the root cause
  std::string fatal_reason;

  std::string first_error_text() {
    std::lock_guard lock(mutex);
    return first_error;
  }
  std::string fatal_text() {
    std::lock_guard lock(mutex);
    return fatal_reason;
  }
};

void on_client_error(rd_kafka_t* client, int error, const char* reason, void* opaque) {
  auto* context = static_cast<ClientContext*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(error);
  std::lock_guard lock(context->mutex);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> text{};
    rd_kafka_fatal_error(client, text.data(), text.size());
    context->fatal_reason = text.data();
    context->fatal = true;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    context->all_brokers_down = true;
  } else if (context->first_error.empty()) {
    context->first_error = reason ? reason : rd_kafka_err2str(code);
  }
}

// librdkafka warns when a client gets the other role's properties; dec gives every client the
// same properties on purpose, so those warnings are noise. Errors reach the user through
// error_cb and Status messages; the log shows what the log_level property lets through
// (dec's default 2: critical only; `debug` or log_level in the config raise it).
void on_client_log(const rd_kafka_t* /*client*/, int level, const char* facility,
                   const char* line) {
  if (std::strcmp(facility, "CONFWARN") == 0) return;
  std::fprintf(stderr, "kafka %d %s: %s\n", level, facility, line);
}

void on_delivery(rd_kafka_t* client, const rd_kafka_message_t* message, void* opaque);
void on_rebalance(rd_kafka_t* client, rd_kafka_resp_err_t reason,
                  rd_kafka_topic_partition_list_t* partitions, void* opaque);

// Applies the properties to a new configuration; the error names the offending key.
Result<rd_kafka_conf_t*> make_conf(const Properties& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> reason{};
  for (const Property& property : properties) {
    if (rd_kafka_conf_set(conf, property.name.c_str(), property.value.c_str(), reason.data(),
                          reason.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return make_error(property.origin + " \"" + property.name + "\": " + reason.data());
    }
  }
  return conf;
}

Result<rd_kafka_t*> new_client(rd_kafka_type_t type, const Properties& properties,
                               ClientContext* context) {
  auto conf = make_conf(properties);
  if (!conf.ok()) return make_error(conf.error());
  rd_kafka_conf_set_opaque(*conf, context);
  rd_kafka_conf_set_error_cb(*conf, on_client_error);
  rd_kafka_conf_set_log_cb(*conf, on_client_log);
  if (context->producer) rd_kafka_conf_set_dr_msg_cb(*conf, on_delivery);
  if (context->consumer) rd_kafka_conf_set_rebalance_cb(*conf, on_rebalance);
  std::array<char, 512> reason{};
  rd_kafka_t* client = rd_kafka_new(type, *conf, reason.data(), reason.size());
  if (!client) {
    rd_kafka_conf_destroy(*conf);  // rd_kafka_new owns it only on success
    return make_error(std::string("librdkafka refused the configuration: ") + reason.data());
  }
  return client;
}

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const {
    rd_kafka_metadata_destroy(metadata);
  }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// ---- producer -------------------------------------------------------------------------------

class KafkaProducer final : public Producer {
 public:
  explicit KafkaProducer(int timeout_ms) : timeout_ms_(timeout_ms) { context_.producer = this; }

  Status start(const Properties& properties) {
    auto client = new_client(RD_KAFKA_PRODUCER, properties, &context_);
    if (!client.ok()) return make_error(client.error());
    client_ = *client;
    // poll_acks sleeps on this eventfd, which librdkafka writes when a report arrives while it
    // is enabled. Enabled only while poll_acks waits: librdkafka 2.0 writes it for every report
    // it queues, a system call per message that halved the producer's rate when always on.
    wakeup_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeup_ < 0) return make_error(std::string("eventfd: ") + std::strerror(errno));
    main_queue_ = rd_kafka_queue_get_main(client_);
    return Status::Ok();
  }

  ~KafkaProducer() override {
    if (client_) {
      if (in_flight_ > 0) {
        // Give every outstanding message its report now (failed: purged) instead of leaving
        // callbacks that would never run; bounded, since the cluster may be gone.
        rd_kafka_purge(client_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(client_, std::min(timeout_ms_, 5000));
      }
      for (AckSlot& slot : slots_) {
        if (slot.callback) {
          slot.callback(false, "the producer was closed before the message was acknowledged");
          slot.callback = nullptr;
        }
      }
      if (main_queue_) rd_kafka_queue_destroy(main_queue_);
      for (auto& [name, handle] : topics_) rd_kafka_topic_destroy(handle);
      rd_kafka_destroy(client_);
    }
    if (wakeup_ >= 0) ::close(wakeup_);
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    if (context_.fatal.load(std::memory_order_relaxed)) {
      return make_error("the producer failed: " + context_.fatal_text());
    }
    rd_kafka_topic_t* handle = topic_handle(topic);
    if (!handle) {
      return make_error("cannot open topic \"" + topic +
                        "\": " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    AckSlot* slot = acquire_slot(std::move(on_ack));
    Clock::time_point full_since{};
    for (;;) {
      // Copied: the caller reuses the payload buffer. A null key (not an empty one) lets the
      // partitioner spread keyless messages instead of hashing them all to one partition.
      rd_kafka_resp_err_t error = rd_kafka_producev(
          client_, RD_KAFKA_V_RKT(handle), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()), RD_KAFKA_V_OPAQUE(slot),
          RD_KAFKA_V_END);
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        release_slot(slot);
        return make_error("cannot queue a message for topic \"" + topic +
                          "\": " + rd_kafka_err2str(error));
      }
      // Full local queue: wait for reports to free room, as a blocking send would.
      Clock::time_point now = Clock::now();
      if (full_since == Clock::time_point{}) full_since = now;
      if (now - full_since >= milliseconds(timeout_ms_)) {
        release_slot(slot);
        return make_error("the local send queue stayed full for " + std::to_string(timeout_ms_) +
                          " ms (config timeout_ms) with " + std::to_string(in_flight_) +
                          " messages unacknowledged: the cluster is not taking messages");
      }
      rd_kafka_poll(client_, 10);
    }
    rd_kafka_poll(client_, 0);
    return Status::Ok();
  }

  Status flush() override {
    rd_kafka_resp_err_t error = rd_kafka_flush(client_, timeout_ms_);
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR && in_flight_ == 0) return Status::Ok();
    std::string cause = context_.first_error_text();
    return make_error(std::to_string(in_flight_) + " messages still unacknowledged after " +
                      std::to_string(timeout_ms_) + " ms (config timeout_ms)" +
                      (cause.empty() ? "" : "; first client error: " + cause));
  }

  size_t in_flight() const override { return in_flight_; }

  // librdkafka's threads send each batch once linger.ms has passed whether or not this thread
  // waits, and poll_acks() wakes on the first report: an idle sender need not flush.
  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(std::chrono::nanoseconds max_wait) override {
    if (in_flight_ == 0) {
      std::this_thread::sleep_for(max_wait);
      return Status::Ok();
    }
    if (rd_kafka_poll(client_, 0) > 0 || max_wait.count() <= 0) return Status::Ok();
    // Clear old wake-ups, enable the eventfd, and only then look at the queue: a report queued
    // before the enable is seen by the length check, one queued after it writes the eventfd.
    uint64_t count = 0;
    while (::read(wakeup_, &count, sizeof(count)) > 0) {
    }
    static constexpr uint64_t kOne = 1;  // an eventfd takes 8-byte writes
    rd_kafka_queue_io_event_enable(main_queue_, wakeup_, &kOne, sizeof(kOne));
    if (rd_kafka_queue_length(main_queue_) == 0) {
      pollfd descriptor{wakeup_, POLLIN, 0};
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(max_wait);
      timespec wait{static_cast<time_t>(seconds.count()),
                    static_cast<long>((max_wait - seconds).count())};
      (void)::ppoll(&descriptor, 1, &wait, nullptr);
    }
    rd_kafka_queue_io_event_enable(main_queue_, -1, nullptr, 0);
    rd_kafka_poll(client_, 0);
    return Status::Ok();
  }

  void on_delivery(const rd_kafka_message_t& message) {
    auto* slot = static_cast<AckSlot*>(message._private);
    if (!slot || !slot->callback) return;  // already answered by the destructor
    slot->callback(message.err == RD_KAFKA_RESP_ERR_NO_ERROR,
                   message.err ? rd_kafka_err2str(message.err) : "");
    release_slot(slot);
  }

 private:
  // The ack callback of one message on its way; pooled, so a send allocates nothing.
  struct AckSlot {
    AckCallback callback;
  };

  AckSlot* acquire_slot(AckCallback callback) {
    AckSlot* slot;
    if (free_slots_.empty()) {
      slot = &slots_.emplace_back();  // a deque never moves its elements
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    slot->callback = std::move(callback);
    ++in_flight_;
    return slot;
  }

  void release_slot(AckSlot* slot) {
    slot->callback = nullptr;
    free_slots_.push_back(slot);
    --in_flight_;
  }

  rd_kafka_topic_t* topic_handle(const std::string& topic) {
    for (auto& [name, handle] : topics_) {
      if (name == topic) return handle;
    }
    rd_kafka_topic_t* handle = rd_kafka_topic_new(client_, topic.c_str(), nullptr);
    if (handle) topics_.emplace_back(topic, handle);
    return handle;
  }

  int timeout_ms_;
  ClientContext context_;
  rd_kafka_t* client_ = nullptr;
  rd_kafka_queue_t* main_queue_ = nullptr;
  int wakeup_ = -1;
  std::deque<AckSlot> slots_;
  std::vector<AckSlot*> free_slots_;
  size_t in_flight_ = 0;
  std::vector<std::pair<std::string, rd_kafka_topic_t*>> topics_;  // handles, looked up by name
};

void on_delivery(rd_kafka_t* /*client*/, const rd_kafka_message_t* message, void* opaque) {
  static_cast<ClientContext*>(opaque)->producer->on_delivery(*message);
}

// ---- consumer -------------------------------------------------------------------------------

// The highest offset delivered so far per (group, topic, partition), shared by every consumer
// of one driver: when a rebalance hands a partition to another consumer in this process, which
// restarts from the group's last committed offset, that consumer can tell the records it gets
// again (redelivered) from first deliveries. Consumers keep the per-partition counters they
// touched, so a message costs one atomic update, not a lock.
class DeliveredOffsets {
 public:
  using Highest = std::atomic<int64_t>;  // -1: nothing delivered yet

  // The counter of one partition; it lives as long as this object (map nodes never move).
  Highest& highest(const std::string& group, const std::string& topic, int32_t partition) {
    std::lock_guard lock(mutex_);
    return offsets_.try_emplace(Key{group, topic, partition}, -1).first->second;
  }

  // Records that `offset` was delivered; true when it (or a later offset) had been already.
  static bool deliver(Highest& highest, int64_t offset) {
    int64_t seen = highest.load(std::memory_order_relaxed);
    while (offset > seen) {
      if (highest.compare_exchange_weak(seen, offset, std::memory_order_relaxed)) return false;
    }
    return true;
  }

 private:
  using Key = std::tuple<std::string, std::string, int32_t>;
  std::mutex mutex_;
  std::map<Key, Highest> offsets_;
};

// A client of the driver's own for the offset queries of backlog(), made on first use. A
// consumer's connections are a poor channel for them: with nothing to read, the broker holds
// each fetch up to fetch.wait.max.ms, and the consumer's other requests to that broker queue
// behind it.
class OffsetQueryClient {
 public:
  explicit OffsetQueryClient(Properties properties) : properties_(std::move(properties)) {}
  ~OffsetQueryClient() {
    if (client_) rd_kafka_destroy(client_);
  }

  // nullptr when librdkafka refuses to make the client (it did make others with these
  // properties, so this is not expected).
  rd_kafka_t* get() {
    std::lock_guard lock(mutex_);
    if (!client_) {
      auto client = new_client(RD_KAFKA_PRODUCER, properties_, &context_);
      if (client.ok()) client_ = *client;
    }
    return client_;
  }

 private:
  Properties properties_;
  ClientContext context_;
  std::mutex mutex_;  // guards the creation of client_; librdkafka clients are thread-safe
  rd_kafka_t* client_ = nullptr;
};

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(int poll_batch, int timeout_ms, std::string group,
                std::shared_ptr<DeliveredOffsets> delivered,
                std::shared_ptr<OffsetQueryClient> offset_queries)
      : poll_batch_(static_cast<size_t>(poll_batch)),
        timeout_(timeout_ms),
        group_(std::move(group)),
        delivered_(std::move(delivered)),
        offset_queries_(std::move(offset_queries)) {
    context_.consumer = this;
  }

  Status start(const Properties& properties, const std::vector<std::string>& topics) {
    topics_ = topics;
    auto client = new_client(RD_KAFKA_CONSUMER, properties, &context_);
    if (!client.ok()) return make_error(client.error());
    client_ = *client;
    // Errors, rebalances and other events arrive through rd_kafka_consumer_poll, with the
    // messages.
    rd_kafka_poll_set_consumer(client_);
    rd_kafka_topic_partition_list_t* subscription =
        rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
    for (const std::string& topic : topics) {
      rd_kafka_topic_partition_list_add(subscription, topic.c_str(), RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t error = rd_kafka_subscribe(client_, subscription);
    rd_kafka_topic_partition_list_destroy(subscription);
    if (error) {
      return make_error("cannot subscribe to " + join(topics, ", ") + ": " +
                        rd_kafka_err2str(error));
    }
    created_ = Clock::now();
    return Status::Ok();
  }

  ~KafkaConsumer() override {
    if (!client_) return;
    // rd_kafka_consumer_close() can wait forever on a cluster that went away; close
    // asynchronously, wait a bounded time, then destroy without a second close. The close
    // revokes the assignment through a rebalance event on this queue, which must be answered
    // like the callback would, or the close waits for it.
    rd_kafka_queue_t* queue = rd_kafka_queue_new(client_);
    if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(client_, queue)) {
      rd_kafka_error_destroy(error);
    } else {
      auto deadline = Clock::now() + std::min(timeout_, milliseconds(10000));
      while (!rd_kafka_consumer_closed(client_) && Clock::now() < deadline) {
        if (rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 100)) {
          if (rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE) {
            on_rebalance(rd_kafka_event_error(event), rd_kafka_event_topic_partition_list(event));
          }
          rd_kafka_event_destroy(event);
        }
      }
    }
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy_flags(client_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  Result<size_t> poll(milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    auto deadline = Clock::now() + timeout;
    size_t delivered = 0;
    // Waits for the first message, then takes what is already there, up to a batch. Bounded in
    // iterations too, so a stream of error events cannot keep it here.
    for (size_t round = 0; delivered < poll_batch_ && round < poll_batch_ + 1000; ++round) {
      int wait_ms = delivered == 0 ? remaining_ms(deadline) : 0;
      rd_kafka_message_t* message = rd_kafka_consumer_poll(client_, wait_ms);
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          message, rd_kafka_message_destroy);
      if (!rebalance_error_.empty()) return make_error(std::exchange(rebalance_error_, ""));
      if (!message) {
        if (delivered > 0 || wait_ms == 0) break;
        continue;
      }
      if (message->err) {
        if (Status ok = check_error(*message); !ok) return make_error(ok.error());
        continue;
      }
      if (message->rkt != last_topic_handle_) {
        last_topic_handle_ = message->rkt;
        last_topic_name_ = rd_kafka_topic_name(message->rkt);
      }
      ReceivedMessage received{
          last_topic_name_,
          std::string_view(static_cast<const char*>(message->key), message->key_len),
          std::string_view(static_cast<const char*>(message->payload), message->len),
          message->partition,
          DeliveredOffsets::deliver(highest_delivered(*message), message->offset)};
      on_message(received);
      ++delivered;
    }
    return delivered;
  }

  // The group join runs in librdkafka's threads but ends in the rebalance callback, which only
  // rd_kafka_consumer_poll serves: the engine polls until this is true.
  bool ready() const override { return assigned_.load() && !revoke_pending_.load(); }

  // Group-wide: for every partition of the subscribed topics, the high watermark minus where
  // the group stands, which is the later of its committed offset and the offset after the last
  // one delivered in this process (auto-commit lags delivery by up to auto.commit.interval.ms,
  // and with enable.auto.commit=false nothing may be committed at all). Committed offsets come
  // through the consumer (the group's coordinator has a connection of its own), the rest
  // through the driver's query client.
  std::optional<uint64_t> backlog() override {
    int wait_ms = static_cast<int>(std::min(timeout_, milliseconds(5000)).count());
    rd_kafka_t* queries = offset_queries_->get();
    if (!queries) return std::nullopt;
    const rd_kafka_metadata_t* metadata = nullptr;
    // All topics: asking for one topic by name may make the cluster auto-create it.
    if (rd_kafka_metadata(queries, 1, nullptr, &metadata, wait_ms)) return std::nullopt;
    MetadataPtr owned_metadata(metadata);
    std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
        partitions(rd_kafka_topic_partition_list_new(0), rd_kafka_topic_partition_list_destroy);
    for (const std::string& topic : topics_) {
      bool found = false;
      for (int t = 0; t < metadata->topic_cnt && !found; ++t) {
        const rd_kafka_metadata_topic_t& entry = metadata->topics[t];
        if (topic != entry.topic) continue;
        if (entry.err) return std::nullopt;
        found = true;
        for (int p = 0; p < entry.partition_cnt; ++p) {
          rd_kafka_topic_partition_list_add(partitions.get(), topic.c_str(),
                                            entry.partitions[p].id);
        }
      }
      if (!found) return std::nullopt;
    }
    if (rd_kafka_committed(client_, partitions.get(), wait_ms)) return std::nullopt;
    uint64_t backlog = 0;
    for (int i = 0; i < partitions->cnt; ++i) {
      const rd_kafka_topic_partition_t& partition = partitions->elems[i];
      if (partition.err) return std::nullopt;
      int64_t low = 0;
      int64_t high = 0;
      if (rd_kafka_query_watermark_offsets(queries, partition.topic, partition.partition, &low,
                                           &high, wait_ms)) {
        return std::nullopt;
      }
      int64_t position = std::max(low, partition.offset);  // a negative offset: none committed
      int64_t delivered =
          delivered_->highest(group_, partition.topic, partition.partition).load() + 1;
      position = std::max(position, delivered);
      if (high > position) backlog += static_cast<uint64_t>(high - position);
    }
    return backlog;
  }

  // Takes the group's decision as librdkafka requires (the whole assignment for eager
  // assignors, the change for cooperative ones) and tracks readiness.
  void on_rebalance(rd_kafka_resp_err_t reason, rd_kafka_topic_partition_list_t* partitions) {
    bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(client_), "COOPERATIVE") == 0;
    rd_kafka_error_t* error = nullptr;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (reason == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        error = rd_kafka_incremental_assign(client_, partitions);
      } else {
        code = rd_kafka_assign(client_, partitions);
      }
      revoke_pending_ = false;
      assigned_ = true;
    } else {
      // A revocation, or a failed rebalance (which librdkafka asks to answer by unassigning):
      // either way this consumer waits for its next assignment.
      revoke_pending_ = true;
      if (cooperative && reason == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        error = rd_kafka_incremental_unassign(client_, partitions);
      } else {
        code = rd_kafka_assign(client_, nullptr);
      }
    }
    std::string problem;
    if (error) {
      problem = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
    } else if (code) {
      problem = rd_kafka_err2str(code);
    }
    if (!problem.empty()) {
      rebalance_error_ = reason == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                             ? "cannot take the partitions the consumer group assigned: "
                             : "cannot release the partitions the consumer group revoked: ";
      rebalance_error_ += problem;
    }
  }

 private:
  // The shared counter of the message's partition, found through a small per-consumer cache.
  DeliveredOffsets::Highest& highest_delivered(const rd_kafka_message_t& message) {
    if (message.rkt == last_slot_topic_ && message.partition == last_slot_partition_) {
      return *last_slot_;
    }
    DeliveredOffsets::Highest*& slot = slots_[{message.rkt, message.partition}];
    if (!slot) {
      slot = &delivered_->highest(group_, std::string(last_topic_name_), message.partition);
    }
    last_slot_topic_ = message.rkt;
    last_slot_partition_ = message.partition;
    last_slot_ = slot;
    return *slot;
  }

  // Most consumer errors are transient (a broker reconnecting) and librdkafka retries them;
  // these cannot heal by waiting.
  Status check_error(const rd_kafka_message_t& message) {
    std::string reason = rd_kafka_message_errstr(&message);
    switch (message.err) {
      case RD_KAFKA_RESP_ERR__FATAL:
        return make_error("the consumer failed: " + context_.fatal_text());
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        return make_error(reason);
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        // Metadata may lag just after the topic was created; only a lasting absence is an error.
        if (Clock::now() - created_ > timeout_) return make_error(reason);
        return Status::Ok();
      default:
        return Status::Ok();
    }
  }

  size_t poll_batch_;
  milliseconds timeout_;
  std::string group_;
  std::shared_ptr<DeliveredOffsets> delivered_;
  std::shared_ptr<OffsetQueryClient> offset_queries_;
  std::vector<std::string> topics_;
  ClientContext context_;
  rd_kafka_t* client_ = nullptr;
  Clock::time_point created_;
  // Set in the rebalance callback (the polling thread); read by ready() from any thread.
  std::atomic<bool> assigned_{false};
  std::atomic<bool> revoke_pending_{false};
  std::string rebalance_error_;  // reported by the next poll()
  const rd_kafka_topic_t* last_topic_handle_ = nullptr;
  std::string_view last_topic_name_;
  std::map<std::pair<const rd_kafka_topic_t*, int32_t>, DeliveredOffsets::Highest*> slots_;
  const rd_kafka_topic_t* last_slot_topic_ = nullptr;
  int32_t last_slot_partition_ = -1;
  DeliveredOffsets::Highest* last_slot_ = nullptr;
};

void on_rebalance(rd_kafka_t* /*client*/, rd_kafka_resp_err_t reason,
                  rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<ClientContext*>(opaque)->consumer->on_rebalance(reason, partitions);
}

}  // namespace

// ---- driver ---------------------------------------------------------------------------------

struct KafkaDriver::State {
  KafkaSettings settings;
  Properties properties;  // for every client, in order: bootstrap, dec defaults, endpoint, config
  std::string bootstrap_servers;
  std::string mock_control;  // the mock cluster's control port, "" for a real cluster
  bool emulated = false;
  int brokers = 0;
  ClientContext control_context;
  rd_kafka_t* control = nullptr;  // metadata and the Admin API
  // Names of the groups of group-less consumers: unique per driver, and per cluster in practice.
  std::string solo_group_prefix = "dec-solo-" + std::to_string(std::random_device{}()) + "-";
  std::atomic<uint64_t> solo_groups{0};
  // Shared with the consumers, which may outlive the driver.
  std::shared_ptr<DeliveredOffsets> delivered = std::make_shared<DeliveredOffsets>();
  std::shared_ptr<OffsetQueryClient> offset_queries;  // made by connect()

  ~State() {
    if (control) rd_kafka_destroy(control);
  }

  Error not_connected() const { return make_error("kafka driver is not connected"); }

  Result<MetadataPtr> metadata(int timeout_ms) {
    const rd_kafka_metadata_t* metadata = nullptr;
    // All topics: asking for one topic by name may make the cluster auto-create it.
    rd_kafka_resp_err_t error = rd_kafka_metadata(control, 1, nullptr, &metadata, timeout_ms);
    if (error) return make_error(rd_kafka_err2str(error));
    return MetadataPtr(metadata);
  }

  // Polls metadata until `done` says the cluster is in the wanted state (returns "" to keep
  // waiting, "ok" when done, anything else is an error) or timeout_ms passes.
  Status wait_for_metadata(const std::string& what,
                           const std::function<std::string(const rd_kafka_metadata_t&)>& done) {
    auto deadline = Clock::now() + milliseconds(settings.timeout_ms);
    std::string last_problem;
    for (int attempt = 0; attempt < 100000; ++attempt) {
      auto snapshot = metadata(std::max(1, std::min(1000, remaining_ms(deadline))));
      if (snapshot.ok()) {
        std::string verdict = done(**snapshot);
        if (verdict == "ok") return Status::Ok();
        if (!verdict.empty()) return make_error(verdict);
      } else {
        last_problem = snapshot.error();
      }
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::min(milliseconds(50), milliseconds(remaining_ms(deadline))));
    }
    return make_error("timed out after " + std::to_string(settings.timeout_ms) +
                      " ms (config timeout_ms) waiting for " + what +
                      (last_problem.empty() ? "" : ": " + last_problem));
  }

  // Runs one Admin API request and returns its result event, or an error.
  Result<rd_kafka_event_t*> admin(
      rd_kafka_admin_op_t operation,
      const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& request) {
    std::array<char, 512> reason{};
    rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(control, operation);
    rd_kafka_AdminOptions_set_request_timeout(options, settings.timeout_ms, reason.data(),
                                              reason.size());
    // How long the controller waits for the change to reach every broker before answering.
    rd_kafka_AdminOptions_set_operation_timeout(options, settings.timeout_ms, reason.data(),
                                                reason.size());
    rd_kafka_queue_t* queue = rd_kafka_queue_new(control);
    request(options, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, settings.timeout_ms + 2000);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    if (!event) {
      return make_error("no answer within " + std::to_string(settings.timeout_ms) +
                        " ms (config timeout_ms)");
    }
    if (rd_kafka_event_error(event)) {
      std::string error = rd_kafka_event_error_string(event);
      rd_kafka_event_destroy(event);
      return make_error(error);
    }
    return event;
  }
};

std::string check_kafka_property(const std::string& key, const std::string& value) {
  for (const auto& [name, reason] : kReservedProperties) {
    if (key == name) return reason;
  }
  if (dec_keys().count(key)) {
    for (const ConfigKey& config_key : kafka_config_keys()) {
      if (config_key.name != key) continue;
      std::string expected = config_key.check(value);
      return expected.empty() ? "" : "expected " + expected + ", got \"" + value + "\"";
    }
  }
  // librdkafka loads plugins the moment this property is set, so a scratch check would load
  // the spec's shared objects into dec while it only validates; they load with the client.
  if (key == "plugin.library.paths") return "";
  return librdkafka_rejects(key, value);
}

KafkaDriver::KafkaDriver() : state_(std::make_unique<State>()) {}
KafkaDriver::~KafkaDriver() = default;

bool KafkaDriver::emulated() const { return state_->emulated; }
int KafkaDriver::brokers() const { return state_->brokers; }

Status KafkaDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  if (state_->control) return make_error("kafka driver is already connected");
  if (endpoint.addresses.empty()) return make_error("kafka endpoint has no address");
  // librdkafka properties first, so a misspelt one is named the way librdkafka names it.
  for (const auto& [key, value] : config) {
    if (dec_keys().count(key)) continue;
    if (std::string problem = check_kafka_property(key, value); !problem.empty()) {
      return make_error("config key \"" + key + "\": " + problem);
    }
  }
  std::vector<core::FieldError> errors =
      validate_driver_config(kafka_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }

  State& state = *state_;
  state.settings = settings_from(config);
  state.bootstrap_servers = join(endpoint.addresses, ",");
  state.properties = {{"bootstrap.servers", state.bootstrap_servers, "endpoint address"},
                      {"log_level", "2", "dec default"}};
  for (const auto& [key, value] : endpoint.properties) {
    if (key == kEmulatedProperty) {
      state.emulated = value == "true";
    } else if (key == kMockControlProperty) {
      state.mock_control = value;
    } else {
      state.properties.push_back({key, value, "endpoint property"});
    }
  }
  for (const auto& [key, value] : config) {
    if (!dec_keys().count(key)) state.properties.push_back({key, value, "config key"});
  }

  auto control = new_client(RD_KAFKA_PRODUCER, state.properties, &state.control_context);
  if (!control.ok()) return make_error(control.error());
  state.control = *control;
  state.offset_queries = std::make_shared<OffsetQueryClient>(state.properties);

  // librdkafka retries an unreachable cluster forever; a metadata request bounded by
  // timeout_ms (and cut short when every broker refused) turns that into a clear error.
  auto deadline = Clock::now() + milliseconds(state.settings.timeout_ms);
  std::string where = "Kafka at " + state.bootstrap_servers;
  for (int attempt = 0; attempt < 100000; ++attempt) {
    auto snapshot = state.metadata(std::max(1, std::min(200, remaining_ms(deadline))));
    if (snapshot.ok()) {
      state.brokers = (*snapshot)->broker_cnt;
      return Status::Ok();
    }
    rd_kafka_poll(state.control, 0);  // serves error_cb
    std::string cause = state.control_context.first_error_text();
    bool refused = state.control_context.all_brokers_down.load();
    if (refused || state.control_context.fatal.load() || Clock::now() >= deadline) {
      std::string message = refused ? "cannot connect to " + where
                                    : where + " did not answer within " +
                                          std::to_string(state.settings.timeout_ms) +
                                          " ms (config timeout_ms)";
      message += ": " + (cause.empty() ? snapshot.error() : cause);
      rd_kafka_destroy(state.control);
      state.control = nullptr;
      return make_error(message);
    }
  }
  return make_error("cannot connect to " + where);
}

Status KafkaDriver::create_topic(const std::string& topic, int partitions) {
  State& state = *state_;
  if (!state.control) return state.not_connected();
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions must be from 1 to 100000");
  }
  int replication = state.settings.replication_factor > 0 ? state.settings.replication_factor
                                                          : std::max(1, std::min(3, state.brokers));
  if (state.emulated && state.mock_control.empty()) {
    // Fail now rather than after timeout_ms: the Admin API would wait for a controller that
    // librdkafka's mock cluster never names.
    return make_error("cannot create topic " + topic +
                      ": the endpoint is emulated but has no kafka_mock_control property, and "
                      "librdkafka's mock cluster creates topics only through its control port");
  }
  if (!state.mock_control.empty()) {
    auto reply = kafka_mock_request(state.mock_control,
                                    "create-topic " + topic + " " + std::to_string(partitions),
                                    milliseconds(state.settings.timeout_ms));
    if (!reply.ok()) return make_error("cannot create topic " + topic + ": " + reply.error());
  } else {
    std::array<char, 512> reason{};
    rd_kafka_NewTopic_t* new_topic =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, reason.data(), reason.size());
    if (!new_topic) return make_error("cannot create topic " + topic + ": " + reason.data());
    auto event = state.admin(RD_KAFKA_ADMIN_OP_CREATETOPICS,
                             [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
                               rd_kafka_CreateTopics(state.control, &new_topic, 1, options, queue);
                             });
    rd_kafka_NewTopic_destroy(new_topic);
    if (!event.ok()) return make_error("cannot create topic " + topic + ": " + event.error());
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(*event), &count);
    std::string problem;
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t error = rd_kafka_topic_result_error(results[i]);
      if (error && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* text = rd_kafka_topic_result_error_string(results[i]);
        problem = text ? text : rd_kafka_err2str(error);
      }
    }
    rd_kafka_event_destroy(*event);
    if (!problem.empty()) return make_error("cannot create topic " + topic + ": " + problem);
  }
  // Producers and consumers find the topic only once every partition has a leader.
  return state.wait_for_metadata(
      "topic " + topic + " to have " + std::to_string(partitions) + " partitions with leaders",
      [&](const rd_kafka_metadata_t& metadata) -> std::string {
        for (int t = 0; t < metadata.topic_cnt; ++t) {
          const rd_kafka_metadata_topic_t& found = metadata.topics[t];
          if (topic != found.topic || found.err) continue;
          if (found.partition_cnt != partitions) {
            return "topic " + topic + " already exists with " +
                   std::to_string(found.partition_cnt) + " partitions, not " +
                   std::to_string(partitions) + "; delete it or choose another topic name";
          }
          for (int p = 0; p < found.partition_cnt; ++p) {
            if (found.partitions[p].leader < 0 || found.partitions[p].err) return "";
          }
          return "ok";
        }
        return "";
      });
}

Status KafkaDriver::delete_topic(const std::string& topic) {
  State& state = *state_;
  if (!state.control) return state.not_connected();
  // librdkafka 2.0.2's mock cluster cannot delete topics; they end with the mock process.
  if (!state.mock_control.empty()) return Status::Ok();
  rd_kafka_DeleteTopic_t* deletion = rd_kafka_DeleteTopic_new(topic.c_str());
  auto event = state.admin(RD_KAFKA_ADMIN_OP_DELETETOPICS,
                           [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
                             rd_kafka_DeleteTopics(state.control, &deletion, 1, options, queue);
                           });
  rd_kafka_DeleteTopic_destroy(deletion);
  if (!event.ok()) return make_error("cannot delete topic " + topic + ": " + event.error());
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(*event), &count);
  std::string problem;
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t error = rd_kafka_topic_result_error(results[i]);
    if (error && error != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      const char* text = rd_kafka_topic_result_error_string(results[i]);
      problem = text ? text : rd_kafka_err2str(error);
    }
  }
  rd_kafka_event_destroy(*event);
  if (!problem.empty()) return make_error("cannot delete topic " + topic + ": " + problem);
  // Deletion completes asynchronously; wait so that creating the name again starts afresh.
  return state.wait_for_metadata(
      "topic " + topic + " to disappear", [&](const rd_kafka_metadata_t& metadata) -> std::string {
        for (int t = 0; t < metadata.topic_cnt; ++t) {
          if (topic == metadata.topics[t].topic && !metadata.topics[t].err) {
            return "";
          }
        }
        return "ok";
      });
}

Status KafkaDriver::prepare_consumers(const std::vector<std::string>& /*topics*/,
                                      const std::vector<std::string>& /*groups*/) {
  if (!state_->control) return state_->not_connected();
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> KafkaDriver::make_producer() {
  if (!state_->control) return state_->not_connected();
  auto producer = std::make_unique<KafkaProducer>(state_->settings.timeout_ms);
  if (Status started = producer->start(state_->properties); !started) {
    return make_error(started.error());
  }
  return std::unique_ptr<Producer>(std::move(producer));
}

Result<std::unique_ptr<Consumer>> KafkaDriver::make_consumer(const ConsumerOptions& options) {
  State& state = *state_;
  if (!state.control) return state.not_connected();
  if (options.topics.empty()) return make_error("a kafka consumer needs at least one topic");
  // Defaults go first so the spec can override them; group.id goes last so it cannot.
  Properties properties = {{"auto.offset.reset", "earliest", "dec default"},
                           {"enable.partition.eof", "false", "dec default"}};
  if (!state.mock_control.empty()) {
    // The mock's coordinator waits session.timeout.ms - 1 s (44 s by default) for members to
    // rejoin once a group has formed, where a broker ends the rebalance as soon as all have
    // rejoined; a short session and frequent heartbeats keep a late member's join to seconds.
    properties.push_back({"session.timeout.ms", "6000", "dec default for the mock cluster"});
    properties.push_back({"heartbeat.interval.ms", "500", "dec default for the mock cluster"});
  }
  properties.insert(properties.end(), state.properties.begin(), state.properties.end());
  // Without a group every consumer reads everything: a group of its own does exactly that.
  std::string group = options.group;
  if (group.empty()) group = state.solo_group_prefix + std::to_string(++state.solo_groups);
  properties.push_back({"group.id", group, "consumer group"});
  auto consumer =
      std::make_unique<KafkaConsumer>(state.settings.poll_batch, state.settings.timeout_ms, group,
                                      state.delivered, state.offset_queries);
  if (Status started = consumer->start(properties, options.topics); !started) {
    return make_error(started.error());
  }
  return std::unique_ptr<Consumer>(std::move(consumer));
}

// librdkafka's built-in default for a property (dec sets none of the client keys itself: its own
// defaults are log_level and, for consumers, auto.offset.reset and enable.partition.eof). Asking
// the library keeps the value right for the installed version.
static std::optional<std::string> librdkafka_default(const std::string& property) {
  std::array<char, 512> value{};
  size_t size = value.size();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_res_t result = rd_kafka_conf_get(conf, property.c_str(), value.data(), &size);
  rd_kafka_conf_destroy(conf);
  if (result != RD_KAFKA_CONF_OK) {
    // Topic-level properties (acks, compression.type) live in the default topic configuration.
    size = value.size();
    rd_kafka_topic_conf_t* topic_conf = rd_kafka_topic_conf_new();
    result = rd_kafka_topic_conf_get(topic_conf, property.c_str(), value.data(), &size);
    rd_kafka_topic_conf_destroy(topic_conf);
  }
  if (result != RD_KAFKA_CONF_OK) return std::nullopt;
  return std::string(value.data());
}

DriverInfo kafka_driver_info() {
  DriverInfo info;
  info.name = "kafka";
  info.description = "Apache Kafka through librdkafka; any librdkafka property is a config key";
  info.config_keys = kafka_config_keys();
  info.accepts_unknown_keys = true;
  info.check_unknown_key = check_kafka_property;
  info.client_keys = {
      // librdkafka's max.in.flight counts produce *requests* per broker connection (each a batch
      // of many messages), not messages. The bound on messages a producer has sent but not yet
      // seen acknowledged is its local queue, which holds each message until its delivery report;
      // when it is full dec's send() waits for acks.
      mapped_client_key(ClientField::kMaxInFlight, "queue.buffering.max.messages", 1, 2147483647),
      mapped_client_key(ClientField::kLinger, "linger.ms", 0, 900000, {"queue.buffering.max.ms"}),
      mapped_client_key(ClientField::kFetchWait, "fetch.wait.max.ms", 0, 300000),
      reported_client_key("acks", {"request.required.acks"}),
      reported_client_key("enable.idempotence"),
      reported_client_key("max.in.flight.requests.per.connection", {"max.in.flight"}),
      reported_client_key("batch.num.messages"),
      reported_client_key("batch.size"),
      reported_client_key("compression.type", {"compression.codec"}),
      reported_client_key("fetch.min.bytes"),
  };
  info.default_of = librdkafka_default;
  info.topic_keys = {"replication_factor"};
  // The OAuth/OIDC endpoints librdkafka calls (its other name for the brokers is reserved).
  info.address_keys = {"*.url"};
  // Key stores and certificates (ssl.*.location, https.*.location), Kerberos (a keytab and the
  // kinit command librdkafka runs), plugins and OpenSSL providers/engines it loads.
  info.host_file_keys = {
      "*.location",           "*.file",        "*.keytab",      "*.kinit.cmd",
      "plugin.library.paths", "ssl.providers", "ssl.engine.id", "ssl.ca.certificate.stores"};
  info.create = [] { return std::make_unique<KafkaDriver>(); };
  info.client_library = [] { return std::string("librdkafka ") + rd_kafka_version_str(); };
  return info;
}

}  // namespace dec::drivers
