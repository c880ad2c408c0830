#include "systems/kinesis/quota.h"

#include <openssl/evp.h>

#include <algorithm>

#include "core/hash.h"

namespace dec::systems::kinesis_quota {
namespace {

// Shard iterators expire after 5 minutes (GetRecords answers ExpiredIteratorException).
constexpr auto kIteratorLifetime = std::chrono::minutes(5);

const std::string* string_field(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

}  // namespace

// ---- token bucket ---------------------------------------------------------------------------

TokenBucket::TokenBucket(double rate_per_s, Clock::time_point now)
    : rate_(rate_per_s), tokens_(rate_per_s), last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(rate_, tokens_ + seconds * rate_);
  last_ = now;
}

double TokenBucket::tokens(Clock::time_point now) {
  refill(now);
  return tokens_;
}

bool TokenBucket::try_take(double amount, Clock::time_point now) {
  refill(now);
  if (tokens_ < std::min(amount, rate_)) return false;
  tokens_ -= amount;
  return true;
}

void TokenBucket::charge(double amount, Clock::time_point now) {
  refill(now);
  tokens_ -= amount;
}

// ---- hash keys ------------------------------------------------------------------------------

HashKey partition_key_hash(std::string_view partition_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(partition_key.data(), partition_key.size(), digest, &length, EVP_md5(), nullptr);
  HashKey key = 0;
  for (unsigned int i = 0; i < length && i < 16; ++i) key = (key << 8) | digest[i];
  return key;
}

std::optional<HashKey> parse_hash_key(std::string_view decimal) {
  if (decimal.empty() || decimal.size() > 39) return std::nullopt;
  const HashKey max = ~HashKey{0};
  HashKey key = 0;
  for (char c : decimal) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<unsigned>(c - '0');
    if (key > (max - digit) / 10) return std::nullopt;
    key = key * 10 + digit;
  }
  return key;
}

std::string hash_key_to_string(HashKey key) {
  if (key == 0) return "0";
  std::string digits;
  while (key > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(key % 10)));
    key /= 10;
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// ---- shard map ------------------------------------------------------------------------------

Result<ShardMap> ShardMap::from_shards(const Json& shards) {
  if (!shards.is_array()) return make_error("Shards is not a list");
  ShardMap map;
  for (const Json& shard : shards) {
    if (!shard.is_object()) return make_error("a shard is not an object");
    const std::string* id = string_field(shard, "ShardId");
    auto range = shard.find("HashKeyRange");
    if (id == nullptr || range == shard.end() || !range->is_object()) {
      return make_error("a shard has no ShardId or HashKeyRange");
    }
    auto sequences = shard.find("SequenceNumberRange");
    if (sequences != shard.end() && sequences->is_object() &&
        string_field(*sequences, "EndingSequenceNumber") != nullptr) {
      continue;  // closed by a split or merge: its children take the writes
    }
    const std::string* start = string_field(*range, "StartingHashKey");
    const std::string* end = string_field(*range, "EndingHashKey");
    auto start_key = start ? parse_hash_key(*start) : std::nullopt;
    auto end_key = end ? parse_hash_key(*end) : std::nullopt;
    if (!start_key || !end_key || *end_key < *start_key) {
      return make_error("shard " + *id + " has a malformed HashKeyRange");
    }
    map.add(Range{*id, *start_key, *end_key});
  }
  return map;
}

void ShardMap::add(Range range) {
  auto at = std::upper_bound(ranges_.begin(), ranges_.end(), range.start,
                             [](HashKey key, const Range& r) { return key < r.start; });
  ranges_.insert(at, std::move(range));
}

const ShardMap::Range* ShardMap::find(HashKey key) const {
  // The last range starting at or below the key, if it reaches the key.
  auto after = std::upper_bound(ranges_.begin(), ranges_.end(), key,
                                [](HashKey k, const Range& r) { return k < r.start; });
  if (after == ranges_.begin()) return nullptr;
  const Range& candidate = *(after - 1);
  return key <= candidate.end ? &candidate : nullptr;
}

// ---- requests and answers -------------------------------------------------------------------

std::optional<uint64_t> base64_decoded_size(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  return text.size() / 4 * 3 - padding;
}

