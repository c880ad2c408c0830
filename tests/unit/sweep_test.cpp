// Matrix sweeps and repeats: parsing and validation of `matrix:` and `repeats:`, expansion into
// points, run order and ids, and the plan's run count and infrastructure notes.
#include "orchestrator/sweep.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/spec_parser.h"
#include "orchestrator/runner.h"

namespace dec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Two drivers; kafka's acks takes 0, 1 or all, like the real driver.
core::DriverCatalog fake_catalog() {
  core::DriverCatalog catalog;
  catalog.names = {"redis", "kafka"};
  catalog.validate_config = [](const std::string& driver, const core::Settings& config,
                               const std::string& path_prefix) {
    std::vector<core::FieldError> errors;
    auto acks = config.find("acks");
    if (driver == "kafka" && acks != config.end() && acks->second != "0" && acks->second != "1" &&
        acks->second != "all") {
      errors.push_back({path_prefix + ".acks", "expected one of 0, 1, all"});
    }
    return errors;
  };
  return catalog;
}

constexpr const char* kTwoSystems = R"(
name: sweep
workload: {duration: 1s, warmup: 0s}
systems:
  - {name: redis, driver: redis}
  - {name: kafka, driver: kafka, config: {acks: "1"}}
)";

core::ParseResult parse(const std::string& extra, const std::vector<std::string>& overrides = {}) {
  return core::parse_spec(std::string(kTwoSystems) + extra, overrides, fake_catalog());
}

std::vector<std::string> messages(const core::ParseResult& result) {
  std::vector<std::string> out;
  for (const auto& error : result.errors) out.push_back(error.to_string());
  return out;
}

std::vector<core::SweepPoint> expand(const core::ParseResult& parsed) {
  EXPECT_TRUE(parsed.ok()) << testing::PrintToString(messages(parsed));
  auto points = core::expand_matrix(parsed.spec, fake_catalog());
  EXPECT_TRUE(points.ok()) << (points.ok() ? "" : points.error());
  return points.ok() ? *points : std::vector<core::SweepPoint>{};
}

TEST(Matrix, ExpandsTheCrossProductFirstAxisOutermost) {
  auto parsed = parse(R"(
matrix:
  workload.message_size: [100B, 1KiB, 10KiB]
  systems[kafka].config.acks: ["1", all]
)");
  ASSERT_EQ(parsed.spec.matrix.size(), 2u);
  EXPECT_EQ(parsed.spec.matrix[1].path, "systems[kafka].config.acks");
  auto points = expand(parsed);
  ASSERT_EQ(points.size(), 6u);
  std::vector<std::string> order;
  for (const auto& point : points) {
    order.push_back(std::to_string(point.spec.workload.message_size) + "/" +
                    point.spec.systems[1].config.at("acks"));
  }
  EXPECT_THAT(order, ElementsAre("100/1", "100/all", "1024/1", "1024/all", "10240/1", "10240/all"));
  EXPECT_EQ(points[3].index, 3u);
  EXPECT_THAT(
      points[3].values,
      ElementsAre(std::pair<std::string, std::string>{"workload.message_size", "1KiB"},
                  std::pair<std::string, std::string>{"systems[kafka].config.acks", "all"}));
  // A name-addressed value lands on that system only, and the point has no matrix of its own.
  EXPECT_FALSE(points[3].spec.systems[0].config.contains("acks"));
  EXPECT_TRUE(points[3].spec.matrix.empty());
}

TEST(Matrix, WithoutMatrixOnePointWithoutValues) {
  auto points = expand(parse(""));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_THAT(points[0].values, IsEmpty());
  EXPECT_EQ(points[0].spec.systems.size(), 2u);
}

TEST(Matrix, BadValueIsNamedByAxisAndIndex) {
  auto parsed = parse(R"(
matrix:
  systems[kafka].config.acks: ["1", "2"]
)");
  EXPECT_THAT(messages(parsed),
              ElementsAre("matrix[\"systems[kafka].config.acks\"][1]: expected one of 0, 1, all"));
  auto sizes = parse(R"(
matrix:
  workload.message_size: [1KiB, 5B]
)");
  EXPECT_THAT(messages(sizes), ElementsAre(HasSubstr("matrix[\"workload.message_size\"][1]: "
                                                     "must be at least 32B")));
}

