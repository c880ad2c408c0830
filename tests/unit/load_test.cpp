#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "load/delivery.h"
#include "load/engine.h"
#include "load/payload.h"
#include "load/rate_limiter.h"
#include "support/memory_driver.h"

namespace dec::load {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Rate limiter

class FakeClock : public Clock {
 public:
  SteadyTime now() override { return now_; }
  void sleep_until(SteadyTime deadline) override {
    sleeps.push_back(deadline);
    if (on_sleep) on_sleep();
    now_ = std::max(now_, deadline);
  }
  void advance(nanoseconds by) { now_ += by; }

  std::vector<SteadyTime> sleeps;
  std::function<void()> on_sleep;

 private:
  SteadyTime now_{seconds(1000)};
};

TEST(RateLimiterTest, ScheduleComesFromTheIndexAndDoesNotDrift) {
  FakeClock clock;
  const SteadyTime start = clock.now();
  RateLimiter limiter(clock, 1000, start);
  EXPECT_EQ(limiter.intended_time(0), start);
  EXPECT_EQ(limiter.intended_time(1), start + milliseconds(1));
  EXPECT_EQ(limiter.intended_time(1000), start + seconds(1));
  EXPECT_EQ(limiter.intended_time(1'000'000'000), start + seconds(1'000'000));

  // A period that is not a whole number of nanoseconds still lands exactly on the second.
  RateLimiter thirds(clock, 3, start);
  EXPECT_EQ(thirds.intended_time(3), start + seconds(1));
  EXPECT_EQ(thirds.intended_time(3'000'000), start + seconds(1'000'000));

  RateLimiter shifted(clock, 1000, start, 0.5);
  EXPECT_EQ(shifted.intended_time(0), start + std::chrono::microseconds(500));
}

TEST(RateLimiterTest, SleepsUntilDueAndCallsBeforeSleepWhenAhead) {
  FakeClock clock;
  const SteadyTime start = clock.now();
  RateLimiter limiter(clock, 1000, start);
  std::atomic<bool> stop{false};
  int before_sleep_calls = 0;
  const std::function<void()> before_sleep = [&] { ++before_sleep_calls; };

  auto slot = limiter.wait_for(0, stop, before_sleep);
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->intended, start);
  EXPECT_EQ(before_sleep_calls, 0);  // due at once: no sleep, no flush
  EXPECT_TRUE(clock.sleeps.empty());

  slot = limiter.wait_for(5, stop, before_sleep);
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->intended, start + milliseconds(5));
  EXPECT_EQ(clock.now(), start + milliseconds(5));
  EXPECT_EQ(before_sleep_calls, 1);
  EXPECT_EQ(limiter.late_slots(), 0u);
}

TEST(RateLimiterTest, BehindScheduleSendsAtOnceKeepingIntendedTimes) {
  FakeClock clock;
  const SteadyTime start = clock.now();
  RateLimiter limiter(clock, 1000, start);
  std::atomic<bool> stop{false};
  clock.advance(milliseconds(100));  // a stall: 100 slots overdue

  for (uint64_t i = 0; i < 100; ++i) {
    auto slot = limiter.wait_for(i, stop);
    ASSERT_TRUE(slot);
    // The intended time stays on the schedule, so the stall is charged as latency.
    EXPECT_EQ(slot->intended, start + milliseconds(i));
    EXPECT_EQ(slot->lag, milliseconds(100 - i));
  }
  EXPECT_TRUE(clock.sleeps.empty());  // caught up by sending immediately, never by sleeping
  EXPECT_EQ(limiter.late_slots(), 100u);
  EXPECT_EQ(limiter.max_lag(), milliseconds(100));

  // Back on schedule: the next slot is not moved to "now + period".
  auto slot = limiter.wait_for(101, stop);
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->intended, start + milliseconds(101));
  EXPECT_EQ(clock.now(), start + milliseconds(101));
}

TEST(RateLimiterTest, LongWaitsAreSlicedAndStopPromptly) {
  FakeClock clock;
  const SteadyTime start = clock.now();
  RateLimiter limiter(clock, 1, start);  // one message per second
  std::atomic<bool> stop{false};
  clock.on_sleep = [&] {
    if (clock.sleeps.size() == 3) stop = true;
  };
  ASSERT_TRUE(limiter.wait_for(0, stop));
  EXPECT_FALSE(limiter.wait_for(1, stop, {}, {}, milliseconds(20)));
  ASSERT_EQ(clock.sleeps.size(), 3u);
  EXPECT_EQ(clock.sleeps[0], start + milliseconds(20));
  EXPECT_EQ(clock.sleeps[2], start + milliseconds(60));
}

TEST(RateLimiterTest, WaitsThroughTheGivenSleepFunction) {
  FakeClock clock;
  const SteadyTime start = clock.now();
  RateLimiter limiter(clock, 10, start);  // 100 ms apart
  std::atomic<bool> stop{false};
  std::vector<SteadyTime> waits;
  const std::function<void(SteadyTime)> wait = [&](SteadyTime until) {
    waits.push_back(until);
    clock.advance(until - clock.now());
  };
  ASSERT_TRUE(limiter.wait_for(0, stop, {}, wait));
  auto slot = limiter.wait_for(1, stop, {}, wait, milliseconds(40));
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->intended, start + milliseconds(100));
  EXPECT_TRUE(clock.sleeps.empty());  // the clock's own sleep is not used
  ASSERT_EQ(waits.size(), 3u);
  EXPECT_EQ(waits[2], start + milliseconds(100));
}

TEST(RateLimiterTest, UnlimitedRateIntendsNow) {
  FakeClock clock;
  RateLimiter limiter(clock, 0, clock.now());
  std::atomic<bool> stop{false};
  EXPECT_TRUE(limiter.unlimited());
  clock.advance(milliseconds(7));
  auto slot = limiter.wait_for(12345, stop);
  ASSERT_TRUE(slot);
  EXPECT_EQ(slot->intended, clock.now());
  EXPECT_TRUE(clock.sleeps.empty());
}

// ---------------------------------------------------------------------------------------------
// Payload

TEST(PayloadTest, EncodeDecodeRoundTrip) {
  PayloadEncoder encoder(1024);
  PayloadHeader header{7, 3, 123456789012, 987654321098765};
  const std::string_view first = encoder.encode(header);
  ASSERT_EQ(first.size(), 1024u);
  auto decoded = decode_payload(first);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->producer_id, 7u);
  EXPECT_EQ(decoded->key_index, 3u);
  EXPECT_EQ(decoded->sequence, 123456789012u);
  EXPECT_EQ(decoded->intended_ns, 987654321098765);

  header.sequence = 5;
  header.key_index = kNoKey;
  const std::string_view second = encoder.encode(header);
  EXPECT_EQ(second.data(), first.data());  // the buffer is reused: no allocation per message
  decoded = decode_payload(second);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->sequence, 5u);
  EXPECT_EQ(decoded->key_index, kNoKey);

  PayloadEncoder smallest(kPayloadHeaderSize);
  EXPECT_EQ(smallest.encode(header).size(), kPayloadHeaderSize);
  EXPECT_TRUE(decode_payload(smallest.encode(header)).ok());
}

