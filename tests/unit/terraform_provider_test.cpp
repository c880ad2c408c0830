// The terraform provider against a stand-in CLI (tests/support/terraform_standin.sh) that checks
// how it is called and replays recorded machine-readable output, and its discovery against a
// test double of the Resource Groups Tagging API on loopback.
#include "infra/terraform/terraform_provider.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "drivers/aws_sigv4.h"
#include "infra/executor.h"
#include "infra/reconcile.h"

namespace dec::infra::terraform {
namespace {

namespace fs = std::filesystem;

const std::string kStandIn = std::string(DEC_SOURCE_DIR) + "/tests/support/terraform_standin.sh";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TerraformProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-tf-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    data_dir_ = (dir_ / "data").string();
    installation_ = installation_id(data_dir_);
    install_cli("terraform");
    scenario("success");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void install_cli(const std::string& name) { fs::create_symlink(kStandIn, dir_ / "bin" / name); }
  void scenario(const std::string& name) { std::ofstream(dir_ / "bin" / "scenario") << name; }
  std::string calls() { return read_text(dir_ / "bin" / "calls.log"); }

  ProviderContext context() {
    ProviderContext c;
    c.env = &env_;
    c.data_dir = data_dir_;
    c.installation = installation_;
    c.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    return c;
  }

  TerraformOptions options() {
    TerraformOptions o = default_options();
    // The stand-in first, as on a machine where it is the only CLI.
    o.search_path = (dir_ / "bin").string();
    o.environment = [this](const std::string& name) -> std::optional<std::string> {
      auto it = environment_.find(name);
      if (it == environment_.end()) return std::nullopt;
      return it->second;
    };
    return o;
  }

  std::unique_ptr<TerraformProvider> provider() {
    return std::make_unique<TerraformProvider>(context(), options());
  }

  static core::System system() {
    core::System s;
    s.name = "kinesis-aws";
    s.driver = "kinesis";
    s.deploy.provider = "terraform";
    s.deploy.settings = {{"region", "us-east-1"},
                         {"vpc_id", "vpc-0abc"},
                         {"subnet_ids", "subnet-a"},
                         {"allow_cidrs", "203.0.113.7/32"}};
    return s;
  }

  RunState new_state(const std::string& run_id = "exp-1.kinesis-aws") {
    RunState state;
    state.run_id = run_id;
    state.experiment_id = "exp-1";
    state.system = "kinesis-aws";
    state.provider = "terraform";
    state.installation = installation_;
    state.owner = env_.self();
    return state;
  }

  // Plans and applies the system's stack into `state`, recorded in its state file.
  Status apply(TerraformProvider& p, RunState& state) {
    DeployRequest request;
    request.run_id = state.run_id;
    request.topics = {"orders"};
    request.partitions = 2;
    auto desired = p.resources_for(system(), request);
    if (!desired) return make_error(desired.error());
    auto plan = plan_changes(*desired, state, p.updatable_in_place());
    if (!plan) return make_error(plan.error());
    StateFile file(env_, state_path(data_dir_, state.run_id));
    return apply_plan(p, *plan, state, file, nullptr);
  }

