#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "infra/env.h"
#include "infra/executor.h"
#include "orchestrator/runner.h"
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

TEST_F(ResultsShowTest, ShowTakesAnExperimentsNameForItsLatestExperiment) {
  report::ExperimentResult first = result(false, 0);
  first.runs[0].system = "first";
  stored(first);
  report::ExperimentResult latest = result(false, 0);
  latest.runs[0].system = "latest";
  const std::string id = stored(latest);
  const CliOutcome by_name = show("gate", {"--json"});
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_NE(by_name.out.find("\"latest\""), std::string::npos) << by_name.out;
  EXPECT_EQ(by_name.out.find("\"first\""), std::string::npos) << by_name.out;
  const CliOutcome unknown = show("nothing-called-this", {});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no experiment with id or name \"nothing-called-this\""),
            std::string::npos)
      << unknown.err;
}

TEST_F(ResultsShowTest, UnknownStateIsAUsageErrorNamingTheValidOnes) {
  const CliOutcome bogus = dec({"results", "list", "--state", "bogus", "--data-dir", data_dir_});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_NE(bogus.err.find("--state: unknown state \"bogus\""), std::string::npos) << bogus.err;
  for (const char* state : {"queued", "running", "succeeded", "failed", "cancelled"}) {
    EXPECT_NE(bogus.err.find(state), std::string::npos) << state << "\n" << bogus.err;
  }
  const CliOutcome typo = dec({"results", "list", "--state", "succeded", "--data-dir", data_dir_});
  EXPECT_NE(typo.err.find("did you mean \"succeeded\"?"), std::string::npos) << typo.err;
  EXPECT_EQ(dec({"results", "list", "--state", "failed", "--data-dir", data_dir_}).exit_code, 0);
}

TEST_F(ResultsShowTest, ReadOnlyCommandsCreateNoDataDirOrDatabase) {
  const std::string spec = DEC_SOURCE_DIR "/examples/redis-quickstart.yaml";
  const std::vector<std::vector<std::string>> commands = {
      {"results", "list"},
      {"results", "list", "--json"},
      {"results", "show", "x"},
      {"results", "export", "x", "--format", "csv"},
      {"validate", spec},
      {"plan", spec},
      {"version"},
      {"reconcile", "--dry-run"},
      {"apply", "--list"},
      {"drivers"}};
  for (std::vector<std::string> argv : commands) {
    argv.push_back("--data-dir");
    argv.push_back(data_dir_);
    const CliOutcome outcome = dec(argv);
    EXPECT_NE(outcome.exit_code, 2) << argv[0] << " " << argv[1] << "\n" << outcome.err;
    EXPECT_FALSE(std::filesystem::exists(data_dir_)) << argv[0] << " " << argv[1];
  }
  EXPECT_EQ(dec({"results", "list", "--json", "--data-dir", data_dir_}).out, "[]\n");
}