// A filler repeated in every message compresses 64 to 1 across a batch and flatters any system
// with compression on: no 16-byte block of filler may repeat, within or across messages.
TEST(PayloadTest, EveryMessageHasItsOwnFiller) {
  PayloadEncoder encoder(1024);
  std::set<std::string> blocks;
  size_t total = 0;
  for (uint32_t producer = 0; producer < 2; ++producer) {
    for (uint64_t sequence = 0; sequence < 100; ++sequence) {
      PayloadHeader header;
      header.producer_id = producer;
      header.sequence = sequence;
      const std::string message(encoder.encode(header));
      ASSERT_TRUE(decode_payload(message).ok());
      for (size_t at = kPayloadHeaderSize; at + 16 <= message.size(); at += 16) {
        blocks.insert(message.substr(at, 16));
        ++total;
      }
    }
  }
  EXPECT_EQ(blocks.size(), total);
  // zlib, as a broker's compression.type would use it, gains nothing on a batch of them (with
  // one filler for every message, 200 x 1 KiB compressed 64 to 1).
  std::string batch;
  for (uint64_t sequence = 0; sequence < 200; ++sequence) {
    PayloadHeader header;
    header.sequence = sequence;
    batch += std::string(encoder.encode(header));
  }
  uLongf compressed_size = compressBound(batch.size());
  std::vector<Bytef> compressed(compressed_size);
  ASSERT_EQ(compress2(compressed.data(), &compressed_size,
                      reinterpret_cast<const Bytef*>(batch.data()), batch.size(), 9),
            Z_OK);
  // Only the 32-byte headers (3% of the bytes, mostly sequence numbers) compress at all.
  EXPECT_GT(static_cast<double>(compressed_size), 0.97 * static_cast<double>(batch.size()));
  // The same message is the same bytes in every run: results are reproducible.
  PayloadEncoder again(1024);
  PayloadHeader header;
  header.sequence = 42;
  const std::string first(encoder.encode(header));
  EXPECT_EQ(first, std::string(again.encode(header)));
}

TEST(PayloadTest, DetectsCorruptionOfAnyHeaderBit) {
  PayloadEncoder encoder(64);
  const std::string good(encoder.encode(PayloadHeader{1, 2, 3, 4}));
  for (size_t byte = 0; byte < kPayloadHeaderSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      EXPECT_FALSE(decode_payload(bad).ok()) << "byte " << byte << " bit " << bit;
    }
  }
  auto truncated = decode_payload(good.substr(0, 31));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().find("shorter"), std::string::npos);
  EXPECT_FALSE(decode_payload(std::string(64, 'x')).ok());
  EXPECT_FALSE(decode_payload("").ok());
}

// ---------------------------------------------------------------------------------------------
// Delivery verification

TEST(SequenceSetTest, InsertContainsAndMissing) {
  SequenceSet set;
  EXPECT_TRUE(set.insert(0));
  EXPECT_TRUE(set.insert(64));
  EXPECT_TRUE(set.insert(1000));
  EXPECT_FALSE(set.insert(64));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.contains(1000));
  EXPECT_FALSE(set.contains(999));
  EXPECT_FALSE(set.contains(1'000'000));

  SequenceSet other;
  other.insert(64);
  EXPECT_EQ(set.count_missing_from(other), 2u);
  EXPECT_EQ(other.count_missing_from(set), 0u);
}

TEST(SequenceSetTest, ScalesToTensOfMillions) {
  SequenceSet acked;
  SequenceSet received;
  constexpr uint64_t kMessages = 30'000'000;
  for (uint64_t i = 0; i < kMessages; ++i) {
    acked.insert(i);
    if (i % 1'000'000 != 0) received.insert(i);
  }
  EXPECT_EQ(acked.size(), kMessages);
  EXPECT_EQ(acked.count_missing_from(received), 30u);
}

// Messages arriving without holes cost the out-of-order window, not the run: the full prefix
// is dropped as it forms. A hole keeps what follows it.
TEST(SequenceSetTest, DropsTheFullPrefixSoMemoryStaysFlat) {
  SequenceSet in_order;
  SequenceSet with_hole;
  constexpr uint64_t kMessages = 20'000'000;
  for (uint64_t i = 0; i < kMessages; ++i) {
    in_order.insert(i);
    if (i != 5) with_hole.insert(i);
  }
  EXPECT_EQ(in_order.size(), kMessages);
  EXPECT_LT(in_order.stored_bytes(), 64u * 1024) << "bytes kept for 20M sequences in order";
  EXPECT_GE(with_hole.stored_bytes(), kMessages / 8) << "a hole keeps every bit after it";
  EXPECT_TRUE(in_order.contains(0));
  EXPECT_TRUE(in_order.contains(kMessages - 1));
  EXPECT_FALSE(in_order.contains(kMessages));
  EXPECT_FALSE(in_order.insert(17)) << "a dropped sequence is still a member";
  EXPECT_EQ(in_order.count_missing_from(with_hole), 1u);
  EXPECT_EQ(with_hole.count_missing_from(in_order), 0u);
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  in_order.for_each_run([&](uint64_t first, uint64_t end) { runs.emplace_back(first, end); });
  ASSERT_FALSE(runs.empty());
  EXPECT_EQ(runs.front().first, 0u);
  EXPECT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.front().second, kMessages);
}

// Every query answers as a plain bitset does, whichever parts of the two sets were dropped:
// sequences arrive shuffled within a window, some never.
TEST(SequenceSetTest, AnswersLikeAPlainBitsetAcrossDroppedPrefixes) {
  constexpr uint64_t kCount = 400'000;
  std::mt19937_64 random(42);
  auto fill = [&](uint64_t hole_every, uint64_t first_hole) {
    std::vector<uint64_t> order(kCount);
    for (uint64_t i = 0; i < kCount; ++i) order[i] = i;
    for (uint64_t at = 0; at < kCount; at += 1000) {
      std::shuffle(order.begin() + at, order.begin() + std::min(kCount, at + 1000), random);
    }
    SequenceSet set;
    std::vector<bool> plain(kCount + 200, false);
    for (uint64_t s : order) {
      if (s >= first_hole && s % hole_every == 0) continue;
      set.insert(s);
      plain[s] = true;
    }
    return std::make_pair(std::move(set), std::move(plain));
  };
  // A: holes only late (most of it dropped); B: holes from early on (little dropped).
  auto [a, plain_a] = fill(50'000, 300'001);
  auto [b, plain_b] = fill(7'919, 10'000);
  ASSERT_LT(a.stored_bytes(), b.stored_bytes());
  for (int round = 0; round < 200; ++round) {
    uint64_t from = random() % (kCount + 100);
    uint64_t until = from + random() % 100'000;
    uint64_t expected_ab = 0, expected_ba = 0;
    std::vector<uint64_t> expected_absent;
    for (uint64_t s = from; s < until && s < plain_a.size(); ++s) {
      expected_ab += plain_a[s] && !plain_b[s];
      expected_ba += plain_b[s] && !plain_a[s];
      if (!plain_a[s]) expected_absent.push_back(s);
    }
    for (uint64_t s = plain_a.size(); s < until; ++s) expected_absent.push_back(s);
    ASSERT_EQ(a.count_missing_from(b, from, until), expected_ab) << from << ".." << until;
    ASSERT_EQ(b.count_missing_from(a, from, until), expected_ba) << from << ".." << until;
    std::vector<uint64_t> absent;
    a.for_each_absent(from, until, [&](uint64_t s) { absent.push_back(s); });
    ASSERT_EQ(absent, expected_absent) << from << ".." << until;
    const uint64_t probe = random() % (kCount + 100);
    ASSERT_EQ(a.contains(probe), probe < plain_a.size() && plain_a[probe]) << probe;
  }
  // Runs cover exactly the members.
  for (auto* pair : {&a, &b}) {
    const auto& plain = pair == &a ? plain_a : plain_b;
    uint64_t members = 0, previous_end = 0;
    pair->for_each_run([&](uint64_t first, uint64_t end) {
      EXPECT_TRUE(first == 0 || first > previous_end);  // maximal: a gap between runs
      for (uint64_t s = first; s < end; ++s) ASSERT_TRUE(s < plain.size() && plain[s]) << s;
      members += end - first;
      previous_end = end;
    });
    EXPECT_EQ(members, pair->size());
  }
}

