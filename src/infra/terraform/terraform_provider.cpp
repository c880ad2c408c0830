#include "infra/terraform/terraform_provider.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "infra/terraform/render.h"
#include "infra/terraform/tagging.h"

namespace dec::infra::terraform {
namespace {

using nlohmann::json;

constexpr int kInitTimeoutMinutes = 10;
constexpr const char* kStackFile = "stack.json";
constexpr const char* kLogFile = "terraform.log";
constexpr const char* kStateFile = "terraform.tfstate";

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    if (!item.empty()) items.push_back(item);
    start = comma + 1;
  }
  return items;
}

int timeout_of(const Settings& attributes) {
  auto it = attributes.find("timeout_minutes");
  if (it == attributes.end()) return 60;
  int minutes = std::atoi(it->second.c_str());
  return minutes > 0 ? minutes : 60;
}

// An output value as a record string: lists joined with commas, scalars as they are.
std::string output_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string text;
    for (const auto& item : value) {
      text +=
          (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return text;
  }
  return value.is_null() ? "" : value.dump();
}

// Every "arn" attribute of the resources of a state file (format version 4).
std::set<std::string> state_arns(const std::string& text) {
  std::set<std::string> arns;
  json state = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object() || !state.contains("resources") || !state["resources"].is_array()) {
    return arns;
  }
  for (const auto& resource : state["resources"]) {
    if (!resource.is_object() || !resource.contains("instances")) continue;
    for (const auto& instance : resource["instances"]) {
      if (!instance.is_object() || !instance.contains("attributes")) continue;
      const json& attributes = instance["attributes"];
      if (attributes.is_object() && attributes.contains("arn") && attributes["arn"].is_string()) {
        arns.insert(attributes["arn"].get<std::string>());
      }
    }
  }
  return arns;
}

bool module_has_resources(const json& module) {
  if (!module.is_object()) return false;
  if (module.contains("resources") && module["resources"].is_array() &&
      !module["resources"].empty()) {
    return true;
  }
  if (module.contains("child_modules") && module["child_modules"].is_array()) {
    for (const auto& child : module["child_modules"]) {
      if (module_has_resources(child)) return true;
    }
  }
  return false;
}

std::string label_of(const std::string& kind, const std::string& driver) {
  if (kind == "kinesis") return "Amazon Kinesis Data Streams (Terraform)";
  if (kind == "msk") return "Amazon MSK (Terraform)";
  return driver + " on Amazon EC2 (Terraform)";
}

// Where a destroyed stack's terraform.log is kept, under <data_dir>/logs/ like the local
// provider's service logs: <experiment id>/<run id>-terraform.log.
std::string kept_log_name(const std::string& experiment_id, const std::string& run_id) {
  return (experiment_id.empty() ? run_id : experiment_id) + "/" + run_id + "-terraform.log";
}

}  // namespace

TerraformOptions default_options() {
  TerraformOptions options;
  options.runner = make_process_runner();
  const char* path = std::getenv("PATH");
  options.search_path = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  options.environment = drivers::aws::process_environment();
  options.http = [] { return drivers::make_curl_http_client({}); };
  options.clock = [] { return std::chrono::system_clock::now(); };
  return options;
}

TerraformProvider::TerraformProvider(ProviderContext context, TerraformOptions options)
    : context_(std::move(context)), options_(std::move(options)) {
  TerraformOptions defaults;
  bool need_defaults = !options_.runner || !options_.environment || !options_.http ||
                       !options_.clock || options_.search_path.empty();
  if (need_defaults) defaults = default_options();
  if (!options_.runner) options_.runner = defaults.runner;
  if (!options_.environment) options_.environment = defaults.environment;
  if (!options_.http) options_.http = defaults.http;
  if (!options_.clock) options_.clock = defaults.clock;
  if (options_.search_path.empty()) options_.search_path = defaults.search_path;
}

std::string TerraformProvider::stack_dir(const std::string& run_id) const {
  return context_.data_dir + "/terraform/" + run_id;
}

