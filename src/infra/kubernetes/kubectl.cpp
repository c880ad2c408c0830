#include "infra/kubernetes/kubectl.h"

#include "infra/env.h"

namespace dec::infra::kubernetes {
namespace {

// Well under linux_host::run_command's 30 s, so kubectl reports the slow call itself.
constexpr const char* kRequestTimeout = "--request-timeout=20s";

class ProcessRunner : public CommandRunner {
 public:
  explicit ProcessRunner(Env& env) : env_(env) {}
  Result<std::string> run(const std::vector<std::string>& argv) override {
    if (argv.empty()) return make_error("no command");
    auto out = env_.run_command(argv);
    // posix_spawnp's ENOENT: the program is not on PATH.
    if (!out && out.error().rfind("cannot run " + argv[0] + ": ", 0) == 0 &&
        out.error().find("No such file") != std::string::npos) {
      return make_error(argv[0] +
                        " is not on PATH: the kubernetes provider drives the cluster with "
                        "kubectl; install kubectl or add its directory to PATH");
    }
    return out;
  }

 private:
  Env& env_;
};

}  // namespace

std::unique_ptr<CommandRunner> make_process_runner(Env& env) {
  return std::make_unique<ProcessRunner>(env);
}

bool is_not_found(const std::string& error) {
  return error.find("NotFound") != std::string::npos ||
         error.find("not found") != std::string::npos ||
         error.find("doesn't have a resource type") != std::string::npos;
}

Result<std::string> Kubectl::run(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"kubectl"};
  if (!context_.empty()) argv.push_back("--context=" + context_);
  if (!kubeconfig_.empty()) argv.push_back("--kubeconfig=" + kubeconfig_);
  argv.push_back(kRequestTimeout);
  argv.insert(argv.end(), args.begin(), args.end());
  return runner_.run(argv);
}

Status Kubectl::apply_file(const std::string& path) {
  auto out =
      run({"apply", "--server-side", "--field-manager=dec", "--force-conflicts", "-f", path});
  if (!out) return make_error(out.error());
  return Status::Ok();
}

Status Kubectl::wait_ready(const std::string& ns, const std::vector<std::string>& target,
                           std::chrono::seconds timeout) {
  std::vector<std::string> args = {"wait", "-n", ns, "--for=condition=Ready"};
  args.insert(args.end(), target.begin(), target.end());
  args.push_back("--timeout=" + std::to_string(timeout.count()) + "s");
  auto out = run(args);
  if (!out) return make_error(out.error());
  return Status::Ok();
}

Status Kubectl::delete_labelled(const std::string& ns, const std::string& kinds,
                                const std::string& selector) {
  auto out = run({"delete", kinds, "-n", ns, "-l", selector, "--ignore-not-found", "--wait",
                  "--cascade=foreground", "--timeout=25s"});
  if (!out && !is_not_found(out.error())) return make_error(out.error());
  return Status::Ok();
}

Result<std::string> Kubectl::get_json(const std::string& ns, const std::string& kinds,
                                      const std::string& selector) {
  std::vector<std::string> args = {"get", kinds};
  if (ns.empty()) {
    args.push_back("-A");
  } else {
    args.insert(args.end(), {"-n", ns});
  }
  args.insert(args.end(), {"-l", selector, "-o", "json"});
  return run(args);
}

}  // namespace dec::infra::kubernetes
