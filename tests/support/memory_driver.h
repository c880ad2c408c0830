// An in-process Driver for tests: topics are vectors of messages in memory, partitioned like
// Kafka (by key hash, or round-robin without a key), with consumer groups that split partitions
// among their members. Faults are injected deterministically, counted per producer, so tests can
// predict exact loss, duplication and reordering figures.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "drivers/driver.h"

namespace dec::testing {

struct MemoryDriverOptions {
  // Every Nth send of each producer (N = the value, 0 = never):
  uint64_t drop_every = 0;       // acked ok but never stored: lost
  uint64_t duplicate_every = 0;  // stored twice
  uint64_t reorder_every = 0;    // held back and stored right after the producer's next message
  uint64_t fail_ack_every = 0;   // acked with ok = false and not stored
  uint64_t corrupt_every = 0;    // stored with a flipped byte in the header
  // Messages become visible to consumers this long after send().
  std::chrono::nanoseconds delivery_latency{0};
  // Messages per second the system can pass on (0 = no limit): messages become visible one
  // slot of 1/capacity after another, so once the offered rate exceeds it a queue builds and
  // end-to-end latency rises without bound, as in a saturated broker.
  double capacity = 0;
  // Acks are delivered once this many are pending (inside send()), or by flush(), or by
  // poll_acks() when acks_on_poll is set.
  size_t ack_batch = 1;
  bool acks_on_poll = false;
  // A send() blocks this long before returning (a slow system).
  std::chrono::nanoseconds send_delay{0};
  bool fail_make_producer = false;
  bool fail_make_consumer = false;
  // send() returns an error once this many sends succeeded (0 = never).
  uint64_t fail_send_after = 0;
  // A consumer reports ready() only after this many poll() calls (a group join).
  int polls_until_ready = 0;
  // Every Nth message a consumer reads is handed over twice, the second time flagged as a
  // redelivery (0 = never).
  uint64_t redeliver_every = 0;
  // At most this many messages per poll() (0 = up to 1024), and a pause after each poll that
  // returned some: a slow consumer.
  size_t max_poll_batch = 0;
  std::chrono::nanoseconds poll_delay{0};
  // Consumers report their backlog (unread messages in their partitions); false: they cannot
  // tell (backlog() returns nullopt), as some drivers.
  bool report_backlog = true;
};

class MemoryDriver : public drivers::Driver {
 public:
  explicit MemoryDriver(MemoryDriverOptions options = {})
      : state_(std::make_shared<State>(std::move(options))) {}

  std::string name() const override { return "memory"; }
  bool emulated() const override { return true; }
  Status connect(const drivers::Endpoint&, const core::Settings&) override { return Status::Ok(); }

  Status create_topic(const std::string& topic, int partitions) override {
    std::lock_guard lock(state_->mutex);
    state_->topics[topic].partitions.resize(static_cast<size_t>(std::max(partitions, 1)));
    return Status::Ok();
  }
  Status delete_topic(const std::string& topic) override {
    std::lock_guard lock(state_->mutex);
    state_->topics.erase(topic);
    return Status::Ok();
  }
  Status prepare_consumers(const std::vector<std::string>&,
                           const std::vector<std::string>&) override {
    return Status::Ok();
  }

  Result<std::unique_ptr<drivers::Producer>> make_producer() override {
    if (state_->options.fail_make_producer) return make_error("injected producer failure");
    ++state_->producers_made;
    return std::unique_ptr<drivers::Producer>(new MemoryProducer(state_));
  }

  Result<std::unique_ptr<drivers::Consumer>> make_consumer(
      const drivers::ConsumerOptions& options) override {
    if (state_->options.fail_make_consumer) return make_error("injected consumer failure");
    std::lock_guard lock(state_->mutex);
    for (const auto& topic : options.topics) {
      if (!state_->topics.count(topic)) return make_error("no such topic: " + topic);
    }
    return std::unique_ptr<drivers::Consumer>(new MemoryConsumer(state_, options));
  }

