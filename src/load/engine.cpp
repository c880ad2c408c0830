// Threads of a run: P producer threads, G*C consumer threads, and the calling thread, which
// starts everything, reports progress once a second, decides when to drain and when to stop.
//
// Hot paths stay lock-free except where noted: producers keep their statistics to themselves
// (ack callbacks run on the producer's own thread, per the Driver contract), consumers record
// into their own histograms and take one short lock per poll() to publish the last-second figures,
// and the delivery verifier locks one per-producer shard per message.
#include "load/engine.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "load/delivery.h"
#include "load/payload.h"
#include "load/rate_limiter.h"

namespace dec::load {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Bounds how long a consumer takes to notice it should stop.
constexpr milliseconds kPollTimeout{20};
// How often the calling thread wakes to check stop flags and the drain condition.
constexpr milliseconds kMonitorStep{10};
// A sequence beyond this cannot come from a real run (2^40 messages from one producer) and would
// make the received-bitset huge, so such a message is treated as corrupt.
constexpr uint64_t kMaxSequence = uint64_t{1} << 40;
// How far another engine's clock may be off this one's before its messages look foreign.
constexpr milliseconds kSharedClockTolerance{1000};
// How late past the common start an engine may open its gate and still start at it (the wake-up
// delay of a loaded machine); later, it starts when it is ready.
constexpr milliseconds kStartAtSlack{50};
// Messages a consumer of a shared run keeps that arrived before its own start.
constexpr size_t kMaxEarlyMessages = 100'000;

double seconds_between(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e9;
}

// The phases' boundaries in steady-clock ns, fixed once every client is ready.
struct Schedule {
  int64_t start_ns = 0;     // warm-up begins
  int64_t measure_ns = 0;   // measured window begins
  int64_t end_ns = 0;       // measured window ends; nothing intended after it is sent
  int64_t deadline_ns = 0;  // end + drain timeout: late sends and deliveries stop counting
  bool in_window(int64_t intended_ns) const {
    return intended_ns >= measure_ns && intended_ns < end_ns;
  }
};

// The offered rate counts as sustained when at most this fraction of the offered messages went
// out late or never...
constexpr double kSustainedLateFraction = 0.01;
// ...and the acked throughput in the window reached this fraction of the offered rate (5% for
// scheduler noise and the odd slow second; a real shortfall is larger).
constexpr double kSustainedThroughputFraction = 0.95;

// Run-wide stop and first-error bookkeeping, shared by every thread.
class RunControl {
 public:
  void fail(std::string message) {
    {
      std::lock_guard lock(mutex_);
      if (error_.empty()) error_ = std::move(message);
    }
    abort_.store(true);
  }
  bool aborted() const { return abort_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& abort_flag() const { return abort_; }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  mutable std::mutex mutex_;
  std::string error_;
  std::atomic<bool> abort_{false};
};

// Holds every worker until all clients exist and every consumer is ready (Kafka: its group join
// finished), so the schedule starts with everyone ready and neither connection set-up nor a
// group join ever counts as latency.
class StartGate {
 public:
  void arrive() {
    std::lock_guard lock(mutex_);
    ++arrived_;
    changed_.notify_all();
  }
  // Called by the run thread; false when `give_up` turned true first.
  bool wait_for_all(int expected, const std::function<bool()>& give_up) {
    std::unique_lock lock(mutex_);
    while (arrived_ < expected) {
      if (give_up()) return false;
      changed_.wait_for(lock, kMonitorStep);
    }
    return true;
  }
  void open(const Schedule& schedule) {
    std::lock_guard lock(mutex_);
    schedule_ = schedule;
    open_ = true;
    is_open_.store(true, std::memory_order_release);
    changed_.notify_all();
  }
  // True once open(); the schedule written before is then visible to the caller.
  bool is_open() const { return is_open_.load(std::memory_order_acquire); }
  // Called by workers; the schedule, or nothing when the run was aborted before starting.
  std::optional<Schedule> wait_open(const RunControl& control) {
    std::unique_lock lock(mutex_);
    while (!open_) {
      if (control.aborted()) return std::nullopt;
      changed_.wait_for(lock, kMonitorStep);
    }
    return schedule_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  bool open_ = false;
  std::atomic<bool> is_open_{false};
  Schedule schedule_;
};

class ProducerWorker;

// What an ack callback needs to know about its message. Pooled per producer so the callback
// captures a single pointer, fits std::function's inline storage and sends never allocate.
struct PendingSend {
  ProducerWorker* owner = nullptr;
  uint64_t sequence = 0;
  int64_t intended_ns = 0;
  bool abandoned = false;  // send() failed: any late callback must not count it
  PendingSend* next_free = nullptr;
};

class ProducerWorker {
 public:
  explicit ProducerWorker(uint32_t id) : id_(id) {}

  uint32_t id() const { return id_; }

  PendingSend* acquire(uint64_t sequence, int64_t intended_ns) {
    PendingSend* send = free_list_;
    if (send != nullptr) {
      free_list_ = send->next_free;
    } else {
      send = &pool_.emplace_back();
      send->owner = this;
    }
    send->sequence = sequence;
    send->intended_ns = intended_ns;
    send->abandoned = false;
    return send;
  }

  void on_ack(PendingSend& send, bool ok, std::string_view error) {
    if (send.abandoned) return;
    if (ok) {
      const int64_t now_ns = to_steady_ns(std::chrono::steady_clock::now());
      acked_sequences.insert(send.sequence);
      acked.store(acked.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      // Latency counts only messages intended inside the window, acked in it or after it.
      // Throughput is the work the system did inside the window: every ack that arrived in it,
      // as OpenMessaging Benchmark and wrk2 count; backlog from warm-up done in the window is
      // counted apart so that the report can say so.
      if (schedule_.in_window(send.intended_ns)) {
        ++window_acked;
        publish_latency.record(
            static_cast<uint64_t>(std::max<int64_t>(now_ns - send.intended_ns, 0)));
      }
      if (schedule_.in_window(now_ns)) {
        ++acked_in_window;
        if (send.intended_ns < schedule_.measure_ns) ++warmup_acked_in_window;
      }
    } else {
      ++send_errors;
      if (first_ack_error.empty()) first_ack_error = std::string(error);
    }
    send.next_free = free_list_;
    free_list_ = &send;
  }

  void set_schedule(const Schedule& schedule) { schedule_ = schedule; }

  // Single writer (this producer's thread); read live by the run thread.
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<int64_t> stopped_sending_ns{0};
  // Read by the run thread only after this producer's thread has been joined.
  uint64_t send_errors = 0;
  uint64_t acked_in_window = 0;         // acked inside the window
  uint64_t warmup_acked_in_window = 0;  // of those, intended during warm-up
  uint64_t window_acked = 0;            // intended in the window and acked at any time
  // The sequences intended inside the window: [window_from, window_until).
  uint64_t window_from = 0;
  uint64_t window_until = 0;
  uint64_t sent_on_time = 0;           // window messages sent before the window ended
  uint64_t sent_late = 0;              // window messages sent after it (before the deadline)
  int64_t max_lag_ns = 0;              // of window messages
  int64_t acks_observed_until_ns = 0;  // acks were collected until then (after the last flush)
  // The schedule's parameters, to recompute any message's intended time afterwards.
  double rate = 0;
  double phase = 0;
  metrics::Histogram publish_latency;
  SequenceSet acked_sequences;
  std::string first_ack_error;

 private:
  uint32_t id_;
  Schedule schedule_;
  std::deque<PendingSend> pool_;  // deque: growing never moves a PendingSend a callback holds
  PendingSend* free_list_ = nullptr;
};

class ConsumerWorker {
 public:
  ConsumerWorker(int group, int member) : group(group), member(member) {}

