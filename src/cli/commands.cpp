#include "cli/commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/omb_import.h"
#include "cli/progress.h"
#include "core/host_user.h"
#include "core/spec_parser.h"
#include "core/spec_policy.h"
#include "core/version.h"
#include "drivers/driver.h"
#include "infra/executor.h"
#include "infra/reconcile.h"
#include "orchestrator/measurement_lock.h"
#include "orchestrator/plan_preview.h"
#include "orchestrator/preflight.h"
#include "orchestrator/rate_search.h"
#include "orchestrator/runner.h"
#include "orchestrator/sweep.h"
#include "report/hdr_export.h"
#include "report/results.h"
#include "report/summary.h"
#include "server/report_html.h"
#include "server/server.h"
#include "store/store.h"
#include "systems/kafka/kafka_mock.h"
#include "systems/kinesis/quota_proxy.h"
#include "systems/registry.h"
#include "worker/worker.h"

namespace dec::cli {
namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int kTargetMissed = 3;  // only with --fail-on-target-miss
constexpr int kInterrupted = 130;

constexpr const char* kMainHelp = R"(dec - the Data Engineering Comparator

Compares streaming and messaging systems with fair, repeatable experiments: creates each
system's infrastructure, drives a workload, measures, and always destroys what it created.

Usage: dec <command> [options]

Commands:
  run SPEC          run an experiment and print the comparison
  validate SPEC     check a spec and report every error with its field path
  plan SPEC         show the infrastructure a run would create
  apply SPEC        create the systems' infrastructure and keep it up (until destroy)
  apply --list      list the runs `dec apply` keeps up, with their addresses
  destroy ID        destroy a kept run, or what a run (or experiment) left behind
  reconcile         clean up interrupted runs, repair kept ones, remove orphans
  results list      list stored experiments
  results show ID   show an experiment's comparison table (ID or name; or --json)
  results export ID export latency histograms (HdrHistogram log) or runs (CSV)
  import omb FILE   turn an OpenMessaging Benchmark workload (and driver) into a spec
  drivers           list the systems dec can drive and their config keys
  serve             run the experiment service: queue, HTTP API and web app
  worker            run a load worker: an HTTP agent the orchestrator drives
  version           print dec's version and its client libraries' versions

Global options:
  --data-dir DIR    where the database, state files and broker data live
                    (default ./dec-data, or $DEC_DATA_DIR)
  -h, --help        help for any command: dec run --help

Exit codes: 0 ok, 1 failed, 2 bad usage or invalid spec,
            3 a target was missed (with --fail-on-target-miss), 130 interrupted.
Spec format: docs/spec.md
)";

constexpr const char* kRunHelp =
    R"(Usage: dec run SPEC [--set path=value]... [--json] [--out FILE] [--quiet]
               [--fail-on-target-miss]

Runs the experiment in SPEC (YAML or JSON): for each system in turn, provisions its
infrastructure, deploys producers and consumers, warms up, measures, collects results and
destroys everything. Ctrl-C stops the run and still destroys the infrastructure.
A sweep (`matrix:` and/or `repeats:` in the spec) runs every point and repeat, systems
interleaved, and prints "N points × R repeats × S systems = K runs, about T" first; its
table shows each metric's mean ± 95 % confidence interval and Welch's t-test verdicts.

Options:
  --set path=value  override a spec field, e.g. --set workload.duration=5s
                    --set systems[0].config.pipeline=64 or systems[redis].config.pipeline=64
                    --set repeats=5 (repeatable)
  --json            print the results as JSON on stdout instead of the table
  --out FILE        also write the results JSON to FILE
  --quiet           no progress output
  --allow-concurrent
                    do not wait for another dec measurement on this machine to finish
                    (by default runs take turns: two at once contaminate each other's
                    figures); the results record the overlap as concurrent_runs
  --fail-on-target-miss
                    exit 3 when a run missed a target of the spec (p99 latency, throughput)
                    or failed its delivery check (lost, duplicated, reordered, corrupt or
                    rejected messages); CI can gate on it
  --data-dir DIR    data directory (default ./dec-data)

Spec warnings (valid, but probably not what was meant) are printed to stderr first.
)";

constexpr const char* kValidateHelp = R"(Usage: dec validate SPEC [--set path=value]...

Parses and validates SPEC; prints every error with its field path and exits 2 if any.
Warnings (valid, but probably not what was meant) are printed as "warning: path: message" and
do not change the exit code.
)";

constexpr const char* kPlanHelp =
    R"(Usage: dec plan SPEC [--set path=value]... [--run RUN] [--json]

Shows, per system, the resources a run would create (+), like `terraform plan`. For a sweep
(matrix, repeats), first the number of runs and their estimated duration, and per point and
system whether its infrastructure equals the previous point's. With --run RUN
(a kept run from `dec apply`), shows what `dec apply SPEC --run RUN` would change in it:
+ create, ~ update in place, -/+ replace, - delete.
)";

constexpr const char* kApplyHelp =
    R"(Usage: dec apply SPEC [--system NAME]... [--run RUN] [--set path=value]... [--json]
       dec apply --list [--json]

Creates each system's infrastructure (hosts, limits, brokers, topics, worker agent) exactly as
a run would, prints the plan and where each system can be reached, and keeps it up until
`dec destroy RUN`. With --run RUN (one system), applies the spec's changes to that kept run:
CPU, memory and bandwidth limits change in place, anything else is replaced.

Options:
  --system NAME     only this system (repeatable; default every system)
  --run RUN         update this kept run instead of creating a new one
  --json            print {"runs": [{run_id, system, addresses, workers, placement}]} on stdout
  --list            list the kept runs instead (run id, system, provider, resources created,
                    addresses); with --json as {"runs": [...]}
)";

constexpr const char* kDestroyHelp = R"(Usage: dec destroy ID [--data-dir DIR]

Destroys the resources recorded for a run ("<experiment id>.<system>") or for every run of an
experiment ("<experiment id>"), in reverse dependency order, continuing past failures (which
stay recorded for the next attempt or `dec reconcile`). Safe to repeat.
`dec apply --list` lists the kept runs.
)";

constexpr const char* kReconcileHelp = R"(Usage: dec reconcile [--dry-run] [--json] [--data-dir DIR]

Compares recorded state with what really exists, and converges:
  - runs whose dec process died (kill -9, crash, power loss) are destroyed;
  - kept runs (dec apply) are repaired: vanished resources are recreated, drift (e.g. a CPU
    limit changed by hand) is reset;
  - resources carrying this data dir's tags that a run's state lacks are adopted into it;
  - tagged processes, namespaces, links, cgroups and directories of no run are deleted.
Runs of another live dec process are left alone. With --dry-run, only lists what it would do.
)";

constexpr const char* kResultsHelp = R"(Usage: dec results list [--state STATE] [--limit N] [--json]
       dec results show ID [--json] [--fail-on-target-miss]
       dec results export ID --format hdr|csv|html [--out DIR] [--web DIR]

