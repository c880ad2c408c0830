#include "systems/kinesis/kinesis_driver.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using Json = nlohmann::json;

constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";
constexpr std::string_view kContentType = "application/x-amz-json-1.1";
constexpr std::string_view kService = "kinesis";
// AWS limits: a record's data + partition key, a partition key, a PutRecords request.
constexpr size_t kMaxRecordBytes = 1 << 20;
constexpr size_t kMaxPartitionKeyBytes = 256;
constexpr size_t kMaxRequestBytes = 5 << 20;
constexpr int kMaxRecordsPerRequest = 500;
// Real AWS takes tens of seconds to create or delete a stream; kinesalite started with
// --createStreamMs 0 --deleteStreamMs 0 a few milliseconds.
constexpr auto kStreamStateTimeout = std::chrono::minutes(5);
constexpr int kMaxStatePolls = 2000;
constexpr auto kMaxBackoff = std::chrono::seconds(10);
// AWS allows 5 GetRecords per second per shard; a consumer starts one at most this often.
constexpr auto kGetRecordsInterval = milliseconds(200);
// Emulators accept any credentials of the right shape; these make that shape.
constexpr std::string_view kDummyKeyId = "DECEMULATEDKEYID";
constexpr std::string_view kDummySecret = "dec-emulated-secret";

// ---- config -------------------------------------------------------------------------------

std::string region_check(const std::string& value) {
  bool valid = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  return valid ? "" : "an AWS region name such as us-east-1";
}

std::string url_check(const std::string& value) {
  bool valid = (value.starts_with("http://") && value.size() > 7) ||
               (value.starts_with("https://") && value.size() > 8);
  return valid ? "" : "a URL starting with http:// or https://";
}

struct KinesisConfig {
  std::string region;
  std::string endpoint;
  int batch_size = kMaxRecordsPerRequest;
  size_t max_batch_bytes = kMaxRequestBytes;
  milliseconds linger{5};
  int max_retries = 10;
  milliseconds retry_base{50};
  int read_limit = 1000;
  milliseconds poll_interval{50};
  milliseconds timeout{10000};
};

std::vector<ConfigKey> kinesis_config_keys() {
  return {
      {"region", "AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config)", "",
       region_check},
      {"endpoint",
       "URL of the Kinesis API, overriding the provider's address (default for real AWS: "
       "https://kinesis.<region>.amazonaws.com)",
       "", url_check},
      {"batch_size", "records per PutRecords request", "500",
       integer_check(1, kMaxRecordsPerRequest)},
      {"max_batch_bytes", "bytes (data + partition keys) per PutRecords request", "5242880",
       integer_check(1024, kMaxRequestBytes)},
      {"linger_ms", "longest a record waits for its batch to fill before it is sent", "5",
       integer_check(0, 60000)},
      {"max_retries",
       "times a throttled or failed record / request is retried before its ack fails", "10",
       integer_check(0, 100)},
      {"retry_base_ms", "first retry delay; doubled per retry, with jitter, up to 10 s", "50",
       integer_check(1, 60000)},
      {"read_limit", "records asked for in one GetRecords (Limit)", "1000",
       integer_check(1, 10000)},
      {"poll_interval_ms",
       "wait before asking a shard again after an empty GetRecords; reads of one shard start at "
       "least 200 ms apart in any case (AWS allows 5 reads/s/shard)",
       "50", integer_check(1, 60000)},
      {"timeout_ms", "longest one HTTP request may take, connecting included", "10000",
       integer_check(100, 600000)},
      {"stream_mode",
       "capacity mode of the streams dec creates (only PROVISIONED: one shard per "
       "partition)",
       "PROVISIONED",
       [](const std::string& value) -> std::string {
         return value == "PROVISIONED" ? "" : "PROVISIONED";
       }},
  };
}

// `settings` must have passed validate_driver_config.
KinesisConfig config_from(const core::Settings& settings) {
  KinesisConfig config;
  auto integer = [&](const char* key, long long fallback) {
    auto it = settings.find(key);
    return it == settings.end() ? fallback : parse_integer(it->second).value_or(fallback);
  };
  auto text = [&](const char* key) {
    auto it = settings.find(key);
    return it == settings.end() ? std::string() : it->second;
  };
  config.region = text("region");
  config.endpoint = text("endpoint");
  config.batch_size = static_cast<int>(integer("batch_size", config.batch_size));
  config.max_batch_bytes =
      static_cast<size_t>(integer("max_batch_bytes", static_cast<long long>(kMaxRequestBytes)));
  config.linger = milliseconds(integer("linger_ms", config.linger.count()));
  config.max_retries = static_cast<int>(integer("max_retries", config.max_retries));
  config.retry_base = milliseconds(integer("retry_base_ms", config.retry_base.count()));
  config.read_limit = static_cast<int>(integer("read_limit", config.read_limit));
  config.poll_interval = milliseconds(integer("poll_interval_ms", config.poll_interval.count()));
  config.timeout = milliseconds(integer("timeout_ms", config.timeout.count()));
  return config;
}

// ---- JSON text ------------------------------------------------------------------------------

// Appends `text` as the inside of a JSON string. Requests are built by hand: one PutRecords
// carries up to 500 records, and a JSON object per record would cost more than the rest of send().
void append_json_escaped(std::string_view text, std::string& out) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out.append("\\u00");
      out.push_back("0123456789abcdef"[byte >> 4]);
      out.push_back("0123456789abcdef"[byte & 0x0f]);
    } else {
      out.push_back(c);
    }
  }
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  append_json_escaped(text, out);
  out.push_back('"');
  return out;
}

// ---- API calls ------------------------------------------------------------------------------

struct ApiResult {
  long status = 0;  // 0: no HTTP response at all
  std::string body;
  std::string error_type;  // "" on success, else the exception name (or "HTTP <status>")
  std::string error_message;