  fs::path dir_;
  std::string data_dir_;
  std::string installation_;
  PosixEnv env_;
  std::map<std::string, std::string> environment_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_F(TerraformProviderTest, ApplyRecordsOutputsAndDestroyRemovesTheStack) {
  auto p = provider();
  RunState state = new_state();
  ASSERT_TRUE(apply(*p, state).ok());
  ASSERT_EQ(state.resources.size(), 1u);
  const ResourceRecord& record = state.resources[0];
  EXPECT_EQ(record.resource.address, "stack.kinesis-aws");
  EXPECT_EQ(record.resource.type, "stack");
  EXPECT_EQ(record.resource.attributes.at("configuration_hash").size(), 64u);
  EXPECT_EQ(record.status, "created");
  EXPECT_EQ(record.outputs.at("stream_names"), "orders");
  EXPECT_EQ(record.outputs.at("worker_addresses"), "203.0.113.10:7700");
  EXPECT_EQ(record.outputs.at("binary"), "terraform");

  const std::string stack = p->stack_dir(state.run_id);
  EXPECT_EQ(calls(), stack + "|init -input=false -no-color\n" + stack +
                         "|plan -input=false -out=tfplan -json\n" + stack +
                         "|apply -input=false -json tfplan\n" + stack + "|output -json\n");
  EXPECT_TRUE(fs::exists(stack + "/main.tf.json"));
  EXPECT_TRUE(fs::exists(stack + "/terraform.tfvars.json"));
  // Progress from the -json stream reaches the log and the stack's terraform.log.
  const std::string progress = read_text(stack + "/terraform.log");
  EXPECT_NE(progress.find("terraform apply: Apply complete! Resources: 2 added, 0 changed, 0 "
                          "destroyed."),
            std::string::npos)
      << progress;
  EXPECT_NE(std::find(log_.begin(), log_.end(),
                      "terraform apply: aws_instance.worker[0]: Creation complete after 23s "
                      "[id=i-0123456789abcdef0]"),
            log_.end());

  auto endpoint = p->endpoint(state);
  ASSERT_TRUE(endpoint.ok()) << endpoint.error();
  EXPECT_EQ(endpoint->workers, std::vector<std::string>{"203.0.113.10:7700"});
  EXPECT_EQ(endpoint->properties.at("region"), "us-east-1");
  EXPECT_FALSE(endpoint->emulated);
  EXPECT_TRUE(p->exists(record));

  StateFile file(env_, state_path(data_dir_, state.run_id));
  ASSERT_TRUE(destroy_run(*p, state, file, nullptr).ok());
  EXPECT_NE(calls().find(stack + "|destroy -auto-approve -input=false -json\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(stack));
  EXPECT_FALSE(fs::exists(file.path()));
  EXPECT_TRUE(fs::exists(data_dir_ + "/logs/exp-1/" + state.run_id + "-terraform.log"));
}

TEST_F(TerraformProviderTest, HalfWayApplyFailureReportsTheDiagnosticAndDestroyStillRuns) {
  scenario("apply_fails");
  auto p = provider();
  RunState state = new_state();
  Status applied = apply(*p, state);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().find("terraform apply failed (exit 1): creating EC2 Instance: "
                                 "operation error EC2: RunInstances"),
            std::string::npos)
      << applied.error();
  EXPECT_NE(applied.error().find("InvalidAMIID.NotFound: The image id '[ami-00000000]' does not "
                                 "exist (aws_instance.worker[0])"),
            std::string::npos);
  EXPECT_NE(applied.error().find("created before the failure: aws_kinesis_stream.stream"),
            std::string::npos);
  // The record stays (creating), so the run's teardown destroys what was created.
  ASSERT_EQ(state.resources.size(), 1u);
  EXPECT_EQ(state.resources[0].status, "creating");
  const std::string stack = p->stack_dir(state.run_id);
  EXPECT_TRUE(p->exists(state.resources[0]));  // the stream is in the state

  StateFile file(env_, state_path(data_dir_, state.run_id));
  ASSERT_TRUE(destroy_run(*p, state, file, nullptr).ok());
  EXPECT_NE(calls().find(stack + "|destroy -auto-approve -input=false -json\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(stack));
  EXPECT_FALSE(fs::exists(file.path()));
}

TEST_F(TerraformProviderTest, DestroyFailureKeepsTheRecord) {
  auto p = provider();
  RunState state = new_state();
  ASSERT_TRUE(apply(*p, state).ok());
  scenario("destroy_fails");
  StateFile file(env_, state_path(data_dir_, state.run_id));
  Status destroyed = destroy_run(*p, state, file, nullptr);
  ASSERT_FALSE(destroyed.ok());
  EXPECT_NE(destroyed.error().find("deleting Kinesis Stream (orders): operation error Kinesis: "
                                   "DeleteStream: ResourceInUseException"),
            std::string::npos)
      << destroyed.error();
  // Still recorded, files kept: the next destroy or reconcile tries again.
  auto recorded = file.load();
  ASSERT_TRUE(recorded.ok()) << recorded.error();
  ASSERT_EQ(recorded->resources.size(), 1u);
  EXPECT_EQ(recorded->resources[0].resource.address, "stack.kinesis-aws");
  EXPECT_TRUE(fs::exists(p->stack_dir(state.run_id) + "/terraform.tfstate"));

  scenario("success");
  ASSERT_TRUE(destroy_run(*p, *recorded, file, nullptr).ok());
  EXPECT_FALSE(fs::exists(p->stack_dir(state.run_id)));
}

TEST_F(TerraformProviderTest, RefreshOnlyPlanReportsDrift) {
  auto p = provider();
  RunState state = new_state();
  ASSERT_TRUE(apply(*p, state).ok());
  EXPECT_EQ(p->observe(state.resources[0]), (Settings{{"drift", ""}}));
  scenario("drift");
  EXPECT_EQ(p->observe(state.resources[0]),
            (Settings{{"drift", "aws_kinesis_stream.stream[\"orders\"] (update)"}}));
  EXPECT_NE(calls().find("|plan -refresh-only -input=false -json\n"), std::string::npos);
}

TEST_F(TerraformProviderTest, ReconcileFixesDriftOfAKeptRun) {
  auto p = provider();
  RunState state = new_state();
  state.kept = true;
  ASSERT_TRUE(apply(*p, state).ok());
  state.owner = ProcessId{};
  StateFile file(env_, state_path(data_dir_, state.run_id));
  ASSERT_TRUE(file.save(state).ok());
  scenario("drift");
  ProviderContext c = context();
  c.providers = {"terraform"};
  c.factory = [this](const std::string&) -> Result<std::unique_ptr<Provider>> {
    return std::unique_ptr<Provider>(provider());
  };
  ReconcileReport report = reconcile(c, {}, nullptr);
  EXPECT_TRUE(report.clean()) << (report.errors.empty() ? "" : report.errors[0]);
  ASSERT_EQ(report.drift.size(), 1u);
  EXPECT_NE(report.drift[0].find("drift recorded \"\", found \"aws_kinesis_stream.stream"),
            std::string::npos)
      << report.drift[0];
  // Fixed by applying the recorded configuration again.
  const std::string text = calls();
  size_t applies = 0;
  for (size_t at = text.find("|apply "); at != std::string::npos;
       at = text.find("|apply ", at + 1)) {
    ++applies;
  }
  EXPECT_EQ(applies, 2u);
  scenario("success");
  ASSERT_TRUE(destroy_recorded_run(c, state.run_id, nullptr).ok());
}

TEST_F(TerraformProviderTest, ReconcileDeletesAnOrphanStack) {
  auto p = provider();
  RunState state = new_state("exp-9.orphan");
  ASSERT_TRUE(apply(*p, state).ok());
  // dec died and its state file went with it: only the stack directory is left.
  ASSERT_TRUE(fs::remove(state_path(data_dir_, state.run_id)));
  const std::string stack = p->stack_dir(state.run_id);
  auto found = p->discover();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].run_id, "exp-9.orphan");
  EXPECT_EQ(found[0].address, "stack.kinesis-aws");

  ProviderContext c = context();
  c.providers = {"terraform"};
  c.factory = [this](const std::string&) -> Result<std::unique_ptr<Provider>> {
    return std::unique_ptr<Provider>(provider());
  };
  ReconcileReport dry = reconcile(c, {.dry_run = true}, nullptr);
  ASSERT_EQ(dry.actions.size(), 1u);
  EXPECT_EQ(dry.actions[0],
            "delete orphan Terraform stack " + stack + " of run exp-9.orphan (provider terraform)");
  EXPECT_TRUE(fs::exists(stack));

  ReconcileReport report = reconcile(c, {}, nullptr);
  EXPECT_TRUE(report.clean()) << report.errors[0];
  EXPECT_NE(calls().find(stack + "|destroy -auto-approve -input=false -json\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(stack));
  EXPECT_TRUE(p->discover().empty());
}

TEST_F(TerraformProviderTest, ClearErrorWhenNeitherTerraformNorTofuIsOnPath) {
  fs::remove(dir_ / "bin" / "terraform");
  auto p = provider();
  RunState state = new_state();
  Status applied = apply(*p, state);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().find("deploy.settings.binary: neither terraform nor tofu is on PATH"),
            std::string::npos)
      << applied.error();
  EXPECT_FALSE(fs::exists(dir_ / "bin" / "calls.log"));
}

TEST_F(TerraformProviderTest, FindsTofuWhenTerraformIsAbsent) {
  fs::remove(dir_ / "bin" / "terraform");
  install_cli("tofu");
  auto p = provider();
  auto found = p->find_binary("");
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_EQ(*found, (dir_ / "bin" / "tofu").string());
  auto terraform = p->find_binary("terraform");
  ASSERT_FALSE(terraform.ok());
  EXPECT_EQ(terraform.error(),
            "deploy.settings.binary: terraform is not on PATH; install it or choose tofu");
  RunState state = new_state();
  ASSERT_TRUE(apply(*p, state).ok());
  EXPECT_EQ(state.resources[0].outputs.at("binary"), "tofu");
  StateFile file(env_, state_path(data_dir_, state.run_id));
  ASSERT_TRUE(destroy_run(*p, state, file, nullptr).ok());
}

TEST(TerraformCommandRunner, StreamsLinesRunsInItsDirectoryAndStopsAtTheTimeout) {
  auto runner = make_process_runner();
  Command command;
  command.argv = {"/bin/sh", "-c",
                  "pwd; echo \"$DEC_TEST_VALUE\"; printf tail; echo oops >&2; exit 4"};
  command.working_dir = "/tmp";
  command.environment = {{"DEC_TEST_VALUE", "from the runner"}};
  std::vector<std::string> lines;
  command.on_stdout_line = [&](const std::string& line) { lines.push_back(line); };
  auto output = runner->run(command);
  ASSERT_TRUE(output.ok()) << output.error();
  EXPECT_EQ(output->exit_code, 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"/tmp", "from the runner", "tail"}));
  EXPECT_EQ(output->err, "oops\n");

  // The shell and its child (one process group) are both stopped.
  Command slow;
  slow.argv = {"/bin/sh", "-c", "sleep 30 & wait"};
  slow.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto stopped = runner->run(slow);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error(),
            "/bin/sh did not finish within 300 ms and was stopped (raise "
            "deploy.settings.timeout_minutes)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// The Resource Groups Tagging API's test double: checks each request's SigV4 signature by
// signing it again, and answers in two pages.
class TaggingDouble {
 public:
  TaggingDouble() {
    server_.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      drivers::aws::SignableRequest signable;
      for (const char* name : {"content-type", "host", "x-amz-date", "x-amz-target"}) {
        signable.headers.emplace_back(name, req.get_header_value(name));
      }
      signable.payload_hash = drivers::aws::sha256_hex(req.body);
      drivers::aws::Credentials credentials{"AKIDEXAMPLE",
                                            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "test"};
      auto expected = drivers::aws::sign(signable, credentials, "us-east-1", "tagging",
                                         req.get_header_value("x-amz-date"));
      authorizations.push_back(req.get_header_value("Authorization"));
      signatures_ok = signatures_ok && expected.authorization == authorizations.back();
      targets.push_back(req.get_header_value("x-amz-target"));
      bodies.push_back(req.body);
      nlohmann::json body = nlohmann::json::parse(req.body);
      nlohmann::json answer;
      auto mapping = [](const std::string& arn, const std::string& run) {
        return nlohmann::json{{"ResourceARN", arn},
                              {"Tags",
                               {{{"Key", "dec-installation"}, {"Value", "x"}},
                                {{"Key", "dec-run"}, {"Value", run}}}}};
      };
      if (!body.contains("PaginationToken")) {
        answer["ResourceTagMappingList"] = {
            mapping("arn:aws:kinesis:us-east-1:123456789012:stream/orders", "exp-1.kinesis-aws")};
        answer["PaginationToken"] = "page-2";
      } else {
        answer["ResourceTagMappingList"] = {mapping(
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0ffffffffffffffff", "exp-0.lost")};
        answer["PaginationToken"] = "";
      }
      res.set_content(answer.dump(), "application/x-amz-json-1.1");
    });
    port = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Bounded: stop() only takes effect once the server runs.
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~TaggingDouble() {
    server_.stop();
    thread_.join();
  }
  int port = 0;
  std::mutex mutex_;
  std::vector<std::string> authorizations, targets, bodies;
  bool signatures_ok = true;

 private:
  httplib::Server server_;
  std::thread thread_;
};

TEST_F(TerraformProviderTest, TaggingApiFindsWhatNoStateRecords) {
  TaggingDouble tagging;
  environment_ = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                  {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                  {"AWS_REGION", "us-east-1"},
                  {"DEC_AWS_TAGGING_ENDPOINT", "http://127.0.0.1:" + std::to_string(tagging.port)}};
  auto p = provider();
  RunState state = new_state();
  ASSERT_TRUE(apply(*p, state).ok());

  auto found = p->discover();
  EXPECT_EQ(p->discovery_error(), "");
  // The stack, and the instance of a run no stack records; the stream is in the stack's state.
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].address, "stack.kinesis-aws");
  EXPECT_EQ(found[1].run_id, "exp-0.lost");
  EXPECT_EQ(found[1].address, "arn:aws:ec2:us-east-1:123456789012:instance/i-0ffffffffffffffff");
  Status deleted = p->destroy_discovered(found[1]);
  ASSERT_FALSE(deleted.ok());
  EXPECT_NE(deleted.error().find("no Terraform state records it"), std::string::npos);

  std::lock_guard lock(tagging.mutex_);
  ASSERT_EQ(tagging.authorizations.size(), 2u);  // two pages
  EXPECT_TRUE(tagging.signatures_ok) << tagging.authorizations[0];
  EXPECT_EQ(tagging.authorizations[0].rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0), 0u);
  EXPECT_NE(tagging.authorizations[0].find("/us-east-1/tagging/aws4_request, SignedHeaders="
                                           "content-type;host;x-amz-date;x-amz-target, "
                                           "Signature="),
            std::string::npos)
      << tagging.authorizations[0];
  EXPECT_EQ(tagging.targets[0], "ResourceGroupsTaggingAPI_20170126.GetResources");
  auto body = nlohmann::json::parse(tagging.bodies[0]);
  EXPECT_EQ(body["TagFilters"][0]["Key"], "dec-installation");
  EXPECT_EQ(body["TagFilters"][0]["Values"][0], installation_);
  EXPECT_EQ(nlohmann::json::parse(tagging.bodies[1])["PaginationToken"], "page-2");

