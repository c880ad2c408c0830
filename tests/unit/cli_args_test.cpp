#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "report/results.h"
#include "store/store.h"

namespace dec::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"set", true, true}, {"json", false, false}, {"out", true, false}};

TEST(Args, PositionalsValuesAndFlags) {
  auto args =
      parse_args({"spec.yaml", "--set", "a=1", "--set=b=2", "--json", "--out", "f"}, kOptions);
  ASSERT_TRUE(args.ok()) << args.error();
  EXPECT_EQ(args->positionals, std::vector<std::string>{"spec.yaml"});
  EXPECT_EQ(args->all("set"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_TRUE(args->has("json"));
  EXPECT_EQ(args->get("out"), "f");
}

TEST(Args, Errors) {
  auto unknown = parse_args({"--jsn"}, kOptions);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("--jsn"), std::string::npos);
  EXPECT_NE(unknown.error().find("--json"), std::string::npos);
  EXPECT_FALSE(parse_args({"--out"}, kOptions).ok());
  EXPECT_FALSE(parse_args({"--out", "a", "--out", "b"}, kOptions).ok());
  EXPECT_FALSE(parse_args({"--json=1"}, kOptions).ok());
}

struct CliOutcome {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// `dec ...` in-process, its output captured.
CliOutcome dec(const std::vector<std::string>& argv) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  CliOutcome outcome;
  outcome.exit_code = run_cli(argv);
  outcome.out = ::testing::internal::GetCapturedStdout();
  outcome.err = ::testing::internal::GetCapturedStderr();
  return outcome;
}

TEST(Cli, FailOnTargetMissIsAFlagOfRunAndResults) {
  EXPECT_EQ(dec({"run", "--fail-on-target-miss", "--help"}).exit_code, 0);
  EXPECT_EQ(dec({"results", "--fail-on-target-miss", "--help"}).exit_code, 0);
  EXPECT_EQ(dec({"run", "--fail-on-target-miss=yes", "spec.yaml"}).exit_code, 2);   // a flag
  EXPECT_EQ(dec({"validate", "--fail-on-target-miss", "spec.yaml"}).exit_code, 2);  // not here
  const CliOutcome help = dec({"run", "--help"});
  EXPECT_NE(help.out.find("--fail-on-target-miss"), std::string::npos) << help.out;
  EXPECT_NE(dec({"--help"}).out.find("3 a target was missed (with --fail-on-target-miss)"),
            std::string::npos);
}

// `dec results show` over a data dir of its own holding one stored experiment.
class ResultsShowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = (std::filesystem::temp_directory_path() /
                 ("dec-cli-args-" + std::to_string(getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                    .string();
    std::filesystem::remove_all(data_dir_);
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  // One succeeded run: p99 latency 2 ms against a 1 ms target when `p99_missed`.
  static report::ExperimentResult result(bool p99_missed, uint64_t lost) {
    report::ExperimentResult result;
    result.experiment = "gate";
    result.targets.p99_latency = std::chrono::milliseconds(p99_missed ? 1 : 5);
    report::RunResult run;
    run.system = "redis";
    run.status = "succeeded";
    for (int i = 0; i < 100; ++i) run.engine.end_to_end_latency.record(2'000'000);
    run.engine.delivery.sent = 100;
    run.engine.delivery.acked = 100;
    run.engine.delivery.received = 100 - lost;
    run.engine.delivery.lost = lost;
    result.runs.push_back(run);
    return result;
  }

  std::string stored(const report::ExperimentResult& result) {
    auto store = store::Store::open(data_dir_ + "/dec.db");
    EXPECT_TRUE(store.ok()) << store.error();
    if (!store.ok()) return "";
    auto id = (*store)->create_experiment(result.experiment, "{}", "succeeded");
    EXPECT_TRUE(id.ok()) << id.error();
    if (!id.ok()) return "";
    EXPECT_TRUE((*store)->set_results(*id, report::to_json(result)).ok());
    return *id;
  }

  CliOutcome show(const std::string& id, std::vector<std::string> options) {
    std::vector<std::string> argv = {"results", "show", id, "--data-dir", data_dir_};
    argv.insert(argv.end(), options.begin(), options.end());
    return dec(argv);
  }

  std::string data_dir_;
};

TEST_F(ResultsShowTest, MissedTargetExitsThreeOnlyWhenAsked) {
  const std::string id = stored(result(/*p99_missed=*/true, /*lost=*/0));
  EXPECT_EQ(show(id, {}).exit_code, 0);
  const CliOutcome gated = show(id, {"--fail-on-target-miss"});
  EXPECT_EQ(gated.exit_code, 3) << gated.err;
  EXPECT_NE(gated.err.find("redis: p99 latency target missed"), std::string::npos) << gated.err;
  EXPECT_EQ(show(id, {"--json", "--fail-on-target-miss"}).exit_code, 3);
}

TEST_F(ResultsShowTest, FailedDeliveryIsAMiss) {
  const CliOutcome gated = show(stored(result(false, /*lost=*/3)), {"--fail-on-target-miss"});
  EXPECT_EQ(gated.exit_code, 3);
  EXPECT_NE(gated.err.find("redis: delivery check failed (3 lost)"), std::string::npos)
      << gated.err;
}

TEST_F(ResultsShowTest, EverythingMetExitsZero) {
  const CliOutcome gated = show(stored(result(false, 0)), {"--fail-on-target-miss"});
  EXPECT_EQ(gated.exit_code, 0) << gated.err;
  EXPECT_EQ(gated.err, "");
}

}  // namespace
}  // namespace dec::cli