  bool ok() const { return status == 200; }
  bool transport_error() const { return status == 0; }
  std::string describe() const {
    if (transport_error()) return error_message;
    return error_type + (error_message.empty() ? "" : ": " + error_message);
  }
};

bool throttling_error(std::string_view type) {
  return type == "ProvisionedThroughputExceededException" || type == "ThrottlingException" ||
         type == "LimitExceededException" || type == "KMSThrottlingException" ||
         type == "RequestLimitExceeded" || type == "TooManyRequestsException";
}

// Whether asking again later may succeed. LimitExceededException also reports a full shard
// quota on CreateStream, which no wait fixes.
bool retryable(const ApiResult& result) {
  if (result.transport_error() || result.status >= 500) return true;
  if (result.error_type == "LimitExceededException") {
    return result.error_message.find("shard limit") == std::string::npos;
  }
  return throttling_error(result.error_type) || result.error_type == "InternalFailure" ||
         result.error_type == "ServiceUnavailable";
}

// Per-record ErrorCode values of PutRecords that a resend can fix.
bool retryable_record_error(std::string_view code) {
  return code == "ProvisionedThroughputExceededException" || code == "InternalFailure" ||
         code == "KMSThrottlingException" || code == "ServiceUnavailable";
}

struct ParsedUrl {
  std::string scheme;
  std::string authority;  // host[:port], also the Host header
  std::string host;
};

Result<ParsedUrl> parse_url(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return make_error("bad Kinesis endpoint URL \"" + url + "\"");
  ParsedUrl parsed;
  parsed.scheme = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  size_t path = rest.find('/');
  parsed.authority = rest.substr(0, path);
  if (path != std::string::npos && rest.substr(path) != "/") {
    return make_error("Kinesis endpoint URL \"" + url + "\" must have no path");
  }
  if (parsed.authority.empty()) return make_error("bad Kinesis endpoint URL \"" + url + "\"");
  if (parsed.authority.front() == '[') {
    parsed.host = parsed.authority.substr(1, parsed.authority.find(']') - 1);
  } else {
    parsed.host = parsed.authority.substr(0, parsed.authority.rfind(':'));
  }
  return parsed;
}

bool loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

// One signed-request channel to the Kinesis API; one per thread.
class KinesisClient {
 public:
  KinesisClient(std::unique_ptr<HttpClient> http, std::string url, std::string host,
                aws::Credentials credentials, std::string region,
                std::function<std::chrono::system_clock::time_point()> wall_clock)
      : http_(std::move(http)),
        signer_(std::move(credentials), std::move(region), std::string(kService)),
        url_(std::move(url)),
        host_(std::move(host)),
        wall_clock_(std::move(wall_clock)) {}

  ApiResult call(std::string_view operation, std::string_view body) {
    aws::SignableRequest request;
    request.method = "POST";
    request.path = "/";
    target_.assign(kTargetPrefix).append(operation);
    request.headers = {
        {"content-type", std::string(kContentType)}, {"host", host_}, {"x-amz-target", target_}};
    request.payload_hash = aws::sha256_hex(body);
    std::string authorization = signer_.sign(request, wall_clock_());
    headers_.clear();
    for (auto& [name, value] : request.headers) headers_.push_back({name, std::move(value)});
    headers_.push_back({"authorization", std::move(authorization)});

    ApiResult result;
    auto response = http_->post(url_, headers_, body);
    if (!response.ok()) {
      result.error_type = "no response";
      result.error_message = response.error();
      return result;
    }
    result.status = response->status;
    result.body = std::move(response->body);
    if (result.ok()) return result;
    // Errors are {"__type": "[namespace#]Name", "message": "..."}; some services say "Message".
    Json error = Json::parse(result.body, nullptr, /*allow_exceptions=*/false);
    if (error.is_object() && error.contains("__type") && error["__type"].is_string()) {
      std::string type = error["__type"].get<std::string>();
      result.error_type = type.substr(type.find('#') + 1);
      for (const char* key : {"message", "Message"}) {
        if (error.contains(key) && error[key].is_string()) {
          result.error_message = error[key].get<std::string>();
        }
      }
    } else {
      result.error_type = "HTTP " + std::to_string(result.status);
      result.error_message = result.body.substr(0, 300);
    }
    return result;
  }

  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<HttpClient> http_;
  aws::Signer signer_;
  std::string url_;
  std::string host_;
  std::function<std::chrono::system_clock::time_point()> wall_clock_;
  std::string target_;
  std::vector<HttpHeader> headers_;
};

struct KinesisDriver::State {
  KinesisDependencies dependencies;
  HttpClientFactory http;  // dependencies.http, or libcurl with the configured timeout
  KinesisConfig config;
  std::string url;
  std::string host;
  std::string region;
  aws::Credentials credentials;
  bool emulated = false;
  KinesisStats stats;
  std::mutex control_mutex;  // guards `control` and connect()
  std::unique_ptr<KinesisClient> control;

  std::unique_ptr<KinesisClient> new_client() const {
    return std::make_unique<KinesisClient>(http(), url, host, credentials, region,
                                           dependencies.wall_clock);
  }
  void sleep(nanoseconds duration) const {
    if (duration > nanoseconds(0)) dependencies.sleep(duration);
  }
  // Exponential backoff with "equal jitter": half the doubled delay fixed, half random, so
  // producers throttled together do not retry together.
  nanoseconds backoff(int retry, std::mt19937_64& random) const {
    nanoseconds delay = config.retry_base * (int64_t{1} << std::min(retry, 20));
    delay = std::min<nanoseconds>(delay, kMaxBackoff);
    std::uniform_int_distribution<int64_t> jitter(0, delay.count() / 2);
    return delay - delay / 2 + nanoseconds(jitter(random));
  }
  // A control-plane call, retried while the failure is one a wait can fix.
  ApiResult call_with_retries(KinesisClient& client, std::string_view operation,
                              std::string_view body, std::mt19937_64& random) {
    ApiResult result;
    for (int attempt = 0; attempt <= config.max_retries; ++attempt) {
      if (attempt > 0) sleep(backoff(attempt - 1, random));
      result = client.call(operation, body);
      if (result.ok() || !retryable(result)) return result;
      if (result.transport_error()) ++stats.transport_errors;
    }
    return result;
  }
};