  // Messages stored in `topic` (all partitions), duplicates included.
  size_t stored(const std::string& topic) const {
    std::lock_guard lock(state_->mutex);
    size_t total = 0;
    auto found = state_->topics.find(topic);
    if (found == state_->topics.end()) return 0;
    for (const auto& partition : found->second.partitions) total += partition.size();
    return total;
  }
  int producers_made() const { return state_->producers_made.load(); }
  // Messages stored (all topics) when a consumer first read one; 0 = nothing read yet.
  size_t stored_at_first_read() const {
    std::lock_guard lock(state_->mutex);
    return state_->stored_at_first_read;
  }
  // How many stored messages (all partitions of `topic`) carry each key; "" = no key.
  std::map<std::string, size_t> key_counts(const std::string& topic) const {
    std::lock_guard lock(state_->mutex);
    std::map<std::string, size_t> counts;
    auto found = state_->topics.find(topic);
    if (found == state_->topics.end()) return counts;
    for (const auto& partition : found->second.partitions) {
      for (const auto& message : partition) ++counts[message.key];
    }
    return counts;
  }
  // A frozen system: while paused, send() and poll() block (a SIGSTOPped broker).
  void pause() { state_->paused.store(true); }
  void resume() { state_->paused.store(false); }
  uint64_t poll_acks_calls() const { return state_->poll_acks_calls.load(); }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  struct StoredMessage {
    std::string key;
    std::string payload;
    SteadyTime visible_at;
  };
  struct Topic {
    std::vector<std::vector<StoredMessage>> partitions{1};
    SteadyTime next_slot{};  // MemoryDriverOptions::capacity: the topic's queue, gone with it
  };
  struct State {
    explicit State(MemoryDriverOptions options) : options(std::move(options)) {}
    const MemoryDriverOptions options;
    mutable std::mutex mutex;
    std::condition_variable appended;
    std::map<std::string, Topic> topics;
    size_t stored_at_first_read = 0;  // guarded by mutex
    std::atomic<int> producers_made{0};
    std::atomic<bool> paused{false};
    void wait_while_paused() const {
      while (paused.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::atomic<uint64_t> poll_acks_calls{0};
  };

  class MemoryProducer : public drivers::Producer {
   public:
    explicit MemoryProducer(std::shared_ptr<State> state) : state_(std::move(state)) {}
    ~MemoryProducer() override { deliver_acks(); }

    Status send(const std::string& topic, std::string_view key, std::string_view payload,
                drivers::AckCallback on_ack) override {
      const MemoryDriverOptions& options = state_->options;
      if (options.fail_send_after > 0 && sends_ >= options.fail_send_after) {
        return make_error("injected send failure");
      }
      if (options.send_delay.count() > 0) std::this_thread::sleep_for(options.send_delay);
      state_->wait_while_paused();
      const uint64_t n = ++sends_;
      const auto every = [n](uint64_t period) { return period > 0 && n % period == 0; };
      bool ok = true;
      {
        std::lock_guard lock(state_->mutex);
        auto found = state_->topics.find(topic);
        if (found == state_->topics.end()) return make_error("no such topic: " + topic);
        auto& partitions = found->second.partitions;
        const size_t partition = key.empty()
                                     ? round_robin_++ % partitions.size()
                                     : std::hash<std::string_view>()(key) % partitions.size();
        StoredMessage message{std::string(key), std::string(payload),
                              std::chrono::steady_clock::now() + options.delivery_latency};
        if (options.capacity > 0) {
          message.visible_at = std::max(message.visible_at, found->second.next_slot);
          found->second.next_slot =
              message.visible_at +
              std::chrono::nanoseconds(static_cast<int64_t>(1e9 / options.capacity));
        }
        if (every(options.corrupt_every)) message.payload[9] ^= 0x40;
        if (every(options.fail_ack_every)) {
          ok = false;
        } else if (every(options.drop_every)) {
          // Lost after the ack: the system said yes and forgot.
        } else if (every(options.reorder_every) && !held_) {
          held_ = Held{&partitions[partition], std::move(message)};
        } else {
          auto& log = partitions[partition];
          if (every(options.duplicate_every)) log.push_back(message);
          log.push_back(std::move(message));
          release_held();
        }
      }
      state_->appended.notify_all();
      pending_.push_back({std::move(on_ack), ok});
      if (pending_.size() >= std::max<size_t>(options.ack_batch, 1)) deliver_acks();
      return Status::Ok();
    }

    Status flush() override {
      {
        std::lock_guard lock(state_->mutex);
        release_held();
      }
      state_->appended.notify_all();
      deliver_acks();
      return Status::Ok();
    }

    size_t in_flight() const override { return pending_.size(); }
    bool delivers_acks_while_polling() const override { return state_->options.acks_on_poll; }

    Status poll_acks(std::chrono::nanoseconds max_wait) override {
      ++state_->poll_acks_calls;
      if (state_->options.acks_on_poll) deliver_acks();
      std::this_thread::sleep_for(max_wait);
      return Status::Ok();
    }

   private:
    struct Held {
      std::vector<StoredMessage>* log;
      StoredMessage message;
    };
    struct PendingAck {
      drivers::AckCallback callback;
      bool ok;
    };

    void release_held() {  // with state_->mutex held
      if (!held_) return;
      held_->log->push_back(std::move(held_->message));
      held_.reset();
    }
    void deliver_acks() {
      // Swap first: a callback may not re-enter, but keep the producer consistent if it does.
      std::vector<PendingAck> ready;
      ready.swap(pending_);
      for (auto& ack : ready) ack.callback(ack.ok, ack.ok ? "" : "injected ack failure");
    }

    std::shared_ptr<State> state_;
    uint64_t sends_ = 0;
    size_t round_robin_ = 0;
    std::optional<Held> held_;
    std::vector<PendingAck> pending_;
  };

  class MemoryConsumer : public drivers::Consumer {
   public:
    MemoryConsumer(std::shared_ptr<State> state, const drivers::ConsumerOptions& options)
        : state_(std::move(state)) {
      polls_until_ready_ = state_->options.polls_until_ready;
      for (const auto& topic : options.topics) {
        const size_t partitions = state_->topics[topic].partitions.size();
        for (size_t p = 0; p < partitions; ++p) {
          // A group splits partitions among members; no group means read everything.
          if (options.group.empty() ||
              static_cast<int>(p % static_cast<size_t>(std::max(options.group_size, 1))) ==
                  options.member_index) {
            owned_.push_back({topic, p, 0});
          }
        }
      }
    }

    Result<size_t> poll(
        std::chrono::milliseconds timeout,
        const std::function<void(const drivers::ReceivedMessage&)>& on_message) override {
      state_->wait_while_paused();
      if (polls_until_ready_ > 0) {
        // Joining the group: nothing is read yet, as a Kafka consumer before its assignment.
        --polls_until_ready_;
        std::this_thread::sleep_for(timeout);
        return size_t{0};
      }
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      const size_t max_batch =
          state_->options.max_poll_batch > 0 ? state_->options.max_poll_batch : kMaxBatch;
      std::vector<std::tuple<const std::string*, int, StoredMessage>> batch;
      {
        std::unique_lock lock(state_->mutex);
        while (true) {
          const auto now = std::chrono::steady_clock::now();
          std::optional<SteadyTime> next_visible;
          for (auto& owned : owned_) {
            auto found = state_->topics.find(owned.topic);
            if (found == state_->topics.end()) continue;
            const auto& log = found->second.partitions[owned.partition];
            while (owned.offset < log.size() && batch.size() < max_batch) {
              const StoredMessage& message = log[owned.offset];
              if (message.visible_at > now) {
                next_visible =
                    std::min(next_visible.value_or(message.visible_at), message.visible_at);
                break;
              }
              batch.emplace_back(&owned.topic, static_cast<int>(owned.partition), message);
              ++owned.offset;
            }
          }
          if (!batch.empty() && state_->stored_at_first_read == 0) {
            for (const auto& [name, topic] : state_->topics) {
              for (const auto& log : topic.partitions) state_->stored_at_first_read += log.size();
            }
          }
          if (!batch.empty() || now >= deadline) break;
          state_->appended.wait_until(lock, std::min(deadline, next_visible.value_or(deadline)));
        }
      }
      const uint64_t redeliver_every = state_->options.redeliver_every;
      for (const auto& [topic, partition, message] : batch) {
        drivers::ReceivedMessage received{*topic, message.key, message.payload, partition};
        on_message(received);
        if (redeliver_every > 0 && ++delivered_ % redeliver_every == 0) {
          received.redelivered = true;
          on_message(received);
        }
      }
      if (!batch.empty() && state_->options.poll_delay.count() > 0) {
        std::this_thread::sleep_for(state_->options.poll_delay);
      }
      return batch.size();
    }

    bool ready() const override { return polls_until_ready_ == 0; }

    std::optional<uint64_t> backlog() override {
      if (!state_->options.report_backlog) return std::nullopt;
      std::lock_guard lock(state_->mutex);
      uint64_t unread = 0;
      for (const auto& owned : owned_) {
        auto found = state_->topics.find(owned.topic);
        if (found == state_->topics.end()) continue;
        unread += found->second.partitions[owned.partition].size() - owned.offset;
      }
      return unread;
    }

   private:
    static constexpr size_t kMaxBatch = 1024;
    struct Owned {
      std::string topic;
      size_t partition;
      size_t offset;
    };
    std::shared_ptr<State> state_;
    std::vector<Owned> owned_;
    int polls_until_ready_ = 0;
    uint64_t delivered_ = 0;
  };

  std::shared_ptr<State> state_;
};

}  // namespace dec::testing
