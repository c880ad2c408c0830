// Is dec's Kafka producer path the bottleneck? In one process, against one librdkafka mock
// cluster, alternately runs
//   native: a bare librdkafka loop (rd_kafka_producev + rd_kafka_poll(0) per message, counting
//           delivery reports, retrying on a full queue, then rd_kafka_flush), and
//   dec:    load::Engine with producers=1, consumers=0, rate=0 and max_messages=N over the
//           Kafka driver, as `dec run` drives it,
// with the same properties (acks=all, linger.ms=5), message size, topic layout and count, each
// on a fresh topic and a thread of its own, in alternating order. Both rates are acked messages
// over the wall time from creating the client to the last acknowledgement. Prints each round, the
// best of each, and the median of the per-round ratios dec / native (target >= 0.9). Not a
// google-benchmark program: the figure is one end-to-end rate.
//
//   kafka_vs_native_bench [--messages N] [--size B] [--rounds R] [--brokers K] [--partitions P]
//                         [--linger-ms L] [--acks A] [--property KEY=VALUE]... [--driver-only]
//                         [--bootstrap HOST:PORT[,...]]
// --bootstrap measures against a running Kafka cluster (bench/kafka_vs_perf_test.sh starts a real
// Apache Kafka broker for it) instead of the mock cluster.
// --driver-only adds a third run per round: the driver's producer without the engine.
// Output (last line, for scripts): dec_over_native=<median ratio>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "load/engine.h"
#include "systems/kafka/kafka_driver.h"
#include "systems/kafka/kafka_mock.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  uint64_t messages = 300000;
  uint64_t size = 100;
  int rounds = 3;
  int brokers = 3;
  int partitions = 3;
  // librdkafka properties given to both sides (dec passes its config keys through unchanged).
  std::map<std::string, std::string> properties{{"acks", "all"}, {"linger.ms", "5"}};
  bool driver_only = false;  // also time the driver without the engine
  std::string bootstrap;     // a real cluster; empty = start a mock cluster
};

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--driver-only") {
      options.driver_only = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    std::string value = argv[++i];
    if (flag == "--messages") {
      options.messages = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--size") {
      options.size = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--rounds") {
      options.rounds = std::atoi(value.c_str());
    } else if (flag == "--brokers") {
      options.brokers = std::atoi(value.c_str());
    } else if (flag == "--partitions") {
      options.partitions = std::atoi(value.c_str());
    } else if (flag == "--linger-ms") {
      options.properties["linger.ms"] = value;
    } else if (flag == "--acks") {
      options.properties["acks"] = value;
    } else if (flag == "--bootstrap") {
      options.bootstrap = value;
    } else if (flag == "--property" && value.find('=') != std::string::npos) {
      options.properties[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    } else {
      return false;
    }
  }
  // The engine's payload header needs 32 bytes.
  return options.messages > 0 && options.size >= 32 && options.rounds > 0 && options.rounds <= 50 &&
         options.brokers > 0 && options.partitions > 0;
}

struct NativeCounts {
  uint64_t acked = 0;
  uint64_t failed = 0;
};

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* counts = static_cast<NativeCounts*>(opaque);
  message->err ? ++counts->failed : ++counts->acked;
}

// Returns the rate, or a negative number after printing why it failed.
double run_native(const Options& options, const std::string& bootstrap, const std::string& topic) {
  NativeCounts counts;
  std::array<char, 512> reason{};
  auto began = Clock::now();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> properties = options.properties;
  properties["bootstrap.servers"] = bootstrap;
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), reason.data(), reason.size()) !=
        RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "native: %s\n", reason.data());
      rd_kafka_conf_destroy(conf);
      return -1;
    }
  }
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_conf_set_dr_msg_cb(conf, count_delivery);
  rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
  if (!client) {
    std::fprintf(stderr, "native: %s\n", reason.data());
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client, topic.c_str(), nullptr);
  std::string payload(options.size, 'x');
  auto give_up = Clock::now() + std::chrono::seconds(120);
  bool failed = false;
  for (uint64_t i = 0; i < options.messages && !failed; ++i) {
    std::memcpy(payload.data(), &i, sizeof(i));  // distinct payloads, as dec's carry a sequence
    for (;;) {
      rd_kafka_resp_err_t error = rd_kafka_producev(
          client, RD_KAFKA_V_RKT(handle), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(payload.data(), payload.size()), RD_KAFKA_V_END);
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL || Clock::now() > give_up) {
        std::fprintf(stderr, "native: %s\n", rd_kafka_err2str(error));
        failed = true;
        break;
      }
      rd_kafka_poll(client, 10);
    }
    rd_kafka_poll(client, 0);
  }
  rd_kafka_flush(client, 60000);
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  rd_kafka_topic_destroy(handle);
  rd_kafka_destroy(client);
  if (failed || counts.failed > 0 || counts.acked != options.messages) {
    std::fprintf(stderr, "native: %llu acked, %llu failed\n",
                 static_cast<unsigned long long>(counts.acked),
                 static_cast<unsigned long long>(counts.failed));
    return -1;
  }
  return static_cast<double>(counts.acked) / seconds;
}

