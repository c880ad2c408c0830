// Samples the resource usage of a run's hosts (Provider::usage) while its workload runs and sums
// it up over the measured window: CPU seconds, average and peak cores, peak memory per host.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "infra/provider.h"
#include "report/resources.h"

namespace dec::orchestrator {

class UsageSampler {
 public:
  // Starts sampling every `interval` on a thread of its own.
  UsageSampler(infra::Provider& provider, const infra::RunState& state,
               std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  ~UsageSampler();
  UsageSampler(const UsageSampler&) = delete;
  UsageSampler& operator=(const UsageSampler&) = delete;

  // The measured window opens and closes (from the engine's progress: within its reporting
  // interval of the engine's own window).
  void mark_window_start();
  void mark_window_end();
  // Stops sampling; usage over the window (empty when the provider reports none or the window
  // never opened).
  std::vector<report::HostUsage> finish();

 private:
  using Clock = std::chrono::steady_clock;
  struct Sample {
    Clock::time_point at;
    std::vector<infra::UsageSample> hosts;
  };
  Sample take();
  void loop(std::chrono::milliseconds interval);

  infra::Provider& provider_;
  const infra::RunState& state_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<Sample> samples_;  // periodic, in time order
  std::optional<Sample> start_;
  std::optional<Sample> end_;
  std::thread thread_;
};

}  // namespace dec::orchestrator