TEST(DeliveryVerifierTest, CountsDuplicatesRedeliveriesAndLossExactly) {
  DeliveryVerifier verifier(/*producers=*/2);
  for (uint64_t s = 0; s < 6; ++s) EXPECT_FALSE(verifier.record(0, s).duplicate);
  EXPECT_TRUE(verifier.record(0, 2).duplicate);
  EXPECT_TRUE(verifier.record(0, 3, /*redelivery=*/true).duplicate);  // a redelivery, not a dup
  // A redelivery of something never received before is a first receipt.
  EXPECT_FALSE(verifier.record(1, 4, /*redelivery=*/true).duplicate);
  for (uint64_t s : {0, 1, 2, 3, 6}) verifier.record(1, s);

  EXPECT_EQ(verifier.received(), 12u);
  EXPECT_EQ(verifier.duplicated(), 1u);
  EXPECT_EQ(verifier.redelivered(), 1u);

  SequenceSet acked;
  for (uint64_t s = 0; s < 10; ++s) acked.insert(s);
  EXPECT_EQ(verifier.count_lost(0, acked), 4u);       // 6..9
  EXPECT_EQ(verifier.count_lost(1, acked), 10u - 6);  // received 0 1 2 3 4 6
  std::vector<uint64_t> absent;
  verifier.for_each_not_received(1, 0, 12, [&](uint64_t s) { absent.push_back(s); });
  EXPECT_EQ(absent, (std::vector<uint64_t>{5, 7, 8, 9, 10, 11}));
}

// Order is what one consumer sees of one partition: 1 3 2 4 of a key counts one reordering; the
// same sequence split between two consumers, or between partitions, is no reordering at all.
TEST(OrderCheckerTest, OrderPerConsumerPartitionAndKey) {
  OrderChecker consumer;
  EXPECT_FALSE(consumer.record(1, 0, 0, 0));
  EXPECT_FALSE(consumer.record(1, 0, 0, 4));
  EXPECT_FALSE(consumer.record(1, 1, 0, 1));
  EXPECT_TRUE(consumer.record(1, 0, 0, 2));
  EXPECT_FALSE(consumer.record(1, 1, 0, 3));  // other keys are independent
  EXPECT_FALSE(consumer.record(1, 0, 0, 6));
  EXPECT_FALSE(consumer.record(1, 0, /*partition=*/1, 5));  // another partition
  EXPECT_FALSE(consumer.record(0, 0, 0, 1));                // another producer
  EXPECT_FALSE(consumer.record(0, kNoKey, 0, 0));           // unkeyed: no order promised
  EXPECT_EQ(consumer.reordered(), 1u);

  // Two consumers of one stream each see an increasing subsequence: nothing is out of order,
  // whatever order their threads happen to record in.
  OrderChecker first;
  OrderChecker second;
  for (uint64_t s = 0; s < 100; ++s) {
    (s % 3 == 0 ? first : second).record(0, 2, 0, s);
  }
  EXPECT_EQ(first.reordered() + second.reordered(), 0u);
}

TEST(SequenceSetTest, VisitsAbsentMembersOfARange) {
  SequenceSet set;
  for (uint64_t s = 0; s < 300; ++s) {
    if (s % 50 != 7) set.insert(s);
  }
  std::vector<uint64_t> absent;
  set.for_each_absent(0, 400, [&](uint64_t s) { absent.push_back(s); });
  std::vector<uint64_t> expected = {7, 57, 107, 157, 207, 257};
  for (uint64_t s = 300; s < 400; ++s) expected.push_back(s);
  EXPECT_EQ(absent, expected);
  absent.clear();
  set.for_each_absent(58, 107, [&](uint64_t s) { absent.push_back(s); });
  EXPECT_TRUE(absent.empty());
}