TEST_F(ResultsShowTest, ApplyListShowsKeptRunsOnly) {
  infra::PosixEnv env;
  auto record = [&](const std::string& run_id, bool kept) {
    infra::RunState state;
    state.run_id = run_id;
    state.experiment_id = run_id.substr(0, run_id.find('.'));
    state.system = "redis";
    state.provider = "local";
    state.kept = kept;
    infra::Resource service{"service.redis.0", "service", {{"node", "0"}}, {}};
    state.resources.push_back({service, "created", {{"address", "127.0.0.1:7001"}}});
    ASSERT_TRUE(infra::StateFile(env, infra::state_path(data_dir_, run_id)).save(state).ok());
  };
  record("20261202-101500-ab12.redis", true);
  record("20261202-101600-cd34.redis", false);  // a run's own state, not kept
  const CliOutcome list = dec({"apply", "--list", "--data-dir", data_dir_});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("20261202-101500-ab12.redis         redis        local"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("1/1       127.0.0.1:7001"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("cd34"), std::string::npos) << list.out;
  EXPECT_EQ(dec({"apply", "--list", "spec.yaml", "--data-dir", data_dir_}).exit_code, 2);
}

TEST(Cli, HelpListsEveryCommandAndEachHasItsOwnHelp) {
  const CliOutcome help = dec({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"run", "validate", "plan", "apply", "destroy", "reconcile", "results",
                              "import", "drivers", "serve", "worker", "version"}) {
    EXPECT_NE(help.out.find("\n  " + std::string(command) + " "), std::string::npos) << command;
  }
  EXPECT_NE(help.out.find("apply --list"), std::string::npos);
  for (const char* command : {"run", "validate", "plan", "apply", "destroy", "reconcile", "results",
                              "import", "serve", "worker"}) {
    const CliOutcome own = dec({command, "--help"});
    EXPECT_EQ(own.exit_code, 0) << command;
    EXPECT_NE(own.out.find("Usage: dec " + std::string(command)), std::string::npos) << command;
  }
  // The states `results list --state` takes, as the store knows them.
  const CliOutcome results = dec({"results", "--help"});
  for (const auto& state : orchestrator::lifecycle_states()) {
    EXPECT_NE(results.out.find(state), std::string::npos) << state;
  }
}

TEST(Cli, UnknownCommandSuggestsTheClosestOne) {
  const CliOutcome typo = dec({"runn", "spec.yaml"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown command \"runn\" (did you mean \"run\"?)"), std::string::npos)
      << typo.err;
  EXPECT_EQ(dec({"valdate"}).exit_code, 2);
  EXPECT_NE(dec({"valdate"}).err.find("did you mean \"validate\"?"), std::string::npos);
  const CliOutcome unknown = dec({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command \"frobnicate\""), std::string::npos);
  EXPECT_EQ(unknown.err.find("did you mean"), std::string::npos);
  EXPECT_NE(dec({"results", "lsit"}).err.find("did you mean \"list\"?"), std::string::npos);
}

TEST(Cli, SetWithSpacesAroundEqualsGetsAHint) {
  const CliOutcome spaced = dec({"validate", DEC_SOURCE_DIR "/examples/redis-quickstart.yaml",
                                 "--set", "workload.duration = 5s"});
  EXPECT_EQ(spaced.exit_code, 2);
  EXPECT_NE(spaced.err.find("use --set workload.duration=5s without spaces"), std::string::npos)
      << spaced.err;
}

// Specs that parse but that a system's provider rejects: `dec validate` finds every one of
// them, with the field's path, as `dec run` would before creating anything.
class ValidateProviderChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dec-cli-validate-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CliOutcome validate(const std::string& systems_yaml, const std::string& extra = "") {
    const std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << "name: t\nworkload: {duration: 1s, warmup: 0s}\nsystems:\n"
                           "  - name: fine\n    driver: redis\n"
                        << systems_yaml << extra;
    return dec({"validate", path, "--data-dir", (dir_ / "data").string()});
  }

  std::filesystem::path dir_;
};

TEST_F(ValidateProviderChecks, EveryProviderObjectionIsAnErrorAtItsPath) {
  struct Case {
    std::string system;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"  - name: s\n    driver: redis\n    deploy: {settings: {hosts: maybe}}\n",
       "systems[1].deploy.settings.hosts: \"maybe\" is not one of auto, true, false"},
      {"  - name: s\n    driver: kinesis\n    deploy: {nodes: 3}\n",
       "systems[1].deploy.nodes: the local provider runs kinesis as a single node"},
      {"  - name: s\n    driver: kafka\n    deploy: {bandwidth: 100Mbit, settings: {kafka: "
       "mock}}\n",
       "systems[1].deploy."},
      {"  - name: s\n    driver: redis\n    deploy: {provider: endpoints}\n",
       "systems[1].deploy.settings.addresses: required for provider endpoints"},
      {"  - name: s\n    driver: redis\n    deploy: {memory: 100}\n",
       "systems[1].deploy.memory: must be at least 32MiB"}};
  for (const Case& c : cases) {
    const CliOutcome outcome = validate(c.system);
    EXPECT_EQ(outcome.exit_code, 2) << c.system << outcome.out;
    EXPECT_NE(outcome.err.find(c.expected), std::string::npos) << c.system << outcome.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data"));
}

TEST_F(ValidateProviderChecks, EveryMatrixPointIsChecked) {
  const CliOutcome outcome =
      validate("  - name: s\n    driver: mqtt\n", "matrix:\n  systems[s].deploy.nodes: [1, 2]\n");
  EXPECT_EQ(outcome.exit_code, 2) << outcome.out;
  EXPECT_NE(outcome.err.find("matrix point 1 (systems[s].deploy.nodes=2): systems[1].deploy.nodes: "
                             "the local provider runs mqtt as a single node"),
            std::string::npos)
      << outcome.err;
  EXPECT_EQ(outcome.err.find("matrix point 0"), std::string::npos) << outcome.err;
}

}  // namespace
}  // namespace dec::cli