namespace {

// ---- producer -------------------------------------------------------------------------------

struct PendingRecord {
  std::string entry;  // the record's JSON object, built once: {"Data":..,"PartitionKey":..}
  size_t bytes = 0;   // data + partition key, as AWS counts them against request limits
  AckCallback on_ack;
};

struct Batch {
  std::string stream;
  std::string stream_json;  // the stream name as a JSON string
  std::vector<PendingRecord> records;
  size_t bytes = 0;
  Clock::time_point oldest;  // when the first record of the batch was added
};

class KinesisProducer : public Producer {
 public:
  KinesisProducer(std::shared_ptr<KinesisDriver::State> state,
                  std::unique_ptr<KinesisClient> client)
      : state_(std::move(state)),
        config_(state_->config),
        client_(std::move(client)),
        random_(std::random_device{}()) {
    // A random prefix per producer, so producers in other processes pick different keys too.
    char prefix[24];
    auto end = std::to_chars(prefix, prefix + sizeof(prefix), random_() & 0xffffffffu, 16).ptr;
    key_prefix_.assign(prefix, end).push_back('-');
  }

  ~KinesisProducer() override {
    // Every accepted send gets its ack exactly once, also when nobody flushed.
    for (Batch& batch : batches_) fail_all(batch.records, "producer closed before sending");
  }

  Status send(const std::string& topic, std::string_view key, std::string_view payload,
              AckCallback on_ack) override {
    if (!broken_.empty()) return make_error(broken_);
    if (key.size() > kMaxPartitionKeyBytes) {
      return make_error("Kinesis partition keys are at most 256 bytes; key has " +
                        std::to_string(key.size()));
    }
    std::string_view partition_key = key;
    if (key.empty()) {
      generated_key_.assign(key_prefix_);
      char digits[24];
      auto end = std::to_chars(digits, digits + sizeof(digits), next_key_++).ptr;
      generated_key_.append(digits, end);
      partition_key = generated_key_;
    }
    size_t bytes = payload.size() + partition_key.size();
    if (bytes > kMaxRecordBytes) {
      return make_error("a Kinesis record (data + partition key) is at most 1 MiB; this one has " +
                        std::to_string(bytes) + " bytes");
    }
    Batch& batch = batch_for(topic);
    if (!batch.records.empty() && batch.bytes + bytes > config_.max_batch_bytes) send_batch(batch);

    PendingRecord record;
    record.bytes = bytes;
    record.on_ack = std::move(on_ack);
    record.entry.reserve(payload.size() * 4 / 3 + partition_key.size() + 40);
    record.entry.append("{\"Data\":\"");
    base64_encode(payload, record.entry);
    record.entry.append("\",\"PartitionKey\":\"");
    append_json_escaped(partition_key, record.entry);
    record.entry.append("\"}");
    auto now = Clock::now();
    if (batch.records.empty()) batch.oldest = now;
    batch.records.push_back(std::move(record));
    batch.bytes += bytes;
    if (static_cast<int>(batch.records.size()) >= config_.batch_size ||
        batch.bytes >= config_.max_batch_bytes) {
      send_batch(batch);
    }
    send_lingering(now);
    return Status::Ok();
  }

  Status flush() override {
    for (Batch& batch : batches_) {
      if (!batch.records.empty()) send_batch(batch);
    }
    if (!broken_.empty()) return make_error(broken_);
    return Status::Ok();
  }

  size_t in_flight() const override {
    size_t count = 0;
    for (const Batch& batch : batches_) count += batch.records.size();
    return count;
  }

  // poll_acks() sends each batch once its linger is over and acks as answers arrive, so the
  // engine need not flush before it waits (which would send every batch early, unfilled).
  bool delivers_acks_while_polling() const override { return true; }

  Status poll_acks(nanoseconds max_wait) override {
    if (!broken_.empty()) return make_error(broken_);
    auto now = Clock::now();
    send_lingering(now);
    std::optional<Clock::time_point> due;
    for (const Batch& batch : batches_) {
      if (batch.records.empty()) continue;
      auto batch_due = batch.oldest + config_.linger;
      if (!due || batch_due < *due) due = batch_due;
    }
    if (!due) {
      state_->sleep(max_wait);
      return Status::Ok();
    }
    state_->sleep(std::min<nanoseconds>(max_wait, *due - now));
    send_lingering(Clock::now());
    return broken_.empty() ? Status::Ok() : Status(make_error(broken_));
  }

 private:
  Batch& batch_for(const std::string& stream) {
    if (last_batch_ < batches_.size() && batches_[last_batch_].stream == stream) {
      return batches_[last_batch_];
    }
    for (size_t i = 0; i < batches_.size(); ++i) {
      if (batches_[i].stream == stream) {
        last_batch_ = i;
        return batches_[i];
      }
    }
    Batch batch;
    batch.stream = stream;
    batch.stream_json = json_string(stream);
    batch.records.reserve(static_cast<size_t>(config_.batch_size));
    batches_.push_back(std::move(batch));
    last_batch_ = batches_.size() - 1;
    return batches_.back();
  }

  void send_lingering(Clock::time_point now) {
    for (Batch& batch : batches_) {
      if (!batch.records.empty() && now - batch.oldest >= config_.linger) send_batch(batch);
    }
  }

  void build_body(const Batch& batch, const std::vector<PendingRecord>& records) {
    body_.assign("{\"StreamName\":").append(batch.stream_json).append(",\"Records\":[");
    for (size_t i = 0; i < records.size(); ++i) {
      if (i) body_.push_back(',');
      body_.append(records[i].entry);
    }
    body_.append("]}");
  }