TEST(SequenceSetTest, MissingWithinARange) {
  SequenceSet acked;
  SequenceSet received;
  for (uint64_t s = 0; s < 300; ++s) {
    acked.insert(s);
    if (s % 10 != 0) received.insert(s);  // missing: 0, 10, 20, ..., 290
  }
  EXPECT_EQ(acked.count_missing_from(received, 0, 300), 30u);
  EXPECT_EQ(acked.count_missing_from(received, 0, 1), 1u);
  EXPECT_EQ(acked.count_missing_from(received, 1, 10), 0u);
  EXPECT_EQ(acked.count_missing_from(received, 1, 11), 1u);
  // Ranges that start or end inside a 64-bit word, or cross several.
  EXPECT_EQ(acked.count_missing_from(received, 60, 71), 2u);    // 60, 70
  EXPECT_EQ(acked.count_missing_from(received, 63, 129), 6u);   // 70 .. 120
  EXPECT_EQ(acked.count_missing_from(received, 64, 128), 6u);   // 70 .. 120
  EXPECT_EQ(acked.count_missing_from(received, 121, 130), 0u);  // 130 is outside
  EXPECT_EQ(acked.count_missing_from(received, 120, 131), 2u);
  EXPECT_EQ(acked.count_missing_from(received, 250, 10'000), 5u);  // beyond the set
  EXPECT_EQ(acked.count_missing_from(received, 50, 50), 0u);
  EXPECT_EQ(acked.count_missing_from(received, 60, 50), 0u);
  EXPECT_EQ(acked.count_missing_from(received, 100'000, 200'000), 0u);
  // Adjacent ranges add up to the whole.
  uint64_t total = 0;
  for (uint64_t from = 0; from < 300; from += 37) {
    total += acked.count_missing_from(received, from, from + 37);
  }
  EXPECT_EQ(total, acked.count_missing_from(received));
}

TEST(DeliveryVerifierTest, LossWithinARange) {
  DeliveryVerifier verifier(1);
  SequenceSet acked;
  for (uint64_t s = 0; s < 100; ++s) {
    acked.insert(s);
    if (s < 40 || s >= 60) verifier.record(0, s);
  }
  EXPECT_EQ(verifier.count_lost(0, acked, 0, 40), 0u);
  EXPECT_EQ(verifier.count_lost(0, acked, 30, 50), 10u);
  EXPECT_EQ(verifier.count_lost(0, acked, 50, 1000), 10u);
  EXPECT_EQ(verifier.count_lost(0, acked), 20u);
  EXPECT_EQ(verifier.count_lost(7, acked, 0, 10), 10u);  // an unknown producer received nothing
}

TEST(DeliveryVerifierTest, ConcurrentConsumersOfOneGroup) {
  constexpr int kThreads = 4;
  constexpr uint64_t kPerProducer = 200'000;
  DeliveryVerifier verifier(2);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each sequence is delivered by two threads: exactly one copy is a duplicate.
      for (uint64_t s = 0; s < kPerProducer; ++s) {
        if (s % kThreads == static_cast<uint64_t>(t) ||
            s % kThreads == static_cast<uint64_t>((t + 1) % kThreads)) {
          verifier.record(static_cast<uint32_t>(s % 2), s);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(verifier.received(), kPerProducer);
  EXPECT_EQ(verifier.duplicated(), kPerProducer);
}

// ---------------------------------------------------------------------------------------------
// Engine over the in-memory driver

struct EngineRun {
  EngineResult result;
  std::vector<Progress> progress;
  double wall_seconds = 0;
};

EngineRun run_engine(drivers::Driver& driver, EngineOptions options,
                     const std::atomic<bool>* external_stop = nullptr) {
  for (const auto& topic : options.topics) EXPECT_TRUE(driver.create_topic(topic, 4).ok());
  std::atomic<bool> never{false};
  EngineRun run;
  Engine engine(driver, std::move(options));
  const auto started = std::chrono::steady_clock::now();
  auto result = engine.run([&](const Progress& progress) { run.progress.push_back(progress); },
                           external_stop ? *external_stop : never);
  run.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_TRUE(result.ok()) << result.error();
  if (result.ok()) run.result = std::move(result).value();
  return run;
}

// A run that ends when max_messages have been sent, as fast as possible.
EngineOptions counted_run(uint64_t messages) {
  EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 0;
  options.duration = seconds(60);
  options.drain_timeout = milliseconds(500);
  options.message_size = 100;
  options.max_messages = messages;
  return options;
}

TEST(EngineTest, FixedRateDeliversEverything) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 2000;
  options.duration = seconds(1);
  options.message_size = 256;
  options.topics = {"a", "b"};
  const EngineRun run = run_engine(driver, options);
  const EngineResult& result = run.result;
  const DeliveryCounts& delivery = result.delivery;
  EXPECT_EQ(result.error, "");
  // The schedule has exactly 2000 slots in the window, all sent (late ones after it).
  EXPECT_EQ(delivery.sent, 2000u);
  EXPECT_EQ(result.window.offered, 2000u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  // Throughput counts what completed inside the window: the last moment's acks come after it.
  EXPECT_LE(result.produced_in_window, delivery.acked);
  EXPECT_GE(result.produced_in_window + 50, delivery.acked);
  EXPECT_LE(result.consumed_in_window, delivery.received);
  EXPECT_GE(result.consumed_in_window + 50, delivery.received);
  EXPECT_EQ(result.bytes_produced_in_window, result.produced_in_window * 256);
  EXPECT_NEAR(result.measured_seconds, 1.0, 0.2);
  EXPECT_NEAR(result.produced_msgs_per_s, 2000, 300);
  EXPECT_NEAR(result.produced_mb_per_s, result.produced_msgs_per_s * 256 / 1e6, 1e-9);
  EXPECT_EQ(result.publish_latency.count(), delivery.acked);
  EXPECT_EQ(result.end_to_end_latency.count(), delivery.received);
  ASSERT_FALSE(run.progress.empty());
  EXPECT_EQ(run.progress.back().phase, Phase::kDone);
  EXPECT_EQ(run.progress.back().sent, delivery.sent);
  EXPECT_EQ(driver.stored("a") + driver.stored("b"), delivery.sent);
}

TEST(EngineTest, CountsInjectedLossExactly) {
  testing::MemoryDriver driver({.drop_every = 10});
  const EngineRun run = run_engine(driver, counted_run(1000));
  const DeliveryCounts& delivery = run.result.delivery;
  EXPECT_EQ(run.result.error, "");
  EXPECT_EQ(delivery.sent, 1000u);
  EXPECT_EQ(delivery.acked, 1000u);
  EXPECT_EQ(delivery.lost, 100u);  // 50 per producer
  EXPECT_EQ(delivery.received, 900u);
  EXPECT_EQ(delivery.duplicated, 0u);
}

TEST(EngineTest, CountsInjectedDuplicatesExactly) {
  testing::MemoryDriver driver({.duplicate_every = 7});
  const EngineRun run = run_engine(driver, counted_run(1000));
  const DeliveryCounts& delivery = run.result.delivery;
  EXPECT_EQ(delivery.received, 1000u);
  EXPECT_EQ(delivery.duplicated, 2u * (500 / 7));
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 1000u);  // duplicates carry no latency
}

TEST(EngineTest, CountsInjectedReorderingPerKeyExactly) {
  testing::MemoryDriver driver({.reorder_every = 10});
  EngineOptions options = counted_run(1000);
  options.producers = 1;
  options.keys = 1;
  const EngineRun run = run_engine(driver, options);
  const DeliveryCounts& delivery = run.result.delivery;
  EXPECT_EQ(delivery.received, 1000u);
  // Sends 10, 20, ..., 990 are overtaken by their successor; the 1000th is released in order by
  // the final flush.
  EXPECT_EQ(delivery.reordered, 99u);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
}

TEST(EngineTest, CountsAckFailuresAndCorruption) {
  testing::MemoryDriver failing({.fail_ack_every = 5});
  const EngineRun failed = run_engine(failing, counted_run(1000));
  EXPECT_EQ(failed.result.delivery.sent, 1000u);
  EXPECT_EQ(failed.result.delivery.send_errors, 200u);
  EXPECT_EQ(failed.result.delivery.acked, 800u);
  EXPECT_EQ(failed.result.delivery.received, 800u);
  EXPECT_EQ(failed.result.delivery.lost, 0u);  // not acked, so not promised
  EXPECT_EQ(failed.result.error, "");

  testing::MemoryDriver corrupting({.corrupt_every = 50});
  const EngineRun corrupted = run_engine(corrupting, counted_run(1000));
  EXPECT_EQ(corrupted.result.delivery.corrupt, 20u);
  EXPECT_EQ(corrupted.result.delivery.received, 980u);
  EXPECT_EQ(corrupted.result.delivery.lost, 20u);
}

TEST(EngineTest, EveryConsumerGroupReceivesEverything) {
  testing::MemoryDriver driver({.drop_every = 100});
  EngineOptions options = counted_run(1000);
  options.consumer_groups = 3;
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.delivery.received, 3u * 990);
  EXPECT_EQ(run.result.delivery.lost, 3u * 10);
  EXPECT_EQ(run.result.consumed_in_window, 990u);  // group 0 only
}

TEST(EngineTest, ProduceOnlyRun) {
  testing::MemoryDriver driver;
  EngineOptions options = counted_run(500);
  options.consumers = 0;
  options.drain_timeout = seconds(30);  // must not be waited for
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.error, "");
  EXPECT_EQ(run.result.delivery.sent, 500u);
  EXPECT_EQ(run.result.delivery.acked, 500u);
  EXPECT_EQ(run.result.delivery.received, 0u);
  EXPECT_EQ(run.result.delivery.lost, 0u);
  EXPECT_EQ(run.result.consumed_in_window, 0u);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 0u);
  EXPECT_LT(run.wall_seconds, 10);
}

TEST(EngineTest, WarmupIsExcludedFromWindowFigures) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 1000;
  options.warmup = milliseconds(500);
  options.duration = milliseconds(500);
  const EngineRun run = run_engine(driver, options);
  const EngineResult& result = run.result;
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.delivery.sent, 1000u);
  EXPECT_EQ(result.delivery.received, result.delivery.sent);  // warm-up is still verified
  EXPECT_EQ(result.window.offered, 500u);
  EXPECT_LE(result.produced_in_window, 510u);
  EXPECT_GE(result.produced_in_window, 450u);
  EXPECT_LE(result.window.warmup_acked_in_window, 10u);  // a healthy system has no backlog
  EXPECT_EQ(result.publish_latency.count(), 500u);
  EXPECT_EQ(result.end_to_end_latency.count(), 500u);
  EXPECT_NEAR(result.measured_seconds, 0.5, 0.1);
}

TEST(EngineTest, StopFlagEndsTheRunPromptly) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 1000;
  options.duration = seconds(60);
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(300));
    stop = true;
  });
  const EngineRun run = run_engine(driver, options, &stop);
  stopper.join();
  EXPECT_EQ(run.result.error, "stopped");
  EXPECT_LT(run.wall_seconds, 5.0);
  EXPECT_GT(run.result.delivery.sent, 0u);
}

TEST(EngineTest, DriverErrorsStopTheRun) {
  testing::MemoryDriver failing_send({.fail_send_after = 100});
  EngineOptions options = counted_run(0);
  options.producers = 1;
  options.duration = seconds(30);
  const EngineRun run = run_engine(failing_send, options);
  EXPECT_NE(run.result.error.find("injected send failure"), std::string::npos) << run.result.error;
  EXPECT_EQ(run.result.delivery.sent, 100u);
  EXPECT_LT(run.wall_seconds, 10);

  testing::MemoryDriver no_producer({.fail_make_producer = true});
  const EngineRun not_started = run_engine(no_producer, counted_run(100));
  EXPECT_NE(not_started.result.error.find("could not create producer"), std::string::npos);
  EXPECT_EQ(not_started.result.delivery.sent, 0u);

  testing::MemoryDriver no_consumer({.fail_make_consumer = true});
  const EngineRun no_consumers = run_engine(no_consumer, counted_run(100));
  EXPECT_NE(no_consumers.result.error.find("could not create consumer"), std::string::npos);
}

