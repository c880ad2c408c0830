// dec's producer path against any system, as `dec run` drives it: load::Engine with N producers,
// no consumers, rate 0 (as fast as acknowledgements allow) and a fixed message count, over the
// driver named on the command line, against a running broker. Prints the acknowledged rate and
// the process's CPU time per message (user + system, every thread: engine, driver, client
// library). The per-product scripts (bench/*_vs_*.sh) run it next to the product's own tool on
// the same broker and print the ratio.
//
//   engine_bench --driver NAME --address HOST:PORT[,HOST:PORT...] [--config KEY=VALUE]...
//                [--messages N] [--size B] [--producers P] [--partitions K] [--topic T]
//                [--group G]
// --group prepares a consumer group nobody reads (its queues exist, so a RabbitMQ publish is
// routed and stored rather than returned unroutable), as the product's own tool does when it
// declares a queue.
// Output (last line, for scripts): rate=<msg/s> cpu_us=<client CPU microseconds per message>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "load/engine.h"
#include "systems/registry.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string driver;
  std::vector<std::string> addresses;
  dec::core::Settings config;
  uint64_t messages = 200000;
  uint64_t size = 100;
  int producers = 1;
  int partitions = 1;
  std::string topic;
  std::string group;
};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--driver") {
      options.driver = value;
    } else if (flag == "--address") {
      options.addresses = split(value);
    } else if (flag == "--config") {
      size_t equals = value.find('=');
      if (equals == std::string::npos) return false;
      options.config[value.substr(0, equals)] = value.substr(equals + 1);
    } else if (flag == "--messages") {
      options.messages = std::stoull(value);
    } else if (flag == "--size") {
      options.size = std::stoull(value);
    } else if (flag == "--producers") {
      options.producers = std::stoi(value);
    } else if (flag == "--partitions") {
      options.partitions = std::stoi(value);
    } else if (flag == "--topic") {
      options.topic = value;
    } else if (flag == "--group") {
      options.group = value;
    } else {
      return false;
    }
  }
  return (argc % 2) == 1 && !options.driver.empty() && !options.addresses.empty();
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(
        stderr,
        "usage: %s --driver NAME --address HOST:PORT[,...] [--config KEY=VALUE]... "
        "[--messages N] [--size B] [--producers P] [--partitions K] [--topic T] [--group G]\n",
        argv[0]);
    return 2;
  }
  const dec::drivers::DriverInfo* info = dec::systems::find_driver(options.driver);
  if (info == nullptr) {
    std::fprintf(stderr, "unknown driver %s\n", options.driver.c_str());
    return 2;
  }
  if (auto errors = dec::drivers::validate_driver_config(*info, options.config, "config");
      !errors.empty()) {
    for (const auto& error : errors) {
      std::fprintf(stderr, "%s: %s\n", error.path.c_str(), error.message.c_str());
    }
    return 2;
  }
  if (options.topic.empty()) {
    options.topic = "engine-bench-" + std::to_string(::getpid());
  }
  auto driver = info->create();
  if (auto s = driver->connect({options.addresses, {}}, options.config); !s) {
    std::fprintf(stderr, "connect: %s\n", s.error().c_str());
    return 1;
  }
  if (auto s = driver->create_topic(options.topic, options.partitions); !s) {
    std::fprintf(stderr, "create_topic: %s\n", s.error().c_str());
    return 1;
  }

  if (!options.group.empty()) {
    if (auto s = driver->prepare_consumers({options.topic}, {options.group}); !s) {
      std::fprintf(stderr, "prepare_consumers: %s\n", s.error().c_str());
      return 1;
    }
  }

  dec::load::EngineOptions engine_options;
  engine_options.producers = options.producers;
  engine_options.consumers = 0;
  engine_options.rate = 0;
  engine_options.warmup = std::chrono::nanoseconds(0);
  engine_options.duration = std::chrono::seconds(300);  // max_messages ends the run first
  engine_options.message_size = options.size;
  engine_options.max_messages = options.messages;
  engine_options.topics = {options.topic};
  dec::load::Engine engine(*driver, engine_options);
  std::atomic<bool> stop{false};
  const double cpu_before = cpu_seconds();
  const auto began = Clock::now();
  auto result = engine.run([](const dec::load::Progress&) {}, stop);
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  const double cpu = cpu_seconds() - cpu_before;
  (void)driver->delete_topic(options.topic);
  if (!result.ok()) {
    std::fprintf(stderr, "engine: %s\n", result.error().c_str());
    return 1;
  }
  const auto& delivery = result->delivery;
  if (!result->error.empty() || delivery.send_errors > 0 || delivery.acked != options.messages) {
    std::fprintf(stderr, "engine: %s (acked %llu of %llu, %llu errors)\n", result->error.c_str(),
                 static_cast<unsigned long long>(delivery.acked),
                 static_cast<unsigned long long>(options.messages),
                 static_cast<unsigned long long>(delivery.send_errors));
    return 1;
  }
  const double rate = static_cast<double>(delivery.acked) / seconds;
  std::printf("dec %s: %llu x %llu B acked in %.2f s, publish p99 %.1f ms\n",
              options.driver.c_str(), static_cast<unsigned long long>(delivery.acked),
              static_cast<unsigned long long>(options.size), seconds,
              static_cast<double>(result->publish_latency.percentile(99)) / 1e6);
  std::printf("rate=%.0f cpu_us=%.3f\n", rate, cpu / static_cast<double>(delivery.acked) * 1e6);
  return 0;
}