TEST(Matrix, UnknownSystemNameIsAnErrorNamingIt) {
  auto parsed = parse(R"(
matrix:
  systems[kafak].config.acks: ["1", all]
)");
  EXPECT_THAT(messages(parsed),
              ElementsAre("matrix[\"systems[kafak].config.acks\"]: systems has no entry named "
                          "\"kafak\" (did you mean \"kafka\"?)"));
}

TEST(Matrix, BadPathsAreErrorsNamingThem) {
  EXPECT_THAT(messages(parse("matrix:\n  workload.mesage_size: [1KiB, 2KiB]\n")),
              ElementsAre("matrix[\"workload.mesage_size\"]: unknown field (did you mean "
                          "\"message_size\"?)"));
  EXPECT_THAT(
      messages(parse("matrix:\n  systems[5].config.acks: [\"1\"]\n")),
      ElementsAre(HasSubstr("matrix[\"systems[5].config.acks\"]: index 5 is out of range")));
  EXPECT_THAT(messages(parse("matrix:\n  workload..duration: [1s]\n")),
              ElementsAre(HasSubstr("matrix[\"workload..duration\"]: not a field path")));
  EXPECT_THAT(messages(parse("matrix:\n  repeats: [1, 2]\n")),
              ElementsAre(HasSubstr("cannot vary repeats")));
  EXPECT_THAT(messages(parse("matrix:\n  systems[redis].name: [a, b]\n")),
              ElementsAre(HasSubstr("cannot vary")));
  EXPECT_THAT(messages(parse("matrix:\n  workload.duration: 5s\n")),
              ElementsAre(HasSubstr("matrix[\"workload.duration\"]: expected a list of values")));
  EXPECT_THAT(messages(parse("matrix:\n  workload.duration: []\n")),
              ElementsAre(HasSubstr("must list at least one value")));
  EXPECT_THAT(messages(parse("matrix:\n  workload.duration: [1s, 1s]\n")),
              ElementsAre(HasSubstr("matrix[\"workload.duration\"][1]: \"1s\" is already listed")));
  EXPECT_THAT(messages(parse("matrix:\n  workload.duration: [[1s]]\n")),
              ElementsAre(HasSubstr("matrix[\"workload.duration\"][0]: expected a single value")));
}

TEST(Matrix, CombinationErrorsNameThePoint) {
  // Each value is fine alone; the fault targets node 1, which only the 2-node point has.
  auto parsed = core::parse_spec(R"(
name: combo
workload: {duration: 10s, warmup: 0s}
systems:
  - {name: redis, driver: redis, deploy: {nodes: 2}}
faults:
  - {at: 1s, action: kill, target: 1}
matrix:
  systems[redis].deploy.nodes: [2, 1]
)",
                                 {}, fake_catalog());
  EXPECT_THAT(messages(parsed), ElementsAre(HasSubstr("matrix[\"systems[redis].deploy.nodes\"][1]"
                                                      ": faults[0].target: 1 is out of range")));
}

TEST(Matrix, EveryMatrixAndRepeatsErrorIsReportedAtOnce) {
  auto parsed = parse(R"(
repeats: 200
matrix:
  systems[kafka].config.acks: ["1", "2"]
  systems[nats].config.x: [a]
)");
  EXPECT_THAT(messages(parsed),
              ElementsAre("repeats: must be at most 100, got 200",
                          "matrix[\"systems[kafka].config.acks\"][1]: expected one of 0, 1, all",
                          "matrix[\"systems[nats].config.x\"]: systems has no entry named "
                          "\"nats\" (names: redis or kafka)"));
}

TEST(Matrix, ErrorsOnlyACombinationMakesNameThePoint) {
  // Each value is fine with the others as written; 1 node with a fault on node 1 is not.
  auto parsed = core::parse_spec(R"(
name: combo
workload: {duration: 10s, warmup: 0s}
systems:
  - {name: redis, driver: redis, deploy: {nodes: 2}}
faults:
  - {at: 1s, action: kill, target: 0}
matrix:
  systems[redis].deploy.nodes: [2, 1]
  faults[0].target: [0, 1]
)",
                                 {}, fake_catalog());
  EXPECT_THAT(messages(parsed),
              ElementsAre("matrix point 3 (systems[redis].deploy.nodes=1, faults[0].target=1): "
                          "faults[0].target: 1 is out of range: system \"redis\" has 1 node (0)"));
}