TEST(EngineTest, LatencyCountsFromTheIntendedTime) {
  // The system takes 5 ms per send, but the schedule asks for one every 1 ms: the backlog must
  // show up as latency (coordinated omission), not as a quietly slower schedule, and the
  // window's messages that could not go out in time are sent late, from their intended time.
  testing::MemoryDriver slow({.send_delay = milliseconds(5)});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 1000;
  options.duration = seconds(1);
  options.drain_timeout = seconds(10);
  const EngineRun run = run_engine(slow, options);
  const WindowAccounting& window = run.result.window;
  EXPECT_EQ(window.offered, 1000u);
  EXPECT_LE(window.sent_on_time, 300u);
  EXPECT_EQ(window.sent_on_time + window.sent_late, 1000u);  // all 1000 went out, late
  EXPECT_EQ(window.unsent, 0u);
  EXPECT_FALSE(window.rate_sustained);
  EXPECT_GE(window.max_send_lag_s, 3.0);
  EXPECT_EQ(run.result.publish_latency.count(), 1000u);
  EXPECT_GE(run.result.publish_latency.max(), 3'000'000'000u);  // the last one ~4 s behind
  EXPECT_EQ(run.result.end_to_end_latency.count(), 1000u);
  EXPECT_EQ(run.result.censored_end_to_end, 0u);
  EXPECT_LT(run.wall_seconds, 15);
}

// The audit's reproduction: the system freezes for the last part of the window and stays frozen
// past the drain deadline. Every message intended in the window is accounted for: the ones never
// sent are counted and censored, so the percentiles show the stall instead of hiding it.
TEST(EngineTest, AStallAtTheEndOfTheWindowIsCensoredNotForgotten) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 2000;
  options.warmup = milliseconds(200);
  options.duration = seconds(1);
  options.drain_timeout = milliseconds(500);
  std::thread freezer([&] {
    std::this_thread::sleep_for(milliseconds(900));  // ~0.9 s after start: the last 0.3 s
    driver.pause();
    std::this_thread::sleep_for(milliseconds(1600));  // past the deadline (1.7 s)
    driver.resume();
  });
  const EngineRun run = run_engine(driver, options);
  freezer.join();
  const EngineResult& result = run.result;
  const WindowAccounting& window = result.window;
  EXPECT_EQ(window.offered, 2000u);
  EXPECT_EQ(window.sent_on_time + window.sent_late + window.unsent, window.offered);
  EXPECT_GE(window.unsent, 300u);  // ~0.3 s of the window at 2000/s, give or take start-up
  EXPECT_LE(window.sent_on_time, 1700u);
  EXPECT_FALSE(window.rate_sustained);
  // Latency: one sample per offered message, the missing ones as lower bounds of >= 0.5 s.
  EXPECT_EQ(result.end_to_end_latency.count(), window.offered);
  EXPECT_EQ(result.publish_latency.count(), window.offered);
  EXPECT_GE(result.censored_end_to_end, window.unsent);
  EXPECT_GE(result.censored_publish, window.unsent);
  EXPECT_GE(result.end_to_end_latency.percentile(99), 500'000'000u);
  EXPECT_GE(result.publish_latency.percentile(99), 500'000'000u);
}

TEST(EngineTest, WarmupBacklogIsExcludedButItsDelayShows) {
  // Capacity 200 msg/s, schedule 1000 msg/s: when the window opens the producer is still
  // sending messages intended during warm-up. Those are not the window's: they count neither
  // in latency nor in throughput. The window's own messages wait behind them, and that queueing
  // delay shows in their latency.
  testing::MemoryDriver slow({.send_delay = milliseconds(5)});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 1000;
  options.warmup = milliseconds(500);
  options.duration = seconds(1);
  const EngineRun run = run_engine(slow, options);
  EXPECT_EQ(run.result.window.offered, 1000u);
  EXPECT_EQ(run.result.publish_latency.count(), 1000u);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 1000u);
  EXPECT_EQ(run.result.delivery.received, 1500u);  // warm-up messages are still verified
  // Throughput is what the system did in the window, ~200/s: all of it warm-up backlog, and
  // the result says so.
  EXPECT_GT(run.result.produced_msgs_per_s, 80);
  EXPECT_LT(run.result.produced_msgs_per_s, 260);
  EXPECT_EQ(run.result.window.warmup_acked_in_window, run.result.produced_in_window);
  EXPECT_FALSE(run.result.window.rate_sustained);
  EXPECT_GE(run.result.publish_latency.percentile(50), 2'000'000'000u);
  EXPECT_GE(run.result.end_to_end_latency.percentile(50), 2'000'000'000u);
}

TEST(EngineTest, WarmupMessagesNeverCountInTheWindow) {
  // A healthy system: latency and throughput hold exactly the window's messages, although
  // warm-up messages arrive inside the window too.
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 1000;
  options.warmup = milliseconds(500);
  options.duration = seconds(1);
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.window.offered, 1000u);
  EXPECT_EQ(run.result.delivery.received, 1500u);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 1000u);
  EXPECT_EQ(run.result.publish_latency.count(), 1000u);
  EXPECT_NEAR(run.result.consumed_msgs_per_s, 1000.0, 30);
  EXPECT_LE(run.result.window.warmup_received_in_window, 10u);
  EXPECT_TRUE(run.result.window.rate_sustained);
}

TEST(EngineTest, TheStartWaitsForConsumersToBeReady) {
  // Consumers that need 40 polls (~0.8 s) to join their group: the schedule starts only once
  // all are ready, so the join never shows up as latency.
  testing::MemoryDriver joining({.polls_until_ready = 40});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 2;
  options.rate = 500;
  options.warmup = milliseconds(0);
  options.duration = milliseconds(600);
  const EngineRun run = run_engine(joining, options);
  EXPECT_EQ(run.result.error, "");
  EXPECT_EQ(run.result.delivery.lost + run.result.delivery.undelivered, 0u);
  EXPECT_LT(run.result.end_to_end_latency.percentile(99), 200'000'000u);
  ASSERT_FALSE(run.progress.empty());
  // The first report comes at once when the schedule starts, for whoever anchors faults on it.
  EXPECT_TRUE(run.progress.front().started);
  EXPECT_EQ(run.progress.front().elapsed_s, 0.0);

  testing::MemoryDriver never_ready({.polls_until_ready = 1'000'000});
  options.ready_timeout = milliseconds(300);
  Engine engine(never_ready, options);
  ASSERT_TRUE(never_ready.create_topic("dec-topic", 1).ok());
  std::atomic<bool> stop{false};
  auto result = engine.run({}, stop);
  ASSERT_TRUE(result.ok());
  EXPECT_NE(result->error.find("2 of 2 consumers not ready"), std::string::npos) << result->error;
  EXPECT_EQ(result->delivery.sent, 0u);
}

TEST(EngineTest, UndeliveredAtTheDeadlineIsNotLoss) {
  // A slow consumer (about 100 msg/s) behind a 1000 msg/s schedule: at the deadline the system
  // still holds most messages. They are undelivered, not lost, and censored in latency.
  testing::MemoryDriver slow_consumer({.max_poll_batch = 1, .poll_delay = milliseconds(10)});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 1000;
  options.warmup = milliseconds(0);
  options.duration = seconds(1);
  options.drain_timeout = milliseconds(300);
  const EngineRun run = run_engine(slow_consumer, options);
  const EngineResult& result = run.result;
  EXPECT_EQ(result.delivery.lost, 0u);
  EXPECT_GT(result.delivery.undelivered, 500u);
  EXPECT_EQ(result.delivery.undelivered + result.delivery.received, result.delivery.acked);
  EXPECT_EQ(result.window.undelivered, result.delivery.undelivered);
  EXPECT_EQ(result.censored_end_to_end, result.delivery.undelivered);
  EXPECT_EQ(result.end_to_end_latency.count(), 1000u);
  EXPECT_GE(result.end_to_end_latency.percentile(99), 300'000'000u);

  // A driver that cannot tell what the system still holds proves nothing either.
  testing::MemoryDriver blind({.drop_every = 10, .report_backlog = false});
  const EngineRun unproven = run_engine(blind, counted_run(1000));
  EXPECT_EQ(unproven.result.delivery.lost, 0u);
  EXPECT_EQ(unproven.result.delivery.undelivered, 100u);
}