namespace {

// One record entry: {"Data": base64, "PartitionKey": text, "ExplicitHashKey"?: decimal}. The
// limits are the API's (kinesalite checks them too), so a record outside them is left to it.
Result<WriteRecord> parse_write_record(const Json& entry) {
  if (!entry.is_object()) return make_error("a record is not an object");
  const std::string* data = string_field(entry, "Data");
  const std::string* key = string_field(entry, "PartitionKey");
  if (data == nullptr || key == nullptr) return make_error("a record has no Data or PartitionKey");
  if (key->empty() || key->size() > 256) return make_error("a partition key is not 1-256 long");
  auto data_bytes = base64_decoded_size(*data);
  if (!data_bytes) return make_error("a record's Data is not base64");
  if (*data_bytes > (1u << 20)) return make_error("a record's Data is over 1 MiB");
  WriteRecord record;
  record.bytes = *data_bytes + key->size();
  auto explicit_key = entry.find("ExplicitHashKey");
  if (explicit_key != entry.end() && !explicit_key->is_null()) {
    std::optional<HashKey> hash;
    if (explicit_key->is_string())
      hash = parse_hash_key(explicit_key->get_ref<const std::string&>());
    if (!hash) return make_error("an ExplicitHashKey is not a decimal below 2^128");
    record.hash = *hash;
  } else {
    record.hash = partition_key_hash(*key);
  }
  return record;
}

}  // namespace

Result<std::vector<WriteRecord>> parse_write_records(const Json& body, bool single) {
  if (!body.is_object()) return make_error("the request is not a JSON object");
  std::vector<WriteRecord> out;
  if (single) {
    auto record = parse_write_record(body);
    if (!record) return make_error(record.error());
    out.push_back(*record);
    return out;
  }
  auto records = body.find("Records");
  if (records == body.end() || !records->is_array()) return make_error("no Records list");
  if (records->empty() || records->size() > 500) return make_error("not 1-500 records");
  out.reserve(records->size());
  for (const Json& entry : *records) {
    auto record = parse_write_record(entry);
    if (!record) return make_error(record.error());
    out.push_back(*record);
  }
  return out;
}

uint64_t read_bytes(const Json& response) {
  uint64_t bytes = 0;
  auto records = response.find("Records");
  if (records == response.end() || !records->is_array()) return 0;
  for (const Json& record : *records) {
    if (!record.is_object()) continue;
    if (const std::string* data = string_field(record, "Data")) {
      bytes += base64_decoded_size(*data).value_or(data->size() / 4 * 3);
    }
    if (const std::string* key = string_field(record, "PartitionKey")) bytes += key->size();
  }
  return bytes;
}

std::string rate_exceeded_message(const std::string& shard_id, const std::string& stream,
                                  const std::string& account) {
  return "Rate exceeded for shard " + shard_id + " in stream " + stream + " under account " +
         account + ".";
}

std::string forwarded_body(const Json& request, const std::vector<size_t>& forwarded) {
  Json body = Json::object();
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (it.key() != "Records") body[it.key()] = it.value();
  }
  Json& records = body["Records"] = Json::array();
  const Json& all = request.at("Records");
  for (size_t index : forwarded) records.push_back(all.at(index));
  return body.dump();
}

Result<std::string> merge_put_records(size_t total, const WriteSplit& split, const Json* upstream,
                                      const std::string& stream, const std::string& account) {
  Json merged = Json::object();
  std::vector<Json> entries(total);
  if (!split.forwarded.empty()) {
    if (upstream == nullptr || !upstream->is_object()) return make_error("no answer to merge");
    auto records = upstream->find("Records");
    if (records == upstream->end() || !records->is_array() ||
        records->size() != split.forwarded.size()) {
      return make_error("the answer does not have one entry per record sent");
    }
    for (auto it = upstream->begin(); it != upstream->end(); ++it) {
      if (it.key() != "Records" && it.key() != "FailedRecordCount") merged[it.key()] = it.value();
    }
    for (size_t i = 0; i < split.forwarded.size(); ++i) {
      entries.at(split.forwarded[i]) = (*records)[i];
    }
  }
  for (size_t i = 0; i < split.refused.size(); ++i) {
    entries.at(split.refused[i]) = {
        {"ErrorCode", "ProvisionedThroughputExceededException"},
        {"ErrorMessage", rate_exceeded_message(split.refused_shards.at(i), stream, account)}};
  }
  uint64_t failed = 0;
  for (const Json& entry : entries) {
    if (entry.is_object() && entry.contains("ErrorCode")) ++failed;
  }
  merged["FailedRecordCount"] = failed;
  merged["Records"] = std::move(entries);
  return merged.dump();
}

// ---- quota state ----------------------------------------------------------------------------