Result<std::string> TerraformProvider::find_binary(const std::string& wanted) const {
  const std::vector<std::string> candidates = wanted.empty()
                                                  ? std::vector<std::string>{"terraform", "tofu"}
                                                  : std::vector<std::string>{wanted};
  for (const auto& name : candidates) {
    std::string path = find_program(name, options_.search_path);
    if (!path.empty()) return path;
  }
  if (wanted.empty()) {
    return make_error(
        "deploy.settings.binary: neither terraform nor tofu is on PATH; install Terraform "
        "(terraform) or OpenTofu (tofu), or put one on PATH");
  }
  return make_error("deploy.settings.binary: " + wanted + " is not on PATH; install it or choose " +
                    (wanted == "tofu" ? "terraform" : "tofu"));
}

std::string TerraformProvider::discovery_error() const {
  std::lock_guard lock(mutex_);
  return discovery_error_;
}

Result<TerraformProvider::CliRun> TerraformProvider::run_cli(const std::string& dir,
                                                             const std::string& binary,
                                                             const std::vector<std::string>& args,
                                                             int timeout_minutes) {
  const std::string what = binary.substr(binary.rfind('/') + 1) + " " + args.front();
  // `show -json` and `output -json` print one JSON document, not a UI stream: nothing to log.
  const bool document = args.front() == "show" || args.front() == "output";
  UiStreamReader reader;
  std::string text;  // progress lines for the stack's terraform.log
  Command command;
  command.argv = {binary};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.working_dir = dir;
  // No version check against the vendor's servers: runs must not depend on them.
  command.environment = {{"TF_IN_AUTOMATION", "1"}, {"TF_INPUT", "0"}, {"CHECKPOINT_DISABLE", "1"}};
  command.timeout = std::chrono::minutes(timeout_minutes);
  if (!document) {
    command.on_stdout_line = [&](const std::string& line) {
      auto progress = reader.feed(line);
      if (!progress) return;
      if (context_.log) context_.log(what + ": " + *progress);
      text += what + ": " + *progress + "\n";
    };
  }
  if (context_.log) context_.log(what + " (in " + dir + ")");
  auto output = options_.runner->run(command);
  // One write of the log per command: the lines are few (a line per resource and step).
  if (!text.empty() && context_.env->path_exists(dir)) {
    auto existing = context_.env->read_file(dir + "/" + kLogFile);
    (void)context_.env->write_file_atomic(dir + "/" + kLogFile, (existing ? *existing : "") + text);
  }
  if (!output) return make_error(what + ": " + output.error());
  // A runner that hands the output back at once (no streaming) still gets its stream read.
  if (!document && reader.report().progress.empty() && !output->out.empty()) {
    return CliRun{*output, read_ui_stream(output->out)};
  }
  return CliRun{*output, reader.report()};
}

Result<TerraformProvider::CliRun> TerraformProvider::run_ok(const std::string& dir,
                                                            const std::string& binary,
                                                            const std::vector<std::string>& args,
                                                            int timeout_minutes) {
  auto run = run_cli(dir, binary, args, timeout_minutes);
  if (!run) return run;
  if (run->output.exit_code != 0) {
    const std::string what = binary.substr(binary.rfind('/') + 1) + " " + args.front();
    return make_error(what + " failed (exit " + std::to_string(run->output.exit_code) +
                      "): " + describe_errors(run->report, run->output.err));
  }
  return run;
}

Result<std::vector<Resource>> TerraformProvider::resources_for(const core::System& system,
                                                               const DeployRequest& request) {
  auto settings = parse_settings(system);
  if (!settings) return make_error(settings.error());
  auto rendered = render_stack(system, request, *settings, context_.installation);
  if (!rendered) return make_error(rendered.error());
  Resource stack;
  stack.address = "stack." + system.name;
  stack.type = "stack";
  stack.attributes["kind"] = settings->kind;
  stack.attributes["driver"] = system.driver;
  stack.attributes["region"] = settings->region;
  stack.attributes["backend"] = settings->backend;
  if (!settings->binary.empty()) stack.attributes["binary"] = settings->binary;
  stack.attributes["timeout_minutes"] = std::to_string(settings->timeout_minutes);
  stack.attributes["configuration_hash"] = rendered->hash;
  stack.attributes["configuration"] =
      json{{"main", rendered->main}, {"variables", rendered->variables}}.dump();
  return std::vector<Resource>{stack};
}

