// `dec results export`, `dec version` and `dec import omb`, run in-process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/spec_parser.h"
#include "report/results.h"
#include "store/store.h"
#include "systems/registry.h"

namespace dec::cli {
namespace {

namespace fs = std::filesystem;

struct CliOutcome {
  int exit_code = 0;
  std::string out;
  std::string err;
};

CliOutcome dec(const std::vector<std::string>& argv) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  CliOutcome outcome;
  outcome.exit_code = run_cli(argv);
  outcome.out = ::testing::internal::GetCapturedStdout();
  outcome.err = ::testing::internal::GetCapturedStderr();
  return outcome;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CliFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-cli-files-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::string store_result() {
    report::ExperimentResult result;
    result.experiment = "export";
    result.started_at = "2026-11-25T06:35:12Z";
    for (const char* system : {"a", "b"}) {
      report::RunResult run;
      run.run_id = std::string("x.") + system;
      run.system = system;
      run.driver = "redis";
      run.status = "succeeded";
      run.engine.measured_seconds = 5;
      for (int i = 1; i <= 100; ++i) run.engine.end_to_end_latency.record(i * 10'000);
      result.runs.push_back(run);
    }
    auto store = store::Store::open((dir_ / "data" / "dec.db").string());
    EXPECT_TRUE(store.ok()) << store.error();
    auto id = (*store)->create_experiment(result.experiment, "{}", "succeeded");
    result.id = *id;
    EXPECT_TRUE((*store)->set_results(*id, report::to_json(result)).ok());
    return *id;
  }

  fs::path dir_;
};

TEST_F(CliFilesTest, ExportWritesOneHlogPerRunAndACsv) {
  const std::string id = store_result();
  const std::string data = (dir_ / "data").string();
  const std::string out = (dir_ / "out").string();
  auto hdr = dec({"results", "export", id, "--format", "hdr", "--out", out, "--data-dir", data});
  ASSERT_EQ(hdr.exit_code, 0) << hdr.err;
  EXPECT_TRUE(fs::exists(fs::path(out) / "x.a.hlog")) << hdr.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "x.b.hlog"));
  EXPECT_NE(read(fs::path(out) / "x.a.hlog").find("\nTag=e2e,0.000,5.000,1.000,HISTF"),
            std::string::npos)
      << read(fs::path(out) / "x.a.hlog");
  auto csv = dec({"results", "export", id, "--format", "csv", "--out", out, "--data-dir", data});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::string table = read(fs::path(out) / (id + ".csv"));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3) << table;
}

TEST_F(CliFilesTest, ExportNeedsAKnownFormat) {
  const std::string id = store_result();
  auto bad =
      dec({"results", "export", id, "--format", "xml", "--data-dir", (dir_ / "data").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--format: expected hdr, csv or html, got \"xml\""), std::string::npos)
      << bad.err;
}