TEST(Matrix, SetOverridesAddressSystemsByName) {
  auto parsed = parse("", {"systems[kafka].config.acks=all", "repeats=3"});
  ASSERT_TRUE(parsed.ok()) << testing::PrintToString(messages(parsed));
  EXPECT_EQ(parsed.spec.systems[1].config.at("acks"), "all");
  EXPECT_EQ(parsed.spec.repeats, 3);
  EXPECT_THAT(
      messages(parse("", {"systems[nats].config.x=1"})),
      ElementsAre(HasSubstr("systems has no entry named \"nats\" (names: redis or kafka)")));
}

TEST(Repeats, DefaultOneBoundedAndValidated) {
  EXPECT_EQ(parse("").spec.repeats, 1);
  EXPECT_EQ(parse("repeats: 5\n").spec.repeats, 5);
  EXPECT_THAT(messages(parse("repeats: 0\n")), ElementsAre("repeats: must be at least 1, got 0"));
  EXPECT_THAT(messages(parse("repeats: 101\n")),
              ElementsAre("repeats: must be at most 100, got 101"));
  EXPECT_THAT(messages(parse("repeats: many\n")),
              ElementsAre("repeats: expected a whole number, got \"many\""));
}

TEST(Matrix, TooManyRunsIsAnError) {
  std::string values = "[";
  for (int i = 1; i <= 60; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  values += "]";
  auto parsed = parse("repeats: 100\nmatrix:\n  workload.producers: " + values + "\n");
  EXPECT_THAT(messages(parsed), ElementsAre(HasSubstr("matrix: 60 points x 100 repeats x 2 "
                                                      "systems is more than 10000 runs")));
}

TEST(Matrix, SpecJsonRoundTripsTheSweep) {
  auto parsed = parse("repeats: 2\nmatrix:\n  systems[kafka].config.acks: [\"1\", all]\n");
  ASSERT_TRUE(parsed.ok());
  auto again = core::parse_spec(core::spec_to_json(parsed.spec), {}, fake_catalog());
  ASSERT_TRUE(again.ok()) << testing::PrintToString(messages(again));
  EXPECT_EQ(again.spec, parsed.spec);
  // A single-run spec's stored form does not mention sweeps.
  EXPECT_EQ(core::spec_to_json(parse("").spec).find("matrix"), std::string::npos);
  EXPECT_EQ(core::spec_to_json(parse("").spec).find("repeats"), std::string::npos);
}

TEST(RunOrder, RepeatsInterleaveSystems) {
  std::vector<std::string> order;
  for (const auto& run : orchestrator::run_order(2, 2, 2)) {
    order.push_back("p" + std::to_string(run.point) + "r" + std::to_string(run.repeat) +
                    (run.system == 0 ? "A" : "B"));
  }
  EXPECT_THAT(order,
              ElementsAre("p0r0A", "p0r0B", "p0r1A", "p0r1B", "p1r0A", "p1r0B", "p1r1A", "p1r1B"));
}

TEST(RunIds, CarryPointAndRepeatInSweepsOnly) {
  EXPECT_EQ(orchestrator::run_prefix("exp", {2, 1, 0}, true), "exp.p2.r1");
  EXPECT_EQ(orchestrator::run_prefix("exp", {0, 0, 0}, false), "exp");
  auto spec = parse("").spec;
  auto request = orchestrator::deploy_request_for(spec, "exp.p2.r1", spec.systems[0]);
  EXPECT_EQ(request.run_id, "exp.p2.r1.redis");
  // Dots would split NATS subjects: topic names use '-'.
  EXPECT_THAT(request.topics, ElementsAre("dec-exp-p2-r1-0"));
  EXPECT_THAT(orchestrator::deploy_request_for(spec, "exp", spec.systems[0]).topics,
              ElementsAre("dec-exp-0"));
  EXPECT_FALSE(orchestrator::is_sweep(spec));
  EXPECT_TRUE(orchestrator::is_sweep(parse("repeats: 2\n").spec));
}

TEST(Plan, HeadlineCountsRunsAndEstimatesDuration) {
  auto points = expand(parse("repeats: 3\nmatrix:\n  workload.message_size: [100B, 1KiB]\n"));
  // 2 points x 3 repeats x 2 systems = 12 runs of (0 s warm-up + 1 s + 5 s set-up) = 72 s.
  EXPECT_EQ(orchestrator::sweep_headline(points),
            "2 points × 3 repeats × 2 systems = 12 runs, about 1 min 12 s (warm-up + measured "
            "time + ~5 s set-up and teardown per run)");
  EXPECT_EQ(orchestrator::sweep_headline(expand(parse(""))),
            "1 point × 1 repeat × 2 systems = 2 runs, about 12 s (warm-up + measured time + ~5 s "
            "set-up and teardown per run)");
}

TEST(Plan, SaysWhetherInfrastructureChangesBetweenPoints) {
  auto points = expand(parse(R"(
matrix:
  systems[redis].deploy.nodes: [1, 3]
  workload.message_size: [100B, 1KiB]
)"));
  ASSERT_EQ(points.size(), 4u);
  const std::string plan = orchestrator::infrastructure_plan(points);
  EXPECT_THAT(plan, HasSubstr("point 0 (systems[redis].deploy.nodes=1, "
                              "workload.message_size=100B):\n  redis: new infrastructure\n"
                              "  kafka: new infrastructure\n"));
  EXPECT_THAT(plan, HasSubstr("point 1 (systems[redis].deploy.nodes=1, workload.message_size=1KiB)"
                              ":\n  redis: same infrastructure as point 0, recreated: other "
                              "systems run in between"));
  EXPECT_THAT(plan, HasSubstr("point 2 (systems[redis].deploy.nodes=3, workload.message_size=100B)"
                              ":\n  redis: recreated: deploy.nodes changed\n  kafka: same "
                              "infrastructure as point 1"));
  EXPECT_THAT(plan, HasSubstr("0 of 8 runs reuse the infrastructure of the run before them"));
}

// One system: consecutive runs share infrastructure when driver and deploy are equal.
TEST(Plan, ReusesInfrastructureOfTheRunBeforeOnlyWhenEqualAndConsecutive) {
  const std::string one = R"(
name: one
workload: {duration: 1s, warmup: 0s}
systems:
  - {name: redis, driver: redis}
matrix:
  systems[redis].deploy.nodes: [1, 3]
  workload.message_size: [100B, 1KiB]
repeats: 2
)";
  auto parsed = core::parse_spec(one, {}, fake_catalog());
  auto points = expand(parsed);
  ASSERT_EQ(points.size(), 4u);
  const auto order = orchestrator::run_order(points.size(), 2, 1);
  // p0r0 new, p0r1 reuse, p1r0 reuse, p1r1 reuse, p2r0 recreated (nodes), p2r1.., p3...
  EXPECT_EQ(orchestrator::reuse_plan(points, order),
            (std::vector<bool>{false, true, true, true, false, true, true, true}));
  const std::string plan = orchestrator::infrastructure_plan(points);
  EXPECT_THAT(plan, HasSubstr("redis: new infrastructure; its repeats reuse it\n"));
  EXPECT_THAT(plan, HasSubstr("redis: reuses point 0's infrastructure"));
  EXPECT_THAT(plan, HasSubstr("redis: recreated: deploy.nodes changed; its repeats reuse it"));
  EXPECT_THAT(plan, HasSubstr("6 of 8 runs reuse"));

  // reuse_infrastructure: false turns it off, and round-trips.
  auto off = core::parse_spec(one + "reuse_infrastructure: false\n", {}, fake_catalog());
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.spec.reuse_infrastructure);
  EXPECT_FALSE(
      core::parse_spec(core::spec_to_json(off.spec), {}, fake_catalog()).spec.reuse_infrastructure);
  auto off_points = expand(off);
  for (bool reused : orchestrator::reuse_plan(off_points, order)) EXPECT_FALSE(reused);
  EXPECT_THAT(orchestrator::infrastructure_plan(off_points),
              HasSubstr("recreated (reuse_infrastructure: false)"));
  EXPECT_THAT(core::parse_spec(one + "reuse_infrastructure: maybe\n", {}, fake_catalog())
                  .errors.front()
                  .to_string(),
              HasSubstr("reuse_infrastructure: expected true or false"));
}

}  // namespace
}  // namespace dec