Status TerraformProvider::write_stack(const std::string& dir, const Resource& resource,
                                      const RunState& state) {
  auto it = resource.attributes.find("configuration");
  if (it == resource.attributes.end()) {
    return make_error(resource.address + ": the record has no rendered configuration");
  }
  json configuration = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!configuration.is_object() || !configuration.contains("main")) {
    return make_error(resource.address + ": the recorded configuration is not valid JSON");
  }
  Env& env = *context_.env;
  if (Status s = env.make_dirs(dir); !s) return s;
  if (Status s = env.write_file_atomic(dir + "/main.tf.json", file_text(configuration["main"]));
      !s) {
    return s;
  }
  if (Status s = env.write_file_atomic(dir + "/terraform.tfvars.json",
                                       file_text(configuration["variables"]));
      !s) {
    return s;
  }
  auto attribute = [&](const char* key) {
    auto a = resource.attributes.find(key);
    return a == resource.attributes.end() ? std::string() : a->second;
  };
  json stack = {
      {"run_id", state.run_id},        {"experiment_id", state.experiment_id},
      {"address", resource.address},   {"installation", context_.installation},
      {"region", attribute("region")}, {"backend", attribute("backend")},
      {"binary", attribute("binary")}, {"timeout_minutes", timeout_of(resource.attributes)}};
  return env.write_file_atomic(dir + "/" + kStackFile, file_text(stack));
}

Status TerraformProvider::create(ResourceRecord& record, const RunState& state,
                                 const std::function<Status()>& save) {
  return apply_stack(record, record.resource, state, save);
}

Status TerraformProvider::update(ResourceRecord& record, const Resource& desired,
                                 const RunState& state, const std::function<Status()>& save) {
  return apply_stack(record, desired, state, save);
}

Status TerraformProvider::apply_stack(ResourceRecord& record, const Resource& desired,
                                      const RunState& state, const std::function<Status()>& save) {
  const std::string dir = stack_dir(state.run_id);
  auto wanted = desired.attributes.find("binary");
  auto binary = find_binary(wanted == desired.attributes.end() ? "" : wanted->second);
  if (!binary) return make_error(binary.error());
  if (Status s = write_stack(dir, desired, state); !s) return s;
  record.outputs["directory"] = dir;
  record.outputs["binary"] = binary->substr(binary->rfind('/') + 1);
  if (Status s = save(); !s) return s;
  const int timeout = timeout_of(desired.attributes);
  if (auto init = run_ok(dir, *binary, {"init", "-input=false", "-no-color"}, kInitTimeoutMinutes);
      !init) {
    return make_error(init.error());
  }
  if (auto plan = run_ok(dir, *binary, {"plan", "-input=false", "-out=tfplan", "-json"}, timeout);
      !plan) {
    return make_error(plan.error());
  }
  auto apply = run_cli(dir, *binary, {"apply", "-input=false", "-json", "tfplan"}, timeout);
  if (!apply) return make_error(apply.error());
  if (apply->output.exit_code != 0) {
    const UiReport& report = apply->report;
    std::string created;
    for (const auto& address : report.completed) created += (created.empty() ? "" : ", ") + address;
    return make_error(binary->substr(binary->rfind('/') + 1) + " apply failed (exit " +
                      std::to_string(apply->output.exit_code) +
                      "): " + describe_errors(report, apply->output.err) +
                      (created.empty()
                           ? ""
                           : "; created before the failure: " + created +
                                 " (recorded in the stack's state; destroy removes them)"));
  }
  auto output = run_ok(dir, *binary, {"output", "-json"}, kInitTimeoutMinutes);
  if (!output) return make_error(output.error());
  json outputs = json::parse(output->output.out, nullptr, /*allow_exceptions=*/false);
  if (!outputs.is_object()) {
    return make_error(binary->substr(binary->rfind('/') + 1) +
                      " output -json printed no JSON object: " + output->output.out.substr(0, 200));
  }
  for (const char* key : {"broker_addresses", "worker_addresses", "stream_names"}) {
    record.outputs.erase(key);
    if (outputs.contains(key) && outputs[key].is_object() && outputs[key].contains("value")) {
      record.outputs[key] = output_text(outputs[key]["value"]);
    }
  }
  return save();
}