// The report as a file: with the web app's report bundle (--web DIR) it is inlined with the
// results; without one the report keeps its SVG charts and says how to get the interactive ones.
TEST_F(CliFilesTest, ExportHtmlInlinesTheReportBundleWhenBuilt) {
  const std::string id = store_result();
  const std::string data = (dir_ / "data").string();
  const std::string out = (dir_ / "out").string();
  fs::create_directories(dir_ / "web" / "report");
  write("web/report/report.js", "window.decReportBundle = 2;");
  auto built = dec({"results", "export", id, "--format", "html", "--out", out, "--web",
                    (dir_ / "web").string(), "--data-dir", data});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string page = read(fs::path(out) / (id + ".html"));
  EXPECT_NE(page.find("<script>window.decReportBundle = 2;</script>"), std::string::npos) << page;
  EXPECT_NE(page.find("id=\"dec-results\""), std::string::npos);
  EXPECT_NE(page.find("\"run_id\":\"x.a\""), std::string::npos) << "the results, embedded";

  auto plain = dec({"results", "export", id, "--format", "html", "--out", out, "--web",
                    (dir_ / "no-web").string(), "--data-dir", data});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::string svg = read(fs::path(out) / (id + ".html"));
  EXPECT_EQ(svg.find("<script"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("npm --prefix web run build"), std::string::npos);
}

TEST(CliVersion, PrintsDecAndClientLibraryVersions) {
  auto version = dec({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("dec ", 0), 0u) << version.out;
  for (const char* library :
       {"librdkafka ", "hiredis ", "libnats ", "librabbitmq ", "libmosquitto ", "libcurl "}) {
    EXPECT_NE(version.out.find(library), std::string::npos) << library << "\n" << version.out;
  }
}

// Written in OMB's format, modelled on its workloads/ and driver-kafka/ files.
constexpr const char* kOmbWorkload = R"(name: 1 topic / 16 partitions / 1kb

topics: 1
partitionsPerTopic: 16
messageSize: 1024
useRandomizedPayloads: true
randomBytesRatio: 0.5
randomizedPayloadPoolSize: 1000
subscriptionsPerTopic: 1
consumerPerSubscription: 2
producersPerTopic: 2
producerRate: 50000
consumerBacklogSizeGB: 0
testDurationMinutes: 2
warmupDurationMinutes: 0.5
keyDistributor: KEY_ROUND_ROBIN
someFutureField: 7
)";

constexpr const char* kOmbKafkaDriver = R"(name: Kafka
driverClass: io.openmessaging.benchmark.driver.kafka.KafkaBenchmarkDriver

# Kafka client-specific configuration
replicationFactor: 3
reset: true

topicConfig: |
  min.insync.replicas=2
  flush.messages=1

commonConfig: |
  bootstrap.servers=localhost:9092
  request.timeout.ms=30000

producerConfig: |
  acks=all
  linger.ms=1
  batch.size=131072
  key.serializer=org.apache.kafka.common.serialization.StringSerializer

consumerConfig: |
  auto.offset.reset=earliest
  enable.auto.commit=false
  max.partition.fetch.bytes=10485760
  not.a.kafka.setting=3
)";