Lists stored experiments, or shows one experiment's comparison table (ID may be a prefix,
or an experiment's name: its latest experiment). --state is one of queued, provisioning,
deploying, warming, running, collecting, destroying, succeeded, failed, cancelled.
With --fail-on-target-miss, `show` exits 3 when a run missed a target or failed its delivery
check, as `dec run --fail-on-target-miss` does.

`export` writes files other tools read (docs/results.md "Export"):
  --format hdr      one <run id>.hlog per run: HdrHistogram interval log with the end-to-end
                    (Tag=e2e) and publish (Tag=publish) latency histograms in nanoseconds, for
                    HdrHistogram's log processor/plotter and HistogramLogAnalyzer
  --format csv      <experiment id>.csv: one row per run (system, driver, throughput, latency
                    percentiles in microseconds, delivery counts)
  --format html     <experiment id>.html: the report `dec serve` serves as report.html, with the
                    web app's interactive charts inlined when the web app is built (--web DIR,
                    default $DEC_WEB_DIR, else web/dist of the source tree), else SVG charts
  --out DIR         directory to write to (default: the current directory; created if needed)
)";

constexpr const char* kImportHelp =
    R"(Usage: dec import omb WORKLOAD.yaml [--driver DRIVER.yaml] [--out SPEC.yaml]

Turns an OpenMessaging Benchmark workload file (and optionally an OMB driver file) into a dec
spec, printed on stdout or written to --out. Without --driver the spec has one Kafka system with
dec's defaults. Every OMB field dec cannot honour is named in a warning on stderr (and in a
comment at the top of the spec); nothing is dropped silently. Mapping: docs/import.md.
Check the result with `dec validate SPEC.yaml`.
)";

constexpr const char* kServeHelp =
    R"(Usage: dec serve [--listen HOST:PORT] [--token-file FILE | --token TOKEN] [--insecure]
                 [--data-dir DIR] [--web DIR] [--log-format text|json]
                 [--artifacts s3://BUCKET/PREFIX [--artifacts-endpoint URL]] [--examples DIR]
                 [--secret NAME]... [--allow-endpoint HOST[:PORT]|CIDR]...

Runs the experiment service: a persistent queue of experiments run one at a time, and an HTTP
API to submit, watch, cancel and read them (docs/api.md). Listens on 127.0.0.1:8080 by default.
With a token (--token-file FILE: its first line; --token TOKEN, visible to every user of the
machine in the process list; or $DEC_TOKEN) every API request except GET /api/health and
GET /metrics needs "Authorization: Bearer TOKEN" (or ?access_token=TOKEN, for event streams and download links);
the web app's files stay public and the app asks for the token.
An address beyond loopback (--listen 0.0.0.0:8080) needs a token: without one dec serve refuses
to start (exit 2) unless --insecure is given, which it logs as a warning.
POST /api/shutdown answers 409 while an experiment runs and 200 (then exits) once idle.
Ctrl-C / SIGTERM stop the running experiment (its infrastructure is destroyed) and exit;
queued experiments stay queued for the next start.
Logs go to stderr, one line per event: start, every experiment's state transition, every error
and every request answered 5xx; --log-format json writes one JSON object per line (time, level,
event, message, experiment, name, system, from, to, error).
The web app is served at / from --web DIR (default: $DEC_WEB_DIR, else web/dist of the source
tree dec was built from); without a build, / says how to build it (npm --prefix web run build).
With --artifacts, each finished experiment's results.json and report.html are uploaded to
s3://BUCKET/PREFIX/<id>/ (AWS credentials and region as for Kinesis; --artifacts-endpoint for
any S3-compatible server).
GET /api/examples serves the *.yaml specs of --examples DIR (default: the source tree's
examples/, when it exists).

Specs posted to the API are untrusted (docs/spec.md, "Specs from the API"): they use only
infrastructure dec creates, and ${NAME} in them reads no environment variable, unless allowed:
  --secret NAME              ${NAME} may read this variable (repeatable)
  --secrets NAME,NAME        the same, several at once
  --allow-endpoint ENDPOINT  clients may connect there: HOST, HOST:PORT, [IPV6]:PORT or a
                             network such as 10.0.0.0/8 (repeatable); needed for
                             deploy.provider: endpoints and addresses in config (kinesis endpoint)
)";

constexpr const char* kWorkerHelp =
    R"(Usage: dec worker [--listen HOST:PORT] [--ready-file FILE] [--token-file FILE]
                  [--allow-target HOST[:PORT]|CIDR ...]

Runs a load worker: a small HTTP agent that runs dec's load engine against a system when asked
and hands back mergeable results (GET/POST /v1/..., docs/api.md "Worker agent API"). The
orchestrator starts one per system, on a host of its own. One run at a time.

Options:
  --listen HOST:PORT  where to listen (default 127.0.0.1:0, any free port)
  --ready-file FILE   once listening, write "HOST:PORT" to FILE (atomically), so whoever
                      started the worker learns the port; removed again on exit
  --token-file FILE   accept work only with "Authorization: Bearer <token>", the token being
                      FILE's content (or $DEC_WORKER_TOKEN); GET /v1/health stays open
  --allow-target T    the only addresses a run may aim at: a host, host:port or IPv4 block
                      (198.18.0.0/24); repeatable; default any

POST /v1/shutdown, Ctrl-C or SIGTERM stop the active run and exit 0.
)";

std::string default_data_dir() {
  const char* env = std::getenv("DEC_DATA_DIR");
  return env != nullptr && *env != '\0' ? env : "dec-data";
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// " (did you mean \"run\"?)" when `word` looks like a typo of a candidate, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto match = core::closest_match(word, candidates);
  return match ? " (did you mean \"" + *match + "\"?)" : "";
}

int usage_error(const std::string& message, const char* help) {
  std::fprintf(stderr, "dec: %s\n\n%s", message.c_str(), help);
  return kUsage;
}

// The first line of `path`, trailing spaces and CR removed: a token kept out of the command
// line, where every user of the machine could read it.
Result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) return make_error("cannot read a token from " + path);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return make_error(path + " is empty");
  return token;
}

// Everything a command needs from the environment, made once per invocation.
struct Context {
  std::string data_dir;
  infra::PosixEnv env;
  // `starts_brokers` for the commands that start brokers (run, apply, reconcile, serve): only
  // they say when brokers would run as root; validate and plan use the same context quietly.
  infra::ProviderContext provider_context(bool starts_brokers = false) {
    infra::ProviderContext pc;
    pc.env = &env;
    pc.data_dir = data_dir;
    pc.installation = infra::installation_id(data_dir);
    std::error_code ec;
    pc.dec_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    const char* tools = std::getenv("DEC_TOOLS_DIR");
    pc.tools_dir = tools != nullptr && *tools != '\0' ? tools : DEC_DEFAULT_TOOLS_DIR;
    pc.broker_user = broker_user(pc, starts_brokers);
    return pc;
  }
  // As root, brokers run as core::kBrokerUser, which must reach their dirs and the programs and
  // jars they start; when it cannot, they run as root and, if `warn`, this says why (once per
  // command).
  std::string broker_user(const infra::ProviderContext& pc, bool warn) {
    if (::geteuid() != 0) return "";
    std::string problem;
    const auto user = core::find_host_user(core::kBrokerUser);
    if (!user) {
      problem =
          std::string("user ") + core::kBrokerUser + " does not exist (scripts/setup creates it)";
    } else {
      for (const std::string& path : {data_dir + "/runs/x", pc.tools_dir + "/x", pc.dec_binary}) {
        if (std::string blocked = core::blocked_ancestor(path, *user); !blocked.empty()) {
          problem = std::string("user ") + core::kBrokerUser + " cannot enter " + blocked +
                    " (above " + path.substr(0, path.rfind('/')) +
                    "): put dec and its data dir where others may enter them (e.g. under "
                    "/opt, /var/lib or /tmp), or chmod o+x " +
                    blocked;
          break;
        }
      }
    }
    if (problem.empty()) return core::kBrokerUser;
    if (warn && !broker_user_warned) {
      std::fprintf(stderr, "dec: warning: brokers will run as root: %s\n", problem.c_str());
      broker_user_warned = true;
    }
    return "";
  }
  bool broker_user_warned = false;
  Result<std::unique_ptr<store::Store>> open_store() {
    return store::Store::open(data_dir + "/dec.db");
  }
};