Status TerraformProvider::destroy_stack(const std::string& dir, const std::string& binary_name,
                                        int timeout_minutes, const std::string& log_name) {
  Env& env = *context_.env;
  auto stack_text = env.read_file(dir + "/" + kStackFile);
  json stack = stack_text ? json::parse(*stack_text, nullptr, false) : json();
  const bool local_backend = !stack.is_object() || stack.value("backend", "local") != "s3";
  const bool has_config = env.path_exists(dir + "/main.tf.json");
  // Nothing was ever applied, or the local state is gone with everything it tracked.
  const bool nothing = !has_config || (local_backend && !env.path_exists(dir + "/" + kStateFile));
  if (!nothing) {
    auto binary = find_binary(binary_name);
    if (!binary) return make_error(binary.error());
    if (!env.path_exists(dir + "/.terraform")) {
      auto init = run_ok(dir, *binary, {"init", "-input=false", "-no-color"}, kInitTimeoutMinutes);
      if (!init) return make_error(init.error());
    }
    auto destroyed = run_ok(dir, *binary, {"destroy", "-auto-approve", "-input=false", "-json"},
                            timeout_minutes);
    if (!destroyed) return make_error(destroyed.error());
  }
  // The progress log outlives the stack, next to the local provider's service logs.
  if (auto text = env.read_file(dir + "/" + kLogFile); text && !log_name.empty()) {
    const std::string kept = context_.data_dir + "/logs/" + log_name;
    (void)env.make_dirs(kept.substr(0, kept.rfind('/')));
    (void)env.write_file_atomic(kept, *text);
  }
  return env.remove_tree(dir);
}

Status TerraformProvider::destroy(const ResourceRecord& record, const RunState& state) {
  const std::string dir = stack_dir(state.run_id);
  // A crash before the files were written leaves a record without them: write them again, so
  // the state (local or remote) can still be destroyed.
  if (!context_.env->path_exists(dir + "/main.tf.json") &&
      record.resource.attributes.count("configuration")) {
    if (Status s = write_stack(dir, record.resource, state); !s) return s;
  }
  auto binary = record.outputs.find("binary");
  auto wanted = record.resource.attributes.find("binary");
  std::string name = binary != record.outputs.end()               ? binary->second
                     : wanted != record.resource.attributes.end() ? wanted->second
                                                                  : "";
  Status s = destroy_stack(dir, name, timeout_of(record.resource.attributes),
                           kept_log_name(state.experiment_id, state.run_id));
  if (!s) return make_error(record.resource.address + ": " + s.error());
  return s;
}

bool TerraformProvider::exists(const ResourceRecord& record) {
  auto dir_it = record.outputs.find("directory");
  if (dir_it == record.outputs.end()) return false;
  const std::string& dir = dir_it->second;
  Env& env = *context_.env;
  auto backend = record.resource.attributes.find("backend");
  bool local = backend == record.resource.attributes.end() || backend->second != "s3";
  if (local && !env.path_exists(dir + "/" + kStateFile)) return false;
  if (!env.path_exists(dir + "/main.tf.json")) return false;
  auto binary_it = record.outputs.find("binary");
  auto binary = find_binary(binary_it == record.outputs.end() ? "" : binary_it->second);
  if (!binary) return true;  // cannot look: say it exists, so nothing is recreated on top of it
  auto shown = run_cli(dir, *binary, {"show", "-json"}, kInitTimeoutMinutes);
  if (!shown || shown->output.exit_code != 0) return true;
  json state = json::parse(shown->output.out, nullptr, false);
  if (!state.is_object() || !state.contains("values")) return false;
  const json& values = state["values"];
  return values.is_object() && values.contains("root_module") &&
         module_has_resources(values["root_module"]);
}

