// workload.client mapped onto each driver's keys, and the effective client settings of a run.
#include "drivers/client_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "drivers/driver.h"
#include "systems/registry.h"

namespace dec::drivers {
namespace {

using core::ClientSettings;
using core::Settings;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::IsEmpty;

ClientSettings window(int max_in_flight, nanoseconds linger, nanoseconds fetch_wait) {
  ClientSettings client;
  client.max_in_flight = max_in_flight;
  client.linger = linger;
  client.fetch_wait = fetch_wait;
  return client;
}

TEST(ApplyClientSettings, Redis) {
  EXPECT_EQ(apply_client_settings(systems::find_driver("redis"),
                                  window(64, milliseconds(5), milliseconds(200)), {}),
            (Settings{{"pipeline", "64"}, {"block_ms", "200"}}));  // Redis has no linger
}

TEST(ApplyClientSettings, Kafka) {
  EXPECT_EQ(apply_client_settings(systems::find_driver("kafka"),
                                  window(64, milliseconds(5), milliseconds(10)), {}),
            (Settings{{"queue.buffering.max.messages", "64"},
                      {"linger.ms", "5"},
                      {"fetch.wait.max.ms", "10"}}));
}

TEST(ApplyClientSettings, Kinesis) {
  EXPECT_EQ(apply_client_settings(systems::find_driver("kinesis"),
                                  window(64, milliseconds(5), milliseconds(20)), {}),
            (Settings{{"batch_size", "64"}, {"linger_ms", "5"}, {"poll_interval_ms", "20"}}));
}

TEST(ApplyClientSettings, RabbitMq) {
  // AMQP has no linger (each publish is written at once) and no fetch wait (deliveries are
  // pushed): only the confirm window is mapped.
  EXPECT_EQ(apply_client_settings(systems::find_driver("rabbitmq"),
                                  window(64, milliseconds(5), milliseconds(200)), {}),
            (Settings{{"max_in_flight", "64"}}));
  EXPECT_EQ(apply_client_settings(systems::find_driver("rabbitmq"),
                                  window(64, milliseconds(5), milliseconds(200)),
                                  {{"max_in_flight", "8"}}),
            (Settings{{"max_in_flight", "8"}}));
}

TEST(EffectiveClientSettings, RabbitMqReportsItsDeliverySettings) {
  EXPECT_EQ(effective_client_settings(systems::find_driver("rabbitmq"), {}),
            (Settings{{"max_in_flight", "1000"},
                      {"confirm", "true"},
                      {"persistent", "true"},
                      {"queue_type", "classic"},
                      {"prefetch", "500"},
                      {"auto_ack", "false"}}));
  Settings quorum = effective_client_settings(systems::find_driver("rabbitmq"),
                                              {{"queue_type", "quorum"}, {"timeout_ms", "500"}});
  EXPECT_EQ(quorum["queue_type"], "quorum");
  EXPECT_FALSE(quorum.contains("timeout_ms"));  // not a client window setting
}

TEST(ApplyClientSettings, OnlyTheFieldsGivenAreMapped) {
  ClientSettings client;
  client.linger = milliseconds(0);
  const Settings config = {{"acks", "1"}};
  EXPECT_EQ(apply_client_settings(systems::find_driver("kafka"), client, config),
            (Settings{{"acks", "1"}, {"linger.ms", "0"}}));
  EXPECT_EQ(apply_client_settings(systems::find_driver("redis"), client, config), config);
  EXPECT_EQ(apply_client_settings(systems::find_driver("kafka"), ClientSettings{}, config), config);
}

TEST(ApplyClientSettings, ExplicitConfigWins) {
  const ClientSettings client = window(64, milliseconds(5), milliseconds(10));
  EXPECT_EQ(apply_client_settings(systems::find_driver("redis"), client, {{"pipeline", "8"}}),
            (Settings{{"pipeline", "8"}, {"block_ms", "10"}}));
  EXPECT_EQ(apply_client_settings(systems::find_driver("kinesis"), client,
                                  {{"linger_ms", "0"}, {"batch_size", "500"}}),
            (Settings{{"batch_size", "500"}, {"linger_ms", "0"}, {"poll_interval_ms", "10"}}));
  // librdkafka's other name for linger.ms counts as set: adding linger.ms would contradict it.
  EXPECT_EQ(apply_client_settings(systems::find_driver("kafka"), client,
                                  {{"queue.buffering.max.ms", "50"}, {"fetch.wait.max.ms", "500"}}),
            (Settings{{"queue.buffering.max.ms", "50"},
                      {"fetch.wait.max.ms", "500"},
                      {"queue.buffering.max.messages", "64"}}));
}

TEST(ApplyClientSettings, DurationsRoundUpToWholeMilliseconds) {
  struct Case {
    nanoseconds duration;
    std::string kafka_ms;
  };
  for (const Case& c :
       {Case{nanoseconds(0), "0"}, Case{nanoseconds(1), "1"}, Case{microseconds(100), "1"},
        Case{microseconds(1000), "1"}, Case{microseconds(1500), "2"}, Case{seconds(2), "2000"}}) {
    ClientSettings client;
    client.linger = c.duration;
    client.fetch_wait = c.duration;
    Settings kafka = apply_client_settings(systems::find_driver("kafka"), client, {});
    EXPECT_EQ(kafka["linger.ms"], c.kafka_ms) << c.duration.count() << "ns";
    EXPECT_EQ(kafka["fetch.wait.max.ms"], c.kafka_ms) << c.duration.count() << "ns";
  }
}

TEST(ApplyClientSettings, ValuesAreClampedToWhatTheDriverAccepts) {
  // Kinesis takes at most 500 records per PutRecords; Redis pipelines at most 10000 commands;
  // a fetch wait of 0 would mean "block forever" to Redis and is below Kinesis's minimum.
  const ClientSettings big = window(100000, seconds(60), seconds(0));
  EXPECT_EQ(apply_client_settings(systems::find_driver("kinesis"), big, {}),
            (Settings{{"batch_size", "500"}, {"linger_ms", "60000"}, {"poll_interval_ms", "1"}}));
  EXPECT_EQ(apply_client_settings(systems::find_driver("redis"), big, {}),
            (Settings{{"pipeline", "10000"}, {"block_ms", "1"}}));
  EXPECT_EQ(apply_client_settings(systems::find_driver("kafka"), big, {}),
            (Settings{{"queue.buffering.max.messages", "100000"},
                      {"linger.ms", "60000"},
                      {"fetch.wait.max.ms", "0"}}));
}

// The mapped keys must be keys the drivers accept, with values in their ranges: a renamed or
// narrowed driver key fails here rather than at connect().
TEST(ApplyClientSettings, MappedConfigPassesTheDriversValidation) {
  for (const DriverInfo& driver : systems::all_drivers()) {
    for (const ClientSettings& client :
         {window(1, nanoseconds(0), nanoseconds(0)), window(64, microseconds(1), milliseconds(5)),
          window(2147483647, seconds(60), seconds(60))}) {
      Settings merged = apply_client_settings(&driver, client, {});
      EXPECT_THAT(validate_driver_config(driver, merged, "config"), IsEmpty())
          << driver.name << " " << ::testing::PrintToString(merged);
    }
  }
}

TEST(ApplyClientSettings, UnknownDriverKeepsItsConfig) {
  const Settings config = {{"anything", "1"}};
  EXPECT_EQ(apply_client_settings(systems::find_driver("pulsar"),
                                  window(64, milliseconds(5), milliseconds(5)), config),
            config);
}

TEST(EffectiveClientSettings, DefaultsWhenNothingIsSet) {
  EXPECT_EQ(
      effective_client_settings(systems::find_driver("redis"), {}),
      (Settings{
          {"pipeline", "1"}, {"block_ms", "100"}, {"read_mode", "group"}, {"read_count", "500"}}));
  EXPECT_EQ(effective_client_settings(systems::find_driver("kinesis"), {}),
            (Settings{{"batch_size", "500"},
                      {"linger_ms", "5"},
                      {"poll_interval_ms", "50"},
                      {"max_batch_bytes", "5242880"},
                      {"read_limit", "1000"}}));
  // librdkafka's own defaults (dec sets none of these), from the DriverInfo or the library.
  Settings kafka = effective_client_settings(systems::find_driver("kafka"), {});
  EXPECT_EQ(kafka["acks"], "all");
  EXPECT_EQ(kafka["linger.ms"], "5");
  EXPECT_EQ(kafka["fetch.wait.max.ms"], "500");
  EXPECT_EQ(kafka["queue.buffering.max.messages"], "100000");
  EXPECT_EQ(kafka["max.in.flight.requests.per.connection"], "1000000");
  EXPECT_EQ(kafka["enable.idempotence"], "false");
  EXPECT_EQ(kafka["fetch.min.bytes"], "1");
  EXPECT_EQ(kafka.size(), 10u) << ::testing::PrintToString(kafka);
}

TEST(EffectiveClientSettings, ConfigValuesUnderCanonicalNames) {
  Settings kafka = effective_client_settings(
      systems::find_driver("kafka"),
      {{"request.required.acks", "1"}, {"linger.ms", "0"}, {"bootstrap.timeout", "x"}});
  EXPECT_EQ(kafka["acks"], "1");
  EXPECT_EQ(kafka["linger.ms"], "0");
  EXPECT_FALSE(kafka.contains("request.required.acks"));
  EXPECT_FALSE(kafka.contains("bootstrap.timeout"));  // not a client window setting
  EXPECT_EQ(
      effective_client_settings(systems::find_driver("redis"),
                                {{"pipeline", "64"}, {"maxlen", "10"}}),
      (Settings{
          {"pipeline", "64"}, {"block_ms", "100"}, {"read_mode", "group"}, {"read_count", "500"}}));
  EXPECT_THAT(effective_client_settings(systems::find_driver("pulsar"), {{"pipeline", "64"}}),
              IsEmpty());
}

// What the feature is for: one workload.client gives every driver the same window.
TEST(EffectiveClientSettings, OneWindowForEveryDriver) {
  const ClientSettings client = window(64, milliseconds(0), milliseconds(10));
  Settings redis =
      effective_client_settings(systems::find_driver("redis"),
                                apply_client_settings(systems::find_driver("redis"), client, {}));
  Settings kafka =
      effective_client_settings(systems::find_driver("kafka"),
                                apply_client_settings(systems::find_driver("kafka"), client, {}));
  Settings kinesis =
      effective_client_settings(systems::find_driver("kinesis"),
                                apply_client_settings(systems::find_driver("kinesis"), client, {}));
  EXPECT_EQ(redis["pipeline"], "64");
  EXPECT_EQ(kafka["queue.buffering.max.messages"], "64");
  EXPECT_EQ(kinesis["batch_size"], "64");
  EXPECT_EQ(kafka["linger.ms"], "0");
  EXPECT_EQ(kinesis["linger_ms"], "0");
  EXPECT_EQ(redis["block_ms"], "10");
  EXPECT_EQ(kafka["fetch.wait.max.ms"], "10");
  EXPECT_EQ(kinesis["poll_interval_ms"], "10");
}

}  // namespace
}  // namespace dec::drivers