// The spec with every check a run makes, each system's provider included (preflight.h).
core::ParseResult load_spec(Context& ctx, const Args& args) {
  return orchestrator::validate_spec_file(args.positionals.at(0), args.all("set"),
                                          ctx.provider_context());
}

void print_spec_errors(const std::string& file, const core::ParseResult& parsed) {
  std::fprintf(stderr, "%s: %zu error%s\n", file.c_str(), parsed.errors.size(),
               parsed.errors.size() == 1 ? "" : "s");
  for (const auto& error : parsed.errors) std::fprintf(stderr, "  %s\n", error.to_string().c_str());
}

void print_spec_warnings(const core::ParseResult& parsed) {
  for (const auto& warning : parsed.warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.to_string().c_str());
  }
}

// With --fail-on-target-miss: says what was missed on stderr and returns kTargetMissed, else kOk.
int target_miss_status(const Args& args, const std::string& results_json) {
  if (!args.has("fail-on-target-miss")) return kOk;
  const auto missed = report::missed_targets(results_json);
  for (const auto& line : missed) std::fprintf(stderr, "dec: %s\n", line.c_str());
  return missed.empty() ? kOk : kTargetMissed;
}

std::vector<OptionSpec> with_common(std::vector<OptionSpec> options) {
  options.push_back({"help", false, false});
  options.push_back({"data-dir", true, false});
  return options;
}

// Blocks SIGINT/SIGTERM in every thread and turns them into a stop flag from a dedicated
// thread (no work in a signal handler). The third signal abandons teardown.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::atomic<bool>& stop) : stop_(stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] { watch(); });
  }
  ~SignalWatcher() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  bool interrupted() const { return count_ > 0; }

 private:
  void watch() {
    while (true) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      if (done_) return;
      ++count_;
      stop_ = true;
      if (count_ == 1) {
        std::fprintf(stderr,
                     "\ndec: %s received: stopping and destroying infrastructure "
                     "(signal twice more to abandon)\n",
                     strsignal(sig));
      } else if (count_ >= 3) {
        std::fprintf(stderr, "\ndec: abandoning teardown; run `dec reconcile` to clean up\n");
        _exit(kInterrupted);
      }
    }
  }
  std::atomic<bool>& stop_;
  sigset_t set_{};
  sigset_t old_{};
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<int> count_{0};
};

int cmd_validate(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"set", true, true}}));
  if (!args) return usage_error(args.error(), kValidateHelp);
  if (args->has("help")) return std::printf("%s", kValidateHelp), kOk;
  if (args->positionals.size() != 1)
    return usage_error("validate needs one SPEC file", kValidateHelp);
  auto parsed = load_spec(ctx, *args);
  print_spec_warnings(parsed);
  if (!parsed.ok()) {
    print_spec_errors(args->positionals[0], parsed);
    return kUsage;
  }
  std::printf("%s: valid (experiment \"%s\", %zu systems)\n", args->positionals[0].c_str(),
              parsed.spec.name.c_str(), parsed.spec.systems.size());
  return kOk;
}

int cmd_plan(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(
      argv, with_common({{"set", true, true}, {"json", false, false}, {"run", true, false}}));
  if (!args) return usage_error(args.error(), kPlanHelp);
  if (args->has("help")) return std::printf("%s", kPlanHelp), kOk;
  if (args->positionals.size() != 1) return usage_error("plan needs one SPEC file", kPlanHelp);
  auto parsed = load_spec(ctx, *args);
  if (!parsed.ok()) {
    print_spec_errors(args->positionals[0], parsed);
    return kUsage;
  }
  // Against a kept run's recorded state, or against nothing (a new run).
  const std::string run = args->get("run");
  infra::RunState recorded;
  orchestrator::PlanPreviewOptions options;
  if (!run.empty()) {
    auto loaded = infra::StateFile(ctx.env, infra::state_path(ctx.data_dir, run)).load();
    if (!loaded) {
      return usage_error("--run " + run + ": " + loaded.error() + " (see `dec reconcile --json`)",
                         kPlanHelp);
    }
    recorded = *loaded;
    options.experiment_id = recorded.experiment_id;
    options.recorded = &recorded;
  }
  auto preview = orchestrator::preview_plan(parsed.spec, ctx.provider_context(), options);
  if (!preview) return usage_error(preview.error(), kPlanHelp);
  const bool as_json = args->has("json");
  if (!preview->search.empty()) {
    std::fprintf(as_json ? stderr : stdout, "%s\n", preview->search.c_str());
  }
  if (preview->sweep) {
    if (as_json) {
      std::fprintf(stderr, "%s\n%s", preview->headline.c_str(), preview->infrastructure.c_str());
    } else {
      std::printf("%s\n%s\n", preview->headline.c_str(), preview->infrastructure.c_str());
    }
  }
  nlohmann::json json_plans = nlohmann::json::array();
  for (const auto& system : preview->systems) {
    if (!system.error.empty()) {
      std::fprintf(stderr, "systems[%zu] (%s): %s\n", system.index, system.system.c_str(),
                   system.error.c_str());
    } else if (as_json) {
      nlohmann::json item = {{"system", system.system},
                             {"provider", system.provider},
                             {"plan", nlohmann::json::parse(infra::plan_to_json(system.plan))}};
      if (system.point) item["point"] = *system.point;
      json_plans.push_back(std::move(item));
    } else {
      const std::string at_point = system.point ? " at point " + std::to_string(*system.point) : "";
      std::printf("System %s%s (driver %s, provider %s):\n%s\n", system.system.c_str(),
                  at_point.c_str(), system.driver.c_str(), system.provider.c_str(),
                  infra::plan_to_text(system.plan).c_str());
    }
  }
  if (as_json) std::printf("%s\n", json_plans.dump(2).c_str());
  return preview->ok() ? kOk : kUsage;
}