Settings TerraformProvider::observe(const ResourceRecord& record) {
  auto dir_it = record.outputs.find("directory");
  if (dir_it == record.outputs.end()) return {};
  auto binary_it = record.outputs.find("binary");
  auto binary = find_binary(binary_it == record.outputs.end() ? "" : binary_it->second);
  if (!binary) return {};
  auto plan = run_cli(dir_it->second, *binary, {"plan", "-refresh-only", "-input=false", "-json"},
                      timeout_of(record.resource.attributes));
  if (!plan || plan->output.exit_code != 0) return {};  // not observable now
  std::string drift;
  for (const auto& drifted : plan->report.drift) {
    drift += (drift.empty() ? "" : ", ") + drifted.address + " (" + drifted.action + ")";
  }
  return {{"drift", drift}};
}

Result<ServiceEndpoint> TerraformProvider::endpoint(const RunState& state) {
  for (const auto& record : state.resources) {
    if (record.resource.type != "stack") continue;
    const Settings& a = record.resource.attributes;
    auto attribute = [&](const char* key) {
      auto it = a.find(key);
      return it == a.end() ? std::string() : it->second;
    };
    auto output = [&](const char* key) {
      auto it = record.outputs.find(key);
      return it == record.outputs.end() ? std::string() : it->second;
    };
    ServiceEndpoint endpoint;
    const std::string kind = attribute("kind");
    endpoint.properties["region"] = attribute("region");
    endpoint.addresses = split_commas(output("broker_addresses"));
    endpoint.workers = split_commas(output("worker_addresses"));
    if (kind != "kinesis" && endpoint.addresses.empty()) {
      return make_error(record.resource.address +
                        ": the stack has no broker_addresses output (was it applied?)");
    }
    json configuration = json::parse(attribute("configuration"), nullptr, false);
    const json variables = configuration.is_object() && configuration.contains("variables")
                               ? configuration["variables"]
                               : json::object();
    const std::string main_text = configuration.is_object() && configuration.contains("main")
                                      ? configuration["main"].dump()
                                      : "";
    if (kind == "msk" && main_text.find("bootstrap_brokers_tls") != std::string::npos) {
      endpoint.properties["security.protocol"] = "SSL";
    }
    endpoint.emulated = false;
    endpoint.label = label_of(kind, attribute("driver"));
    if (kind == "kinesis") {
      endpoint.placement = "streams " + output("stream_names") + " in " + attribute("region");
    } else {
      endpoint.placement = std::to_string(variables.value("broker_count", 0)) + " x " +
                           variables.value("broker_instance_type", std::string("?")) + " in " +
                           attribute("region");
    }
    return endpoint;
  }
  return make_error(state.run_id + ": no Terraform stack is recorded");
}