ShardQuota::ShardQuota(const Quotas& quotas, std::string stream_name, std::string shard,
                       Clock::time_point now)
    : stream(std::move(stream_name)),
      shard_id(std::move(shard)),
      write_records(quotas.write_records_per_s, now),
      write_bytes(quotas.write_bytes_per_s, now),
      read_calls(quotas.read_calls_per_s, now),
      read_bytes(quotas.read_bytes_per_s, now) {}

QuotaState::QuotaState(Quotas quotas, size_t max_iterators)
    : quotas_(quotas), max_iterators_(std::max<size_t>(1, max_iterators)) {}

std::shared_ptr<ShardQuota> QuotaState::shard_locked(const std::string& stream,
                                                     const std::string& shard_id,
                                                     Clock::time_point now) {
  auto& slot = shards_[{stream, shard_id}];
  if (!slot) slot = std::make_shared<ShardQuota>(quotas_, stream, shard_id, now);
  return slot;
}

std::vector<bool> QuotaState::admit_writes(const std::string& stream,
                                           const std::vector<std::string>& shard_ids,
                                           const std::vector<WriteRecord>& records,
                                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::vector<bool> admitted(records.size(), true);
  for (size_t i = 0; i < records.size() && i < shard_ids.size(); ++i) {
    if (shard_ids[i].empty()) continue;
    ShardQuota& shard = *shard_locked(stream, shard_ids[i], now);
    auto bytes = static_cast<double>(records[i].bytes);
    // Both buckets must allow the record before either is charged.
    bool fits = shard.write_records.tokens(now) >= 1 &&
                shard.write_bytes.tokens(now) >= std::min(bytes, quotas_.write_bytes_per_s);
    if (fits) {
      shard.write_records.charge(1, now);
      shard.write_bytes.charge(bytes, now);
      ++counts_.records_admitted;
    } else {
      admitted[i] = false;
      ++counts_.records_refused;
    }
  }
  return admitted;
}

QuotaState::ReadAdmission QuotaState::admit_read(const std::string& iterator,
                                                 Clock::time_point now) {
  std::lock_guard lock(mutex_);
  ReadAdmission admission;
  auto it = iterators_.find(core::fnv1a(iterator));
  if (it == iterators_.end()) {
    ++counts_.reads_unattributed;
    return admission;
  }
  admission.shard = it->second.shard;
  ShardQuota& shard = *admission.shard;
  // An exhausted byte budget refuses the call without taking a call token.
  admission.admitted = shard.read_bytes.available(now) && shard.read_calls.try_take(1, now);
  ++(admission.admitted ? counts_.reads_admitted : counts_.reads_refused);
  return admission;
}

void QuotaState::charge_read(ShardQuota& shard, uint64_t bytes, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  shard.read_bytes.charge(static_cast<double>(bytes), now);
}

void QuotaState::expire_iterators_locked(Clock::time_point now) {
  while (!iterator_order_.empty() && (iterator_order_.size() > max_iterators_ ||
                                      now - iterator_order_.front().first > kIteratorLifetime)) {
    auto [when, hash] = iterator_order_.front();
    iterator_order_.pop_front();
    auto it = iterators_.find(hash);
    // Only the entry this queue slot made: the iterator may have been remembered again since.
    if (it != iterators_.end() && it->second.remembered == when) iterators_.erase(it);
  }
}

void QuotaState::remember_iterator(const std::string& iterator, const std::string& stream,
                                   const std::string& shard_id, Clock::time_point now) {
  std::shared_ptr<ShardQuota> shard;
  {
    std::lock_guard lock(mutex_);
    shard = shard_locked(stream, shard_id, now);
  }
  remember_iterator(iterator, std::move(shard), now);
}

void QuotaState::remember_iterator(const std::string& iterator, std::shared_ptr<ShardQuota> shard,
                                   Clock::time_point now) {
  std::lock_guard lock(mutex_);
  uint64_t hash = core::fnv1a(iterator);
  iterators_[hash] = IteratorEntry{std::move(shard), now};
  iterator_order_.emplace_back(now, hash);
  expire_iterators_locked(now);
}

size_t QuotaState::iterators() const {
  std::lock_guard lock(mutex_);
  return iterators_.size();
}

void QuotaState::forget_stream(const std::string& stream) {
  std::lock_guard lock(mutex_);
  auto it = shards_.lower_bound({stream, std::string()});
  while (it != shards_.end() && it->first.first == stream) it = shards_.erase(it);
}

QuotaState::Counts QuotaState::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace dec::systems::kinesis_quota