  StateFile file(env_, state_path(data_dir_, state.run_id));
  ASSERT_TRUE(destroy_run(*p, state, file, nullptr).ok());
}

// The real CLI, when this machine has one, on a configuration of Terraform's built-in
// terraform_data resources (no provider to download): the same calls, its real -json output.
TEST_F(TerraformProviderTest, RealCliAppliesFailsHalfWayAndDestroys) {
  TerraformOptions o = options();
  const char* path = std::getenv("PATH");
  o.search_path = path != nullptr ? path : "";
  TerraformProvider p(context(), o);
  if (!p.find_binary("").ok()) GTEST_SKIP() << "neither terraform nor tofu is on PATH";
  nlohmann::json main = nlohmann::json::parse(R"({
    "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
    "variable": {"fail": {"type": "bool"}},
    "resource": {"terraform_data": {
      "first": {"input": "198.51.100.1:9092"},
      "second": {"input": "198.51.100.2:9092", "depends_on": ["terraform_data.first"],
                 "provisioner": {"local-exec": {
                   "command": "${var.fail ? \"echo boom >&2; exit 3\" : \"true\"}"}}}}},
    "output": {"broker_addresses": {
      "value": ["${terraform_data.first.output}", "${terraform_data.second.output}"]}}
  })");
  auto record_for = [&](bool fail) {
    ResourceRecord record;
    record.resource.address = "stack.builtin";
    record.resource.type = "stack";
    record.resource.attributes = {
        {"kind", "ec2"},
        {"region", "us-east-1"},
        {"backend", "local"},
        {"timeout_minutes", "2"},
        {"configuration", nlohmann::json{{"main", main}, {"variables", {{"fail", fail}}}}.dump()}};
    record.status = "creating";
    return record;
  };
  auto save = [] { return Status::Ok(); };

