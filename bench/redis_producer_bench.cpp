// dec's Redis producer path at full speed, for comparison with redis-benchmark's XADD figure
// (bench/redis_vs_native.sh runs both against one server). Not a google-benchmark program: the
// figure is one end-to-end rate, measured the way `dec run` measures it.
//
//   redis_producer_bench --port P [--messages N] [--producers C] [--pipeline W] [--size B]
//                        [--mode engine|direct]
//   redis_producer_bench --free-port     prints a free loopback port and exits
//
// engine: load::Engine with producers=C, consumers=0, rate=0 (unlimited) and max_messages=N;
//         prints the produced rate the engine reports (what `dec run` shows).
// direct: C threads, each with its own producer, send N/C messages back to back; the rate is
//         acked messages over the wall time from the common start to the last ack.
// Output (last line, for scripts): dec_msgs_per_s=<rate>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "load/engine.h"
#include "systems/redis/redis_driver.h"

using dec::Status;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  uint64_t messages = 400000;
  int producers = 4;
  int pipeline = 64;
  uint64_t size = 100;
  std::string mode = "engine";
};

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    std::string value = argv[++i];
    if (flag == "--port") {
      options.port = std::atoi(value.c_str());
    } else if (flag == "--messages") {
      options.messages = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--producers") {
      options.producers = std::atoi(value.c_str());
    } else if (flag == "--pipeline") {
      options.pipeline = std::atoi(value.c_str());
    } else if (flag == "--size") {
      options.size = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--mode") {
      options.mode = value;
    } else {
      return false;
    }
  }
  return options.port > 0 && options.messages > 0 && options.producers > 0 &&
         (options.mode == "engine" || options.mode == "direct");
}

// Returns the rate, or a negative number after printing why it failed.
double run_direct(dec::drivers::Driver& driver, const Options& options, const std::string& topic) {
  const uint64_t per_producer = options.messages / static_cast<uint64_t>(options.producers);
  const std::string payload(options.size, 'x');
  std::vector<std::unique_ptr<dec::drivers::Producer>> producers;
  for (int p = 0; p < options.producers; ++p) {
    auto producer = driver.make_producer();
    if (!producer.ok()) {
      std::fprintf(stderr, "make_producer: %s\n", producer.error().c_str());
      return -1;
    }
    producers.push_back(std::move(*producer));
  }
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};
  std::barrier start(options.producers + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(options.producers));
  for (int p = 0; p < options.producers; ++p) {
    threads.emplace_back([&, p] {
      dec::drivers::Producer& producer = *producers[static_cast<size_t>(p)];
      uint64_t ok_count = 0;
      uint64_t failed_count = 0;
      start.arrive_and_wait();
      for (uint64_t i = 0; i < per_producer; ++i) {
        Status sent = producer.send(topic, {}, payload, [&](bool ok, std::string_view) {
          ok ? ++ok_count : ++failed_count;
        });
        if (!sent.ok()) break;
      }
      (void)producer.flush();
      acked += ok_count;
      failed += failed_count;
    });
  }
  start.arrive_and_wait();
  auto began = Clock::now();
  for (auto& thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (failed > 0 || acked != per_producer * static_cast<uint64_t>(options.producers)) {
    std::fprintf(stderr, "direct: %llu acked, %llu failed\n",
                 static_cast<unsigned long long>(acked.load()),
                 static_cast<unsigned long long>(failed.load()));
    return -1;
  }
  return static_cast<double>(acked) / seconds;
}

double run_engine(dec::drivers::Driver& driver, const Options& options, const std::string& topic) {
  dec::load::EngineOptions engine_options;
  engine_options.producers = options.producers;
  engine_options.consumers = 0;
  engine_options.rate = 0;
  engine_options.warmup = std::chrono::nanoseconds(0);
  engine_options.duration = std::chrono::seconds(120);  // max_messages ends the run first
  engine_options.message_size = options.size;
  engine_options.max_messages = options.messages;
  engine_options.topics = {topic};
  dec::load::Engine engine(driver, engine_options);
  std::atomic<bool> stop{false};
  auto result = engine.run([](const dec::load::Progress&) {}, stop);
  if (!result.ok()) {
    std::fprintf(stderr, "engine: %s\n", result.error().c_str());
    return -1;
  }
  if (!result->error.empty() || result->delivery.send_errors > 0 ||
      result->delivery.acked != options.messages) {
    std::fprintf(stderr, "engine: %s (acked %llu of %llu, %llu errors)\n", result->error.c_str(),
                 static_cast<unsigned long long>(result->delivery.acked),
                 static_cast<unsigned long long>(options.messages),
                 static_cast<unsigned long long>(result->delivery.send_errors));
    return -1;
  }
  std::printf("engine: %llu acked in %.3f s, publish latency p50 %.1f us p99 %.1f us\n",
              static_cast<unsigned long long>(result->delivery.acked), result->measured_seconds,
              static_cast<double>(result->publish_latency.percentile(50)) / 1e3,
              static_cast<double>(result->publish_latency.percentile(99)) / 1e3);
  return result->produced_msgs_per_s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--free-port") == 0) {
    int port = free_loopback_port();
    if (port < 0) return 1;
    std::printf("%d\n", port);
    return 0;
  }
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: %s --port P [--messages N] [--producers C] [--pipeline W] [--size B] "
                 "[--mode engine|direct]\n       %s --free-port\n",
                 argv[0], argv[0]);
    return 2;
  }
  dec::drivers::RedisDriver driver;
  dec::drivers::Endpoint endpoint{{"127.0.0.1:" + std::to_string(options.port)}, {}};
  if (Status connected = driver.connect(endpoint, {{"pipeline", std::to_string(options.pipeline)}});
      !connected.ok()) {
    std::fprintf(stderr, "%s\n", connected.error().c_str());
    return 1;
  }
  const std::string topic = "dec-bench";
  if (Status created = driver.create_topic(topic, 1); !created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().c_str());
    return 1;
  }
  double rate = options.mode == "engine" ? run_engine(driver, options, topic)
                                         : run_direct(driver, options, topic);
  (void)driver.delete_topic(topic);  // frees the server's memory for the next round
  if (rate < 0) return 1;
  std::printf("dec_msgs_per_s=%.0f\n", rate);
  return 0;
}