TEST(EngineTest, RedeliveriesAreNotDuplicatesAndNotReorderings) {
  testing::MemoryDriver driver({.redeliver_every = 10});
  EngineOptions options = counted_run(1000);
  options.keys = 8;
  const EngineRun run = run_engine(driver, options);
  const DeliveryCounts& delivery = run.result.delivery;
  EXPECT_EQ(delivery.received, 1000u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_GE(delivery.redelivered, 90u);  // every 10th message each consumer read
  EXPECT_EQ(delivery.reordered, 0u);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 1000u);
}

TEST(EngineTest, CountsMessagesPerPartition) {
  testing::MemoryDriver driver;
  EngineOptions options = counted_run(1000);  // run_engine creates topics with 4 partitions
  const EngineRun run = run_engine(driver, options);
  ASSERT_EQ(run.result.partitions.size(), 4u);
  uint64_t total = 0;
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(run.result.partitions[static_cast<size_t>(p)].topic, "dec-topic");
    EXPECT_EQ(run.result.partitions[static_cast<size_t>(p)].partition, p);
    total += run.result.partitions[static_cast<size_t>(p)].received;
  }
  EXPECT_EQ(total, 1000u);
}

// The wait for the window's last tick is for runs whose schedule ran out; a run cut short by
// max_messages must end at once (it idled up to a second, which cut benchmark rates by 3x).
TEST(EngineTest, ACountedRunDoesNotWaitForTheNextTick) {
  testing::MemoryDriver driver;
  const EngineRun run = run_engine(driver, counted_run(100));
  EXPECT_EQ(run.result.delivery.received, 100u);
  EXPECT_TRUE(run.result.timeline.empty()) << "a tick a second after the start was waited for";
}

TEST(EngineTest, TheTimelineHasAPointForEverySecondOfTheRun) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 200;
  options.warmup = seconds(1);
  options.duration = seconds(2);
  const EngineRun run = run_engine(driver, options);
  ASSERT_EQ(run.result.timeline.size(), 3u);
  EXPECT_NEAR(run.result.timeline.back().t_s, 3.0, 0.2);
}

TEST(EngineTest, DeliveryLatencyIsMeasured) {
  testing::MemoryDriver delayed({.delivery_latency = milliseconds(30)});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 500;
  options.duration = milliseconds(600);
  const EngineRun run = run_engine(delayed, options);
  EXPECT_EQ(run.result.delivery.lost, 0u);
  EXPECT_GE(run.result.end_to_end_latency.percentile(50), 30'000'000u);
  EXPECT_LT(run.result.end_to_end_latency.percentile(50), 1'000'000'000u);
}

TEST(EngineTest, PipelinedDriverIsFlushedBeforeSleeping) {
  // Acks arrive only once 64 sends are pending; at 200 msg/s that is 320 ms unless the engine
  // flushes when it is ahead of schedule.
  testing::MemoryDriver pipelined({.ack_batch = 64});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 200;
  options.duration = seconds(1);
  const EngineRun run = run_engine(pipelined, options);
  EXPECT_GT(run.result.publish_latency.count(), 100u);
  EXPECT_LT(run.result.publish_latency.percentile(99), 100'000'000u);
}

TEST(EngineTest, WaitsInsideTheDriverForTheNextSlot) {
  // Ahead of schedule the engine waits in poll_acks(), so a driver can take acks as they arrive.
  testing::MemoryDriver driver({.acks_on_poll = true});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 200;
  options.duration = milliseconds(500);
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.error, "");
  EXPECT_GT(driver.poll_acks_calls(), 50u);  // at least one wait per slot
  EXPECT_EQ(run.result.delivery.acked, run.result.delivery.sent);
}

TEST(EngineTest, ProgressAndTimelineOncePerSecond) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 500;
  options.warmup = milliseconds(1500);
  options.duration = seconds(1);
  const EngineRun run = run_engine(driver, options);
  ASSERT_GE(run.progress.size(), 3u);
  EXPECT_EQ(run.progress.front().phase, Phase::kWarmup);
  EXPECT_NEAR(run.progress.front().total_s, 2.5, 1e-6);
  ASSERT_GE(run.result.timeline.size(), 2u);
  EXPECT_NEAR(run.result.timeline[0].t_s, 1.0, 0.5);
  EXPECT_NEAR(run.result.timeline[1].produced_per_s, 500, 150);
  EXPECT_GT(run.result.timeline[1].p99_us, 0u);
  for (size_t i = 1; i < run.progress.size(); ++i) {
    EXPECT_GE(run.progress[i].elapsed_s, run.progress[i - 1].elapsed_s);
  }
}

// Wraps a MemoryDriver and, during given intervals of the run (from its first send), acks
// messages without storing them (lost) or stores them twice (duplicated): faults at known times.
class TimedFaultDriver : public drivers::Driver {
 public:
  enum class Effect { kDrop, kDuplicate };
  struct Window {
    milliseconds from;
    milliseconds until;
    Effect effect;
  };

  TimedFaultDriver(testing::MemoryDriver& inner, std::vector<Window> windows)
      : inner_(inner), shared_(std::make_shared<Shared>(std::move(windows))) {}

  std::string name() const override { return "timed-fault"; }
  Status connect(const drivers::Endpoint& endpoint, const core::Settings& config) override {
    return inner_.connect(endpoint, config);
  }
  Status create_topic(const std::string& topic, int partitions) override {
    return inner_.create_topic(topic, partitions);
  }
  Status delete_topic(const std::string& topic) override { return inner_.delete_topic(topic); }
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override {
    return inner_.prepare_consumers(topics, groups);
  }
  Result<std::unique_ptr<drivers::Producer>> make_producer() override {
    auto inner = inner_.make_producer();
    if (!inner.ok()) return make_error(inner.error());
    return std::unique_ptr<drivers::Producer>(new Producer(std::move(inner).value(), shared_));
  }
  Result<std::unique_ptr<drivers::Consumer>> make_consumer(
      const drivers::ConsumerOptions& options) override {
    return inner_.make_consumer(options);
  }

 private:
  struct Shared {
    explicit Shared(std::vector<Window> windows) : windows(std::move(windows)) {}
    const std::vector<Window> windows;
    std::atomic<int64_t> origin_ns{0};  // the first send of any producer

    std::optional<Effect> effect_now() {
      const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
      int64_t expected = 0;
      origin_ns.compare_exchange_strong(expected, now);
      const nanoseconds since(now - origin_ns.load());
      for (const Window& window : windows) {
        if (since >= window.from && since < window.until) return window.effect;
      }
      return std::nullopt;
    }
  };

  class Producer : public drivers::Producer {
   public:
    Producer(std::unique_ptr<drivers::Producer> inner, std::shared_ptr<Shared> shared)
        : inner_(std::move(inner)), shared_(std::move(shared)) {}
    ~Producer() override { deliver_dropped(); }

    Status send(const std::string& topic, std::string_view key, std::string_view payload,
                drivers::AckCallback on_ack) override {
      deliver_dropped();
      const std::optional<Effect> effect = shared_->effect_now();
      if (effect == Effect::kDrop) {
        // Acked later, as a real system would, but never stored.
        dropped_.push_back(std::move(on_ack));
        return Status::Ok();
      }
      if (effect == Effect::kDuplicate) {
        const Status first = inner_->send(topic, key, payload, [](bool, std::string_view) {});
        if (!first.ok()) return first;
      }
      return inner_->send(topic, key, payload, std::move(on_ack));
    }
    Status flush() override {
      deliver_dropped();
      return inner_->flush();
    }
    size_t in_flight() const override { return inner_->in_flight() + dropped_.size(); }
    Status poll_acks(nanoseconds max_wait) override {
      deliver_dropped();
      return inner_->poll_acks(max_wait);
    }
    bool delivers_acks_while_polling() const override {
      return inner_->delivers_acks_while_polling();
    }

   private:
    void deliver_dropped() {
      std::vector<drivers::AckCallback> ready;
      ready.swap(dropped_);
      for (auto& callback : ready) callback(true, "");
    }