  RunState state = new_state("exp-real.builtin");
  ResourceRecord failing = record_for(true);
  Status failed = p.create(failing, state, save);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("apply failed (exit 1): local-exec provisioner error: Error "
                                "running command 'echo boom >&2; exit 3': exit status 3. Output: "
                                "boom (terraform_data.second)"),
            std::string::npos)
      << failed.error();
  EXPECT_NE(failed.error().find("created before the failure: terraform_data.first"),
            std::string::npos);
  EXPECT_TRUE(p.exists(failing));  // terraform_data.first is in the state
  ASSERT_TRUE(p.destroy(failing, state).ok());
  EXPECT_FALSE(fs::exists(p.stack_dir(state.run_id)));

  ResourceRecord record = record_for(false);
  Status created = p.create(record, state, save);
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_EQ(record.outputs.at("broker_addresses"), "198.51.100.1:9092,198.51.100.2:9092");
  EXPECT_TRUE(p.exists(record));
  EXPECT_EQ(p.observe(record), (Settings{{"drift", ""}}));
  ASSERT_TRUE(p.destroy(record, state).ok());
  EXPECT_FALSE(p.exists(record));
  EXPECT_FALSE(fs::exists(p.stack_dir(state.run_id)));
}

TEST_F(TerraformProviderTest, NoTaggingQueryWithoutCredentialsOrBeforeFirstUse) {
  TaggingDouble tagging;
  auto p = provider();
  EXPECT_TRUE(p->discover().empty());  // no credentials
  environment_ = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                  {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                  {"AWS_REGION", "us-east-1"},
                  {"DEC_AWS_TAGGING_ENDPOINT", "http://127.0.0.1:" + std::to_string(tagging.port)}};
  EXPECT_TRUE(p->discover().empty());  // this data dir never used the provider
  EXPECT_EQ(p->discovery_error(), "");
  std::lock_guard lock(tagging.mutex_);
  EXPECT_TRUE(tagging.authorizations.empty());
}

}  // namespace
}  // namespace dec::infra::terraform