TEST_F(CliFilesTest, ImportedOmbFilesMakeAValidSpecAndNameWhatIsLeftOut) {
  const std::string workload = write("workload.yaml", kOmbWorkload);
  const std::string driver = write("kafka.yaml", kOmbKafkaDriver);
  const std::string spec = (dir_ / "spec.yaml").string();
  auto imported = dec({"import", "omb", workload, "--driver", driver, "--out", spec});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  for (const char* named :
       {"workload.yaml: someFutureField:", "kafka.yaml: commonConfig.bootstrap.servers:",
        "kafka.yaml: producerConfig.key.serializer:",
        "kafka.yaml: consumerConfig.not.a.kafka.setting:"}) {
    EXPECT_NE(imported.err.find(std::string("/") + named), std::string::npos) << named << "\n"
                                                                              << imported.err;
  }
  EXPECT_EQ(imported.err.rfind("warning: ", 0), 0u) << imported.err;
  auto parsed = core::parse_spec_file(spec, {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok()) << read(spec) << "\n" << parsed.errors.front().to_string();
  const auto& w = parsed.spec.workload;
  EXPECT_EQ(parsed.spec.name, "1 topic / 16 partitions / 1kb");
  EXPECT_EQ(w.partitions, 16);
  EXPECT_EQ(w.message_size, 1024u);
  EXPECT_EQ(w.producers, 2);
  EXPECT_EQ(w.consumers, 2);
  EXPECT_EQ(w.consumer_groups, 1);
  EXPECT_DOUBLE_EQ(w.rate, 50000);
  EXPECT_EQ(w.duration, std::chrono::minutes(2));
  EXPECT_EQ(w.warmup, std::chrono::seconds(30));
  EXPECT_EQ(w.keys, 10000);
  EXPECT_FALSE(w.backlog.enabled()) << "consumerBacklogSizeGB: 0 is OMB's \"no backlog\"";
  // useRandomizedPayloads: a pool of randomizedPayloadPoolSize bodies, randomBytesRatio random.
  EXPECT_EQ(w.payload.pool, 1000u);
  EXPECT_DOUBLE_EQ(w.payload.random_bytes_ratio, 0.5);
  EXPECT_EQ(imported.err.find("randomBytesRatio"), std::string::npos) << imported.err;
  ASSERT_EQ(parsed.spec.systems.size(), 1u);
  const auto& system = parsed.spec.systems[0];
  EXPECT_EQ(system.driver, "kafka");
  EXPECT_EQ(system.config.at("acks"), "all");
  EXPECT_EQ(system.config.at("linger.ms"), "1");
  EXPECT_EQ(system.config.at("replication_factor"), "3");
  EXPECT_EQ(system.config.count("bootstrap.servers"), 0u);
  EXPECT_EQ(system.deploy.server.at("min.insync.replicas"), "2");
  EXPECT_EQ(system.deploy.server.at("log.flush.interval.messages"), "1");
  EXPECT_NE(read(spec).find("# not carried over: "), std::string::npos);

  auto validated = dec({"validate", spec});
  EXPECT_EQ(validated.exit_code, 0) << validated.err;
}

// OMB's producerRate 0 is its rate search; RANDOM_NANO keys are random; payloadFile is the body.
TEST_F(CliFilesTest, ImportedOmbRateSearchRandomKeysAndPayloadFile) {
  const std::string body = write("payload.data", std::string(512, 'x'));
  const std::string workload = write("workload.yaml", R"(name: search
topics: 1
partitionsPerTopic: 1
messageSize: 1024
payloadFile: )" + body + R"(
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 0
testDurationMinutes: 1
keyDistributor: RANDOM_NANO
)");
  const std::string spec = (dir_ / "spec.yaml").string();
  auto imported = dec({"import", "omb", workload, "--out", spec});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.err.find("producerRate: 0 (OMB: find the highest sustainable rate) becomes "
                              "rate: find-max"),
            std::string::npos)
      << imported.err;
  auto parsed = core::parse_spec_file(spec, {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok()) << read(spec) << "\n" << parsed.errors.front().to_string();
  const auto& w = parsed.spec.workload;
  EXPECT_TRUE(w.search.has_value());
  EXPECT_EQ(w.key_distribution, core::KeyDistribution::kRandom);
  EXPECT_EQ(w.keys, 10000);
  EXPECT_EQ(w.payload.file, body);
  EXPECT_EQ(w.payload.pool, 0u);
}

TEST_F(CliFilesTest, ImportWithoutDriverIsOneKafkaSystem) {
  const std::string workload = write("w.yaml",
                                     "name: tiny\ntopics: 2\nproducersPerTopic: 1\n"
                                     "subscriptionsPerTopic: 2\n"
                                     "consumerPerSubscription: 1\ntestDurationMinutes: 1\n");
  auto imported = dec({"import", "omb", workload});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const std::string spec = write("spec.yaml", imported.out);
  auto parsed = core::parse_spec_file(spec, {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok()) << imported.out << parsed.errors.front().to_string();
  EXPECT_EQ(parsed.spec.workload.producers, 2);
  EXPECT_EQ(parsed.spec.workload.consumers, 2) << "a dec consumer reads every topic";
  EXPECT_EQ(parsed.spec.workload.consumer_groups, 2);
  EXPECT_EQ(parsed.spec.systems.at(0).driver, "kafka");
}

// Modelled on OMB's workloads/1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml, with the
// drain ratio that Workload.java documents.
constexpr const char* kOmbBacklogWorkload =
    R"(name: Backlog for 20k rate 4 producers and 4 consumers

topics: 1
partitionsPerTopic: 100

messageSize: 1024

subscriptionsPerTopic: SUBSCRIPTIONS
consumerPerSubscription: 4
producersPerTopic: 4

producerRate: 20000

consumerBacklogSizeGB: 2
backlogDrainRatio: 0.99
testDurationMinutes: 5
)";

// OMB builds consumerBacklogSizeGB * 1024^3 bytes (WorkloadGenerator), counted over every
// subscription's unread messages; each dec consumer group catches up on its share.
TEST_F(CliFilesTest, ImportedOmbBacklogBecomesWorkloadBacklogInGiB) {
  for (const auto& [subscriptions, size] :
       {std::pair{"1", uint64_t{2} << 30}, std::pair{"2", uint64_t{1} << 30}}) {
    std::string text = kOmbBacklogWorkload;
    text.replace(text.find("SUBSCRIPTIONS"), std::string("SUBSCRIPTIONS").size(), subscriptions);
    const std::string workload = write("backlog.yaml", text);
    auto imported = dec({"import", "omb", workload});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    EXPECT_EQ(imported.err.find("no backlog phase"), std::string::npos) << imported.err;
    // 2 GiB / 1 KiB messages at 20000 msg/s (per group share): the run must be sized for it.
    EXPECT_NE(
        imported.err.find("backlog.yaml: consumerBacklogSizeGB: carried over as workload.backlog"),
        std::string::npos)
        << imported.err;
    EXPECT_NE(imported.err.find(size == (uint64_t{2} << 30) ? "about 105 s to build"
                                                            : "about 53 s to build"),
              std::string::npos)
        << imported.err;
    const std::string spec = write("spec.yaml", imported.out);
    auto parsed = core::parse_spec_file(spec, {}, systems::driver_catalog());
    ASSERT_TRUE(parsed.ok()) << imported.out << parsed.errors.front().to_string();
    const auto& backlog = parsed.spec.workload.backlog;
    EXPECT_EQ(backlog.size, size) << "subscriptions: " << subscriptions << "\n" << imported.out;
    EXPECT_EQ(backlog.messages, 0u);
    EXPECT_DOUBLE_EQ(backlog.drain_ratio, 0.99);
    EXPECT_EQ(parsed.spec.workload.backlog_messages(), size / 1024);
  }
}

TEST_F(CliFilesTest, ImportedOmbBacklogWithoutConsumersOrSizeIsNamed) {
  const std::string produce_only =
      write("p.yaml",
            "name: p\ntopics: 1\nsubscriptionsPerTopic: 0\nproducersPerTopic: 1\n"
            "producerRate: 1000\nconsumerBacklogSizeGB: 1\ntestDurationMinutes: 1\n");
  auto imported = dec({"import", "omb", produce_only});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.err.find("p.yaml: consumerBacklogSizeGB: a backlog needs consumers"),
            std::string::npos)
      << imported.err;
  auto parsed =
      core::parse_spec_file(write("spec.yaml", imported.out), {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok()) << imported.out << parsed.errors.front().to_string();
  EXPECT_FALSE(parsed.spec.workload.backlog.enabled());

  const std::string ratio_only = write("r.yaml", "name: r\ntopics: 1\nbacklogDrainRatio: 0.5\n");
  imported = dec({"import", "omb", ratio_only});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.err.find("r.yaml: backlogDrainRatio: has no effect"), std::string::npos)
      << imported.err;
  parsed = core::parse_spec_file(write("spec.yaml", imported.out), {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok()) << imported.out << parsed.errors.front().to_string();
  EXPECT_FALSE(parsed.spec.workload.backlog.enabled()) << imported.out;

  const std::string bad_ratio =
      write("b.yaml", "name: b\ntopics: 1\nconsumerBacklogSizeGB: 1\nbacklogDrainRatio: 2\n");
  imported = dec({"import", "omb", bad_ratio});
  EXPECT_EQ(imported.exit_code, 2);
  EXPECT_NE(imported.err.find("b.yaml: backlogDrainRatio: expected a number from 0.0 to 1.0"),
            std::string::npos)
      << imported.err;
}

TEST_F(CliFilesTest, ImportErrorsNameTheFileAndField) {
  const std::string workload = write("w.yaml", "name: x\ntopics: many\n");
  auto bad_type = dec({"import", "omb", workload});
  EXPECT_EQ(bad_type.exit_code, 2);
  EXPECT_NE(bad_type.err.find("w.yaml: topics: expected an integer, got \"many\""),
            std::string::npos)
      << bad_type.err;

  const std::string ok = write("ok.yaml", "name: x\ntopics: 1\n");
  const std::string pulsar =
      write("pulsar.yaml",
            "name: Pulsar\ndriverClass: "
            "io.openmessaging.benchmark.driver.pulsar.PulsarBenchmarkDriver\n");
  auto unknown = dec({"import", "omb", ok, "--driver", pulsar});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("pulsar.yaml: driverClass:"), std::string::npos) << unknown.err;

  auto missing = dec({"import", "omb", (dir_ / "nope.yaml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.yaml: cannot read the file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace dec::cli
