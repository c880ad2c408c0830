// Resource usage over the measured window and what it says about the figures: a saturated load
// agent, a client window too small for the offered rate, or the system itself.
#include "report/resources.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "orchestrator/usage_sampler.h"
#include "report/results.h"

namespace dec {
namespace {

using report::HostUsage;
using report::ResourceFacts;

HostUsage host(const std::string& role, double avg, std::optional<double> limit = std::nullopt) {
  HostUsage h;
  h.address = role == "broker" ? "host.s.0" : "host.s.worker";
  h.role = role;
  h.cpus_limit = limit;
  h.cpu_avg = avg;
  h.cpu_peak = avg;
  h.cpu_seconds = avg * 10;
  return h;
}

ResourceFacts facts(double offered, bool sustained) {
  ResourceFacts f;
  f.window.offered_per_s = offered;
  f.window.rate_sustained = sustained;
  f.measured_seconds = 10;
  f.received_in_window = 100000;
  f.producers = 2;
  f.consumers = 2;
  f.machine_cores = 8;
  return f;
}

TEST(AnalyzeResources, AnAgentAtItsCpuLimitIsSaturatedAndExplainsAShortfall) {
  auto v = report::analyze_resources({host("broker", 0.3), host("load agent", 0.098, 0.1)},
                                     facts(40000, false));
  EXPECT_TRUE(v.load_generator_saturated);
  EXPECT_NE(v.saturation_reason.find("host.s.worker used 0.10 of 0.10 cores"), std::string::npos)
      << v.saturation_reason;
  EXPECT_EQ(v.limited_by, "load agent CPU");
  ASSERT_TRUE(v.msgs_per_broker_cpu_s);
  EXPECT_NEAR(*v.msgs_per_broker_cpu_s, 100000 / 3.0, 1);
}

TEST(AnalyzeResources, WithoutALimitTheAgentCanUseOneCorePerThread) {
  // 2 producers + 2 consumers: 4 cores of the machine's 8; 3.5 of them is not saturated, 3.7 is.
  EXPECT_FALSE(report::analyze_resources({host("load agent", 3.5)}, facts(1000, true))
                   .load_generator_saturated);
  EXPECT_TRUE(report::analyze_resources({host("load agent", 3.7)}, facts(1000, true))
                  .load_generator_saturated);
}

TEST(AnalyzeResources, ASmallClientWindowIsNamedByLittlesLaw) {
  ResourceFacts f = facts(20000, false);
  f.max_in_flight = 1;
  f.publish_latency_p50_s = 0.001;  // 2 producers x 1 / 1 ms = 2,000 msg/s of the 20,000
  auto v = report::analyze_resources({host("broker", 0.2), host("load agent", 0.5)}, f);
  EXPECT_FALSE(v.load_generator_saturated);
  EXPECT_EQ(v.limited_by, "client in-flight window");
  EXPECT_NE(v.limited_by_reason.find("2000 msg/s of the 20000 offered"), std::string::npos)
      << v.limited_by_reason;
}

TEST(AnalyzeResources, OtherwiseTheSystemAndWhetherItWasCpuBound) {
  ResourceFacts f = facts(20000, false);
  f.max_in_flight = 1000;
  f.publish_latency_p50_s = 0.001;
  auto busy = report::analyze_resources({host("broker", 0.95, 1.0)}, f);
  EXPECT_EQ(busy.limited_by, "system under test");
  EXPECT_NE(busy.limited_by_reason.find("CPU-bound"), std::string::npos);
  auto idle = report::analyze_resources({host("broker", 0.2, 1.0)}, f);
  EXPECT_NE(idle.limited_by_reason.find("not CPU-bound"), std::string::npos);
  // A sustained rate needs no explanation.
  EXPECT_EQ(report::analyze_resources({host("broker", 0.95, 1.0)}, facts(20000, true)).limited_by,
            "");
}

// A provider whose one host burns exactly 0.5 core and grows its memory.
class SteadyProvider : public infra::Provider {
 public:
  std::string name() const override { return "steady"; }
  Result<std::vector<infra::Resource>> resources_for(const core::System&,
                                                     const infra::DeployRequest&) override {
    return std::vector<infra::Resource>{};
  }
  Status create(infra::ResourceRecord&, const infra::RunState&,
                const std::function<Status()>&) override {
    return Status::Ok();
  }
  Status destroy(const infra::ResourceRecord&, const infra::RunState&) override {
    return Status::Ok();
  }
  bool exists(const infra::ResourceRecord&) override { return true; }
  Result<infra::ServiceEndpoint> endpoint(const infra::RunState&) override {
    return make_error("none");
  }
  std::vector<infra::DiscoveredResource> discover() override { return {}; }
  Status destroy_discovered(const infra::DiscoveredResource&) override { return Status::Ok(); }
  std::vector<infra::UsageSample> usage(const infra::RunState&) override {
    std::lock_guard lock(mutex_);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    infra::UsageSample s;
    s.address = "host.s.0";
    s.role = "broker";
    s.cpu_ns = static_cast<uint64_t>(elapsed * 0.5e9);
    s.memory_bytes = static_cast<uint64_t>(1e6 + elapsed * 1e6);
    return {s};
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mutex_;
  Clock::time_point start_ = Clock::now();
};

TEST(UsageSampler, SumsUpTheWindowBetweenItsMarks) {
  SteadyProvider provider;
  infra::RunState state;
  orchestrator::UsageSampler sampler(provider, state, std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // warm-up: not counted
  sampler.mark_window_start();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  sampler.mark_window_end();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // drain: not counted
  auto hosts = sampler.finish();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_NEAR(hosts[0].cpu_avg, 0.5, 0.02);
  EXPECT_NEAR(hosts[0].cpu_seconds, 0.3, 0.05);
  EXPECT_NEAR(hosts[0].cpu_peak, 0.5, 0.05);
  ASSERT_TRUE(hosts[0].memory_peak_bytes);
  EXPECT_GT(*hosts[0].memory_peak_bytes, 1'700'000u);  // the value at the window's end
}

TEST(UsageSampler, NoWindowNoFigures) {
  SteadyProvider provider;
  infra::RunState state;
  orchestrator::UsageSampler sampler(provider, state, std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(sampler.finish().empty());
}

// A succeeded 10 s run of `system` at 1000 msg/s with every message delivered.
report::RunResult measured_run(const std::string& system) {
  report::RunResult run;
  run.system = system;
  run.driver = "redis";
  run.status = "succeeded";
  run.engine.measured_seconds = 10;
  run.engine.produced_msgs_per_s = 1000;
  run.engine.delivery.sent = run.engine.delivery.acked = run.engine.delivery.received = 10000;
  for (int v = 1; v <= 100; ++v) run.engine.end_to_end_latency.record(uint64_t(v) * 1000);
  return run;
}

TEST(ResourcesTable, RowsAndTheReasonsBelowTheTable) {
  report::ExperimentResult result;
  result.id = "x";
  result.experiment = "demo";
  report::RunResult run = measured_run("starved");
  run.resources = {host("broker", 0.3), host("load agent", 0.1, 0.1)};
  run.resource_verdict = report::analyze_resources(run.resources, facts(40000, false));
  result.runs.push_back(run);
  auto table = report::comparison_table(report::to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("broker CPU cores avg / peak"), std::string::npos) << *table;
  EXPECT_NE(table->find("SATURATED: figures are a lower bound"), std::string::npos) << *table;
  EXPECT_NE(table->find("starved: the offered rate was not sustained; likely limit: load agent "
                        "CPU"),
            std::string::npos)
      << *table;
}

// Several hosts of a role: the averages add up, the peak is the busiest host's and says so.
TEST(ResourcesTable, SeveralHostsOfARoleShowTheTotalAndTheBusiestHost) {
  report::ExperimentResult result;
  result.id = "x";
  result.experiment = "cluster";
  report::RunResult run = measured_run("three");
  run.resources = {host("broker", 0.6), host("broker", 0.5), host("broker", 0.7),
                   host("load agent", 0.2)};
  run.resources[3].cpu_peak = 0.4;
  result.runs.push_back(run);
  auto table = report::comparison_table(report::to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("1.80 total / 0.70 busiest of 3"), std::string::npos) << *table;
  EXPECT_NE(table->find("0.20 / 0.40"), std::string::npos) << *table;  // one host: as it was
}

}  // namespace
}  // namespace dec