void print_reconcile(const infra::ReconcileReport& report, bool dry_run) {
  if (report.actions.empty()) std::fprintf(stderr, "reconcile: nothing to clean up\n");
  for (const auto& error : report.errors)
    std::fprintf(stderr, "reconcile: error: %s\n", error.c_str());
  if (dry_run && !report.actions.empty()) {
    std::fprintf(stderr, "reconcile: dry run, nothing changed\n");
  }
}

// Waits for the machine-wide measurement lock, saying on stderr whom it waits for.
Result<std::unique_ptr<orchestrator::MeasurementLock>> acquire_measurement_lock(
    bool allow_concurrent, const std::atomic<bool>& stop) {
  orchestrator::MeasurementLockOptions options;
  options.allow_concurrent = allow_concurrent;
  options.stop = &stop;
  const bool tty = isatty(STDERR_FILENO) != 0;
  bool waited = false;
  options.on_wait = [&](int holder, double waited_s) {
    const std::string who = holder > 0 ? " (pid " + std::to_string(holder) + ")" : "";
    // On a terminal one line counts up; in a log, a line every 10 s.
    if (tty) {
      std::fprintf(stderr, "\rdec: waiting for another dec measurement%s to finish: %.0f s ",
                   who.c_str(), waited_s);
    } else if (!waited || static_cast<long>(waited_s) % 10 == 0) {
      std::fprintf(stderr, "dec: waiting for another dec measurement%s to finish (%.0f s)\n",
                   who.c_str(), waited_s);
    }
    waited = true;
  };
  auto lock = orchestrator::MeasurementLock::acquire(options);
  if (waited && tty) std::fprintf(stderr, "\n");
  if (lock && !(*lock)->held() && allow_concurrent) {
    std::fprintf(stderr,
                 "dec: another dec measurement is running; measuring anyway "
                 "(--allow-concurrent), the results will say so\n");
  }
  return lock;
}

int cmd_run(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"set", true, true},
                                            {"json", false, false},
                                            {"out", true, false},
                                            {"quiet", false, false},
                                            {"fail-on-target-miss", false, false},
                                            {"allow-concurrent", false, false}}));
  if (!args) return usage_error(args.error(), kRunHelp);
  if (args->has("help")) return std::printf("%s", kRunHelp), kOk;
  if (args->positionals.size() != 1) return usage_error("run needs one SPEC file", kRunHelp);
  auto parsed = load_spec(ctx, *args);
  print_spec_warnings(parsed);
  if (!parsed.ok()) {
    print_spec_errors(args->positionals[0], parsed);
    return kUsage;
  }
  auto points = core::expand_matrix(parsed.spec, systems::driver_catalog());
  if (!points) {
    std::fprintf(stderr, "%s: %s\n", args->positionals[0].c_str(), points.error().c_str());
    return kUsage;
  }
  if (const std::string search = orchestrator::search_plan(parsed.spec);
      !search.empty() && !args->has("quiet")) {
    std::fprintf(stderr, "dec: %s\n", search.c_str());
  }
  if (orchestrator::is_sweep(parsed.spec) && !args->has("quiet")) {
    std::fprintf(stderr, "dec: sweep: %s\n%s", orchestrator::sweep_headline(*points).c_str(),
                 orchestrator::infrastructure_plan(*points).c_str());
  }
  auto store = ctx.open_store();
  if (!store) {
    std::fprintf(stderr, "dec: %s\n", store.error().c_str());
    return kFailed;
  }
  std::atomic<bool> stop{false};
  SignalWatcher signals(stop);
  ProgressDisplay display(stderr, isatty(STDERR_FILENO) != 0, args->has("quiet"));
  auto pc = ctx.provider_context(/*starts_brokers=*/true);

  // Leftovers of interrupted runs (e.g. a previous dec killed with -9) are cleaned first.
  auto cleanup =
      infra::reconcile(pc, {}, [&](const std::string& line) { display.log("reconcile: " + line); });
  for (const auto& error : cleanup.errors) display.log("reconcile: error: " + error);

  auto id =
      (*store)->create_experiment(parsed.spec.name, core::spec_to_json(parsed.spec), "queued");
  if (!id) {
    std::fprintf(stderr, "dec: %s\n", id.error().c_str());
    return kFailed;
  }
  if (!args->has("quiet")) {
    std::fprintf(stderr, "dec: experiment \"%s\" id %s, %zu systems, data in %s\n",
                 parsed.spec.name.c_str(), id->c_str(), parsed.spec.systems.size(),
                 ctx.data_dir.c_str());
  }
  orchestrator::RunnerContext rc;
  rc.provider_context = pc;
  rc.store = store->get();
  rc.stop = &stop;
  rc.events.on_state = [&](const std::string& system, const std::string& state) {
    display.state(system, state);
  };
  rc.events.on_progress = [&](const std::string& system, const load::Progress& p) {
    display.progress(system, p);
  };
  rc.events.on_log = [&](const std::string& line) { display.log(line); };
  auto lock = acquire_measurement_lock(args->has("allow-concurrent"), stop);
  if (!lock) {
    std::fprintf(stderr, "dec: %s\n", lock.error().c_str());
    (void)(*store)->set_state(*id, "failed", lock.error());
    return kFailed;
  }
  auto outcome = orchestrator::run_experiment(parsed.spec, *id, rc);
  display.finish();
  (*lock)->record(outcome.result.environment);
  lock->reset();

  std::string json = report::to_json(outcome.result);
  if (Status s = (*store)->set_results(*id, json, report::results_summary(json)); !s) {
    std::fprintf(stderr, "dec: could not store results: %s\n", s.error().c_str());
  }
  if (args->has("out")) {
    std::ofstream out(args->get("out"));
    out << json << "\n";
    if (!out) std::fprintf(stderr, "dec: cannot write %s\n", args->get("out").c_str());
  }
  if (args->has("json")) {
    std::printf("%s\n", json.c_str());
  } else {
    auto table = report::comparison_table(json);
    std::printf("\n%s", table ? table->c_str() : table.error().c_str());
  }
  if (outcome.state == "cancelled" || signals.interrupted()) {
    std::fprintf(stderr, "dec: interrupted; infrastructure destroyed\n");
    return kInterrupted;
  }
  if (outcome.state != "succeeded") {
    std::fprintf(stderr, "dec: experiment %s: %s\n", outcome.state.c_str(), outcome.error.c_str());
    return kFailed;
  }
  return target_miss_status(*args, json);
}

