// kubectl, driven as a program: every call goes through a CommandRunner (tests substitute a
// scripted one; the real one runs the program with argv, no shell). Kubectl adds the cluster
// selection (--context, --kubeconfig) and a bounded request time to every call, so a cluster
// that does not answer fails the step instead of hanging it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::infra {
class Env;
}

namespace dec::infra::kubernetes {

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv (argv[0] looked up in PATH); stdout on exit 0, else an error carrying the exit
  // status and stderr.
  virtual Result<std::string> run(const std::vector<std::string>& argv) = 0;
};

// The real programs, through Env::run_command (a call is killed after 30 s). Before the
// first call it checks that `program` is on PATH and says how to get it when it is not.
std::unique_ptr<CommandRunner> make_process_runner(Env& env);

// True when the error text is Kubernetes' "not found" (the object, its kind or its namespace).
bool is_not_found(const std::string& error);

class Kubectl {
 public:
  Kubectl(CommandRunner& runner, std::string context, std::string kubeconfig)
      : runner_(runner), context_(std::move(context)), kubeconfig_(std::move(kubeconfig)) {}

  // kubectl <args> with the cluster selection and --request-timeout added.
  Result<std::string> run(const std::vector<std::string>& args);

  // Server-side apply of a manifest file, dec as the field manager (taking over fields another
  // manager set: the objects are dec's own).
  Status apply_file(const std::string& path);
  // One `kubectl wait --for=condition=Ready` of `target` ("pod -l SELECTOR" or "kafka/NAME")
  // for at most `timeout` (kept under the runner's own limit by the caller).
  Status wait_ready(const std::string& ns, const std::vector<std::string>& target,
                    std::chrono::seconds timeout);
  // Deletes `kinds` labelled `selector` in `ns` and waits for them (and their pods) to go.
  // NotFound (nothing left, or the namespace gone) is success.
  Status delete_labelled(const std::string& ns, const std::string& kinds,
                         const std::string& selector);
  // `kubectl get KINDS -o json` in `ns` ("" = every namespace) labelled `selector`.
  Result<std::string> get_json(const std::string& ns, const std::string& kinds,
                               const std::string& selector);

 private:
  CommandRunner& runner_;
  std::string context_;
  std::string kubeconfig_;
};

}  // namespace dec::infra::kubernetes