    std::unique_ptr<drivers::Producer> inner_;
    std::shared_ptr<Shared> shared_;
    std::vector<drivers::AckCallback> dropped_;
  };

  testing::MemoryDriver& inner_;
  std::shared_ptr<Shared> shared_;
};

TEST(EngineTest, TimelineAttributesLossToTheSecondItWasSentAndDuplicatesToWhenReceived) {
  testing::MemoryDriver memory;
  using Effect = TimedFaultDriver::Effect;
  TimedFaultDriver driver(memory, {{milliseconds(1200), milliseconds(2200), Effect::kDrop},
                                   {milliseconds(2500), milliseconds(3500), Effect::kDuplicate},
                                   // After the last point (at 4 s): counted in the last point.
                                   {milliseconds(4100), milliseconds(4400), Effect::kDrop}});
  EngineOptions options;
  options.producers = 2;
  options.consumers = 1;
  options.consumer_groups = 2;
  options.rate = 1000;
  options.duration = milliseconds(4500);
  options.drain_timeout = milliseconds(500);
  options.message_size = 64;
  const EngineRun run = run_engine(driver, options);
  const EngineResult& result = run.result;
  EXPECT_EQ(result.error, "");
  ASSERT_EQ(result.timeline.size(), 4u);
  const std::vector<TimePoint>& points = result.timeline;
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_NEAR(points[i].t_s, static_cast<double>(i + 1), 0.1) << i;
  }

  // About 1000 + 300 messages dropped; both groups lose them, the timeline counts group 0.
  uint64_t lost = 0;
  for (const TimePoint& point : points) lost += point.lost;
  EXPECT_EQ(lost * 2, result.delivery.lost);
  EXPECT_NEAR(static_cast<double>(lost), 1300, 100);
  EXPECT_EQ(points[0].lost, 0u);
  EXPECT_NEAR(static_cast<double>(points[1].lost), 800, 150);  // sent in 1.2 .. 2.0 s
  EXPECT_NEAR(static_cast<double>(points[2].lost), 200, 150);  // sent in 2.0 .. 2.2 s
  EXPECT_NEAR(static_cast<double>(points[3].lost), 300, 150);  // sent in 4.1 .. 4.4 s

  // About 1000 second copies, received by each group: in the seconds they arrived.
  uint64_t duplicated = 0;
  for (const TimePoint& point : points) duplicated += point.duplicated;
  EXPECT_EQ(duplicated, result.delivery.duplicated);
  EXPECT_NEAR(static_cast<double>(duplicated), 2000, 200);
  EXPECT_EQ(points[0].duplicated, 0u);
  EXPECT_EQ(points[1].duplicated, 0u);
  EXPECT_NEAR(static_cast<double>(points[2].duplicated), 1000, 200);  // 2.5 .. 3.0 s
  EXPECT_NEAR(static_cast<double>(points[3].duplicated), 1000, 200);  // 3.0 .. 3.5 s
}

TEST(EngineTest, TimelineLossAddsUpToTheRunsLoss) {
  testing::MemoryDriver driver({.drop_every = 50, .duplicate_every = 40});
  EngineOptions options;
  options.producers = 3;
  options.consumers = 2;
  options.rate = 900;
  options.warmup = milliseconds(1000);
  options.duration = milliseconds(1800);
  options.drain_timeout = milliseconds(500);
  options.message_size = 64;
  const EngineRun run = run_engine(driver, options);
  ASSERT_EQ(run.result.error, "");
  ASSERT_GE(run.result.timeline.size(), 2u);
  uint64_t lost = 0;
  for (const TimePoint& point : run.result.timeline) {
    lost += point.lost;
    EXPECT_GT(point.lost, 0u) << point.t_s;  // every second loses 1 in 50
  }
  EXPECT_EQ(lost, run.result.delivery.lost);
  EXPECT_GT(lost, 30u);
}

TEST(EngineTest, RejectsInvalidOptions) {
  testing::MemoryDriver driver;
  std::atomic<bool> stop{false};
  EngineOptions options;
  options.message_size = 16;
  auto result = Engine(driver, options).run({}, stop);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().find("message_size"), std::string::npos);

  options = EngineOptions{};
  options.producers = 0;
  EXPECT_FALSE(Engine(driver, options).run({}, stop).ok());
  options = EngineOptions{};
  options.topics.clear();
  EXPECT_FALSE(Engine(driver, options).run({}, stop).ok());
}

// ---------------------------------------------------------------------------------------------
// Payload content, key distributions, backlog

PayloadOptions options(uint64_t pool, double random_bytes_ratio, std::string file = "") {
  PayloadOptions out;
  out.pool = pool;
  out.random_bytes_ratio = random_bytes_ratio;
  out.file = std::move(file);
  return out;
}

std::shared_ptr<const PayloadContent> content_of(uint64_t message_size, PayloadOptions options) {
  auto made = PayloadContent::make(message_size, options);
  EXPECT_TRUE(made.ok()) << made.error();
  return made.ok() ? made.value() : nullptr;
}

std::string body_of(std::string_view message) {
  return std::string(message.substr(kPayloadHeaderSize));
}

TEST(PayloadContentTest, PoolCyclesThroughExactlyNDistinctBodies) {
  PayloadEncoder encoder(content_of(512, options(5, 1.0)));
  std::set<std::string> bodies;
  std::vector<std::string> in_order;
  for (uint32_t producer = 0; producer < 3; ++producer) {
    for (uint64_t sequence = 0; sequence < 50; ++sequence) {
      PayloadHeader header;
      header.producer_id = producer;
      header.sequence = sequence;
      const std::string_view message = encoder.encode(header);
      ASSERT_EQ(message.size(), 512u);
      auto decoded = decode_payload(message);
      ASSERT_TRUE(decoded.ok());
      EXPECT_EQ(decoded->sequence, sequence);
      bodies.insert(body_of(message));
      if (producer == 0) in_order.push_back(body_of(message));
    }
  }
  EXPECT_EQ(bodies.size(), 5u);
  for (size_t i = 5; i < in_order.size(); ++i) EXPECT_EQ(in_order[i], in_order[i - 5]);
  EXPECT_NE(in_order[0], in_order[1]);
  // Without a pool every body differs (as before).
  PayloadEncoder distinct(content_of(512, {}));
  std::set<std::string> distinct_bodies;
  for (uint64_t sequence = 0; sequence < 50; ++sequence) {
    PayloadHeader header;
    header.sequence = sequence;
    distinct_bodies.insert(body_of(distinct.encode(header)));
  }
  EXPECT_EQ(distinct_bodies.size(), 50u);
}

// The default content is what PayloadEncoder(message_size) always sent, byte for byte.
TEST(PayloadContentTest, DefaultContentIsTodaysPayload) {
  PayloadEncoder old_way(300);
  PayloadEncoder new_way(content_of(300, {}));
  for (uint64_t sequence = 0; sequence < 20; ++sequence) {
    const PayloadHeader header{3, kNoKey, sequence, 42};
    EXPECT_EQ(std::string(old_way.encode(header)), std::string(new_way.encode(header)));
  }
}

// random_bytes_ratio: 1.0 (default) is incompressible, 0.0 all text; the zlib ratio falls as
// the random share grows.
TEST(PayloadContentTest, RandomBytesRatioSetsCompressibility) {
  std::vector<double> ratios;
  for (double random_share : {0.0, 0.3, 0.7, 1.0}) {
    ratios.push_back(measure_compression_ratio(content_of(1024, options(0, random_share))));
  }
  EXPECT_GT(ratios[0], 3.0);   // text only (headers included)
  EXPECT_LT(ratios[0], 12.0);  // ...but not one repeated string
  EXPECT_GT(ratios[1], 1.8);   // 30% random: about 1 / (0.3 + 0.7 / text ratio)
  EXPECT_LT(ratios[1], 3.0);
  EXPECT_GT(ratios[2], 1.1);
  EXPECT_LT(ratios[2], 1.5);
  EXPECT_GT(ratios[3], 0.98);  // incompressible
  EXPECT_LT(ratios[3], 1.05);
  // A pool of text bodies compresses no worse than per-message text.
  EXPECT_GT(measure_compression_ratio(content_of(1024, options(4, 0.3))), 1.8);
}

