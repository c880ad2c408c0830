// The AWS per-shard throughput quotas of Kinesis Data Streams, as `dec kinesis-quota` enforces
// them in front of kinesalite (which never throttles). Pure logic, no network: token buckets,
// which shard a record goes to, and how a PutRecords request is split into the records sent on
// and the records refused, and its answer put back together.
//
// The model (AWS Kinesis Data Streams Developer Guide, "Quotas and limits"):
// - every open shard has four token buckets, each holding at most one second's worth and refilled
//   continuously: write records (1000/s), write bytes (1 MiB/s), read calls (5/s), read bytes
//   (2 MiB/s);
// - a written record (PutRecord, or one entry of PutRecords, in request order) passes when its
//   shard's record bucket holds a token and its byte bucket holds its size (decoded data +
//   partition key; a record larger than one second's worth needs a full bucket); a record that
//   passes takes from both, a refused one takes nothing;
// - a GetRecords call passes when its shard's call bucket holds a token and its byte budget is
//   not exhausted; the bytes it returns are charged afterwards and may drive the budget below
//   zero, so one large read refuses the next calls until the budget has refilled (AWS: "if a call
//   to GetRecords returns 10 MiB, subsequent calls made within the next 5 seconds throw an
//   exception").
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace dec::systems::kinesis_quota {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
__extension__ typedef unsigned __int128 HashKey;  // Kinesis' 128-bit hash key space

// Per-shard quotas; AWS's values by default.
struct Quotas {
  double write_records_per_s = 1000;
  double write_bytes_per_s = 1 << 20;
  double read_calls_per_s = 5;
  double read_bytes_per_s = 2 << 20;
};

// A token bucket of capacity `rate` (one second's worth), full at creation, refilled
// continuously. Not thread-safe.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, Clock::time_point now);
  double tokens(Clock::time_point now);
  // Takes `amount` when the bucket holds it (or is full, for an amount above the capacity).
  bool try_take(double amount, Clock::time_point now);
  // Whether anything is left (the budget is not exhausted).
  bool available(Clock::time_point now) { return tokens(now) > 0; }
  // Takes `amount` unconditionally; the bucket may go below zero and refills from there.
  void charge(double amount, Clock::time_point now);

 private:
  void refill(Clock::time_point now);
  double rate_;
  double tokens_;
  Clock::time_point last_;
};

// MD5 of the partition key as a big-endian 128-bit number: the record's place in the key space.
HashKey partition_key_hash(std::string_view partition_key);
// A decimal hash key (ExplicitHashKey, StartingHashKey, EndingHashKey); nullopt unless it is
// digits only and below 2^128.
std::optional<HashKey> parse_hash_key(std::string_view decimal);
std::string hash_key_to_string(HashKey key);

// The open shards of a stream and their hash key ranges.
class ShardMap {
 public:
  struct Range {
    std::string shard_id;
    HashKey start = 0;
    HashKey end = 0;  // inclusive
  };
  ShardMap() = default;
  // From DescribeStream's or ListShards' "Shards" array; closed shards (with an
  // EndingSequenceNumber) take no writes and are left out. Error on a malformed entry.
  static Result<ShardMap> from_shards(const Json& shards);
  void add(Range range);  // keeps the ranges ordered by start
  // The open shard whose range holds `key`; nullptr when none does.
  const Range* find(HashKey key) const;
  size_t size() const { return ranges_.size(); }

 private:
  std::vector<Range> ranges_;
};

// One record of a PutRecords request (or the record of a PutRecord), as the quotas see it.
struct WriteRecord {
  HashKey hash = 0;    // ExplicitHashKey, else MD5 of the partition key
  uint64_t bytes = 0;  // decoded data + partition key
};

// The records of a PutRecords body, or of a PutRecord body when `single`; an error when the
// request is not in a shape the quotas can judge (the emulator then answers it as it is).
Result<std::vector<WriteRecord>> parse_write_records(const Json& body, bool single);

// Decoded length of base64 text; nullopt when its length cannot be base64.
std::optional<uint64_t> base64_decoded_size(std::string_view text);