// `dec apply --list`: the kept runs recorded in the data dir, with where they can be reached.
int list_kept_runs(Context& ctx, bool as_json) {
  auto pc = ctx.provider_context();
  nlohmann::json runs = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& run_id : infra::recorded_runs(ctx.env, ctx.data_dir)) {
    auto state = infra::StateFile(ctx.env, infra::state_path(ctx.data_dir, run_id)).load();
    if (!state) {
      std::fprintf(stderr, "dec: %s: %s\n", run_id.c_str(), state.error().c_str());
      continue;
    }
    if (!state->kept) continue;
    size_t created = 0;
    for (const auto& record : state->resources) created += record.status == "created";
    std::vector<std::string> addresses;
    if (auto provider = infra::make_provider(state->provider, pc)) {
      if (auto endpoint = (*provider)->endpoint(*state)) addresses = endpoint->addresses;
    }
    const std::string resources =
        std::to_string(created) + "/" + std::to_string(state->resources.size());
    runs.push_back({{"run_id", run_id},
                    {"system", state->system},
                    {"provider", state->provider},
                    {"resources_created", created},
                    {"resources", state->resources.size()},
                    {"addresses", addresses}});
    std::string joined;
    for (const auto& address : addresses) joined += (joined.empty() ? "" : ",") + address;
    rows.push_back(
        {run_id, state->system, state->provider, resources, joined.empty() ? "-" : joined});
  }
  if (as_json) {
    std::printf("%s\n", nlohmann::json{{"runs", runs}}.dump(2).c_str());
    return kOk;
  }
  if (rows.empty()) {
    std::printf("no kept runs in %s (dec apply SPEC creates one)\n", ctx.data_dir.c_str());
    return kOk;
  }
  std::printf("%-34s %-12s %-10s %-9s %s\n", "RUN", "SYSTEM", "PROVIDER", "RESOURCES", "ADDRESSES");
  for (const auto& row : rows) {
    std::printf("%-34s %-12s %-10s %-9s %s\n", row[0].c_str(), row[1].c_str(), row[2].c_str(),
                row[3].c_str(), row[4].c_str());
  }
  return kOk;
}

int cmd_apply(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"set", true, true},
                                            {"system", true, true},
                                            {"run", true, false},
                                            {"json", false, false},
                                            {"list", false, false}}));
  if (!args) return usage_error(args.error(), kApplyHelp);
  if (args->has("help")) return std::printf("%s", kApplyHelp), kOk;
  if (args->has("list")) {
    if (!args->positionals.empty() || args->has("set") || args->has("system") || args->has("run")) {
      return usage_error("apply --list takes no SPEC and no other options but --json", kApplyHelp);
    }
    return list_kept_runs(ctx, args->has("json"));
  }
  if (args->positionals.size() != 1) return usage_error("apply needs one SPEC file", kApplyHelp);
  auto parsed = load_spec(ctx, *args);
  if (!parsed.ok()) {
    print_spec_errors(args->positionals[0], parsed);
    return kUsage;
  }
  if (!parsed.spec.matrix.empty()) {
    return usage_error(
        "apply keeps one configuration up, and the spec has a matrix: pick a point with --set "
        "(e.g. --set " +
            parsed.spec.matrix.front().path + "=" + parsed.spec.matrix.front().values.front() +
            ") in a copy of the spec without the matrix",
        kApplyHelp);
  }
  std::vector<const core::System*> systems;
  for (const auto& system : parsed.spec.systems) {
    auto wanted = args->all("system");
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), system.name) != wanted.end()) {
      systems.push_back(&system);
    }
  }
  for (const auto& name : args->all("system")) {
    bool known = std::any_of(parsed.spec.systems.begin(), parsed.spec.systems.end(),
                             [&](const core::System& s) { return s.name == name; });
    if (!known)
      return usage_error("--system: no system named \"" + name + "\" in the spec", kApplyHelp);
  }
  std::string id = store::new_experiment_id();
  std::string existing_run = args->get("run");
  if (!existing_run.empty()) {
    auto dot = existing_run.find('.');
    if (dot == std::string::npos) {
      return usage_error("--run: expected a run id such as 20261125-101500-ab12.redis", kApplyHelp);
    }
    id = existing_run.substr(0, dot);
    std::string system = existing_run.substr(dot + 1);
    std::erase_if(systems, [&](const core::System* s) { return s->name != system; });
    if (systems.empty()) {
      return usage_error("--run: the spec has no system \"" + system + "\"", kApplyHelp);
    }
  }
  std::atomic<bool> stop{false};
  SignalWatcher signals(stop);
  auto pc = ctx.provider_context(/*starts_brokers=*/true);
  nlohmann::json runs = nlohmann::json::array();
  int status = kOk;
  for (const core::System* system : systems) {
    const std::string run_id = id + "." + system->name;
    auto log = [&](const std::string& line) {
      std::fprintf(stderr, "%s: %s\n", run_id.c_str(), line.c_str());
    };
    pc.log = log;  // a provider's own progress (terraform apply) too
    auto provider = infra::make_provider(system->deploy.provider, pc);
    if (!provider) {
      std::fprintf(stderr, "dec: %s: %s\n", system->name.c_str(), provider.error().c_str());
      status = kUsage;
      continue;
    }
    infra::StateFile file(ctx.env, infra::state_path(ctx.data_dir, run_id));
    infra::RunState state;
    if (!existing_run.empty()) {
      auto loaded = file.load();
      if (!loaded) {
        std::fprintf(stderr, "dec: --run %s: %s\n", run_id.c_str(), loaded.error().c_str());
        return kFailed;
      }
      state = *loaded;
      if (state.owner.valid() && ctx.env.process_alive(state.owner) &&
          state.owner.pid != ctx.env.self().pid) {
        std::fprintf(stderr, "dec: %s is in use by dec process %d\n", run_id.c_str(),
                     state.owner.pid);
        return kFailed;
      }
    } else {
      state.run_id = run_id;
      state.experiment_id = id;
      state.system = system->name;
      state.provider = system->deploy.provider;
      state.installation = pc.installation;
    }
    state.kept = true;
    state.owner = ctx.env.self();
    auto desired = (*provider)->resources_for(
        *system, orchestrator::deploy_request_for(parsed.spec, id, *system));
    if (!desired) {
      std::fprintf(stderr, "dec: %s: %s\n", system->name.c_str(), desired.error().c_str());
      status = kUsage;
      continue;
    }
    auto plan = infra::plan_changes(*desired, state, (*provider)->updatable_in_place());
    if (!plan) {
      std::fprintf(stderr, "dec: %s: %s\n", system->name.c_str(), plan.error().c_str());
      status = kUsage;
      continue;
    }
    std::fprintf(stderr, "Run %s (driver %s, provider %s):\n%s", run_id.c_str(),
                 system->driver.c_str(), system->deploy.provider.c_str(),
                 infra::plan_to_text(*plan).c_str());
    auto start = std::chrono::steady_clock::now();
    Status applied = infra::apply_plan(**provider, *plan, state, file, log);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.owner = infra::ProcessId{};  // kept: no dec process owns it from now on
    (void)file.save(state);
    if (!applied) {
      std::fprintf(stderr,
                   "dec: %s: %s\n  what was created is kept; `dec reconcile` completes it, "
                   "`dec destroy %s` removes it\n",
                   run_id.c_str(), applied.error().c_str(), run_id.c_str());
      status = kFailed;
      continue;
    }
    auto endpoint = (*provider)->endpoint(state);
    nlohmann::json item = {{"run_id", run_id}, {"system", system->name}, {"apply_s", seconds}};
    if (endpoint) {
      item["addresses"] = endpoint->addresses;
      item["workers"] = endpoint->workers;
      item["placement"] = endpoint->placement;
      item["emulated"] = endpoint->emulated;
      std::fprintf(stderr, "%s: applied in %.2f s; %s at %s%s\n", run_id.c_str(), seconds,
                   system->driver.c_str(), nlohmann::json(endpoint->addresses).dump().c_str(),
                   endpoint->placement.empty() ? "" : (" (" + endpoint->placement + ")").c_str());
    }
    runs.push_back(item);
    if (stop) break;
  }
  if (args->has("json")) std::printf("%s\n", nlohmann::json{{"runs", runs}}.dump(2).c_str());
  if (signals.interrupted()) return kInterrupted;
  return status;
}

