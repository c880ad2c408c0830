// The Kinesis driver over a fake HTTP layer: what kinesalite cannot do (throttling, partial
// PutRecords failures, exhausted retries) and what needs no server (config, signing, base64).
#include "systems/kinesis/kinesis_driver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace dec::drivers {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Call {
  std::string url;
  std::map<std::string, std::string> headers;
  std::string operation;  // X-Amz-Target without the "Kinesis_20131202." prefix
  std::string raw_body;
  Json body;
};

HttpResponse ok(Json body) { return {200, body.dump()}; }
HttpResponse error(long status, const std::string& type, const std::string& message = "") {
  return {status, Json{{"__type", type}, {"message", message}}.dump()};
}

std::string decode(const std::string& base64) {
  std::string out;
  EXPECT_TRUE(base64_decode(base64, out)) << base64;
  return out;
}
std::string encode(const std::string& data) {
  std::string out;
  base64_encode(data, out);
  return out;
}

// A scripted Kinesis: records every request; `handler` answers by operation.
class FakeKinesis {
 public:
  using Handler = std::function<HttpResponse(const Call&)>;

  HttpClientFactory factory() {
    return [this] { return std::make_unique<Client>(this); };
  }

  void on(const std::string& operation, Handler handler) {
    std::lock_guard lock(mutex_);
    handlers_[operation] = std::move(handler);
  }

  std::vector<Call> calls(const std::string& operation) {
    std::lock_guard lock(mutex_);
    std::vector<Call> matching;
    for (const Call& call : calls_) {
      if (call.operation == operation) matching.push_back(call);
    }
    return matching;
  }

 private:
  class Client : public HttpClient {
   public:
    explicit Client(FakeKinesis* fake) : fake_(fake) {}
    Result<HttpResponse> post(const std::string& url, const std::vector<HttpHeader>& headers,
                              std::string_view body) override {
      return fake_->answer(url, headers, body);
    }

   private:
    FakeKinesis* fake_;
  };

  Result<HttpResponse> answer(const std::string& url, const std::vector<HttpHeader>& headers,
                              std::string_view body) {
    Call call;
    call.url = url;
    for (const HttpHeader& header : headers) call.headers[header.name] = header.value;
    call.operation = call.headers["x-amz-target"].substr(std::string("Kinesis_20131202.").size());
    call.raw_body = std::string(body);
    call.body = Json::parse(body);
    Handler handler;
    {
      std::lock_guard lock(mutex_);
      calls_.push_back(call);
      auto it = handlers_.find(call.operation);
      if (it != handlers_.end()) handler = it->second;
    }
    if (handler) return handler(call);
    if (call.operation == "ListStreams") return ok({{"StreamNames", Json::array()}});
    return error(400, "UnknownOperationException", "no handler for " + call.operation);
  }

  std::mutex mutex_;
  std::map<std::string, Handler> handlers_;
  std::vector<Call> calls_;
};

// PutRecords that accepts every record.
HttpResponse accept_all(const Call& call) {
  Json records = Json::array();
  for (size_t i = 0; i < call.body["Records"].size(); ++i) {
    records.push_back({{"SequenceNumber", std::to_string(i)}, {"ShardId", "shardId-000000000000"}});
  }
  return ok({{"FailedRecordCount", 0}, {"Records", records}});
}

std::vector<std::string> payloads_of(const Call& call) {
  std::vector<std::string> payloads;
  for (const Json& record : call.body["Records"]) {
    payloads.push_back(decode(record["Data"].get<std::string>()));
  }
  return payloads;
}

// Each message's acks: how many, and the outcome and error of the last.
struct AckLog {
  struct Entry {
    int count = 0;
    bool ok = false;
    std::string error;
  };
  std::map<std::string, Entry> by_message;

  AckCallback callback(const std::string& message) {
    return [this, message](bool ok, std::string_view error) {
      Entry& entry = by_message[message];
      ++entry.count;
      entry.ok = ok;
      entry.error = std::string(error);
    };
  }
};

class KinesisDriverTest : public ::testing::Test {
 protected:
  KinesisDependencies dependencies() {
    KinesisDependencies deps;
    deps.http = fake_.factory();
    deps.environment = [this](const std::string& name) -> std::optional<std::string> {
      auto it = environment_.find(name);
      if (it == environment_.end()) return std::nullopt;
      return it->second;
    };
    // Backoff is recorded, not slept, unless a test needs time to pass.
    deps.sleep = [this](nanoseconds duration) {
      std::lock_guard lock(sleeps_mutex_);
      sleeps_.push_back(duration);
      if (real_sleep_) std::this_thread::sleep_for(duration);
    };
    return deps;
  }