  void fail_all(std::vector<PendingRecord>& records, const std::string& error) {
    for (PendingRecord& record : records) {
      ++state_->stats.records_failed;
      if (record.on_ack) record.on_ack(false, error);
    }
    records.clear();
  }

  // Sends the batch and retries what failed until every record is acked one way or the other.
  void send_batch(Batch& batch) {
    std::vector<PendingRecord> records = std::move(batch.records);
    batch.records = {};
    batch.records.reserve(static_cast<size_t>(config_.batch_size));
    batch.bytes = 0;
    KinesisStats& stats = state_->stats;
    std::string context = "PutRecords to stream " + batch.stream;
    for (int attempt = 0; !records.empty(); ++attempt) {
      if (attempt > 0) {
        state_->sleep(state_->backoff(attempt - 1, random_));
        ++stats.retried_requests;
        stats.retried_records += records.size();
      }
      build_body(batch, records);
      ++stats.put_requests;
      stats.put_records += records.size();
      ApiResult result = client_->call("PutRecords", body_);
      std::string after = attempt > 0 ? " (after " + std::to_string(attempt) + " retries)" : "";

      if (!result.ok()) {
        if (result.transport_error()) ++stats.transport_errors;
        if (throttling_error(result.error_type)) ++stats.throttled_requests;
        bool can_retry = retryable(result);
        if (can_retry && attempt < config_.max_retries) continue;
        std::string error = context + ": " + result.describe() + after;
        fail_all(records, error);
        // A refusal no wait can fix (no such stream, bad credentials) or an endpoint that stopped
        // answering ends this producer; throttling that outlasted the retries is a result.
        if (!can_retry || result.transport_error()) broken_ = error;
        return;
      }

      Json response = Json::parse(result.body, nullptr, /*allow_exceptions=*/false);
      const Json* entries = nullptr;
      if (response.is_object() && response.contains("Records") && response["Records"].is_array() &&
          response["Records"].size() == records.size()) {
        entries = &response["Records"];
      }
      if (entries == nullptr) {
        broken_ = context + ": unexpected response " + result.body.substr(0, 200);
        fail_all(records, broken_);
        return;
      }
      std::vector<PendingRecord> failed;
      for (size_t i = 0; i < records.size(); ++i) {
        const Json& entry = (*entries)[i];
        auto code = entry.find("ErrorCode");
        if (code == entry.end() || !code->is_string()) {
          ++stats.records_acked;
          if (records[i].on_ack) records[i].on_ack(true, {});
          continue;
        }
        std::string error_code = code->get<std::string>();
        if (error_code == "ProvisionedThroughputExceededException") ++stats.throttled_records;
        if (retryable_record_error(error_code) && attempt < config_.max_retries) {
          failed.push_back(std::move(records[i]));
          continue;
        }
        std::string message = context + ": " + error_code;
        if (auto text = entry.find("ErrorMessage"); text != entry.end() && text->is_string()) {
          message += ": " + text->get<std::string>();
        }
        ++stats.records_failed;
        if (records[i].on_ack) records[i].on_ack(false, message + after);
      }
      records = std::move(failed);
    }
  }

  std::shared_ptr<KinesisDriver::State> state_;
  const KinesisConfig& config_;
  std::unique_ptr<KinesisClient> client_;
  std::mt19937_64 random_;
  std::vector<Batch> batches_;  // one per stream written to
  size_t last_batch_ = 0;
  std::string body_;  // reused request buffer
  std::string key_prefix_;
  std::string generated_key_;
  uint64_t next_key_ = 0;
  std::string broken_;
};

// ---- consumer -------------------------------------------------------------------------------

struct ShardCursor {
  std::string stream;
  std::string shard_id;
  int shard_index = 0;  // position in the stream's ListShards order: the message's partition
  std::string iterator;
  std::string last_sequence;  // of the last record delivered, to resume an expired iterator
  Clock::time_point not_before{};
  Clock::time_point last_read{};  // when the last GetRecords on this shard started
  int failures_in_a_row = 0;
  bool finished = false;  // a closed shard read to its end
};

Result<std::string> shard_iterator(KinesisDriver::State& state, KinesisClient& client,
                                   const ShardCursor& cursor, std::mt19937_64& random) {
  std::string body = "{\"StreamName\":" + json_string(cursor.stream) +
                     ",\"ShardId\":" + json_string(cursor.shard_id);
  if (cursor.last_sequence.empty()) {
    body += ",\"ShardIteratorType\":\"TRIM_HORIZON\"}";
  } else {
    body += ",\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":" +
            json_string(cursor.last_sequence) + "}";
  }
  ApiResult result = state.call_with_retries(client, "GetShardIterator", body, random);
  if (!result.ok()) {
    return make_error("GetShardIterator for shard " + cursor.shard_id + " of stream " +
                      cursor.stream + ": " + result.describe());
  }
  Json response = Json::parse(result.body, nullptr, false);
  if (!response.is_object() || !response.contains("ShardIterator") ||
      !response["ShardIterator"].is_string()) {
    return make_error("GetShardIterator for stream " + cursor.stream + ": unexpected response");
  }
  return response["ShardIterator"].get<std::string>();
}

// The stream's shard ids, in ListShards order (ascending ids), following NextToken.
Result<std::vector<std::string>> list_shards(KinesisDriver::State& state, KinesisClient& client,
                                             const std::string& stream, std::mt19937_64& random) {
  std::vector<std::string> shards;
  std::string body = "{\"StreamName\":" + json_string(stream) + "}";
  for (int page = 0; page < 10000; ++page) {
    ApiResult result = state.call_with_retries(client, "ListShards", body, random);
    if (!result.ok())
      return make_error("ListShards for stream " + stream + ": " + result.describe());
    Json response = Json::parse(result.body, nullptr, false);
    if (!response.is_object() || !response.contains("Shards") || !response["Shards"].is_array()) {
      return make_error("ListShards for stream " + stream + ": unexpected response");
    }
    for (const Json& shard : response["Shards"]) {
      if (shard.contains("ShardId") && shard["ShardId"].is_string()) {
        shards.push_back(shard["ShardId"].get<std::string>());
      }
    }
    auto token = response.find("NextToken");
    if (token == response.end() || !token->is_string()) break;
    body = "{\"NextToken\":" + json_string(token->get<std::string>()) + "}";
  }
  std::sort(shards.begin(), shards.end());
  return shards;
}

class KinesisConsumer : public Consumer {
 public:
  KinesisConsumer(std::shared_ptr<KinesisDriver::State> state,
                  std::unique_ptr<KinesisClient> client, std::vector<ShardCursor> cursors,
                  std::mt19937_64 random)
      : state_(std::move(state)),
        config_(state_->config),
        client_(std::move(client)),
        cursors_(std::move(cursors)),
        random_(random) {}

