// Amazon Kinesis Data Streams driver: the real JSON API (POST /, X-Amz-Target
// Kinesis_20131202.<Operation>, application/x-amz-json-1.1), signed with SigV4, over HttpClient.
//
// Topic -> stream of the same name with one shard per partition. create_topic deletes a leftover
// stream of that name first, so a stream's records all belong to the run, then waits for ACTIVE;
// delete_topic waits until the stream is gone.
//
// Endpoint: endpoint.addresses[0] "host:port" -> http://host:port; config `endpoint` (a URL)
// overrides; with neither, https://kinesis.<region>.amazonaws.com (real AWS). Region: config
// `region`, endpoint property `region`, AWS_REGION / AWS_DEFAULT_REGION, the shared config file.
// Credentials: environment / shared credentials file (see aws_sigv4.h); an emulator on loopback or
// marked emulated=true gets dummy ones when none are found (kinesalite checks only their shape).
//
// Producer: send() adds to a per-stream batch; PutRecords goes out when the batch reaches
// batch_size records or max_batch_bytes (data + partition keys, as AWS counts), when its oldest
// record has waited linger_ms (checked in send() and poll_acks()), or on flush(). One request at
// a time per producer, so use more producers for more requests in flight. An empty key gets a
// rotating partition key (records spread over shards). Records rejected with a retryable code
// (ProvisionedThroughputExceededException, InternalFailure, ...) and whole requests throttled or
// failed with 5xx / no response are retried, alone, with exponential backoff and jitter, up to
// max_retries times; then their acks report failure. Retried records can land after later ones:
// PutRecords does not keep per-key order across retries (use max_retries 0 to see the effect).
//
// Consumer: Kinesis has no consumer groups. Every ConsumerOptions::group reads every shard
// independently (each group gets every record); the members of a group split the shards, member
// m taking the shards i (in ListShards order) with i % group_size == m; a member left without a
// shard receives nothing. Reading starts at TRIM_HORIZON, the start of the freshly made stream,
// and goes on with GetRecords (read_limit records) and NextShardIterator; a shard that returned
// nothing is asked again after poll_interval_ms. Real AWS allows 5 GetRecords per second per
// shard, so a consumer starts at most one GetRecords per shard every 200 ms, whatever the last
// one returned; throttled reads back off and are counted. The limit is per consumer, while
// AWS's is per shard across all readers: several groups reading one stream can still be
// throttled. A message's partition is its shard's index in ListShards order. backlog() asks
// each shard once more and is 0 only when every one answers no records with MillisBehindLatest
// 0 (else nullopt). prepare_consumers has nothing to do.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/aws_sigv4.h"
#include "drivers/driver.h"
#include "drivers/http_client.h"

namespace dec::drivers {

// Name, config keys and factory of the Kinesis driver, for the registry.
DriverInfo kinesis_driver_info();

// Counters of one driver and every producer and consumer it made; safe to read at any time.
struct KinesisStats {
  std::atomic<uint64_t> put_requests{0};        // PutRecords requests sent, retries included
  std::atomic<uint64_t> put_records{0};         // records in them (a retried record counts again)
  std::atomic<uint64_t> records_acked{0};       // records Kinesis accepted (acked ok)
  std::atomic<uint64_t> records_failed{0};      // records acked as failed (given up or rejected)
  std::atomic<uint64_t> throttled_requests{0};  // whole requests refused for throughput (HTTP 400)
  std::atomic<uint64_t> throttled_records{0};   // records refused with ...ThroughputExceeded
  std::atomic<uint64_t> retried_requests{0};    // PutRecords requests that were retries
  std::atomic<uint64_t> retried_records{0};     // records sent again
  std::atomic<uint64_t> transport_errors{0};    // requests that got no HTTP response
  std::atomic<uint64_t> get_requests{0};        // GetRecords requests
  std::atomic<uint64_t> get_throttled{0};       // GetRecords refused for throughput
  std::atomic<uint64_t> records_received{0};

  // Every counter by name ("kinesis.throttled_records", ...), for results and logs.
  std::vector<std::pair<std::string, uint64_t>> counters() const;
};

// What the driver needs from the outside world; empty members get the real thing.
struct KinesisDependencies {
  HttpClientFactory http;                               // default: libcurl, timeout_ms
  aws::EnvironmentLookup environment;                   // default: the process environment
  std::function<void(std::chrono::nanoseconds)> sleep;  // backoff and empty-poll waits
  std::function<std::chrono::system_clock::time_point()> wall_clock;  // signing time
};

class KinesisDriver : public Driver {
 public:
  KinesisDriver();
  explicit KinesisDriver(HttpClientFactory http);  // tests: a fake HTTP layer
  explicit KinesisDriver(KinesisDependencies dependencies);
  ~KinesisDriver() override;

  std::string name() const override { return "kinesis"; }
  bool emulated() const override;
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;

  const KinesisStats& stats() const;
  std::vector<std::pair<std::string, uint64_t>> counters() const override {
    return stats().counters();
  }
  // The URL requests go to, once connected (for messages and tests).
  std::string endpoint_url() const;

  struct State;  // parsed config, endpoint, credentials, the control client

 private:
  std::shared_ptr<State> state_;  // shared with producers and consumers, which may outlive it
};

// RFC 4648 base64 (with padding), as Kinesis's JSON carries record data. Both append to `out`
// and make at most one allocation; decode returns false on a malformed input.
void base64_encode(std::string_view data, std::string& out);
bool base64_decode(std::string_view text, std::string& out);

}  // namespace dec::drivers