  std::unique_ptr<KinesisDriver> connected(core::Settings config,
                                           Endpoint endpoint = local_endpoint()) {
    auto driver = std::make_unique<KinesisDriver>(dependencies());
    Status status = driver->connect(endpoint, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  static Endpoint local_endpoint() { return Endpoint{{"127.0.0.1:4567"}, {{"emulated", "true"}}}; }

  std::unique_ptr<Producer> producer(KinesisDriver& driver) {
    auto made = driver.make_producer();
    EXPECT_TRUE(made.ok()) << made.error();
    return std::move(made).value();
  }

  std::vector<nanoseconds> sleeps() {
    std::lock_guard lock(sleeps_mutex_);
    return sleeps_;
  }

  FakeKinesis fake_;
  AckLog acks_;
  std::map<std::string, std::string> environment_;
  std::mutex sleeps_mutex_;
  std::vector<nanoseconds> sleeps_;
  bool real_sleep_ = false;
};

TEST_F(KinesisDriverTest, PartialFailureRetriesOnlyTheFailedRecords) {
  int put_calls = 0;
  fake_.on("PutRecords", [&](const Call& call) {
    if (++put_calls > 1) return accept_all(call);
    // First answer: every odd record throttled, the rest written.
    Json records = Json::array();
    for (size_t i = 0; i < call.body["Records"].size(); ++i) {
      if (i % 2) {
        records.push_back({{"ErrorCode", "ProvisionedThroughputExceededException"},
                           {"ErrorMessage", "Rate exceeded for shard shardId-000000000000"}});
      } else {
        records.push_back({{"SequenceNumber", "1"}, {"ShardId", "shardId-000000000000"}});
      }
    }
    return ok({{"FailedRecordCount", 5}, {"Records", records}});
  });
  auto driver = connected({{"batch_size", "10"}, {"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  for (int i = 0; i < 10; ++i) {
    std::string message = "m" + std::to_string(i);
    ASSERT_TRUE(sender->send("stream", "", message, acks.callback(message)).ok());
  }
  ASSERT_TRUE(sender->flush().ok());

  auto puts = fake_.calls("PutRecords");
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_EQ(payloads_of(puts[0]).size(), 10u);
  EXPECT_EQ(payloads_of(puts[1]), (std::vector<std::string>{"m1", "m3", "m5", "m7", "m9"}));
  ASSERT_EQ(acks.by_message.size(), 10u);
  for (const auto& [message, entry] : acks.by_message) {
    EXPECT_EQ(entry.count, 1) << message;
    EXPECT_TRUE(entry.ok) << message << ": " << entry.error;
  }
  const KinesisStats& stats = driver->stats();
  EXPECT_EQ(stats.put_requests, 2u);
  EXPECT_EQ(stats.put_records, 15u);
  EXPECT_EQ(stats.throttled_records, 5u);
  EXPECT_EQ(stats.throttled_requests, 0u);
  EXPECT_EQ(stats.retried_requests, 1u);
  EXPECT_EQ(stats.retried_records, 5u);
  EXPECT_EQ(stats.records_acked, 10u);
  EXPECT_EQ(stats.records_failed, 0u);
  // One backoff of the default base (50 ms), jittered into [25 ms, 50 ms].
  ASSERT_EQ(sleeps().size(), 1u);
  EXPECT_GE(sleeps()[0], milliseconds(25));
  EXPECT_LE(sleeps()[0], milliseconds(50));
  EXPECT_EQ(sender->in_flight(), 0u);
}

TEST_F(KinesisDriverTest, WholeRequestThrottlingIsRetriedWithGrowingBackoff) {
  int put_calls = 0;
  fake_.on("PutRecords", [&](const Call& call) {
    if (++put_calls <= 3) return error(400, "ProvisionedThroughputExceededException", "slow down");
    return accept_all(call);
  });
  auto driver = connected({{"retry_base_ms", "100"}, {"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  for (const char* message : {"a", "b", "c"}) {
    ASSERT_TRUE(sender->send("stream", "key", message, acks.callback(message)).ok());
  }
  ASSERT_TRUE(sender->flush().ok());

  auto puts = fake_.calls("PutRecords");
  ASSERT_EQ(puts.size(), 4u);
  for (const Call& put : puts) EXPECT_EQ(payloads_of(put).size(), 3u);
  auto waits = sleeps();
  ASSERT_EQ(waits.size(), 3u);
  for (size_t k = 0; k < waits.size(); ++k) {
    milliseconds full(100 << k);
    EXPECT_GE(waits[k], full / 2) << "retry " << k;
    EXPECT_LE(waits[k], full) << "retry " << k;
  }
  for (const auto& [message, entry] : acks.by_message) {
    EXPECT_EQ(entry.count, 1) << message;
    EXPECT_TRUE(entry.ok) << message;
  }
  EXPECT_EQ(acks.by_message.size(), 3u);
  EXPECT_EQ(driver->stats().throttled_requests, 3u);
  EXPECT_EQ(driver->stats().retried_requests, 3u);
  EXPECT_EQ(driver->stats().retried_records, 9u);
  EXPECT_EQ(driver->stats().records_acked, 3u);
}

TEST_F(KinesisDriverTest, ExhaustedRetriesAckFailureOncePerMessage) {
  // The record with key "hot" is always throttled; the others go through.
  fake_.on("PutRecords", [&](const Call& call) {
    Json records = Json::array();
    int failed = 0;
    for (const Json& record : call.body["Records"]) {
      if (record["PartitionKey"] == "hot") {
        ++failed;
        records.push_back({{"ErrorCode", "ProvisionedThroughputExceededException"},
                           {"ErrorMessage", "Rate exceeded"}});
      } else {
        records.push_back({{"SequenceNumber", "7"}, {"ShardId", "shardId-000000000001"}});
      }
    }
    return ok({{"FailedRecordCount", failed}, {"Records", records}});
  });
  auto driver = connected({{"max_retries", "2"}, {"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  ASSERT_TRUE(sender->send("stream", "cold1", "first", acks.callback("first")).ok());
  ASSERT_TRUE(sender->send("stream", "hot", "second", acks.callback("second")).ok());
  ASSERT_TRUE(sender->send("stream", "cold2", "third", acks.callback("third")).ok());
  // Giving up on records is an outcome of the run, not a broken producer.
  ASSERT_TRUE(sender->flush().ok());

  EXPECT_EQ(fake_.calls("PutRecords").size(), 3u);  // the first try and 2 retries
  ASSERT_EQ(acks.by_message.size(), 3u);
  EXPECT_TRUE(acks.by_message["first"].ok);
  EXPECT_TRUE(acks.by_message["third"].ok);
  const AckLog::Entry& hot = acks.by_message["second"];
  EXPECT_EQ(hot.count, 1);
  EXPECT_FALSE(hot.ok);
  EXPECT_NE(hot.error.find("ProvisionedThroughputExceededException"), std::string::npos)
      << hot.error;
  EXPECT_NE(hot.error.find("after 2 retries"), std::string::npos) << hot.error;
  for (const auto& [message, entry] : acks.by_message) EXPECT_EQ(entry.count, 1) << message;
  EXPECT_EQ(driver->stats().throttled_records, 3u);
  EXPECT_EQ(driver->stats().records_failed, 1u);
  EXPECT_EQ(driver->stats().records_acked, 2u);
  EXPECT_TRUE(sender->send("stream", "cold3", "fourth", acks.callback("fourth")).ok());
}

TEST_F(KinesisDriverTest, WholeRequestThrottledPastRetriesFailsEveryAck) {
  fake_.on("PutRecords", [](const Call&) { return error(400, "ThrottlingException", "busy"); });
  auto driver = connected({{"max_retries", "1"}, {"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  ASSERT_TRUE(sender->send("stream", "", "x", acks.callback("x")).ok());
  ASSERT_TRUE(sender->send("stream", "", "y", acks.callback("y")).ok());
  ASSERT_TRUE(sender->flush().ok());
  EXPECT_EQ(fake_.calls("PutRecords").size(), 2u);
  for (const char* message : {"x", "y"}) {
    EXPECT_EQ(acks.by_message[message].count, 1);
    EXPECT_FALSE(acks.by_message[message].ok);
    EXPECT_NE(acks.by_message[message].error.find("ThrottlingException"), std::string::npos);
  }
  EXPECT_EQ(driver->stats().throttled_requests, 2u);
  EXPECT_EQ(driver->stats().records_failed, 2u);
}

TEST_F(KinesisDriverTest, RefusalNoRetryCanFixEndsTheProducer) {
  fake_.on("PutRecords", [](const Call&) {
    return error(400, "ResourceNotFoundException", "Stream stream not found.");
  });
  auto driver = connected({{"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  ASSERT_TRUE(sender->send("stream", "", "x", acks.callback("x")).ok());
  Status flushed = sender->flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_NE(flushed.error().find("ResourceNotFoundException"), std::string::npos);
  EXPECT_EQ(fake_.calls("PutRecords").size(), 1u);  // not retried
  EXPECT_EQ(acks.by_message["x"].count, 1);
  EXPECT_FALSE(acks.by_message["x"].ok);
  EXPECT_FALSE(sender->send("stream", "", "y", acks.callback("y")).ok());
  EXPECT_EQ(acks.by_message.count("y"), 0u);  // a refused send gets no ack
}

TEST_F(KinesisDriverTest, BatchesBySizeAndLinger) {
  fake_.on("PutRecords", accept_all);
  auto driver = connected({{"batch_size", "3"}, {"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  for (int i = 0; i < 7; ++i) {
    std::string message = std::to_string(i);
    ASSERT_TRUE(sender->send("stream", "", message, acks.callback(message)).ok());
  }
  EXPECT_EQ(fake_.calls("PutRecords").size(), 2u);  // two full batches; one record waits
  EXPECT_EQ(sender->in_flight(), 1u);
  ASSERT_TRUE(sender->flush().ok());
  EXPECT_EQ(fake_.calls("PutRecords").size(), 3u);
  EXPECT_EQ(acks.by_message.size(), 7u);

  // linger_ms 0: every record leaves with its own send().
  auto eager = connected({{"linger_ms", "0"}});
  auto eager_sender = producer(*eager);
  ASSERT_TRUE(eager_sender->send("stream", "", "now", acks.callback("now")).ok());
  EXPECT_EQ(acks.by_message["now"].count, 1);
  EXPECT_EQ(eager_sender->in_flight(), 0u);
}

TEST_F(KinesisDriverTest, PollAcksSendsABatchOnceItsLingerIsOver) {
  real_sleep_ = true;
  fake_.on("PutRecords", accept_all);
  auto driver = connected({{"linger_ms", "20"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  // The engine may wait in poll_acks() without flushing first: batches still fill up.
  EXPECT_TRUE(sender->delivers_acks_while_polling());
  ASSERT_TRUE(sender->send("stream", "", "late", acks.callback("late")).ok());
  EXPECT_EQ(sender->in_flight(), 1u);
  ASSERT_TRUE(sender->poll_acks(milliseconds(1)).ok());
  EXPECT_EQ(acks.by_message.count("late"), 0u);  // still lingering
  for (int i = 0; i < 50 && acks.by_message.count("late") == 0; ++i) {
    ASSERT_TRUE(sender->poll_acks(milliseconds(10)).ok());
  }
  EXPECT_EQ(acks.by_message["late"].count, 1);
  EXPECT_TRUE(acks.by_message["late"].ok);
}

TEST_F(KinesisDriverTest, ProducerClosedUnflushedFailsItsPendingAcks) {
  auto driver = connected({{"linger_ms", "60000"}});
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  {
    auto sender = producer(*driver);
    ASSERT_TRUE(sender->send("stream", "", "orphan", acks.callback("orphan")).ok());
  }
  EXPECT_EQ(acks.by_message["orphan"].count, 1);
  EXPECT_FALSE(acks.by_message["orphan"].ok);
  EXPECT_TRUE(fake_.calls("PutRecords").empty());
}

TEST_F(KinesisDriverTest, EmptyKeysRotateAndKeysPassThrough) {
  fake_.on("PutRecords", accept_all);
  auto driver = connected({{"linger_ms", "60000"}});
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  ASSERT_TRUE(sender->send("stream", "", "a", acks.callback("a")).ok());
  ASSERT_TRUE(sender->send("stream", "", "b", acks.callback("b")).ok());
  ASSERT_TRUE(sender->send("stream", "user \"7\"", "c", acks.callback("c")).ok());
  ASSERT_TRUE(sender->flush().ok());
  auto puts = fake_.calls("PutRecords");
  ASSERT_EQ(puts.size(), 1u);
  const Json& records = puts[0].body["Records"];
  EXPECT_NE(records[0]["PartitionKey"], records[1]["PartitionKey"]);
  EXPECT_FALSE(records[0]["PartitionKey"].get<std::string>().empty());
  EXPECT_EQ(records[2]["PartitionKey"], "user \"7\"");
  EXPECT_EQ(puts[0].body["StreamName"], "stream");
  EXPECT_FALSE(sender->send("stream", std::string(257, 'k'), "d", acks.callback("d")).ok());
}

TEST_F(KinesisDriverTest, RequestsAreSignedKinesisJson) {
  fake_.on("PutRecords", accept_all);
  auto driver = connected({{"linger_ms", "0"}});
  EXPECT_TRUE(driver->emulated());
  EXPECT_EQ(driver->endpoint_url(), "http://127.0.0.1:4567");
  auto sender = producer(*driver);
  AckLog& acks = acks_;  // outlives the producers, whose destructors may still ack
  ASSERT_TRUE(sender->send("stream", "k", "payload", acks.callback("p")).ok());
  auto puts = fake_.calls("PutRecords");
  ASSERT_EQ(puts.size(), 1u);
  const Call& call = puts[0];
  EXPECT_EQ(call.url, "http://127.0.0.1:4567");
  EXPECT_EQ(call.headers.at("content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(call.headers.at("x-amz-target"), "Kinesis_20131202.PutRecords");
  EXPECT_EQ(call.headers.at("host"), "127.0.0.1:4567");
  const std::string& authorization = call.headers.at("authorization");
  EXPECT_EQ(authorization.rfind("AWS4-HMAC-SHA256 Credential=", 0), 0u) << authorization;
  EXPECT_NE(authorization.find("/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;"
                               "host;x-amz-date;x-amz-target, Signature="),
            std::string::npos)
      << authorization;
  // The signature is the SigV4 of exactly what was sent.
  aws::SignableRequest request;
  request.method = "POST";
  for (const auto& [name, value] : call.headers) {
    if (name != "authorization") request.headers.emplace_back(name, value);
  }
  request.payload_hash = aws::sha256_hex(call.raw_body);
  std::string key_id = authorization.substr(28, authorization.find('/') - 28);
  aws::Signature expected = aws::sign(request, {key_id, "dec-emulated-secret", "", ""}, "us-east-1",
                                      "kinesis", call.headers.at("x-amz-date"));
  EXPECT_EQ(authorization, expected.authorization);
  EXPECT_EQ(decode(call.body["Records"][0]["Data"].get<std::string>()), "payload");
}

TEST_F(KinesisDriverTest, RealAwsNeedsCredentialsAndUsesTheRegionalEndpoint) {
  // No address: the "endpoints" provider's path to real AWS. The fake answers; nothing leaves.
  Endpoint aws_endpoint{{}, {}};
  environment_["AWS_REGION"] = "eu-west-1";
  auto without = std::make_unique<KinesisDriver>(dependencies());
  Status refused = without->connect(aws_endpoint, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("AWS_ACCESS_KEY_ID"), std::string::npos) << refused.error();
  EXPECT_TRUE(fake_.calls("ListStreams").empty());

  environment_["AWS_ACCESS_KEY_ID"] = "AKIDREAL";
  environment_["AWS_SECRET_ACCESS_KEY"] = "secret";
  environment_["AWS_SESSION_TOKEN"] = "token";
  auto driver = connected({}, aws_endpoint);
  EXPECT_FALSE(driver->emulated());
  EXPECT_EQ(driver->endpoint_url(), "https://kinesis.eu-west-1.amazonaws.com");
  auto listed = fake_.calls("ListStreams");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].headers.at("host"), "kinesis.eu-west-1.amazonaws.com");
  EXPECT_EQ(listed[0].headers.at("x-amz-security-token"), "token");
  EXPECT_NE(listed[0].headers.at("authorization").find("AKIDREAL/"), std::string::npos);

  // config region and endpoint win over the environment.
  auto configured = connected({{"region", "ap-south-1"}, {"endpoint", "http://127.0.0.1:9/"}});
  EXPECT_EQ(configured->endpoint_url(), "http://127.0.0.1:9");
  EXPECT_NE(fake_.calls("ListStreams").back().headers.at("authorization").find("/ap-south-1/"),
            std::string::npos);
}

TEST_F(KinesisDriverTest, BadConfigKeysAreErrorsNamingTheKey) {
  KinesisDriver driver(dependencies());
  Status typo = driver.connect(local_endpoint(), {{"batch_sizee", "10"}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().find("config.batch_sizee"), std::string::npos) << typo.error();
  EXPECT_NE(typo.error().find("did you mean \"batch_size\""), std::string::npos) << typo.error();

  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"batch_size", "501"},
                                                        {"max_batch_bytes", "6000000"},
                                                        {"linger_ms", "-1"},
                                                        {"max_retries", "many"},
                                                        {"read_limit", "10001"},
                                                        {"stream_mode", "ON_DEMAND"},
                                                        {"region", "US East"},
                                                        {"endpoint", "kinesis.local"}}) {
    Status status = driver.connect(local_endpoint(), {{key, value}});
    ASSERT_FALSE(status.ok()) << key;
    EXPECT_NE(status.error().find("config." + key), std::string::npos) << status.error();
  }
  auto errors = validate_driver_config(kinesis_driver_info(), {{"poll_interval_ms", "0"}},
                                       "systems[1].config");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "systems[1].config.poll_interval_ms");
  EXPECT_TRUE(validate_driver_config(kinesis_driver_info(),
                                     {{"batch_size", "500"}, {"linger_ms", "0"}}, "config")
                  .empty());
}

TEST_F(KinesisDriverTest, CreateTopicWaitsForActiveAndReplacesALeftoverStream) {
  int creates = 0;
  int describes = 0;
  bool exists = true;  // a stream of that name is left from an earlier run
  fake_.on("CreateStream", [&](const Call& call) {
    ++creates;
    EXPECT_EQ(call.body["ShardCount"], 2);
    if (exists) return error(400, "ResourceInUseException", "Stream s already exists.");
    exists = true;
    describes = 0;
    return ok(Json::object());
  });
  fake_.on("DeleteStream", [&](const Call& call) {
    EXPECT_EQ(call.body["EnforceConsumerDeletion"], true);
    exists = false;
    return ok(Json::object());
  });
  fake_.on("DescribeStreamSummary", [&](const Call&) {
    if (!exists) return error(400, "ResourceNotFoundException", "Stream s not found.");
    const char* status = ++describes < 3 ? "CREATING" : "ACTIVE";
    return ok({{"StreamDescriptionSummary", {{"StreamStatus", status}}}});
  });
  auto driver = connected({});
  Status created = driver->create_topic("s", 2);
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_EQ(creates, 2);
  EXPECT_EQ(fake_.calls("DeleteStream").size(), 1u);
  EXPECT_EQ(describes, 3);

  Status deleted = driver->delete_topic("s");
  ASSERT_TRUE(deleted.ok()) << deleted.error();
  EXPECT_FALSE(exists);
  // Deleting what is not there is fine (teardown after a failed create).
  Status again = driver->delete_topic("s");
  EXPECT_TRUE(again.ok()) << again.error();
  EXPECT_FALSE(driver->create_topic("s", 0).ok());
}

TEST_F(KinesisDriverTest, AFullShardQuotaIsNotRetried) {
  // LimitExceededException means throttling elsewhere, but on CreateStream it can also mean the
  // account's shard quota is used up, which no wait fixes.
  fake_.on("CreateStream", [](const Call&) {
    return error(400, "LimitExceededException",
                 "This request would exceed the shard limit for the account 000000000000");
  });
  auto driver = connected({});
  Status created = driver->create_topic("s", 2000);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().find("shard limit"), std::string::npos) << created.error();
  EXPECT_EQ(fake_.calls("CreateStream").size(), 1u);
  EXPECT_TRUE(sleeps().empty());
}

TEST_F(KinesisDriverTest, ConsumersSplitShardsAndDecodeRecords) {
  fake_.on("ListShards", [](const Call& call) {
    EXPECT_EQ(call.body["StreamName"], "s");
    Json shards = Json::array();
    for (int i = 0; i < 3; ++i)
      shards.push_back({{"ShardId", "shardId-00000000000" + std::to_string(i)}});
    return ok({{"Shards", shards}});
  });
  fake_.on("GetShardIterator", [](const Call& call) {
    EXPECT_EQ(call.body["ShardIteratorType"], "TRIM_HORIZON");
    return ok({{"ShardIterator", "it-" + call.body["ShardId"].get<std::string>()}});
  });
  fake_.on("GetRecords", [](const Call& call) {
    std::string iterator = call.body["ShardIterator"];
    Json records = Json::array();
    if (iterator.find("-next") == std::string::npos) {
      std::string shard = iterator.substr(3);
      records.push_back({{"Data", encode(std::string("\0bin:", 5) + shard)},
                         {"PartitionKey", "key-" + shard},
                         {"SequenceNumber", "1"}});
    }
    return ok({{"Records", records},
               {"NextShardIterator", iterator + "-next"},
               {"MillisBehindLatest", 0}});
  });
  auto driver = connected({{"poll_interval_ms", "1"}});
  ASSERT_TRUE(driver->prepare_consumers({"s"}, {"g"}).ok());

  auto read_all = [&](int member, int group_size) {
    auto made = driver->make_consumer({"g", member, group_size, {"s"}});
    EXPECT_TRUE(made.ok()) << made.error();
    std::map<std::string, std::string> received;  // key -> payload
    for (int i = 0; i < 3; ++i) {
      auto polled = (*made)->poll(milliseconds(5), [&](const ReceivedMessage& message) {
        EXPECT_EQ(message.topic, "s");
        received[std::string(message.key)] = std::string(message.payload);
        // The partition is the shard's index in ListShards order.
        std::string key(message.key);
        EXPECT_EQ(message.partition, key.back() - '0') << key;
        EXPECT_FALSE(message.redelivered);
      });
      EXPECT_TRUE(polled.ok()) << polled.error();
    }
    return received;
  };
  auto member0 = read_all(0, 2);
  EXPECT_EQ(member0.size(), 2u);
  EXPECT_EQ(member0["key-shardId-000000000000"], std::string("\0bin:shardId-000000000000", 25));
  EXPECT_EQ(member0.count("key-shardId-000000000002"), 1u);
  auto member1 = read_all(1, 2);
  EXPECT_EQ(member1.size(), 1u);
  EXPECT_EQ(member1.count("key-shardId-000000000001"), 1u);
  // Another group (or no group) reads every shard again: Kinesis has no consumer groups.
  EXPECT_EQ(read_all(0, 1).size(), 3u);
  EXPECT_EQ(driver->stats().records_received, 6u);
  EXPECT_FALSE(driver->make_consumer({"g", 2, 2, {"s"}}).ok());
}

TEST_F(KinesisDriverTest, ThrottledReadsBackOffAndAreCounted) {
  fake_.on("ListShards", [](const Call&) {
    return ok({{"Shards", Json::array({{{"ShardId", "shardId-000000000000"}}})}});
  });
  fake_.on("GetShardIterator", [](const Call&) { return ok({{"ShardIterator", "it"}}); });
  int reads = 0;
  fake_.on("GetRecords", [&](const Call&) {
    if (++reads == 1) return error(400, "ProvisionedThroughputExceededException", "Rate exceeded");
    return ok(
        {{"Records",
          Json::array({{{"Data", encode("x")}, {"PartitionKey", "k"}, {"SequenceNumber", "1"}}})},
         {"NextShardIterator", "it2"}});
  });
  real_sleep_ = true;
  auto driver = connected({{"retry_base_ms", "1"}});
  auto consumer = driver->make_consumer({"", 0, 1, {"s"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  size_t received = 0;
  for (int i = 0; i < 20 && received == 0; ++i) {
    auto polled = (*consumer)->poll(milliseconds(20), [&](const ReceivedMessage&) { ++received; });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  EXPECT_EQ(received, 1u);
  EXPECT_EQ(driver->stats().get_throttled, 1u);
  EXPECT_EQ(driver->stats().get_requests, 2u);
}

// A ListShards answer with shards "shardId-00000000000<i>", i < count.
Json list_of_shards(int count) {
  Json shards = Json::array();
  for (int i = 0; i < count; ++i) {
    shards.push_back({{"ShardId", "shardId-00000000000" + std::to_string(i)}});
  }
  return Json{{"Shards", shards}};
}

TEST_F(KinesisDriverTest, AConsumerStartsAtMostFiveGetRecordsPerShardPerSecond) {
  fake_.on("ListShards", [](const Call&) { return ok(list_of_shards(2)); });
  fake_.on("GetShardIterator", [](const Call& call) {
    return ok({{"ShardIterator", call.body["ShardId"]}});
  });
  // Every answer invites an immediate new read: records, an empty answer while far behind, or
  // a throttled request with a 1 ms backoff.
  std::mutex mutex;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> reads;
  fake_.on("GetRecords", [&](const Call& call) {
    std::string shard = call.body["ShardIterator"];
    size_t count;
    {
      std::lock_guard lock(mutex);
      reads[shard].push_back(std::chrono::steady_clock::now());
      count = reads[shard].size();
    }
    if (count % 3 == 0)
      return error(400, "ProvisionedThroughputExceededException", "Rate exceeded");
    Json records = Json::array();
    if (count % 3 == 1) {
      records.push_back({{"Data", encode("x")}, {"PartitionKey", "k"}, {"SequenceNumber", "1"}});
    }
    return ok({{"Records", records}, {"NextShardIterator", shard}, {"MillisBehindLatest", 60000}});
  });
  real_sleep_ = true;
  auto driver = connected({{"retry_base_ms", "1"}, {"poll_interval_ms", "1"}});
  auto consumer = driver->make_consumer({"", 0, 1, {"s"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  auto start = std::chrono::steady_clock::now();
  size_t received = 0;
  for (int i = 0; i < 30; ++i) {
    auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage&) { ++received; });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard lock(mutex);
  ASSERT_EQ(reads.size(), 2u);
  for (const auto& [shard, times] : reads) {
    EXPECT_LE(static_cast<double>(times.size()), 5 * elapsed + 1)
        << shard << ": " << times.size() << " GetRecords in " << elapsed << " s";
    EXPECT_GE(times.size(), 4u) << shard << " was not read on";
    for (size_t i = 1; i < times.size(); ++i) {
      EXPECT_GE(times[i] - times[i - 1], milliseconds(190)) << shard << ", read " << i;
    }
  }
  EXPECT_GT(received, 0u);
}

TEST_F(KinesisDriverTest, BacklogIsZeroOnlyWhenAFreshReadFindsEveryShardAtItsTip) {
  fake_.on("ListShards", [](const Call&) { return ok(list_of_shards(2)); });
  fake_.on("GetShardIterator", [](const Call& call) {
    return ok({{"ShardIterator", call.body["ShardId"].get<std::string>() + "/0"}});
  });
  std::mutex mutex;
  std::map<std::string, int> written = {{"shardId-000000000000", 2}, {"shardId-000000000001", 1}};
  int millis_behind = 0;
  std::vector<int> limits;
  fake_.on("GetRecords", [&](const Call& call) {
    std::string iterator = call.body["ShardIterator"];
    std::string shard = iterator.substr(0, iterator.find('/'));
    int position = std::stoi(iterator.substr(iterator.find('/') + 1));
    int limit = call.body["Limit"];
    std::lock_guard lock(mutex);
    limits.push_back(limit);
    Json records = Json::array();
    for (; position < written[shard] && static_cast<int>(records.size()) < limit; ++position) {
      records.push_back({{"Data", encode(shard + "#" + std::to_string(position))},
                         {"PartitionKey", "k"},
                         {"SequenceNumber", std::to_string(position)}});
    }
    return ok({{"Records", records},
               {"NextShardIterator", shard + "/" + std::to_string(position)},
               {"MillisBehindLatest", millis_behind}});
  });
  real_sleep_ = true;
  auto driver = connected({});
  auto consumer = driver->make_consumer({"", 0, 1, {"s"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  std::map<std::string, int> received;
  auto read = [&](size_t wanted) {
    for (int i = 0; i < 40 && received.size() < wanted; ++i) {
      auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
        ++received[std::string(message.payload)];
      });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
  };

  EXPECT_EQ((*consumer)->backlog(), std::nullopt) << "records are waiting";
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(limits.back(), 1) << "a backlog check reads one record at most";
  }
  read(3);
  EXPECT_EQ(received.size(), 3u) << "the backlog check delivered nothing and skipped nothing";
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(0));

  // A record that arrived after the last poll is not lost: the check finds it.
  {
    std::lock_guard lock(mutex);
    ++written["shardId-000000000001"];
  }
  EXPECT_EQ((*consumer)->backlog(), std::nullopt);
  read(4);
  EXPECT_EQ(received.size(), 4u);
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(0));

  // Empty, but behind the tip: records may follow.
  {
    std::lock_guard lock(mutex);
    millis_behind = 5000;
  }
  EXPECT_EQ((*consumer)->backlog(), std::nullopt);
  for (const auto& [payload, count] : received) EXPECT_EQ(count, 1) << payload;

  // A member left without a shard holds nothing back.
  auto shardless = driver->make_consumer({"g", 2, 3, {"s"}});
  ASSERT_TRUE(shardless.ok()) << shardless.error();
  EXPECT_EQ((*shardless)->backlog(), std::optional<uint64_t>(0));
}

TEST(Base64Test, MatchesRfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out = "prefix:";
    base64_encode(plain, out);
    EXPECT_EQ(out, "prefix:" + encoded);
    std::string decoded = "prefix:";
    ASSERT_TRUE(base64_decode(encoded, decoded)) << encoded;
    EXPECT_EQ(decoded, "prefix:" + plain);
  }
}

TEST(Base64Test, RoundTripsEveryByteAndLength) {
  std::mt19937 random(42);
  for (size_t length = 0; length < 300; ++length) {
    std::string data(length, '\0');
    for (char& c : data) c = static_cast<char>(random() & 0xff);
    std::string encoded;
    base64_encode(data, encoded);
    EXPECT_EQ(encoded.size(), (length + 2) / 3 * 4);
    std::string decoded;
    ASSERT_TRUE(base64_decode(encoded, decoded));
    EXPECT_EQ(decoded, data) << "length " << length;
  }
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string encoded, decoded;
  base64_encode(all_bytes, encoded);
  ASSERT_TRUE(base64_decode(encoded, decoded));
  EXPECT_EQ(decoded, all_bytes);
}

TEST(Base64Test, RejectsMalformedInput) {
  for (const char* bad : {"abc", "ab!d", "====", "Zg=a", "Z===", "Zm9v\n"}) {
    std::string out = "kept";
    EXPECT_FALSE(base64_decode(bad, out)) << bad;
    EXPECT_EQ(out, "kept");
  }
}

}  // namespace
}  // namespace dec::drivers