  Result<size_t> poll(milliseconds timeout,
                      const std::function<void(const ReceivedMessage&)>& on_message) override {
    auto deadline = Clock::now() + timeout;
    // Each round asks every shard that is due once; rounds repeat until something arrives or
    // the timeout passes. The round bound only guards against a clock that does not move.
    for (int round = 0; round < 100000; ++round) {
      size_t delivered = 0;
      std::optional<Clock::time_point> next_due;
      for (ShardCursor& cursor : cursors_) {
        if (cursor.finished) continue;
        if (Clock::now() >= cursor.not_before) {
          auto read = read_shard(cursor, on_message);
          if (!read.ok()) return make_error(read.error());
          delivered += *read;
        }
        if (!cursor.finished && (!next_due || cursor.not_before < *next_due)) {
          next_due = cursor.not_before;
        }
      }
      if (delivered > 0) return delivered;
      auto now = Clock::now();
      if (now >= deadline) return size_t{0};
      // Nothing to read (no shard, or all read to their end): wait out the timeout.
      auto wake = next_due ? std::min(*next_due, deadline) : deadline;
      state_->sleep(std::max<nanoseconds>(wake - now, milliseconds(1)));
    }
    return size_t{0};
  }

  // 0 when every shard of this consumer is read to its tip, which only a fresh read can show:
  // records acknowledged after the last poll may be waiting. So each open shard is asked once
  // more (Limit 1, within the rate limit; a record found is not delivered, and the iterator
  // stays before it); an empty answer with MillisBehindLatest 0 proves the shard caught up.
  // Anything else (records, a shard behind, an error, a shard backing off) is nullopt.
  std::optional<uint64_t> backlog() override {
    for (ShardCursor& cursor : cursors_) {
      if (cursor.finished) continue;
      if (cursor.failures_in_a_row > 0) return std::nullopt;
      auto now = Clock::now();
      auto allowed = cursor.last_read + kGetRecordsInterval;
      if (allowed > now) state_->sleep(allowed - now);
      ApiResult result = get_records(cursor, 1);
      if (!result.ok()) return std::nullopt;
      Json response = Json::parse(result.body, nullptr, false);
      if (!response.is_object() || !response.contains("Records") ||
          !response["Records"].is_array() || !response["Records"].empty() ||
          millis_behind(response) != 0.0) {
        return std::nullopt;
      }
      auto next = response.find("NextShardIterator");
      if (next == response.end() || !next->is_string()) {
        cursor.finished = true;
      } else {
        cursor.iterator = next->get<std::string>();
      }
    }
    return 0;
  }

 private:
  // Starts one GetRecords on the shard, at least kGetRecordsInterval after the previous one
  // (whatever it returned: a full answer, an empty one while behind, an error), so one consumer
  // never exceeds AWS's per-shard read rate by itself.
  ApiResult get_records(ShardCursor& cursor, int limit) {
    cursor.last_read = Clock::now();
    cursor.not_before = cursor.last_read + kGetRecordsInterval;
    body_.assign("{\"ShardIterator\":");
    body_.append(json_string(cursor.iterator));
    body_.append(",\"Limit\":").append(std::to_string(limit)).append("}");
    ++state_->stats.get_requests;
    return client_->call("GetRecords", body_);
  }

  // Postpones the shard's next read to `time` unless the rate limit already puts it later.
  static void not_before(ShardCursor& cursor, Clock::time_point time) {
    cursor.not_before = std::max(cursor.not_before, time);
  }

  static std::optional<double> millis_behind(const Json& response) {
    auto behind = response.find("MillisBehindLatest");
    if (behind == response.end() || !behind->is_number()) return std::nullopt;
    return behind->get<double>();
  }