  // Moves the last-second latencies into `into` and starts a new second.
  void take_live_latency(metrics::Histogram& into) {
    std::lock_guard lock(live_mutex);
    into.merge(live_latency);
    live_latency.reset();
  }

  const int group;
  const int member;
  std::atomic<uint64_t> received{0};    // distinct messages; single writer
  std::atomic<uint64_t> duplicated{0};  // second copies; single writer
  std::atomic<bool> ready{false};       // Consumer::ready(), as last seen before the start
  std::mutex live_mutex;
  metrics::Histogram live_latency;  // guarded by live_mutex
  // Read by the run thread only after this consumer's thread has been joined.
  uint64_t corrupt = 0;
  uint64_t received_in_window = 0;         // received inside the window
  uint64_t warmup_received_in_window = 0;  // of those, intended during warm-up
  metrics::Histogram end_to_end_latency;
  OrderChecker order;
  // Group 0 only: messages received per (topic index, partition).
  std::map<std::pair<size_t, int>, uint64_t> per_partition;
  std::optional<uint64_t> backlog;  // Consumer::backlog() once polling stopped
  // The counter of the last (topic, partition) seen; std::map never moves its elements.
  std::string_view last_topic;
  int last_partition = -1;
  uint64_t* last_count = nullptr;
};

class Run {
 public:
  Run(drivers::Driver& driver, const EngineOptions& options,
      std::shared_ptr<const PayloadContent> content, const ProgressCallback& on_progress,
      const std::atomic<bool>& stop, const std::atomic<bool>* drain_signal)
      : driver_(driver),
        options_(options),
        content_(std::move(content)),
        on_progress_(on_progress),
        stop_(stop),
        drain_signal_(drain_signal) {
    for (int k = 0; k < options_.keys; ++k) key_names_.push_back("k" + std::to_string(k));
    for (int p = 0; p < options_.producers; ++p) {
      producers_.push_back(
          std::make_unique<ProducerWorker>(options_.first_producer_id + static_cast<uint32_t>(p)));
    }
    // A shared run's consumers also verify the other engines' producers.
    const int all_producers =
        options_.shared()
            ? std::max(options_.total_producers,
                       static_cast<int>(options_.first_producer_id) + options_.producers)
            : options_.producers;
    for (int g = 0; g < consumer_groups(); ++g) {
      verifiers_.push_back(std::make_unique<DeliveryVerifier>(all_producers));
      for (int c = 0; c < options_.consumers; ++c) {
        consumers_.push_back(std::make_unique<ConsumerWorker>(g, c));
      }
    }
    if (backlog_enabled()) {
      consumers_released_.store(false);
      latency_from_ns_.store(std::numeric_limits<int64_t>::max());
      backlog_.target_messages = options_.backlog_messages;
      backlog_.drain_ratio = options_.backlog_drain_ratio;
    }
  }

  EngineResult execute();

 private:
  int consumer_groups() const { return options_.consumers > 0 ? options_.consumer_groups : 0; }
  bool backlog_enabled() const { return options_.backlog_messages > 0 && !consumers_.empty(); }
  // Releases held-back consumers once the backlog is built, and notes when it has drained.
  // Run thread only; `producers_done` releases them whatever the backlog.
  void watch_backlog(bool producers_done);
  uint64_t acked_total() const;
  uint64_t largest_group_lag() const;
  void produce(ProducerWorker& worker);
  void consume(ConsumerWorker& worker);
  // `received_ns` (steady clock): when it arrived, if not now.
  void handle_message(ConsumerWorker& worker, const drivers::ReceivedMessage& message,
                      std::vector<uint64_t>& live_batch, int64_t received_ns = 0);
  bool everything_received() const;
  bool consumers_ready() const;
  bool wait_until_ready();
  void tick(Phase phase, SteadyTime now, bool timeline_point);
  void check_stop();
  // Whether group `g`'s missing messages are provably lost (every consumer's backlog was 0).
  bool group_proven_drained(int group) const;
  void attribute_loss_to_timeline();
  void account_window(EngineResult& result);
  EngineResult collect();
  DeliveryLedger ledger() const;

  drivers::Driver& driver_;
  const EngineOptions& options_;
  std::shared_ptr<const PayloadContent> content_;
  const ProgressCallback& on_progress_;
  const std::atomic<bool>& stop_;
  const std::atomic<bool>* drain_signal_;  // shared runs: every engine's consumers have it all
  SystemClock clock_;
  RunControl control_;
  StartGate gate_;
  Schedule schedule_;                 // set before the gate opens; read-only afterwards
  std::mutex client_creation_mutex_;  // drivers need not make clients from many threads at once
  std::vector<std::string> key_names_;
  std::vector<std::unique_ptr<ProducerWorker>> producers_;
  std::vector<std::unique_ptr<ConsumerWorker>> consumers_;
  std::vector<std::unique_ptr<DeliveryVerifier>> verifiers_;  // one per consumer group
  std::atomic<int> producers_running_{0};
  // Producers that stopped because the schedule ended (not max_messages, a stop or an error).
  std::atomic<int> producers_done_by_schedule_{0};
  std::atomic<bool> consumers_stop_{false};
  // Backlog mode: consumers wait for this before their first poll after the start.
  std::atomic<bool> consumers_released_{true};
  std::atomic<bool> hold_consumers_{false};  // every consumer is ready: stop polling
  std::atomic<int> consumers_holding_{0};
  // End-to-end latency counts messages intended from then on (backlog mode: after the drain).
  std::atomic<int64_t> latency_from_ns_{std::numeric_limits<int64_t>::min()};
  BacklogFigures backlog_;            // run thread only
  int64_t released_ns_ = 0;           // consumers started reading
  uint64_t received_at_release_ = 0;  // group 0
  int64_t consumers_stopped_ns_ = 0;  // deliveries were watched until then