int cmd_destroy(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({}));
  if (!args) return usage_error(args.error(), kDestroyHelp);
  if (args->has("help")) return std::printf("%s", kDestroyHelp), kOk;
  if (args->positionals.size() != 1)
    return usage_error("destroy needs one run or experiment id", kDestroyHelp);
  const std::string& id = args->positionals[0];
  auto pc = ctx.provider_context();
  std::vector<std::string> targets;
  for (const auto& run : infra::recorded_runs(ctx.env, ctx.data_dir)) {
    if (run == id || run.rfind(id + ".", 0) == 0) targets.push_back(run);
  }
  if (targets.empty()) {
    std::fprintf(stderr, "dec: nothing recorded for \"%s\" in %s/state (already destroyed?)\n",
                 id.c_str(), ctx.data_dir.c_str());
    return kOk;
  }
  int status = kOk;
  for (const auto& run_id : targets) {
    Status s = infra::destroy_recorded_run(pc, run_id, [&](const std::string& line) {
      std::fprintf(stderr, "%s: %s\n", run_id.c_str(), line.c_str());
    });
    if (!s) {
      std::fprintf(stderr, "dec: %s: %s\n", run_id.c_str(), s.error().c_str());
      status = kFailed;
    } else {
      std::fprintf(stderr, "%s: destroyed\n", run_id.c_str());
    }
  }
  return status;
}

int cmd_reconcile(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"dry-run", false, false}, {"json", false, false}}));
  if (!args) return usage_error(args.error(), kReconcileHelp);
  if (args->has("help")) return std::printf("%s", kReconcileHelp), kOk;
  if (!args->positionals.empty())
    return usage_error("reconcile takes no arguments", kReconcileHelp);
  infra::ReconcileOptions options;
  options.dry_run = args->has("dry-run");
  bool json = args->has("json");
  auto report = infra::reconcile(ctx.provider_context(/*starts_brokers=*/true), options,
                                 [&](const std::string& line) {
                                   if (!json) std::fprintf(stderr, "reconcile: %s\n", line.c_str());
                                 });
  if (json) {
    nlohmann::json doc = {{"dry_run", options.dry_run},
                          {"actions", report.actions},
                          {"errors", report.errors},
                          {"live_runs", report.live_runs},
                          {"cleaned_runs", report.cleaned_runs},
                          {"adopted", report.adopted},
                          {"recreated", report.recreated},
                          {"drift", report.drift}};
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    print_reconcile(report, options.dry_run);
  }
  return report.clean() ? kOk : kFailed;
}

// An experiment id, a unique prefix of one, or an experiment's name (its latest experiment).
Result<std::string> resolve_id(store::Store& store, const std::string& prefix) {
  auto ids = store.find_ids(prefix);
  if (!ids) return make_error(ids.error());
  if (ids->empty()) {
    auto named = store.latest_id_named(prefix);
    if (!named) return make_error(named.error());
    if (named->has_value()) return **named;
    return make_error("no experiment with id or name \"" + prefix + "\" (see `dec results list`)");
  }
  if (ids->size() > 1) {
    std::string list;
    for (const auto& id : *ids) list += " " + id;
    return make_error("id \"" + prefix + "\" is ambiguous:" + list);
  }
  return ids->front();
}

// The built web app: --web DIR, else $DEC_WEB_DIR, else web/dist of the source tree.
std::string web_dir(const Args& args) {
  const char* env_web = std::getenv("DEC_WEB_DIR");
  return args.get("web", env_web != nullptr && *env_web != '\0' ? env_web : DEC_DEFAULT_WEB_DIR);
}

// `dec results export ID --format hdr|csv|html [--out DIR] [--web DIR]`.
int export_results(store::Store& store, const Args& args) {
  if (args.positionals.size() != 2) return usage_error("results export needs an ID", kResultsHelp);
  const std::string format = args.get("format");
  if (format != "hdr" && format != "csv" && format != "html") {
    return usage_error("--format: expected hdr, csv or html" +
                           (format.empty() ? std::string() : ", got \"" + format + "\""),
                       kResultsHelp);
  }
  auto id = resolve_id(store, args.positionals[1]);
  if (!id) {
    std::fprintf(stderr, "dec: %s\n", id.error().c_str());
    return kFailed;
  }
  auto record = store.get(*id);
  if (!record || !record->has_value() || (*record)->results_json.empty()) {
    std::fprintf(stderr, "dec: experiment %s has no results to export\n", id->c_str());
    return kFailed;
  }
  std::vector<report::ExportFile> files;
  if (format == "hdr") {
    auto logs = report::export_hdr_logs((*record)->results_json);
    if (!logs) {
      std::fprintf(stderr, "dec: %s: %s\n", id->c_str(), logs.error().c_str());
      return kFailed;
    }
    files = std::move(*logs);
  } else if (format == "html") {
    const auto bundle = std::filesystem::path(web_dir(args)) / "report" / "report.js";
    auto html = server::render_report_html((*record)->results_json, (*record)->state,
                                           (*record)->error, bundle.string());
    if (!html) {
      std::fprintf(stderr, "dec: %s: %s\n", id->c_str(), html.error().c_str());
      return kFailed;
    }
    files.push_back({*id + ".html", std::move(*html)});
  } else {
    auto csv = report::export_runs_csv((*record)->results_json);
    if (!csv) {
      std::fprintf(stderr, "dec: %s: %s\n", id->c_str(), csv.error().c_str());
      return kFailed;
    }
    files.push_back({*id + ".csv", std::move(*csv)});
  }
  const std::filesystem::path dir = args.get("out", ".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "dec: --out %s: %s\n", dir.c_str(), ec.message().c_str());
    return kUsage;
  }
  for (const auto& file : files) {
    const auto path = dir / file.name;
    std::ofstream out(path, std::ios::binary);
    out << file.content;
    if (!out) {
      std::fprintf(stderr, "dec: cannot write %s\n", path.c_str());
      return kFailed;
    }
    std::printf("%s\n", path.c_str());
  }
  return kOk;
}