std::vector<DiscoveredResource> TerraformProvider::discover() {
  Env& env = *context_.env;
  std::vector<DiscoveredResource> found;
  const std::string root = context_.data_dir + "/terraform";
  std::set<std::string> regions;
  std::map<std::string, std::optional<std::set<std::string>>> stacks;  // run -> ARNs (local state)
  for (const auto& run_id : env.list_dir(root)) {
    const std::string dir = root + "/" + run_id;
    DiscoveredResource d;
    d.run_id = run_id;
    d.outputs["directory"] = dir;
    auto stack_text = env.read_file(dir + "/" + kStackFile);
    json stack = stack_text ? json::parse(*stack_text, nullptr, false) : json();
    if (stack.is_object()) {
      d.address = stack.value("address", "");
      d.type = d.address.empty() ? "" : "stack";
      d.outputs["binary"] = stack.value("binary", "");
      d.outputs["timeout_minutes"] = std::to_string(stack.value("timeout_minutes", 60));
      d.outputs["experiment_id"] = stack.value("experiment_id", "");
      if (!stack.value("region", "").empty()) regions.insert(stack.value("region", ""));
      d.description = "Terraform stack " + dir;
    } else {
      d.description = "Terraform directory " + dir + " (never applied)";
    }
    if (stack.is_object() && stack.value("backend", "local") == "s3") {
      stacks[run_id] = std::nullopt;  // remote state: trust it to hold what the stack made
    } else {
      auto state_text = env.read_file(dir + "/" + kStateFile);
      stacks[run_id] = state_text ? state_arns(*state_text) : std::set<std::string>{};
    }
    found.push_back(std::move(d));
  }

  // What the account has: only for an installation that has used this provider (its
  // terraform/ directory stays once made), and only with credentials. Every `dec run` and
  // `dec serve` reconciles at start; those that never used Terraform never call AWS.
  std::string error;
  auto credentials = env.path_exists(root)
                         ? drivers::aws::load_credentials(options_.environment)
                         : Result<std::optional<drivers::aws::Credentials>>(std::nullopt);
  if (!credentials) {
    error = credentials.error();
  } else if (*credentials) {
    if (std::string region = drivers::aws::load_region(options_.environment); !region.empty()) {
      regions.insert(region);
    }
    auto http = options_.http();
    auto configured = options_.environment("DEC_AWS_TAGGING_ENDPOINT");
    for (const auto& region : regions) {
      TaggingQuery query;
      query.endpoint = configured && !configured->empty()
                           ? *configured
                           : "https://tagging." + region + ".amazonaws.com";
      query.region = region;
      query.tag_key = "dec-installation";
      query.tag_value = context_.installation;
      auto tagged = get_tagged_resources(*http, **credentials, query, options_.clock());
      if (!tagged) {
        error += (error.empty() ? "" : "; ") + tagged.error();
        continue;
      }
      for (const auto& resource : *tagged) {
        auto run = resource.tags.find("dec-run");
        const std::string run_id = run == resource.tags.end() ? "" : run->second;
        auto stack = stacks.find(run_id);
        if (stack != stacks.end() && (!stack->second || stack->second->count(resource.arn))) {
          continue;  // the stack's destroy removes it
        }
        DiscoveredResource d;
        d.run_id = run_id;
        d.address = resource.arn;
        d.description = "AWS resource " + resource.arn + " (tagged dec-run=" + run_id +
                        ", in no recorded Terraform state)";
        d.outputs["arn"] = resource.arn;
        d.outputs["region"] = region;
        found.push_back(std::move(d));
      }
    }
  }
  if (!error.empty() && context_.log) context_.log("terraform discovery: " + error);
  std::lock_guard lock(mutex_);
  discovery_error_ = error;
  return found;
}

Status TerraformProvider::destroy_discovered(const DiscoveredResource& resource) {
  if (auto arn = resource.outputs.find("arn"); arn != resource.outputs.end()) {
    return make_error(
        arn->second + " carries this installation's tags (dec-run=" + resource.run_id +
        ") but no Terraform state records it, so Terraform cannot delete it: delete it in the "
        "AWS console or with the AWS CLI (list them with `aws resourcegroupstaggingapi "
        "get-resources --tag-filters Key=dec-run,Values=" +
        resource.run_id + "`)");
  }
  auto dir = resource.outputs.find("directory");
  if (dir == resource.outputs.end()) return make_error(resource.description + ": no directory");
  auto binary = resource.outputs.find("binary");
  auto timeout = resource.outputs.find("timeout_minutes");
  return destroy_stack(
      dir->second, binary == resource.outputs.end() ? "" : binary->second,
      timeout == resource.outputs.end() ? 60 : std::atoi(timeout->second.c_str()),
      kept_log_name(
          resource.outputs.count("experiment_id") ? resource.outputs.at("experiment_id") : "",
          resource.run_id));
}

}  // namespace dec::infra::terraform