  // Monitor state, touched by the run thread only.
  SteadyTime last_tick_{};
  uint64_t last_acked_ = 0;
  uint64_t last_group0_received_ = 0;
  uint64_t last_duplicated_ = 0;
  metrics::Histogram tick_latency_;
  std::vector<TimePoint> timeline_;
  // For each timeline point, each producer's next sequence at that tick (points x producers,
  // flat): loss is counted once at the end and attributed to the second a message was sent in,
  // so the send path pays nothing for it.
  std::vector<uint64_t> next_sequence_at_point_;
};

void Run::produce(ProducerWorker& worker) {
  std::unique_ptr<drivers::Producer> producer;
  {
    std::lock_guard lock(client_creation_mutex_);
    auto made = driver_.make_producer();
    if (made.ok()) {
      producer = std::move(made).value();
    } else {
      control_.fail(driver_.name() + ": could not create producer " + std::to_string(worker.id()) +
                    ": " + made.error());
    }
  }
  gate_.arrive();
  if (!producer) return;
  const auto schedule = gate_.wait_open(control_);
  if (!schedule) return;
  worker.set_schedule(*schedule);

  const auto producers = static_cast<uint64_t>(options_.producers);
  const uint64_t local_index = worker.id() - options_.first_producer_id;
  uint64_t quota = UINT64_MAX;
  if (options_.max_messages > 0) {
    quota = options_.max_messages / producers + (local_index < options_.max_messages % producers);
  }
  const SteadyTime start{nanoseconds(schedule->start_ns)};
  worker.rate = options_.rate / static_cast<double>(producers);
  // Slots of all the run's producers interleave evenly, whichever engine runs them.
  const auto all_producers =
      static_cast<double>(options_.shared() ? options_.total_producers : options_.producers);
  worker.phase = static_cast<double>(worker.id()) / all_producers;
  RateLimiter limiter(clock_, worker.rate, start, worker.phase);
  if (!limiter.unlimited()) {
    // Every slot of the window is owed, sent on time, late, or accounted as unsent.
    worker.window_from = std::min(
        quota, limiter.first_slot_at_or_after(SteadyTime{nanoseconds(schedule->measure_ns)}));
    worker.window_until =
        std::min(quota, limiter.first_slot_at_or_after(SteadyTime{nanoseconds(schedule->end_ns)}));
  }
  bool window_started = false;  // rate 0: the first message sent inside the window was seen
  PayloadEncoder encoder(content_);
  const std::string no_key;
  // Per producer, so that the keys one producer draws do not depend on thread timing.
  std::mt19937_64 key_random(options_.key_seed ^ (uint64_t{worker.id()} * 0x9E3779B97F4A7C15ULL));
  std::uniform_int_distribution<uint32_t> random_key(
      0, static_cast<uint32_t>(std::max(options_.keys, 1) - 1));
  const bool random_keys = options_.key_distribution == core::KeyDistribution::kRandom;
  const auto flush = [&](const char* when) {
    const Status status = producer->flush();
    if (!status.ok()) {
      control_.fail(driver_.name() + ": flush " + when + " failed: " + status.error());
    }
  };
  // Ahead of schedule with messages in flight: push them out now rather than let a pipelining
  // driver hold them while this thread waits, which would add the wait to their latency.
  // Drivers whose poll_acks() writes and reads by itself keep their pipeline full instead.
  const bool flush_before_wait = !producer->delivers_acks_while_polling();
  const std::function<void()> before_sleep = [&] {
    if (flush_before_wait && producer->in_flight() > 0) {
      flush("before waiting for the next send slot");
    }
  };
  // Waiting happens inside the driver, so acks that arrive meanwhile are timed when they arrive.
  const std::function<void(SteadyTime)> wait_until = [&](SteadyTime deadline) {
    const auto max_wait = std::max(deadline - clock_.now(), SteadyTime::duration::zero());
    const Status status = producer->poll_acks(std::chrono::duration_cast<nanoseconds>(max_wait));
    if (!status.ok()) {
      control_.fail(driver_.name() + ": waiting for acknowledgements failed: " + status.error());
    }
  };

  PayloadHeader header;
  header.producer_id = worker.id();
  // When the schedule itself ends the run, the window lasted its full length even if this
  // producer's last slot came a little earlier; otherwise it ends when sending stopped.
  bool schedule_ended = false;
  uint64_t sequence = 0;
  for (; sequence < quota; ++sequence) {
    if (!limiter.unlimited() && to_steady_ns(limiter.intended_time(sequence)) >= schedule->end_ns) {
      schedule_ended = true;  // checked before waiting: at low rates the slot may be far away
      break;
    }
    const auto slot = limiter.wait_for(sequence, control_.abort_flag(), before_sleep, wait_until);
    if (!slot) break;
    const int64_t intended_ns = to_steady_ns(slot->intended);
    const int64_t taken_ns = intended_ns + slot->lag.count();
    if (limiter.unlimited()) {
      // No schedule: the window holds what was sent inside it.
      if (taken_ns >= schedule->end_ns) {
        schedule_ended = true;
        break;
      }
      if (!window_started && intended_ns >= schedule->measure_ns) {
        window_started = true;
        worker.window_from = sequence;
      }
    } else if (taken_ns >= schedule->deadline_ns) {
      // Far behind: the window's remaining messages are owed but never sent; they are counted
      // as unsent and censored, not forgotten.
      schedule_ended = true;
      break;
    }
    header.sequence = sequence;
    header.intended_ns = intended_ns + options_.payload_clock_shift_ns;
    const std::string* topic;
    std::string_view key;
    if (options_.keys > 0) {
      // Keyed messages keep one topic per key, so per-key order is something a system can keep.
      header.key_index = random_keys ? random_key(key_random)
                                     : static_cast<uint32_t>(sequence % key_names_.size());
      key = key_names_[header.key_index];
      topic = &options_.topics[header.key_index % options_.topics.size()];
    } else {
      header.key_index = kNoKey;
      key = no_key;
      topic = &options_.topics[sequence % options_.topics.size()];
    }
    PendingSend* pending = worker.acquire(sequence, intended_ns);
    const Status status = producer->send(*topic, key, encoder.encode(header),
                                         [pending](bool ok, std::string_view error) {
                                           pending->owner->on_ack(*pending, ok, error);
                                         });
    if (!status.ok()) {
      pending->abandoned = true;
      ++worker.send_errors;
      control_.fail(driver_.name() + ": send to topic \"" + *topic +
                    "\" failed: " + status.error());
      break;
    }
    if (schedule->in_window(intended_ns)) {
      ++(taken_ns < schedule->end_ns ? worker.sent_on_time : worker.sent_late);
      worker.max_lag_ns = std::max(worker.max_lag_ns, taken_ns - intended_ns);
    }
    worker.sent.store(worker.sent.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  if (limiter.unlimited()) {
    if (!window_started) worker.window_from = sequence;
    worker.window_until = sequence;
  }
  if (schedule_ended) producers_done_by_schedule_.fetch_add(1);
  worker.stopped_sending_ns.store(
      schedule_ended
          ? std::max(schedule->end_ns, std::min(schedule->deadline_ns, to_steady_ns(clock_.now())))
          : to_steady_ns(clock_.now()));
  // On abort, skip the flush: it may wait on a broken system, and promptness matters more.
  if (!control_.aborted()) flush("at the end of the run");
  worker.acks_observed_until_ns = to_steady_ns(clock_.now());
  // `producer` is destroyed before `worker`, so callbacks it still fires find their PendingSend.
}

void Run::consume(ConsumerWorker& worker) {
  std::unique_ptr<drivers::Consumer> consumer;
  {
    std::lock_guard lock(client_creation_mutex_);
    drivers::ConsumerOptions consumer_options;
    consumer_options.group = options_.group_prefix + "-" + std::to_string(worker.group);
    consumer_options.member_index = options_.first_consumer + worker.member;
    consumer_options.group_size =
        options_.shared()
            ? std::max(options_.total_consumers, options_.first_consumer + options_.consumers)
            : options_.consumers;
    consumer_options.topics = options_.topics;
    auto made = driver_.make_consumer(consumer_options);
    if (made.ok()) {
      consumer = std::move(made).value();
    } else {
      control_.fail(driver_.name() + ": could not create consumer " +
                    std::to_string(worker.member) + " of group \"" + consumer_options.group +
                    "\": " + made.error());
    }
  }
  gate_.arrive();
  if (!consumer) return;

  std::vector<uint64_t> live_batch;
  live_batch.reserve(4096);
  // Until the gate opens nothing of this run has been sent: a message is left over from
  // something else. Once it is open (it may open during a poll), messages are this run's.
  // A shared run: another engine's first messages may arrive a moment before this engine's own
  // start (their clocks agree only so far); they are kept, with their arrival time, and handled
  // once the start is known.
  struct EarlyMessage {
    std::string topic, key, payload;
    int partition = -1;
    bool redelivered = false;
    int64_t received_ns = 0;
  };
  std::vector<EarlyMessage> early;
  const auto on_message = [&](const drivers::ReceivedMessage& message) {
    if (gate_.is_open()) {
      handle_message(worker, message, live_batch);
    } else if (options_.shared() && early.size() < kMaxEarlyMessages) {
      early.push_back({std::string(message.topic), std::string(message.key),
                       std::string(message.payload), message.partition, message.redelivered,
                       to_steady_ns(std::chrono::steady_clock::now())});
    } else {
      ++worker.corrupt;
    }
  };
  const auto poll_once = [&]() -> bool {
    const auto polled = consumer->poll(kPollTimeout, on_message);
    if (!polled.ok()) {
      control_.fail(driver_.name() + ": poll failed: " + polled.error());
      return false;
    }
    if (!live_batch.empty()) {
      std::lock_guard lock(worker.live_mutex);
      for (uint64_t latency : live_batch) worker.live_latency.record(latency);
      live_batch.clear();
    }
    return true;
  };
  // Keep polling while waiting for the start: a Kafka consumer only joins its group (and stays
  // in it while the others join) by polling.
  bool holding = false;
  while (!gate_.is_open() && !control_.aborted()) {
    // Backlog mode: once every consumer is ready, stop polling before the gate opens, so no
    // poll in progress hands over the first messages sent.
    if (hold_consumers_.load(std::memory_order_acquire)) {
      if (!holding) consumers_holding_.fetch_add(1);
      holding = true;
      std::this_thread::sleep_for(milliseconds(1));
      continue;
    }
    worker.ready.store(consumer->ready());
    if (!poll_once()) return;
  }
  if (gate_.is_open()) {
    for (const EarlyMessage& m : early) {
      handle_message(worker, {m.topic, m.key, m.payload, m.partition, m.redelivered}, live_batch,
                     m.received_ns);
    }
  }
  early = {};
  // Backlog mode: read nothing until the backlog is built. (A Kafka consumer stays in its group
  // meanwhile: librdkafka heartbeats from its own thread, up to max.poll.interval.ms.)
  while (!consumers_released_.load(std::memory_order_acquire) &&
         !consumers_stop_.load(std::memory_order_relaxed) && !control_.aborted()) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  while (!consumers_stop_.load(std::memory_order_relaxed) && !control_.aborted()) {
    if (!poll_once()) break;
  }
  if (!control_.aborted()) worker.backlog = consumer->backlog();
}

void Run::handle_message(ConsumerWorker& worker, const drivers::ReceivedMessage& message,
                         std::vector<uint64_t>& live_batch, int64_t received_ns) {
  const int64_t now_ns =
      received_ns != 0 ? received_ns : to_steady_ns(std::chrono::steady_clock::now());
  if (message.payload.size() != options_.message_size) {
    ++worker.corrupt;
    return;
  }
  const auto decoded = decode_payload(message.payload);
  if (!decoded.ok()) {
    ++worker.corrupt;
    return;
  }
  PayloadHeader header = decoded.value();
  header.intended_ns -= options_.payload_clock_shift_ns;
  const bool key_ok = options_.keys > 0 ? header.key_index < static_cast<uint32_t>(options_.keys)
                                        : header.key_index == kNoKey;
  // A well-formed header can still be foreign: left in a reused topic by an earlier run (sent
  // before this run started) or from a different workload. Those are not this run's deliveries.
  // Engines sharing a run start together only to within their clocks' agreement.
  const int64_t tolerance_ns = options_.shared() ? nanoseconds(kSharedClockTolerance).count() : 0;
  if (header.producer_id >= verifiers_[0]->producers() || !key_ok ||
      header.sequence >= kMaxSequence || header.intended_ns < schedule_.start_ns - tolerance_ns ||
      header.intended_ns > now_ns + tolerance_ns) {
    ++worker.corrupt;
    return;
  }
  const ReceiveOutcome outcome = verifiers_[static_cast<size_t>(worker.group)]->record(
      header.producer_id, header.sequence, message.redelivered);
  if (outcome.duplicate) {
    // A second copy says nothing new about latency. Redeliveries are counted by the verifier;
    // true duplicates also per second, for the timeline.
    if (!message.redelivered) {
      worker.duplicated.store(worker.duplicated.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
    }
    return;
  }
  worker.received.store(worker.received.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  if (!message.redelivered) {
    worker.order.record(header.producer_id, header.key_index, message.partition, header.sequence);
  }
  const auto latency = static_cast<uint64_t>(std::max<int64_t>(now_ns - header.intended_ns, 0));
  // The batch keeps its capacity across polls: allocation-free in steady state.
  live_batch.push_back(latency);
  if (worker.group == 0) {
    // Consecutive messages mostly come from the same partition: one map lookup per change.
    if (worker.last_count == nullptr || message.topic != worker.last_topic ||
        message.partition != worker.last_partition) {
      const auto found = std::find(options_.topics.begin(), options_.topics.end(), message.topic);
      const auto topic_index = static_cast<size_t>(found - options_.topics.begin());
      worker.last_topic = found == options_.topics.end() ? std::string_view() : *found;
      worker.last_partition = message.partition;
      worker.last_count = &worker.per_partition[{topic_index, message.partition}];
    }
    ++*worker.last_count;
  }
  // Same rules as for acks: latency for messages intended inside the window, throughput for
  // everything received inside it.
  if (schedule_.in_window(header.intended_ns) &&
      header.intended_ns >= latency_from_ns_.load(std::memory_order_relaxed)) {
    worker.end_to_end_latency.record(latency);
  }
  if (schedule_.in_window(now_ns)) {
    ++worker.received_in_window;
    if (header.intended_ns < schedule_.measure_ns) ++worker.warmup_received_in_window;
  }
}

// Exact, but only after a cheap necessary condition holds: a group that has received fewer
// distinct messages than were acked cannot be complete.
bool Run::everything_received() const {
  uint64_t acked = 0;
  for (const auto& producer : producers_) acked += producer->acked.load();
  std::vector<uint64_t> group_received(verifiers_.size(), 0);
  for (const auto& consumer : consumers_) {
    group_received[static_cast<size_t>(consumer->group)] += consumer->received.load();
  }
  for (uint64_t received : group_received) {
    if (received < acked) return false;
  }
  // Producers have been joined, so their acked sets are final and safe to read.
  for (const auto& verifier : verifiers_) {
    for (const auto& producer : producers_) {
      if (verifier->count_lost(producer->id(), producer->acked_sequences) > 0) return false;
    }
  }
  return true;
}

bool Run::consumers_ready() const {
  for (const auto& consumer : consumers_) {
    if (!consumer->ready.load()) return false;
  }
  return true;
}

// Every client exists, then every consumer reports ready at the same moment (a Kafka group is
// stable only once all its members have joined), within the ready timeout.
bool Run::wait_until_ready() {
  const int clients = static_cast<int>(producers_.size() + consumers_.size());
  const auto give_up = [this] {
    check_stop();
    return control_.aborted();
  };
  if (!gate_.wait_for_all(clients, give_up)) return false;
  const SteadyTime limit = clock_.now() + options_.ready_timeout;
  while (!consumers_ready()) {
    if (give_up()) return false;
    if (clock_.now() >= limit) {
      int waiting = 0;
      for (const auto& consumer : consumers_) waiting += !consumer->ready.load();
      control_.fail(
          driver_.name() + ": " + std::to_string(waiting) + " of " +
          std::to_string(consumers_.size()) + " consumers not ready after " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(options_.ready_timeout).count()) +
          " s (no partition assignment: the consumer group join did not finish)");
      return false;
    }
    clock_.sleep_until(clock_.now() + kMonitorStep);
  }
  return true;
}

void Run::tick(Phase phase, SteadyTime now, bool timeline_point) {
  uint64_t sent = 0;
  uint64_t acked = 0;
  for (const auto& producer : producers_) {
    sent += producer->sent.load(std::memory_order_relaxed);
    acked += producer->acked.load(std::memory_order_relaxed);
  }
  uint64_t received = 0;
  uint64_t group0_received = 0;
  uint64_t duplicated = 0;
  tick_latency_.reset();
  for (const auto& consumer : consumers_) {
    const uint64_t count = consumer->received.load(std::memory_order_relaxed);
    received += count;
    if (consumer->group == 0) group0_received += count;
    duplicated += consumer->duplicated.load(std::memory_order_relaxed);
    consumer->take_live_latency(tick_latency_);
  }
  const double elapsed = std::chrono::duration<double>(now - last_tick_).count();
  Progress progress;
  progress.phase = phase;
  progress.started = true;
  progress.elapsed_s = seconds_between(schedule_.start_ns, to_steady_ns(now));
  progress.total_s = seconds_between(schedule_.start_ns, schedule_.end_ns);
  progress.sent = sent;
  progress.acked = acked;
  progress.received = received;
  if (elapsed > 0) {
    progress.produced_per_s = static_cast<double>(acked - last_acked_) / elapsed;
    progress.consumed_per_s =
        static_cast<double>(group0_received - last_group0_received_) / elapsed;
  }
  progress.p99_us = tick_latency_.percentile(99) / 1000;
  const uint64_t duplicated_since_last = duplicated - last_duplicated_;
  last_tick_ = now;
  last_acked_ = acked;
  last_group0_received_ = group0_received;
  last_duplicated_ = duplicated;

  if (timeline_point) {
    TimePoint point{progress.elapsed_s, progress.produced_per_s, progress.consumed_per_s,
                    progress.p99_us};
    point.duplicated = duplicated_since_last;
    timeline_.push_back(point);
    // Sequences are sent in order from 0, so the count sent so far is the next one to go.
    for (const auto& producer : producers_) {
      next_sequence_at_point_.push_back(producer->sent.load(std::memory_order_relaxed));
    }
  }
  if (on_progress_) on_progress_(progress);
}

void Run::check_stop() {
  if (stop_.load(std::memory_order_relaxed)) control_.fail("stopped");
}

EngineResult Run::execute() {
  std::vector<std::thread> producer_threads;
  std::vector<std::thread> consumer_threads;
  for (auto& consumer : consumers_) {
    consumer_threads.emplace_back([this, worker = consumer.get()] { consume(*worker); });
  }
  producers_running_.store(static_cast<int>(producers_.size()));
  for (auto& producer : producers_) {
    producer_threads.emplace_back([this, worker = producer.get()] {
      produce(*worker);
      producers_running_.fetch_sub(1);
    });
  }

  bool ready = wait_until_ready();
  if (ready && backlog_enabled()) {
    hold_consumers_.store(true, std::memory_order_release);
    while (consumers_holding_.load() < static_cast<int>(consumers_.size())) {
      check_stop();
      if (control_.aborted()) {
        ready = false;
        break;
      }
      clock_.sleep_until(clock_.now() + milliseconds(1));
    }
  }
  if (ready && options_.start_at_steady_ns > 0) {
    // A common start with the other engines of the run; a stop still ends the wait.
    const SteadyTime start_at{nanoseconds(options_.start_at_steady_ns)};
    while (clock_.now() < start_at) {
      check_stop();
      if (control_.aborted()) {
        ready = false;
        break;
      }
      clock_.sleep_until(std::min(start_at, clock_.now() + kMonitorStep));
    }
  }
  if (ready) {
    // Engines sharing a run that reached the common start in time all start exactly then, so
    // their schedules (and the window's edges) coincide on the shared time base.
    const SteadyTime now = clock_.now();
    const SteadyTime start_at{nanoseconds(options_.start_at_steady_ns)};
    const SteadyTime start =
        options_.start_at_steady_ns > 0 && now >= start_at && now - start_at <= kStartAtSlack
            ? start_at
            : now;
    schedule_.start_ns = to_steady_ns(start);
    schedule_.measure_ns = schedule_.start_ns + options_.warmup.count();
    schedule_.end_ns = schedule_.measure_ns + options_.duration.count();
    schedule_.deadline_ns = schedule_.end_ns + options_.drain_timeout.count();
    last_tick_ = start;
    gate_.open(schedule_);
    // At once, so that whoever schedules faults anchors on the real start.
    if (on_progress_) {
      Progress started;
      started.phase = options_.warmup.count() > 0 ? Phase::kWarmup : Phase::kMeasuring;
      started.started = true;
      started.total_s = seconds_between(schedule_.start_ns, schedule_.end_ns);
      on_progress_(started);
    }

    // Warm-up and measurement: report once a second until every producer is done. A tick is
    // labelled by when it was due, so the one due at the window's end is the window's last point
    // even when it runs a moment later.
    SteadyTime next_tick = start + std::chrono::seconds(1);
    const auto due_tick = [&](SteadyTime now) {
      const bool in_timeline = to_steady_ns(next_tick) <= schedule_.end_ns;
      const Phase phase = to_steady_ns(next_tick) <= schedule_.measure_ns ? Phase::kWarmup
                          : in_timeline                                   ? Phase::kMeasuring
                                                                          : Phase::kDraining;
      tick(phase, now, in_timeline);
      next_tick += std::chrono::seconds(1);
    };
    while (producers_running_.load() > 0) {
      check_stop();
      if (control_.aborted()) break;
      if (backlog_enabled()) watch_backlog(false);
      const SteadyTime now = clock_.now();
      if (now >= next_tick) due_tick(now);
      clock_.sleep_until(std::min(next_tick, now + kMonitorStep));
    }
    // Producers on schedule finish right at the window's end, a moment before its last tick:
    // wait for it then, and only then (a run cut short by max_messages must not idle for it).
    const int64_t last_point_due = to_steady_ns(next_tick);
    const bool window_ran_out =
        producers_done_by_schedule_.load() == static_cast<int>(producers_.size());
    if (!control_.aborted() && window_ran_out && last_point_due <= schedule_.end_ns &&
        to_steady_ns(clock_.now()) < schedule_.end_ns + 500'000'000) {
      clock_.sleep_until(next_tick);
      due_tick(clock_.now());
    }
  }
  for (auto& thread : producer_threads) thread.join();
  if (ready && backlog_enabled() && !control_.aborted()) watch_backlog(true);

  // Drain: wait until every group has every acked message, or the deadline: the drain timeout
  // after the last send, and never past the schedule's deadline (window end + drain timeout,
  // shared with late sends).
  if (!consumers_.empty() && !control_.aborted() && ready) {
    const SteadyTime deadline{nanoseconds(std::min(
        schedule_.deadline_ns, to_steady_ns(clock_.now()) + options_.drain_timeout.count()))};
    SteadyTime next_tick = clock_.now() + std::chrono::seconds(1);
    while (true) {
      if (backlog_enabled()) watch_backlog(true);
      if (everything_received()) break;
      if (drain_signal_ != nullptr && drain_signal_->load()) break;
      check_stop();
      if (control_.aborted()) break;
      const SteadyTime now = clock_.now();
      if (now >= deadline) break;
      if (now >= next_tick) {
        tick(Phase::kDraining, now, false);
        next_tick += std::chrono::seconds(1);
      }
      clock_.sleep_until(std::min({next_tick, deadline, now + kMonitorStep}));
    }
  }
  consumers_stopped_ns_ = to_steady_ns(clock_.now());
  if (backlog_enabled() && released_ns_ != 0 && !backlog_.drained) {
    backlog_.drain_s = seconds_between(released_ns_, consumers_stopped_ns_);
  }
  consumers_stop_.store(true);
  for (auto& thread : consumer_threads) thread.join();
  if (ready) tick(Phase::kDone, clock_.now(), false);
  return collect();
}

uint64_t Run::acked_total() const {
  uint64_t acked = 0;
  for (const auto& producer : producers_) acked += producer->acked.load(std::memory_order_relaxed);
  return acked;
}

// Acked minus distinct received, for the group furthest behind. Read in this order, a message
// received (and counted) before its ack is seen can only make the lag look smaller by one.
uint64_t Run::largest_group_lag() const {
  std::vector<uint64_t> received(verifiers_.size(), 0);
  for (const auto& consumer : consumers_) {
    received[static_cast<size_t>(consumer->group)] +=
        consumer->received.load(std::memory_order_relaxed);
  }
  const uint64_t acked = acked_total();
  uint64_t lag = 0;
  for (uint64_t group : received) lag = std::max(lag, acked - std::min(acked, group));
  return lag;
}

uint64_t group0_received(const std::vector<std::unique_ptr<ConsumerWorker>>& consumers) {
  uint64_t received = 0;
  for (const auto& consumer : consumers) {
    if (consumer->group == 0) received += consumer->received.load(std::memory_order_relaxed);
  }
  return received;
}

void Run::watch_backlog(bool producers_done) {
  const int64_t now_ns = to_steady_ns(clock_.now());
  if (released_ns_ == 0) {
    const uint64_t acked = acked_total();
    if (acked < options_.backlog_messages && !producers_done) return;
    // Nobody has read anything yet: every acked message is in every group's backlog.
    backlog_.reached = acked >= options_.backlog_messages;
    backlog_.messages = acked;
    backlog_.max_lag = acked;
    backlog_.build_s = seconds_between(schedule_.start_ns, now_ns);
    backlog_.drain_level = static_cast<uint64_t>(
        std::floor((1.0 - options_.backlog_drain_ratio) * static_cast<double>(acked)));
    released_ns_ = now_ns;
    received_at_release_ = group0_received(consumers_);
    consumers_released_.store(true, std::memory_order_release);
    return;
  }
  if (backlog_.drained) return;
  const uint64_t lag = largest_group_lag();
  backlog_.max_lag = std::max(backlog_.max_lag, lag);
  if (lag > backlog_.drain_level) return;
  backlog_.drained = true;
  backlog_.drain_s = seconds_between(released_ns_, now_ns);
  backlog_.consumed_while_draining = group0_received(consumers_) - received_at_release_;
  if (backlog_.drain_s > 0) {
    backlog_.drain_msgs_per_s =
        static_cast<double>(backlog_.consumed_while_draining) / backlog_.drain_s;
  }
  latency_from_ns_.store(now_ns, std::memory_order_relaxed);
}

bool Run::group_proven_drained(int group) const {
  if (!control_.error().empty()) return false;
  bool any = false;
  for (const auto& consumer : consumers_) {
    if (consumer->group != group) continue;
    any = true;
    if (!consumer->backlog || *consumer->backlog != 0) return false;
  }
  return any;
}

// Each of group 0's missing messages goes to the point whose second it was sent in; point i
// covers sequences [next at point i-1, next at point i). The last point also takes what was sent
// after it, so the points add up to group 0's loss.
void Run::attribute_loss_to_timeline() {
  if (verifiers_.empty() || timeline_.empty()) return;
  const DeliveryVerifier& group0 = *verifiers_.front();
  const bool proven = group_proven_drained(0);
  const size_t producers = producers_.size();
  for (size_t p = 0; p < producers; ++p) {
    const ProducerWorker& producer = *producers_[p];
    uint64_t from = 0;
    for (size_t i = 0; i < timeline_.size(); ++i) {
      const uint64_t until = i + 1 == timeline_.size()
                                 ? std::numeric_limits<uint64_t>::max()
                                 : std::max(from, next_sequence_at_point_[i * producers + p]);
      const uint64_t missing =
          group0.count_lost(producer.id(), producer.acked_sequences, from, until);
      (proven ? timeline_[i].lost : timeline_[i].undelivered) += missing;
      from = until;
    }
  }
}

// Offered, sent, late, unsent, and the censored latencies of every window message that was not
// acked or not received in time: each is recorded as (when watching stopped - intended), a lower
// bound of its real latency, so a stall at the end of the window shows in the percentiles.
void Run::account_window(EngineResult& result) {
  WindowAccounting& window = result.window;
  window.offered_per_s = options_.rate;
  const bool proven = group_proven_drained(0);
  for (const auto& producer : producers_) {
    const uint64_t from = producer->window_from;
    const uint64_t until = std::max(from, producer->window_until);
    window.offered += until - from;
    window.sent_on_time += producer->sent_on_time;
    window.sent_late += producer->sent_late;
    window.acked += producer->window_acked;
    window.max_send_lag_s =
        std::max(window.max_send_lag_s, static_cast<double>(producer->max_lag_ns) / 1e9);

    // Rate 0 has no schedule to recompute intended times from; the window's end is a lower
    // bound of when any of its messages was intended.
    std::optional<RateLimiter> limiter;
    if (producer->rate > 0) {
      limiter.emplace(clock_, producer->rate, SteadyTime{nanoseconds(schedule_.start_ns)},
                      producer->phase);
    }
    const auto intended_ns = [&](uint64_t sequence) {
      return limiter ? to_steady_ns(limiter->intended_time(sequence)) : schedule_.end_ns;
    };
    const auto censored = [](int64_t until_ns, int64_t intended) {
      return static_cast<uint64_t>(std::max<int64_t>(until_ns - intended, 0));
    };
    producer->acked_sequences.for_each_absent(from, until, [&](uint64_t sequence) {
      result.publish_latency.record(
          censored(producer->acks_observed_until_ns, intended_ns(sequence)));
      ++result.censored_publish;
    });
    const int64_t latency_from_ns = latency_from_ns_.load();
    // Shared run: what other engines' consumers received is not known here; the merge of every
    // engine's ledger counts it (account_shared_delivery).
    for (size_t g = 0; g < (options_.shared() ? 0 : verifiers_.size()); ++g) {
      uint64_t not_received = 0;
      verifiers_[g]->for_each_not_received(producer->id(), from, until, [&](uint64_t sequence) {
        ++not_received;
        const int64_t intended = intended_ns(sequence);
        // Backlog mode: messages intended before the drain ended are no latency sample.
        if (intended < latency_from_ns) return;
        result.end_to_end_latency.record(censored(consumers_stopped_ns_, intended));
        ++result.censored_end_to_end;
      });
      if (g == 0) {
        window.received += (until - from) - not_received;
        const uint64_t missing =
            verifiers_[0]->count_lost(producer->id(), producer->acked_sequences, from, until);
        (proven ? window.lost : window.undelivered) += missing;
      }
    }
  }
  window.unsent = window.offered - std::min(window.offered, window.sent_on_time + window.sent_late);
  if (options_.rate > 0 && window.offered > 0) {
    const auto late_or_unsent = static_cast<double>(window.sent_late + window.unsent);
    window.rate_sustained =
        late_or_unsent <= kSustainedLateFraction * static_cast<double>(window.offered) &&
        result.produced_msgs_per_s >= kSustainedThroughputFraction * options_.rate;
  }
}

EngineResult Run::collect() {
  EngineResult result;
  result.error = control_.error();
  DeliveryCounts& delivery = result.delivery;
  int64_t stopped_sending_ns = schedule_.measure_ns;
  for (const auto& producer : producers_) {
    delivery.sent += producer->sent.load();
    delivery.acked += producer->acked.load();
    delivery.send_errors += producer->send_errors;
    result.produced_in_window += producer->acked_in_window;
    result.window.warmup_acked_in_window += producer->warmup_acked_in_window;
    result.publish_latency.merge(producer->publish_latency);
    stopped_sending_ns = std::max(stopped_sending_ns, producer->stopped_sending_ns.load());
  }
  std::map<std::pair<size_t, int>, uint64_t> per_partition;
  for (const auto& consumer : consumers_) {
    delivery.corrupt += consumer->corrupt;
    delivery.reordered += consumer->order.reordered();
    result.end_to_end_latency.merge(consumer->end_to_end_latency);
    if (consumer->group == 0) {
      result.consumed_in_window += consumer->received_in_window;
      result.window.warmup_received_in_window += consumer->warmup_received_in_window;
      for (const auto& [where, count] : consumer->per_partition) per_partition[where] += count;
    }
  }
  for (const auto& [where, count] : per_partition) {
    const auto& [topic_index, partition] = where;
    result.partitions.push_back(
        {topic_index < options_.topics.size() ? options_.topics[topic_index] : "?", partition,
         count});
  }
  for (size_t g = 0; g < verifiers_.size(); ++g) {
    const auto& verifier = verifiers_[g];
    delivery.received += verifier->received();
    delivery.duplicated += verifier->duplicated();
    delivery.redelivered += verifier->redelivered();
    uint64_t missing = 0;
    for (const auto& producer : producers_) {
      missing += verifier->count_lost(producer->id(), producer->acked_sequences);
    }
    (group_proven_drained(static_cast<int>(g)) ? delivery.lost : delivery.undelivered) += missing;
  }
  // A shared run's loss is known only once every engine's ledger is merged.
  if (!options_.shared()) attribute_loss_to_timeline();
  if (result.error.empty() && delivery.acked == 0 && delivery.send_errors > 0) {
    for (const auto& producer : producers_) {
      if (!producer->first_ack_error.empty()) {
        result.error = driver_.name() +
                       ": no message was acknowledged; first error: " + producer->first_ack_error;
        break;
      }
    }
  }

  // The window ends early when producers stopped early (max_messages, stop, error).
  if (schedule_.start_ns != 0) {
    const int64_t window_end_ns = std::min(schedule_.end_ns, stopped_sending_ns);
    result.measured_seconds = std::max(0.0, seconds_between(schedule_.measure_ns, window_end_ns));
  }
  const auto message_size = static_cast<double>(options_.message_size);
  result.bytes_produced_in_window = result.produced_in_window * options_.message_size;
  if (result.measured_seconds > 0) {
    result.produced_msgs_per_s =
        static_cast<double>(result.produced_in_window) / result.measured_seconds;
    result.consumed_msgs_per_s =
        static_cast<double>(result.consumed_in_window) / result.measured_seconds;
    result.produced_mb_per_s = result.produced_msgs_per_s * message_size / 1e6;
    result.consumed_mb_per_s = result.consumed_msgs_per_s * message_size / 1e6;
  }
  if (schedule_.start_ns != 0) account_window(result);
  result.timeline = std::move(timeline_);
  result.key_seed = options_.key_seed;
  result.backlog = backlog_;  // all zero without a backlog
  if (options_.shared()) result.ledger = ledger();
  return result;
}

DeliveryLedger Run::ledger() const {
  DeliveryLedger out;
  const int64_t shift = options_.payload_clock_shift_ns;
  for (const auto& producer : producers_) {
    ProducerLedger p;
    p.producer_id = producer->id();
    p.acked = RangeSet::of(producer->acked_sequences);
    p.window_from = producer->window_from;
    p.window_until = producer->window_until;
    p.rate = producer->rate;
    p.phase = producer->phase;
    p.start_ns = schedule_.start_ns + shift;
    p.end_ns = schedule_.end_ns + shift;
    out.producers.push_back(std::move(p));
  }
  for (size_t g = 0; g < verifiers_.size(); ++g) {
    GroupLedger group;
    group.group = static_cast<int>(g);
    const DeliveryVerifier& verifier = *verifiers_[g];
    for (uint32_t id = 0; id < verifier.producers(); ++id) {
      const SequenceSet* received = verifier.received_of(id);
      if (received == nullptr || received->size() == 0) continue;
      group.received.emplace_back(id, RangeSet::of(*received));
    }
    group.duplicated = verifier.duplicated();
    group.redelivered = verifier.redelivered();
    group.drained = group_proven_drained(static_cast<int>(g));
    group.watched_until_ns = consumers_stopped_ns_ + shift;
    out.groups.push_back(std::move(group));
  }
  return out;
}

Status validate(const EngineOptions& options) {
  const auto invalid = [](const std::string& what) {
    return Status(make_error("invalid load options: " + what));
  };
  if (options.producers < 1) return invalid("producers must be at least 1");
  if (options.consumers < 0) return invalid("consumers must not be negative");
  if (options.consumers > 0 && options.consumer_groups < 1) {
    return invalid("consumer_groups must be at least 1");
  }
  if (!(options.rate >= 0) || std::isinf(options.rate)) {
    return invalid("rate must be a finite number >= 0");
  }
  if (options.warmup.count() < 0 || options.duration.count() < 0 ||
      options.drain_timeout.count() < 0) {
    return invalid("warmup, duration and drain_timeout must not be negative");
  }
  if (options.message_size < kPayloadHeaderSize) {
    return invalid("message_size must be at least " + std::to_string(kPayloadHeaderSize) +
                   " bytes (dec's header)");
  }
  if (options.keys < 0) return invalid("keys must not be negative");
  if (options.key_distribution == core::KeyDistribution::kNone && options.keys > 0) {
    return invalid("key distribution none sends no key: keys must be 0");
  }
  if (!(options.payload.random_bytes_ratio >= 0 && options.payload.random_bytes_ratio <= 1)) {
    return invalid("payload random_bytes_ratio must be from 0.0 to 1.0");
  }
  if (!(options.backlog_drain_ratio > 0 && options.backlog_drain_ratio <= 1)) {
    return invalid("backlog drain ratio must be more than 0 and at most 1");
  }
  if (options.backlog_messages > 0 && options.consumers == 0) {
    return invalid("a backlog needs consumers to drain it");
  }
  if (options.topics.empty()) return invalid("at least one topic is needed");
  if (options.shared()) {
    if (static_cast<int64_t>(options.first_producer_id) + options.producers >
        options.total_producers) {
      return invalid("producers first_producer_id.. must lie within total_producers");
    }
    if (options.first_consumer < 0 ||
        (options.consumers > 0 &&
         options.first_consumer + options.consumers > options.total_consumers)) {
      return invalid("consumers first_consumer.. must lie within total_consumers");
    }
    if (options.backlog_messages > 0) {
      return invalid("a backlog phase needs a single engine (one load agent)");
    }
  }
  return Status::Ok();
}

}  // namespace

Engine::Engine(drivers::Driver& driver, EngineOptions options)
    : driver_(driver), options_(std::move(options)) {}

Result<EngineResult> Engine::run(const ProgressCallback& on_progress,
                                 const std::atomic<bool>& stop) {
  const Status valid = validate(options_);
  if (!valid.ok()) return make_error(valid.error());
  auto content = PayloadContent::make(options_.message_size, options_.payload);
  if (!content.ok()) return make_error(content.error());
  const double compression_ratio = measure_compression_ratio(content.value());
  Run run(driver_, options_, content.value(), on_progress, stop, drain_signal_);
  EngineResult result = run.execute();
  result.payload_compression_ratio = compression_ratio;
  return result;
}

}  // namespace dec::load