int cmd_results(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"json", false, false},
                                            {"state", true, false},
                                            {"limit", true, false},
                                            {"fail-on-target-miss", false, false},
                                            {"format", true, false},
                                            {"out", true, false},
                                            {"web", true, false}}));
  if (!args) return usage_error(args.error(), kResultsHelp);
  if (args->has("help") || args->positionals.empty()) {
    std::printf("%s", kResultsHelp);
    return args->has("help") ? kOk : kUsage;
  }
  const std::string& sub = args->positionals[0];
  if (sub != "list" && sub != "show" && sub != "export") {
    return usage_error(
        "unknown results command \"" + sub + "\"" + did_you_mean(sub, {"list", "show", "export"}),
        kResultsHelp);
  }
  store::ListFilter filter;
  filter.state = args->get("state");
  if (!filter.state.empty()) {
    const auto& states = orchestrator::lifecycle_states();
    if (std::find(states.begin(), states.end(), filter.state) == states.end()) {
      std::string valid;
      for (const auto& state : states) valid += (valid.empty() ? "" : ", ") + state;
      return usage_error("--state: unknown state \"" + filter.state + "\"" +
                             did_you_mean(filter.state, states) + "; expected one of " + valid,
                         kResultsHelp);
    }
  }
  const std::string limit = args->get("limit", "50");
  char* limit_end = nullptr;
  filter.limit = static_cast<int>(std::strtol(limit.c_str(), &limit_end, 10));
  if (limit.empty() || *limit_end != '\0' || filter.limit < 1) {
    return usage_error("--limit: expected a positive number, got \"" + limit + "\"", kResultsHelp);
  }
  // Reading results never creates a data dir or database where there is none.
  if (!std::filesystem::exists(ctx.data_dir + "/dec.db")) {
    if (sub == "list") {
      if (args->has("json")) return std::printf("[]\n"), kOk;
      std::printf("no experiments in %s\n", ctx.data_dir.c_str());
      return kOk;
    }
    if (args->positionals.size() != 2) {
      return usage_error("results " + sub + " needs an ID", kResultsHelp);
    }
    std::fprintf(stderr, "dec: no experiment with id or name \"%s\": %s has no database\n",
                 args->positionals[1].c_str(), ctx.data_dir.c_str());
    return kFailed;
  }
  auto store = ctx.open_store();
  if (!store) {
    std::fprintf(stderr, "dec: %s\n", store.error().c_str());
    return kFailed;
  }
  if (sub == "list") {
    auto list = (*store)->list(filter);
    if (!list) {
      std::fprintf(stderr, "dec: %s\n", list.error().c_str());
      return kFailed;
    }
    if (args->has("json")) {
      nlohmann::json doc = nlohmann::json::array();
      for (const auto& r : *list) {
        doc.push_back({{"id", r.id},
                       {"name", r.name},
                       {"state", r.state},
                       {"error", r.error},
                       {"created_at", r.created_at},
                       {"finished_at", r.finished_at}});
      }
      std::printf("%s\n", doc.dump(2).c_str());
      return kOk;
    }
    if (list->empty()) {
      std::printf("no experiments in %s\n", ctx.data_dir.c_str());
      return kOk;
    }
    std::printf("%-22s %-11s %-21s %s\n", "ID", "STATE", "CREATED", "NAME");
    for (const auto& r : *list) {
      std::printf("%-22s %-11s %-21s %s\n", r.id.c_str(), r.state.c_str(), r.created_at.c_str(),
                  r.name.c_str());
    }
    return kOk;
  }
  if (sub == "show") {
    if (args->positionals.size() != 2) return usage_error("results show needs an ID", kResultsHelp);
    auto id = resolve_id(**store, args->positionals[1]);
    if (!id) {
      std::fprintf(stderr, "dec: %s\n", id.error().c_str());
      return kFailed;
    }
    auto record = (*store)->get(*id);
    if (!record || !record->has_value()) {
      std::fprintf(stderr, "dec: cannot read experiment %s\n", id->c_str());
      return kFailed;
    }
    const auto& r = **record;
    if (r.results_json.empty()) {
      std::fprintf(stderr, "experiment %s is %s; no results yet%s\n", r.id.c_str(), r.state.c_str(),
                   r.error.empty() ? "" : (" (" + r.error + ")").c_str());
      return r.state == "failed" ? kFailed : kOk;
    }
    if (args->has("json")) {
      std::printf("%s\n", report::results_with_spec(r.results_json, r.spec_json).c_str());
      return target_miss_status(*args, r.results_json);
    }
    auto table = report::comparison_table(r.results_json);
    if (!table) {
      std::fprintf(stderr, "dec: %s\n", table.error().c_str());
      return kFailed;
    }
    std::printf("State: %s%s\n%s", r.state.c_str(),
                r.error.empty() ? "" : (" (" + r.error + ")").c_str(), table->c_str());
    return target_miss_status(*args, r.results_json);
  }
  return export_results(**store, *args);
}

int cmd_serve(Context& ctx, const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"listen", true, false},
                                            {"token", true, false},
                                            {"token-file", true, false},
                                            {"insecure", false, false},
                                            {"log-format", true, false},
                                            {"artifacts", true, false},
                                            {"artifacts-endpoint", true, false},
                                            {"web", true, false},
                                            {"examples", true, false},
                                            {"secret", true, true},
                                            {"secrets", true, true},
                                            {"allow-endpoint", true, true}}));
  if (!args) return usage_error(args.error(), kServeHelp);
  if (args->has("help")) return std::printf("%s", kServeHelp), kOk;
  if (!args->positionals.empty()) return usage_error("serve takes no arguments", kServeHelp);
  server::ServerOptions options;
  std::string listen = args->get("listen", "127.0.0.1:8080");
  auto colon = listen.rfind(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no port");
    options.host = listen.substr(0, colon);
    size_t used = 0;
    options.port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || options.port < 0 || options.port > 65535) {
      throw std::invalid_argument("bad port");
    }
  } catch (const std::exception&) {
    return usage_error(
        "--listen: expected HOST:PORT such as 127.0.0.1:8080, got \"" + listen + "\"", kServeHelp);
  }
  const char* env_token = std::getenv("DEC_TOKEN");
  options.token = args->get("token", env_token != nullptr ? env_token : "");
  if (const std::string token_file = args->get("token-file"); !token_file.empty()) {
    if (args->has("token")) {
      return usage_error("--token-file: give the token one way, not also --token", kServeHelp);
    }
    auto token = read_token_file(token_file);
    if (!token) return usage_error("--token-file: " + token.error(), kServeHelp);
    options.token = *token;
  }
  options.insecure = args->has("insecure");
  const std::string log_format = args->get("log-format", "text");
  if (log_format != "text" && log_format != "json") {
    return usage_error("--log-format: expected text or json, got \"" + log_format + "\"",
                       kServeHelp);
  }
  options.log_format = log_format == "json" ? server::LogFormat::kJson : server::LogFormat::kText;
  options.provider_context = ctx.provider_context(/*starts_brokers=*/true);
  options.artifacts = args->get("artifacts");
  options.artifacts_endpoint = args->get("artifacts-endpoint");
  options.web_root = web_dir(*args);
  if (args->has("examples")) options.examples_dir = args->get("examples");
  std::vector<std::pair<std::string, std::string>> secrets;  // flag, name
  for (const std::string& name : args->all("secret")) secrets.emplace_back("--secret", name);
  for (const std::string& list : args->all("secrets")) {
    for (size_t start = 0; start <= list.size();) {
      size_t comma = std::min(list.find(',', start), list.size());
      secrets.emplace_back("--secrets", list.substr(start, comma - start));
      start = comma + 1;
    }
  }
  for (const auto& [flag, name] : secrets) {
    const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                       std::all_of(name.begin(), name.end(),
                                   [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    if (!valid) {
      return usage_error(
          flag + ": expected environment variable names (letters, digits, _), got \"" + name + "\"",
          kServeHelp);
    }
    options.spec_policy.secrets.insert(name);
  }
  for (const std::string& text : args->all("allow-endpoint")) {
    auto rule = core::parse_endpoint_rule(text);
    if (!rule) return usage_error("--allow-endpoint: " + rule.error(), kServeHelp);
    options.spec_policy.endpoints.push_back(*rule);
  }
  std::atomic<bool> stop{false};
  SignalWatcher signals(stop);
  return server::serve(options, stop);
}

// "HOST:PORT" with PORT 0..65535; false when `text` is not that.
bool parse_listen(const std::string& text, std::string& host, int& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  try {
    size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    host = text.substr(0, colon);
    return used == text.size() - colon - 1 && port >= 0 && port <= 65535;
  } catch (const std::exception&) {
    return false;
  }
}

int cmd_worker(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"listen", true, false},
                                            {"ready-file", true, false},
                                            {"token-file", true, false},
                                            {"allow-target", true, true}}));
  if (!args) return usage_error(args.error(), kWorkerHelp);
  if (args->has("help")) return std::printf("%s", kWorkerHelp), kOk;
  if (!args->positionals.empty()) return usage_error("worker takes no arguments", kWorkerHelp);
  worker::AgentOptions options;
  const std::string listen = args->get("listen", "127.0.0.1:0");
  if (!parse_listen(listen, options.listen_host, options.listen_port)) {
    return usage_error("--listen: expected HOST:PORT such as 127.0.0.1:0, got \"" + listen + "\"",
                       kWorkerHelp);
  }
  options.ready_file = args->get("ready-file");
  // The token never comes on the command line, where every user of the machine could read it.
  if (const std::string token_file = args->get("token-file"); !token_file.empty()) {
    auto token = read_token_file(token_file);
    if (!token) return usage_error("--token-file: " + token.error(), kWorkerHelp);
    options.token = *token;
  } else if (const char* env_token = std::getenv("DEC_WORKER_TOKEN"); env_token && *env_token) {
    options.token = env_token;
  }
  options.allowed_targets = args->all("allow-target");
  for (const auto& target : options.allowed_targets) {
    if (Status valid = worker::check_allowed_target(target); !valid.ok()) {
      return usage_error("--allow-target: " + valid.error(), kWorkerHelp);
    }
  }
  // The agent handles SIGINT/SIGTERM itself (it stops the run, then exits).
  return worker::run_agent(options);
}