  Result<size_t> read_shard(ShardCursor& cursor,
                            const std::function<void(const ReceivedMessage&)>& on_message) {
    KinesisStats& stats = state_->stats;
    ApiResult result = get_records(cursor, config_.read_limit);
    std::string context = "GetRecords on shard " + cursor.shard_id + " of stream " + cursor.stream;
    if (!result.ok()) {
      if (result.error_type == "ExpiredIteratorException") {
        auto renewed = shard_iterator(*state_, *client_, cursor, random_);
        if (!renewed.ok()) return make_error(renewed.error());
        cursor.iterator = std::move(*renewed);
        return size_t{0};
      }
      if (retryable(result) && cursor.failures_in_a_row < config_.max_retries) {
        if (throttling_error(result.error_type)) ++stats.get_throttled;
        if (result.transport_error()) ++stats.transport_errors;
        not_before(cursor, Clock::now() + state_->backoff(cursor.failures_in_a_row++, random_));
        return size_t{0};
      }
      return make_error(context + ": " + result.describe());
    }
    cursor.failures_in_a_row = 0;
    Json response = Json::parse(result.body, nullptr, false);
    if (!response.is_object() || !response.contains("Records") || !response["Records"].is_array()) {
      return make_error(context + ": unexpected response " + result.body.substr(0, 200));
    }
    const Json& records = response["Records"];
    for (const Json& record : records) {
      auto data = record.find("Data");
      auto key = record.find("PartitionKey");
      auto sequence = record.find("SequenceNumber");
      data_.clear();
      if (data == record.end() || !data->is_string() ||
          !base64_decode(data->get_ref<const std::string&>(), data_)) {
        return make_error(context + ": a record's Data is not base64");
      }
      std::string_view key_text;
      if (key != record.end() && key->is_string()) key_text = key->get_ref<const std::string&>();
      if (sequence != record.end() && sequence->is_string()) {
        cursor.last_sequence = sequence->get<std::string>();
      }
      on_message(ReceivedMessage{cursor.stream, key_text, data_, cursor.shard_index});
    }
    stats.records_received += records.size();
    auto next = response.find("NextShardIterator");
    if (next == response.end() || !next->is_string()) {
      cursor.finished = true;  // the shard was closed and everything in it read
    } else {
      cursor.iterator = next->get<std::string>();
    }
    // An answer with records, or an empty one while the shard is behind (records further on),
    // is worth following up as soon as the rate limit allows; an empty one at the tip is not.
    if (records.empty() && millis_behind(response).value_or(0) == 0) {
      not_before(cursor, Clock::now() + config_.poll_interval);
    }
    return records.size();
  }

  std::shared_ptr<KinesisDriver::State> state_;
  const KinesisConfig& config_;
  std::unique_ptr<KinesisClient> client_;
  std::vector<ShardCursor> cursors_;
  std::mt19937_64 random_;
  std::string body_;
  std::string data_;  // the record being delivered, decoded
};

// The stream's status from DescribeStreamSummary; "" when it does not exist.
Result<std::string> stream_status(KinesisDriver::State& state, KinesisClient& client,
                                  const std::string& stream, std::mt19937_64& random) {
  ApiResult result = state.call_with_retries(
      client, "DescribeStreamSummary", "{\"StreamName\":" + json_string(stream) + "}", random);
  if (result.error_type == "ResourceNotFoundException") return std::string();
  if (!result.ok()) {
    return make_error("DescribeStreamSummary for stream " + stream + ": " + result.describe());
  }
  Json response = Json::parse(result.body, nullptr, false);
  if (response.is_object() && response.contains("StreamDescriptionSummary")) {
    const Json& summary = response["StreamDescriptionSummary"];
    if (summary.contains("StreamStatus") && summary["StreamStatus"].is_string()) {
      return summary["StreamStatus"].get<std::string>();
    }
  }
  return make_error("DescribeStreamSummary for stream " + stream + ": unexpected response");
}

// Waits until the stream is ACTIVE (`want_active`) or gone, polling ever more slowly.
Status wait_for_stream(KinesisDriver::State& state, KinesisClient& client,
                       const std::string& stream, bool want_active, std::mt19937_64& random) {
  auto deadline = Clock::now() + kStreamStateTimeout;
  nanoseconds delay = milliseconds(10);
  std::string status;
  for (int poll = 0; poll < kMaxStatePolls; ++poll) {
    auto current = stream_status(state, client, stream, random);
    if (!current.ok()) return make_error(current.error());
    status = *current;
    if (want_active ? status == "ACTIVE" : status.empty()) return Status::Ok();
    if (Clock::now() >= deadline) break;
    state.sleep(delay);
    delay = std::min<nanoseconds>(delay * 2, std::chrono::seconds(1));
  }
  return make_error("stream " + stream + " did not become " + (want_active ? "ACTIVE" : "deleted") +
                    " within 5 minutes (status: " + (status.empty() ? "not found" : status) + ")");
}

Status delete_stream(KinesisDriver::State& state, KinesisClient& client, const std::string& stream,
                     std::mt19937_64& random) {
  std::string body =
      "{\"StreamName\":" + json_string(stream) + ",\"EnforceConsumerDeletion\":true}";
  // A stream still CREATING or UPDATING refuses deletion (ResourceInUseException) until ACTIVE.
  for (int attempt = 0; attempt < 3; ++attempt) {
    ApiResult result = state.call_with_retries(client, "DeleteStream", body, random);
    if (result.ok() || result.error_type == "ResourceNotFoundException") {
      return wait_for_stream(state, client, stream, /*want_active=*/false, random);
    }
    if (result.error_type != "ResourceInUseException") {
      return make_error("DeleteStream " + stream + ": " + result.describe());
    }
    auto status = stream_status(state, client, stream, random);
    if (!status.ok()) return make_error(status.error());
    if (status->empty() || *status == "DELETING") {
      return wait_for_stream(state, client, stream, /*want_active=*/false, random);
    }
    if (Status active = wait_for_stream(state, client, stream, true, random); !active.ok()) {
      return active;
    }
  }
  return make_error("DeleteStream " + stream + ": the stream stays in use");
}

}  // namespace

// ---- stats ----------------------------------------------------------------------------------

std::vector<std::pair<std::string, uint64_t>> KinesisStats::counters() const {
  return {
      {"kinesis.put_requests", put_requests.load()},
      {"kinesis.put_records", put_records.load()},
      {"kinesis.records_acked", records_acked.load()},
      {"kinesis.records_failed", records_failed.load()},
      {"kinesis.throttled_requests", throttled_requests.load()},
      {"kinesis.throttled_records", throttled_records.load()},
      {"kinesis.retried_requests", retried_requests.load()},
      {"kinesis.retried_records", retried_records.load()},
      {"kinesis.transport_errors", transport_errors.load()},
      {"kinesis.get_requests", get_requests.load()},
      {"kinesis.get_throttled", get_throttled.load()},
      {"kinesis.records_received", records_received.load()},
  };
}

