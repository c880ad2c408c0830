// The reference for dec's MQTT producer: a bare libmosquitto loop, the way a hand-written client
// publishes as fast as the broker acknowledges. One connection per producer thread, each
// publishing its share of N messages of B bytes at QoS q with at most W unacknowledged, driving
// mosquitto_loop on its own thread (no library thread), counting acknowledgements (PUBACK for
// QoS 1, PUBCOMP for QoS 2, written to the socket for QoS 0). Prints the acknowledged rate and
// the CPU time per message, in the same format as engine_bench.
//
//   mqtt_native_bench --host H --port P [--messages N] [--size B] [--qos Q] [--inflight W]
//                     [--producers C] [--partitions K]
// Output (last line): rate=<msg/s> cpu_us=<client CPU microseconds per message>
#include <mosquitto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  uint64_t messages = 200000;
  size_t size = 100;
  int qos = 1;
  int inflight = 1000;
  int producers = 1;
  int partitions = 1;
};

struct Counts {
  uint64_t acked = 0;
};

void on_publish(mosquitto*, void* user, int) { ++static_cast<Counts*>(user)->acked; }

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--host") {
      o.host = value;
    } else if (flag == "--port") {
      o.port = std::stoi(value);
    } else if (flag == "--messages") {
      o.messages = std::stoull(value);
    } else if (flag == "--size") {
      o.size = std::stoull(value);
    } else if (flag == "--qos") {
      o.qos = std::stoi(value);
    } else if (flag == "--inflight") {
      o.inflight = std::stoi(value);
    } else if (flag == "--producers") {
      o.producers = std::stoi(value);
    } else if (flag == "--partitions") {
      o.partitions = std::stoi(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One producer: its share of the messages, spread over the partitions' topics. Returns the
// number acknowledged (== share on success).
uint64_t produce(const Options& o, int index, uint64_t share) {
  Counts counts;
  std::string id = "mqtt-native-bench-" + std::to_string(::getpid()) + "-" + std::to_string(index);
  mosquitto* client = mosquitto_new(id.c_str(), true, &counts);
  if (client == nullptr) return 0;
  mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_max_inflight_messages_set(client, static_cast<unsigned>(o.inflight));
  mosquitto_publish_callback_set(client, on_publish);
  if (mosquitto_connect(client, o.host.c_str(), o.port, 60) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "cannot connect to %s:%d\n", o.host.c_str(), o.port);
    mosquitto_destroy(client);
    return 0;
  }
  std::vector<std::string> topics;
  for (int p = 0; p < o.partitions; ++p) topics.push_back("native-bench/" + std::to_string(p));
  std::string payload(o.size, 'x');
  uint64_t sent = 0;
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  while (counts.acked < share && Clock::now() < deadline) {
    // Keep the window full, then let the loop read acknowledgements and write what is queued.
    while (sent < share && sent - counts.acked < static_cast<uint64_t>(o.inflight)) {
      const std::string& topic = topics[sent % topics.size()];
      if (mosquitto_publish(client, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                            payload.data(), o.qos, false) != MOSQ_ERR_SUCCESS) {
        break;
      }
      ++sent;
    }
    if (mosquitto_loop(client, 100, 1) != MOSQ_ERR_SUCCESS) break;
  }
  mosquitto_disconnect(client);
  mosquitto_destroy(client);
  return counts.acked;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s --host H --port P [--messages N] [--size B] [--qos Q] [--inflight W] "
                 "[--producers C] [--partitions K]\n",
                 argv[0]);
    return 2;
  }
  mosquitto_lib_init();
  const double cpu_before = cpu_seconds();
  const auto began = Clock::now();
  std::vector<std::thread> threads;
  std::vector<uint64_t> acked(static_cast<size_t>(o.producers), 0);
  for (int i = 0; i < o.producers; ++i) {
    uint64_t share = o.messages / o.producers + (i < static_cast<int>(o.messages % o.producers));
    threads.emplace_back([&, i, share] { acked[static_cast<size_t>(i)] = produce(o, i, share); });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  const double cpu = cpu_seconds() - cpu_before;
  mosquitto_lib_cleanup();
  uint64_t total = 0;
  for (uint64_t a : acked) total += a;
  if (total != o.messages) {
    std::fprintf(stderr, "only %llu of %llu acknowledged\n", static_cast<unsigned long long>(total),
                 static_cast<unsigned long long>(o.messages));
    return 1;
  }
  std::printf("libmosquitto: %llu x %zu B at QoS %d acked in %.2f s\n",
              static_cast<unsigned long long>(total), o.size, o.qos, seconds);
  std::printf("rate=%.0f cpu_us=%.3f\n", static_cast<double>(total) / seconds,
              cpu / static_cast<double>(total) * 1e6);
  return 0;
}