int cmd_drivers(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({}));
  if (!args) return usage_error(args.error(), kMainHelp);
  for (const auto& driver : systems::all_drivers()) {
    std::printf("%s — %s\n", driver.name.c_str(), driver.description.c_str());
    for (const auto& key : driver.config_keys) {
      std::printf("    %-20s %s (default %s)\n", key.name.c_str(), key.description.c_str(),
                  key.default_value.empty() ? "none" : key.default_value.c_str());
    }
    if (driver.accepts_unknown_keys)
      std::printf("    (other keys are passed to the client library)\n");
  }
  return kOk;
}

int cmd_import(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, with_common({{"driver", true, false}, {"out", true, false}}));
  if (!args) return usage_error(args.error(), kImportHelp);
  if (args->has("help")) return std::printf("%s", kImportHelp), kOk;
  if (args->positionals.empty() || args->positionals[0] != "omb") {
    return usage_error("import needs a format: dec import omb WORKLOAD.yaml", kImportHelp);
  }
  if (args->positionals.size() != 2) {
    return usage_error("import omb needs one WORKLOAD.yaml", kImportHelp);
  }
  auto imported = import_omb(args->positionals[1], args->get("driver"));
  if (!imported) {
    std::fprintf(stderr, "dec: %s\n", imported.error().c_str());
    return kUsage;
  }
  for (const auto& warning : imported->warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }
  if (!args->has("out")) {
    std::printf("%s", imported->spec_yaml.c_str());
    return kOk;
  }
  std::ofstream out(args->get("out"));
  out << imported->spec_yaml;
  if (!out) {
    std::fprintf(stderr, "dec: cannot write %s\n", args->get("out").c_str());
    return kFailed;
  }
  std::fprintf(stderr, "wrote %s (check it with `dec validate %s`)\n", args->get("out").c_str(),
               args->get("out").c_str());
  return kOk;
}

// dec's build and the client libraries its drivers link, as every result records them.
int cmd_version() {
  std::printf("dec %s\n", core::kDecVersion);
  std::printf("client libraries:\n");
  for (const auto& driver : systems::all_drivers()) {
    std::printf("  %-10s %s\n", driver.name.c_str(),
                driver.client_library ? driver.client_library().c_str() : "(not reported)");
  }
  return kOk;
}

}  // namespace

int run_cli(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
    std::printf("%s", kMainHelp);
    return argv.empty() ? kUsage : kOk;
  }
  const std::string& command = argv[0];
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  Context ctx;
  ctx.data_dir = default_data_dir();
  // --data-dir is accepted by every command; read it here so all of them agree.
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--data-dir" && i + 1 < rest.size()) ctx.data_dir = rest[i + 1];
    if (rest[i].rfind("--data-dir=", 0) == 0) ctx.data_dir = rest[i].substr(11);
  }
  ctx.data_dir = absolute(ctx.data_dir);
  if (command == "run") return cmd_run(ctx, rest);
  // Hidden: hosts librdkafka's mock cluster as a managed process for the local provider.
  if (command == "kafka-mock") return drivers::kafka_mock_main(rest);
  // Hidden: kinesalite behind AWS's per-shard quotas, as the local provider runs Kinesis.
  if (command == "kinesis-quota") return systems::kinesis_quota_main(rest);
  if (command == "validate") return cmd_validate(ctx, rest);
  if (command == "plan") return cmd_plan(ctx, rest);
  if (command == "destroy") return cmd_destroy(ctx, rest);
  if (command == "reconcile") return cmd_reconcile(ctx, rest);
  if (command == "results") return cmd_results(ctx, rest);
  if (command == "drivers") return cmd_drivers(rest);
  if (command == "serve") return cmd_serve(ctx, rest);
  if (command == "apply") return cmd_apply(ctx, rest);
  if (command == "worker") return cmd_worker(rest);
  if (command == "import") return cmd_import(rest);
  if (command == "version" || command == "--version") return cmd_version();
  const std::vector<std::string> commands = {"run",     "validate",  "plan",    "apply",
                                             "destroy", "reconcile", "results", "import",
                                             "drivers", "serve",     "worker",  "version"};
  const std::string suggestion = did_you_mean(command, commands);
  if (!suggestion.empty()) {
    // The typo and the fix, without the whole help.
    std::fprintf(stderr, "dec: unknown command \"%s\"%s; see dec --help\n", command.c_str(),
                 suggestion.c_str());
    return kUsage;
  }
  return usage_error("unknown command \"" + command + "\"", kMainHelp);
}

}  // namespace dec::cli