// Bytes a GetRecords answer returns against the read quota: decoded data + partition keys.
uint64_t read_bytes(const Json& get_records_response);

// AWS's message for a shard over its quota.
std::string rate_exceeded_message(const std::string& shard_id, const std::string& stream,
                                  const std::string& account);

// How a PutRecords request is split: which records go on to the emulator and which are refused.
struct WriteSplit {
  std::vector<size_t> forwarded;            // indexes into the request's records, in order
  std::vector<size_t> refused;              // likewise
  std::vector<std::string> refused_shards;  // the shard of each refused record
};

// The request body with only the forwarded records (every other field kept).
std::string forwarded_body(const Json& request, const std::vector<size_t>& forwarded);

// The answer to the whole request: the emulator's entries for the forwarded records and a
// ProvisionedThroughputExceededException entry for each refused one, in the request's order, with
// FailedRecordCount recounted. `upstream` is the emulator's answer to forwarded_body (ignored when
// nothing was forwarded). Error when `upstream` does not have one entry per forwarded record.
Result<std::string> merge_put_records(size_t total, const WriteSplit& split, const Json* upstream,
                                      const std::string& stream, const std::string& account);

// The buckets of one shard.
struct ShardQuota {
  ShardQuota(const Quotas& quotas, std::string stream, std::string shard_id, Clock::time_point now);
  std::string stream;
  std::string shard_id;
  TokenBucket write_records;
  TokenBucket write_bytes;
  TokenBucket read_calls;
  TokenBucket read_bytes;
};

// Every shard's buckets, and which shard each shard iterator handed out reads. Thread-safe.
class QuotaState {
 public:
  explicit QuotaState(Quotas quotas, size_t max_iterators = 1'000'000);

  // Admits each record of one request in order against its shard (shard_ids[i] empty = no shard
  // known: admitted without a charge). Returns per record whether it passed.
  std::vector<bool> admit_writes(const std::string& stream,
                                 const std::vector<std::string>& shard_ids,
                                 const std::vector<WriteRecord>& records, Clock::time_point now);

  // A GetRecords on `iterator`: the shard it reads (nullptr when the iterator was not handed out
  // through here) and whether the call passes (a passing call takes a call token).
  struct ReadAdmission {
    std::shared_ptr<ShardQuota> shard;
    bool admitted = true;
  };
  ReadAdmission admit_read(const std::string& iterator, Clock::time_point now);
  void charge_read(ShardQuota& shard, uint64_t bytes, Clock::time_point now);

  // Remembers the shard an iterator reads. Iterators expire after 5 minutes, so older entries
  // are dropped, and at most max_iterators are kept (oldest dropped first).
  void remember_iterator(const std::string& iterator, const std::string& stream,
                         const std::string& shard_id, Clock::time_point now);
  void remember_iterator(const std::string& iterator, std::shared_ptr<ShardQuota> shard,
                         Clock::time_point now);
  size_t iterators() const;

  // A stream created or deleted: its shards start with fresh buckets.
  void forget_stream(const std::string& stream);

  // Totals since start, for the proxy's log.
  struct Counts {
    uint64_t records_admitted = 0;
    uint64_t records_refused = 0;
    uint64_t reads_admitted = 0;
    uint64_t reads_refused = 0;
    uint64_t reads_unattributed = 0;  // iterators not handed out through here
  };
  Counts counts() const;

 private:
  std::shared_ptr<ShardQuota> shard_locked(const std::string& stream, const std::string& shard_id,
                                           Clock::time_point now);
  void expire_iterators_locked(Clock::time_point now);

  Quotas quotas_;
  size_t max_iterators_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ShardQuota>> shards_;
  // Iterators by a 64-bit hash of their text (an iterator is ~200 bytes; a collision among a
  // million live iterators has a chance below 1 in 30 million and would charge another shard).
  struct IteratorEntry {
    std::shared_ptr<ShardQuota> shard;
    Clock::time_point remembered;
  };
  std::unordered_map<uint64_t, IteratorEntry> iterators_;
  std::deque<std::pair<Clock::time_point, uint64_t>> iterator_order_;
  Counts counts_;
};

}  // namespace dec::systems::kinesis_quota