double run_dec(dec::drivers::Driver& driver, const Options& options, const std::string& topic) {
  dec::load::EngineOptions engine_options;
  engine_options.producers = 1;
  engine_options.consumers = 0;
  engine_options.rate = 0;
  engine_options.warmup = std::chrono::nanoseconds(0);
  engine_options.duration = std::chrono::seconds(120);  // max_messages ends the run first
  engine_options.message_size = options.size;
  engine_options.max_messages = options.messages;
  engine_options.topics = {topic};
  dec::load::Engine engine(driver, engine_options);
  std::atomic<bool> stop{false};
  auto began = Clock::now();
  auto result = engine.run([](const dec::load::Progress&) {}, stop);
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (!result.ok()) {
    std::fprintf(stderr, "dec: %s\n", result.error().c_str());
    return -1;
  }
  if (!result->error.empty() || result->delivery.send_errors > 0 ||
      result->delivery.acked != options.messages) {
    std::fprintf(stderr, "dec: %s (acked %llu of %llu, %llu errors)\n", result->error.c_str(),
                 static_cast<unsigned long long>(result->delivery.acked),
                 static_cast<unsigned long long>(options.messages),
                 static_cast<unsigned long long>(result->delivery.send_errors));
    return -1;
  }
  std::printf(
      "        (engine: sending took %.1f ms of %.1f ms; send-side %.0f msg/s; "
      "publish latency p99 %.1f ms)\n",
      result->measured_seconds * 1e3, seconds * 1e3, result->produced_msgs_per_s,
      static_cast<double>(result->publish_latency.percentile(99)) / 1e6);
  return static_cast<double>(result->delivery.acked) / seconds;
}