// ---- driver ---------------------------------------------------------------------------------

KinesisDriver::KinesisDriver() : KinesisDriver(KinesisDependencies{}) {}

KinesisDriver::KinesisDriver(HttpClientFactory http)
    : KinesisDriver(KinesisDependencies{std::move(http), {}, {}, {}}) {}

KinesisDriver::KinesisDriver(KinesisDependencies dependencies) : state_(std::make_shared<State>()) {
  if (!dependencies.environment) dependencies.environment = aws::process_environment();
  if (!dependencies.sleep) {
    dependencies.sleep = [](nanoseconds duration) { std::this_thread::sleep_for(duration); };
  }
  if (!dependencies.wall_clock) {
    dependencies.wall_clock = [] { return std::chrono::system_clock::now(); };
  }
  state_->dependencies = std::move(dependencies);
}

KinesisDriver::~KinesisDriver() = default;

bool KinesisDriver::emulated() const { return state_->emulated; }

const KinesisStats& KinesisDriver::stats() const { return state_->stats; }

std::string KinesisDriver::endpoint_url() const { return state_->url; }

Status KinesisDriver::connect(const Endpoint& endpoint, const core::Settings& config) {
  std::vector<core::FieldError> errors =
      validate_driver_config(kinesis_driver_info(), config, "config");
  if (!errors.empty()) {
    std::string message = errors.front().to_string();
    for (size_t i = 1; i < errors.size(); ++i) message += "; " + errors[i].to_string();
    return make_error(message);
  }
  std::lock_guard lock(state_->control_mutex);
  State& state = *state_;
  state.config = config_from(config);
  const core::Settings& properties = endpoint.properties;
  auto property = [&](const char* key) {
    auto it = properties.find(key);
    return it == properties.end() ? std::string() : it->second;
  };
  state.emulated = property("emulated") == "true";

  state.region = state.config.region;
  if (state.region.empty()) state.region = property("region");
  if (state.region.empty()) state.region = aws::load_region(state.dependencies.environment);

  if (!state.config.endpoint.empty()) {
    state.url = state.config.endpoint;
  } else if (!endpoint.addresses.empty()) {
    state.url = "http://" + endpoint.addresses.front();
  } else if (!state.region.empty()) {
    state.url = "https://kinesis." + state.region + ".amazonaws.com";
  } else {
    return make_error(
        "kinesis: no endpoint and no region; set config.region (or AWS_REGION) for AWS, or give "
        "the emulator's address");
  }
  while (state.url.ends_with("/")) state.url.pop_back();
  auto url = parse_url(state.url);
  if (!url.ok()) return make_error(url.error());
  state.host = url->authority;
  bool local = state.emulated || loopback_host(url->host);
  // Emulators ignore the region but SigV4 needs one.
  if (state.region.empty()) {
    if (!local) {
      return make_error(
          "kinesis: no AWS region; set config.region, AWS_REGION or a region in "
          "~/.aws/config");
    }
    state.region = "us-east-1";
  }

  if (!property("aws_access_key_id").empty()) {
    state.credentials = {property("aws_access_key_id"), property("aws_secret_access_key"),
                         property("aws_session_token"), "endpoint properties"};
  } else {
    auto credentials = aws::load_credentials(state.dependencies.environment);
    if (!credentials.ok()) return make_error("kinesis: " + credentials.error());
    if (credentials->has_value()) {
      state.credentials = std::move(**credentials);
    } else if (local) {
      state.credentials = {std::string(kDummyKeyId), std::string(kDummySecret), "",
                           "dummy credentials for an emulator"};
    } else {
      return make_error("kinesis: no AWS credentials for " + state.url +
                        "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in "
                        "~/.aws/credentials (AWS_PROFILE)");
    }
  }

  if (state.dependencies.http) {
    state.http = state.dependencies.http;
  } else {
    HttpClientOptions options;
    options.request_timeout = state.config.timeout;
    options.connect_timeout = std::min<milliseconds>(state.config.timeout, milliseconds(5000));
    state.http = [options] { return make_curl_http_client(options); };
  }
  auto control = state.new_client();
  std::mt19937_64 random(std::random_device{}());
  // A cheap call that proves the endpoint answers and accepts the credentials.
  ApiResult listed = state.call_with_retries(*control, "ListStreams", "{\"Limit\":1}", random);
  if (!listed.ok()) {
    return make_error("kinesis at " + state.url + " (credentials from " + state.credentials.source +
                      "): ListStreams failed: " + listed.describe());
  }
  state.control = std::move(control);
  return Status::Ok();
}

Status KinesisDriver::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions (shards) must be from 1 to 100000");
  }
  std::lock_guard lock(state_->control_mutex);
  if (!state_->control) return make_error("kinesis driver is not connected");
  State& state = *state_;
  KinesisClient& control = *state.control;
  std::mt19937_64 random(std::random_device{}());
  std::string body = "{\"StreamName\":" + json_string(topic) +
                     ",\"ShardCount\":" + std::to_string(partitions) +
                     ",\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"}}";
  for (int attempt = 0; attempt < 3; ++attempt) {
    ApiResult result = state.call_with_retries(control, "CreateStream", body, random);
    if (result.ok()) return wait_for_stream(state, control, topic, /*want_active=*/true, random);
    if (result.error_type != "ResourceInUseException") {
      return make_error("CreateStream " + topic + " with " + std::to_string(partitions) +
                        " shards: " + result.describe());
    }
    // A stream of this name is left from an earlier run: start clean, as other drivers do.
    if (Status deleted = delete_stream(state, control, topic, random); !deleted.ok()) {
      return deleted;
    }
  }
  return make_error("CreateStream " + topic + ": the name stays in use");
}