TEST(PayloadContentTest, BodiesFromAFileKeepTheMessageSizeExact) {
  const std::string path = ::testing::TempDir() + "dec-payload-file.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "0123456789";
  }
  PayloadEncoder encoder(content_of(32 + 25, options(0, 1.0, path)));
  const PayloadHeader header{1, kNoKey, 9, 10};
  const std::string_view message = encoder.encode(header);
  ASSERT_EQ(message.size(), 57u);
  EXPECT_TRUE(decode_payload(message).ok());
  // Cycled to fill the body after the header.
  EXPECT_EQ(body_of(message), "0123456789012345678901234");
  // Cut when the file is longer than the body.
  PayloadEncoder short_body(content_of(32 + 4, options(0, 1.0, path)));
  EXPECT_EQ(body_of(short_body.encode(header)), "0123");

  const auto missing = PayloadContent::make(100, {.file = path + ".missing"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot be read"), std::string::npos);
  std::ofstream(path, std::ios::trunc).close();
  const auto empty = PayloadContent::make(100, {.file = path});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().find("empty"), std::string::npos);
  std::remove(path.c_str());
}

std::map<std::string, size_t> key_counts(const testing::MemoryDriver& driver,
                                         const EngineOptions& options) {
  std::map<std::string, size_t> counts;
  for (const auto& topic : options.topics) {
    for (const auto& [key, count] : driver.key_counts(topic)) counts[key] += count;
  }
  return counts;
}

TEST(KeyDistributionTest, RoundRobinIsExact) {
  testing::MemoryDriver driver;
  EngineOptions options = counted_run(1000);
  options.keys = 8;
  options.key_distribution = core::KeyDistribution::kRoundRobin;
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.delivery.received, 1000u);
  const auto counts = key_counts(driver, options);
  ASSERT_EQ(counts.size(), 8u);
  // Two producers, 500 each, cycling over 8 keys: 62 or 63 per key per producer.
  for (const auto& [key, count] : counts) {
    EXPECT_TRUE(count == 124 || count == 125 || count == 126) << key << ": " << count;
  }
}

TEST(KeyDistributionTest, RandomCoversKeysUniformlyAndIsReproducible) {
  EngineOptions options = counted_run(20000);
  options.keys = 10;
  options.key_distribution = core::KeyDistribution::kRandom;
  options.key_seed = 12345;
  testing::MemoryDriver driver;
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.key_seed, 12345u);
  EXPECT_EQ(run.result.delivery.received, 20000u);
  EXPECT_EQ(run.result.delivery.reordered, 0u);  // order checked per key: still exact
  const auto counts = key_counts(driver, options);
  ASSERT_EQ(counts.size(), 10u);
  // Uniform: 2,000 per key; 5 standard deviations (~42 each) apart is not chance.
  double chi_square = 0;
  for (const auto& [key, count] : counts) {
    EXPECT_NEAR(static_cast<double>(count), 2000.0, 220.0) << key;
    chi_square += std::pow(static_cast<double>(count) - 2000.0, 2) / 2000.0;
  }
  EXPECT_LT(chi_square, 27.9);  // 9 degrees of freedom, p = 0.001
  // The same seed gives the same keys per producer.
  testing::MemoryDriver again;
  run_engine(again, options);
  EXPECT_EQ(key_counts(again, options), counts);
  testing::MemoryDriver other_seed;
  options.key_seed = 999;
  run_engine(other_seed, options);
  EXPECT_NE(key_counts(other_seed, options), counts);
}

TEST(KeyDistributionTest, NoneSendsNoKeyAndRejectsKeys) {
  testing::MemoryDriver driver;
  EngineOptions options = counted_run(200);
  options.key_distribution = core::KeyDistribution::kNone;
  const EngineRun run = run_engine(driver, options);
  EXPECT_EQ(run.result.delivery.received, 200u);
  const auto counts = key_counts(driver, options);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.begin()->first, "");
  options.keys = 4;
  std::atomic<bool> stop{false};
  const auto rejected = Engine(driver, options).run({}, stop);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.error().find("keys must be 0"), std::string::npos);
}

TEST(BacklogTest, ConsumersStartAfterTheBacklogAndTheDrainIsMeasured) {
  testing::MemoryDriver driver;
  EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 4000;
  options.warmup = milliseconds(0);
  options.duration = seconds(2);
  options.drain_timeout = seconds(5);
  options.message_size = 128;
  options.keys = 16;
  options.backlog_messages = 3000;
  const EngineRun run = run_engine(driver, options);
  const EngineResult& result = run.result;
  EXPECT_EQ(result.error, "");
  const BacklogFigures& backlog = result.backlog;
  EXPECT_EQ(backlog.target_messages, 3000u);
  EXPECT_TRUE(backlog.reached);
  EXPECT_GE(backlog.messages, 3000u);
  EXPECT_LT(backlog.messages, 3200u);  // released within a monitor step of reaching it
  // No consumer read anything before the backlog stood.
  EXPECT_GE(driver.stored_at_first_read(), 3000u);
  EXPECT_NEAR(backlog.build_s, 0.75, 0.2);  // 3,000 at 4,000 msg/s
  EXPECT_TRUE(backlog.drained);
  EXPECT_GT(backlog.drain_s, 0.0);
  EXPECT_LT(backlog.drain_s, 1.0);  // memory catches up at once
  EXPECT_GE(backlog.consumed_while_draining, backlog.messages);
  EXPECT_NEAR(backlog.drain_msgs_per_s,
              static_cast<double>(backlog.consumed_while_draining) / backlog.drain_s, 1e-6);
  EXPECT_GT(backlog.drain_msgs_per_s, 4000.0);  // faster than the producers, or never drained
  // Nothing lost, duplicated or reordered.
  EXPECT_EQ(result.delivery.received, result.delivery.sent);
  EXPECT_EQ(result.delivery.lost + result.delivery.undelivered, 0u);
  EXPECT_EQ(result.delivery.reordered, 0u);
  EXPECT_EQ(result.delivery.duplicated, 0u);
  // Latency counts only messages intended after the drain: none of the backlog's waits.
  EXPECT_GT(result.end_to_end_latency.count(), 0u);
  EXPECT_LT(result.end_to_end_latency.count(), result.delivery.received - backlog.messages + 1);
  EXPECT_LT(result.end_to_end_latency.percentile(99), 100'000'000u);  // < 100 ms
}

TEST(BacklogTest, ABacklogNeverBuiltOrDrainedIsSaidSo) {
  testing::MemoryDriver slow({.max_poll_batch = 1, .poll_delay = milliseconds(20)});
  EngineOptions options;
  options.producers = 1;
  options.consumers = 1;
  options.rate = 1000;
  options.warmup = milliseconds(0);
  options.duration = milliseconds(500);
  options.drain_timeout = milliseconds(300);
  options.message_size = 64;
  options.backlog_messages = 100000;  // more than the run sends
  const EngineRun run = run_engine(slow, options);
  const BacklogFigures& backlog = run.result.backlog;
  EXPECT_FALSE(backlog.reached);
  EXPECT_NEAR(static_cast<double>(backlog.messages), 500.0, 5.0);
  EXPECT_FALSE(backlog.drained);  // 50 msg/s of reading cannot drain 500 in 0.3 s
  EXPECT_EQ(backlog.drain_msgs_per_s, 0.0);
  EXPECT_NEAR(backlog.drain_s, 0.3, 0.15);
  EXPECT_EQ(run.result.end_to_end_latency.count(), 0u);  // no sample after a drain
  EXPECT_GT(run.result.delivery.undelivered, 0u);
}

}  // namespace
}  // namespace dec::load
