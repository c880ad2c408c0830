#include "orchestrator/usage_sampler.h"

#include <algorithm>

namespace dec::orchestrator {

UsageSampler::UsageSampler(infra::Provider& provider, const infra::RunState& state,
                           std::chrono::milliseconds interval)
    : provider_(provider), state_(state) {
  thread_ = std::thread([this, interval] { loop(interval); });
}

UsageSampler::~UsageSampler() { (void)finish(); }

UsageSampler::Sample UsageSampler::take() { return Sample{Clock::now(), provider_.usage(state_)}; }

void UsageSampler::loop(std::chrono::milliseconds interval) {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    Sample sample = take();
    lock.lock();
    samples_.push_back(std::move(sample));
    wake_.wait_for(lock, interval, [this] { return stopping_; });
  }
}

void UsageSampler::mark_window_start() {
  Sample sample = take();
  std::lock_guard lock(mutex_);
  if (!start_) start_ = std::move(sample);
}

void UsageSampler::mark_window_end() {
  Sample sample = take();
  std::lock_guard lock(mutex_);
  if (start_ && !end_) end_ = std::move(sample);
}

std::vector<report::HostUsage> UsageSampler::finish() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!start_) return {};
  if (!end_) end_ = samples_.empty() ? *start_ : samples_.back();
  const double window_s = std::chrono::duration<double>(end_->at - start_->at).count();
  if (window_s <= 0) return {};

  // Every sample inside the window, bounded by the two marks, in time order.
  std::vector<const Sample*> inside = {&*start_};
  for (const Sample& s : samples_) {
    if (s.at > start_->at && s.at < end_->at) inside.push_back(&s);
  }
  inside.push_back(&*end_);
  auto find = [](const Sample& s, const std::string& address) -> const infra::UsageSample* {
    for (const auto& h : s.hosts) {
      if (h.address == address) return &h;
    }
    return nullptr;
  };

  std::vector<report::HostUsage> out;
  for (const infra::UsageSample& first : start_->hosts) {
    const infra::UsageSample* last = find(*end_, first.address);
    if (last == nullptr || last->cpu_ns < first.cpu_ns) continue;  // gone or restarted
    report::HostUsage usage;
    usage.address = first.address;
    usage.role = first.role;
    usage.cpus_limit = first.cpus_limit;
    usage.cpu_seconds = static_cast<double>(last->cpu_ns - first.cpu_ns) / 1e9;
    usage.cpu_avg = usage.cpu_seconds / window_s;
    const infra::UsageSample* previous = &first;
    Clock::time_point previous_at = start_->at;
    for (size_t i = 1; i < inside.size(); ++i) {
      const infra::UsageSample* now = find(*inside[i], first.address);
      if (now == nullptr) continue;
      const double seconds = std::chrono::duration<double>(inside[i]->at - previous_at).count();
      if (seconds >= 0.2 && now->cpu_ns >= previous->cpu_ns) {
        usage.cpu_peak = std::max(
            usage.cpu_peak, static_cast<double>(now->cpu_ns - previous->cpu_ns) / 1e9 / seconds);
        previous = now;
        previous_at = inside[i]->at;
      }
      auto memory = now->memory_peak_bytes ? now->memory_peak_bytes : now->memory_bytes;
      if (memory) usage.memory_peak_bytes = std::max(usage.memory_peak_bytes.value_or(0), *memory);
    }
    usage.cpu_peak = std::max(usage.cpu_peak, usage.cpu_avg);
    out.push_back(std::move(usage));
  }
  return out;
}

}  // namespace dec::orchestrator