Status KinesisDriver::delete_topic(const std::string& topic) {
  std::lock_guard lock(state_->control_mutex);
  if (!state_->control) return make_error("kinesis driver is not connected");
  std::mt19937_64 random(std::random_device{}());
  return delete_stream(*state_, *state_->control, topic, random);
}

Status KinesisDriver::prepare_consumers(const std::vector<std::string>& /*topics*/,
                                        const std::vector<std::string>& /*groups*/) {
  // Kinesis keeps no consumer-group state: each consumer tracks its own shard iterators.
  if (!state_->control) return make_error("kinesis driver is not connected");
  return Status::Ok();
}

Result<std::unique_ptr<Producer>> KinesisDriver::make_producer() {
  if (!state_->control) return make_error("kinesis driver is not connected");
  return std::unique_ptr<Producer>(std::make_unique<KinesisProducer>(state_, state_->new_client()));
}

Result<std::unique_ptr<Consumer>> KinesisDriver::make_consumer(const ConsumerOptions& options) {
  if (!state_->control) return make_error("kinesis driver is not connected");
  if (options.group_size < 1 || options.member_index < 0 ||
      options.member_index >= options.group_size) {
    return make_error("consumer member_index " + std::to_string(options.member_index) +
                      " is outside a group of " + std::to_string(options.group_size));
  }
  auto client = state_->new_client();
  std::mt19937_64 random(std::random_device{}());
  std::vector<ShardCursor> cursors;
  for (const std::string& topic : options.topics) {
    auto shards = list_shards(*state_, *client, topic, random);
    if (!shards.ok()) return make_error(shards.error());
    for (size_t i = 0; i < shards->size(); ++i) {
      if (static_cast<int>(i % static_cast<size_t>(options.group_size)) != options.member_index) {
        continue;
      }
      ShardCursor cursor;
      cursor.stream = topic;
      cursor.shard_id = (*shards)[i];
      cursor.shard_index = static_cast<int>(i);
      auto iterator = shard_iterator(*state_, *client, cursor, random);
      if (!iterator.ok()) return make_error(iterator.error());
      cursor.iterator = std::move(*iterator);
      cursors.push_back(std::move(cursor));
    }
  }
  return std::unique_ptr<Consumer>(std::make_unique<KinesisConsumer>(
      state_, std::move(client), std::move(cursors), std::move(random)));
}

DriverInfo kinesis_driver_info() {
  DriverInfo info;
  info.name = "kinesis";
  info.description =
      "Amazon Kinesis Data Streams (PutRecords / GetRecords, SigV4); locally kinesalite";
  info.config_keys = kinesis_config_keys();
  info.topic_keys = {"stream_mode"};
  info.address_keys = {"endpoint"};
  info.client_keys = {
      // The producer sends one synchronous PutRecords at a time, so a full batch is all it has in
      // flight; 500 records is the API's limit per request.
      mapped_client_key(ClientField::kMaxInFlight, "batch_size", 1, 500),
      mapped_client_key(ClientField::kLinger, "linger_ms", 0, 60000),
      // Kinesis has no long poll: after an empty GetRecords the consumer sleeps this long, which
      // bounds the wait added to a record the way a server-side fetch wait does.
      mapped_client_key(ClientField::kFetchWait, "poll_interval_ms", 1, 60000),
      reported_client_key("max_batch_bytes"),
      reported_client_key("read_limit"),
  };
  info.create = [] { return std::make_unique<KinesisDriver>(); };
  info.client_library = [] {
    return std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version;
  };
  return info;
}

// ---- base64 ---------------------------------------------------------------------------------

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> base64_values() {
  std::array<int8_t, 256> values{};
  for (auto& value : values) value = -1;
  for (int i = 0; i < 64; ++i) values[static_cast<unsigned char>(kBase64Alphabet[i])] = int8_t(i);
  return values;
}
constexpr std::array<int8_t, 256> kBase64Values = base64_values();

}  // namespace

void base64_encode(std::string_view data, std::string& out) {
  size_t start = out.size();
  out.resize(start + (data.size() + 2) / 3 * 4);
  char* write = out.data() + start;
  const auto* read = reinterpret_cast<const unsigned char*>(data.data());
  size_t full = data.size() / 3 * 3;
  for (size_t i = 0; i < full; i += 3) {
    uint32_t triple = (uint32_t{read[i]} << 16) | (uint32_t{read[i + 1]} << 8) | read[i + 2];
    *write++ = kBase64Alphabet[(triple >> 18) & 63];
    *write++ = kBase64Alphabet[(triple >> 12) & 63];
    *write++ = kBase64Alphabet[(triple >> 6) & 63];
    *write++ = kBase64Alphabet[triple & 63];
  }
  size_t rest = data.size() - full;
  if (rest > 0) {
    uint32_t triple = uint32_t{read[full]} << 16;
    if (rest == 2) triple |= uint32_t{read[full + 1]} << 8;
    *write++ = kBase64Alphabet[(triple >> 18) & 63];
    *write++ = kBase64Alphabet[(triple >> 12) & 63];
    *write++ = rest == 2 ? kBase64Alphabet[(triple >> 6) & 63] : '=';
    *write++ = '=';
  }
}

bool base64_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  size_t start = out.size();
  out.resize(start + text.size() / 4 * 3 - padding);
  char* write = out.data() + start;
  const auto* read = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    size_t quad_padding = last ? padding : 0;
    uint32_t quad = 0;
    for (size_t j = 0; j < 4; ++j) {
      int value = j >= 4 - quad_padding ? 0 : kBase64Values[read[i + j]];
      if (value < 0) {
        out.resize(start);
        return false;
      }
      quad = (quad << 6) | static_cast<uint32_t>(value);
    }
    *write++ = static_cast<char>(quad >> 16);
    if (quad_padding < 2) *write++ = static_cast<char>((quad >> 8) & 0xff);
    if (quad_padding < 1) *write++ = static_cast<char>(quad & 0xff);
  }
  return true;
}

}  // namespace dec::drivers