// dec's driver alone, without the engine: one KafkaProducer, a counting callback, then flush.
// Shows how much of a gap is the driver's and how much the engine's.
double run_driver_only(dec::drivers::Driver& driver, const Options& options,
                       const std::string& topic) {
  uint64_t acked = 0;
  uint64_t failed = 0;
  auto began = Clock::now();
  auto producer = driver.make_producer();
  if (!producer.ok()) {
    std::fprintf(stderr, "driver: %s\n", producer.error().c_str());
    return -1;
  }
  std::string payload(options.size, 'x');
  for (uint64_t i = 0; i < options.messages; ++i) {
    std::memcpy(payload.data(), &i, sizeof(i));
    dec::Status sent = (*producer)->send(
        topic, {}, payload, [&](bool ok, std::string_view) { ok ? ++acked : ++failed; });
    if (!sent.ok()) {
      std::fprintf(stderr, "driver: %s\n", sent.error().c_str());
      return -1;
    }
  }
  dec::Status flushed = (*producer)->flush();
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (!flushed.ok() || failed > 0 || acked != options.messages) {
    std::fprintf(stderr, "driver: %llu acked, %llu failed %s\n",
                 static_cast<unsigned long long>(acked), static_cast<unsigned long long>(failed),
                 flushed.ok() ? "" : flushed.error().c_str());
    return -1;
  }
  return static_cast<double>(acked) / seconds;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: %s [--messages N] [--size B>=32] [--rounds R] [--brokers K] "
                 "[--partitions P] [--linger-ms L] [--acks A] [--property KEY=VALUE]... "
                 "[--driver-only]\n",
                 argv[0]);
    return 2;
  }
  dec::Result<std::unique_ptr<dec::drivers::KafkaMockCluster>> cluster =
      dec::make_error("not started");
  std::string bootstrap_servers = options.bootstrap;
  dec::core::Settings endpoint_properties;
  if (bootstrap_servers.empty()) {
    cluster = dec::drivers::KafkaMockCluster::start(options.brokers);
    if (!cluster.ok()) {
      std::fprintf(stderr, "%s\n", cluster.error().c_str());
      return 1;
    }
    bootstrap_servers = (*cluster)->addresses().bootstrap_servers;
    endpoint_properties = {{"emulated", "true"},
                           {"kafka_mock_control", (*cluster)->addresses().control}};
  }
  std::vector<std::string> servers;
  for (size_t start = 0; start <= bootstrap_servers.size();) {
    size_t comma = bootstrap_servers.find(',', start);
    if (comma == std::string::npos) comma = bootstrap_servers.size();
    servers.push_back(bootstrap_servers.substr(start, comma - start));
    start = comma + 1;
  }
  dec::drivers::KafkaDriver driver;
  dec::drivers::Endpoint endpoint{servers, endpoint_properties};
  if (dec::Status connected = driver.connect(
          endpoint, dec::core::Settings(options.properties.begin(), options.properties.end()));
      !connected.ok()) {
    std::fprintf(stderr, "%s\n", connected.error().c_str());
    return 1;
  }
  std::string shared;
  for (const auto& [key, value] : options.properties) shared += " " + key + "=" + value;
  std::printf("librdkafka %s, %s, %d partitions, %llu messages of %llu B,%s\n",
              rd_kafka_version_str(),
              options.bootstrap.empty()
                  ? ("mock cluster of " + std::to_string(options.brokers) + " brokers").c_str()
                  : ("cluster at " + options.bootstrap).c_str(),
              options.partitions, static_cast<unsigned long long>(options.messages),
              static_cast<unsigned long long>(options.size), shared.c_str());
  std::vector<double> native_rates;
  std::vector<double> dec_rates;
  std::vector<double> ratios;
  std::vector<double> driver_ratios;
  for (int round = 1; round <= options.rounds; ++round) {
    // A fresh topic per run, so each starts with empty partition logs; created through the
    // driver either way (the mock has no Admin API).
    std::string native_topic = "bench-native-" + std::to_string(round);
    std::string dec_topic = "bench-dec-" + std::to_string(round);
    std::string driver_topic = "bench-driver-" + std::to_string(round);
    for (const std::string& topic : {native_topic, dec_topic, driver_topic}) {
      if (dec::Status created = driver.create_topic(topic, options.partitions); !created.ok()) {
        std::fprintf(stderr, "%s\n", created.error().c_str());
        return 1;
      }
    }
    // Each run on a thread of its own, as the engine's producers are, and in alternating order
    // so that neither always meets the cluster straight after the other.
    auto on_thread = [](const std::function<double()>& run) {
      double rate = -1;
      std::thread([&] { rate = run(); }).join();
      return rate;
    };
    double native = -1;
    double through_dec = -1;
    auto run_native_once = [&] {
      native = on_thread([&] { return run_native(options, bootstrap_servers, native_topic); });
      if (native >= 0) std::printf("round %d native %10.0f msg/s\n", round, native);
    };
    auto run_dec_once = [&] {
      through_dec = on_thread([&] { return run_dec(driver, options, dec_topic); });
      if (through_dec >= 0) std::printf("round %d dec    %10.0f msg/s\n", round, through_dec);
    };
    if (round % 2 == 1) {
      run_native_once();
      if (native >= 0) run_dec_once();
    } else {
      run_dec_once();
      if (through_dec >= 0) run_native_once();
    }
    if (native < 0 || through_dec < 0) return 1;
    std::printf("round %d ratio dec/native %.3f\n", round, through_dec / native);
    if (options.driver_only) {
      double driver_only =
          on_thread([&] { return run_driver_only(driver, options, driver_topic); });
      if (driver_only < 0) return 1;
      std::printf("round %d driver %10.0f msg/s   (KafkaProducer without the engine)\n", round,
                  driver_only);
      driver_ratios.push_back(driver_only / native);
    }
    native_rates.push_back(native);
    dec_rates.push_back(through_dec);
    ratios.push_back(through_dec / native);
    std::fflush(stdout);
  }
  double best_native = *std::max_element(native_rates.begin(), native_rates.end());
  double best_dec = *std::max_element(dec_rates.begin(), dec_rates.end());
  std::printf("best: native %.0f msg/s, dec %.0f msg/s, ratio of bests %.3f\n", best_native,
              best_dec, best_dec / best_native);
  if (!driver_ratios.empty()) {
    std::printf("median driver-only / native: %.3f\n", median(driver_ratios));
  }
  std::printf("median of per-round ratios (target >= 0.9):\n");
  std::printf("dec_over_native=%.3f\n", median(ratios));
  return 0;
}
