// The kubernetes provider against a real cluster: a small Redis experiment with `dec run`, then
// a check that nothing labelled with the data dir's installation is left. Runs only when
// KUBECONFIG names a cluster (skipped otherwise, with the reason). The load agents are reached
// at their pod IPs, so the test must run where the pod network is reachable (inside the cluster,
// or on a node); DEC_K8S_IMAGE names the dec image the cluster pulls (default dec:latest), and
// DEC_K8S_NAMESPACE the namespace (default dec-test).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "infra/executor.h"
#include "infra/kubernetes/manifests.h"
#include "infra/linux_host.h"
#include "support/subprocess.h"

namespace dec {
namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

TEST(KubernetesCluster, SmallRedisExperimentRunsAndLeavesNothing) {
  const char* kubeconfig = std::getenv("KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == '\0') {
    GTEST_SKIP() << "KUBECONFIG is not set: this test needs a Kubernetes cluster (set KUBECONFIG, "
                    "and DEC_K8S_IMAGE to a dec image the cluster can pull)";
  }
  if (!infra::linux_host::run_command({"kubectl", "version", "--request-timeout=10s"})) {
    GTEST_SKIP() << "kubectl cannot reach the cluster of KUBECONFIG=" << kubeconfig;
  }
  const fs::path dir = fs::temp_directory_path() / ("dec-k8s-it-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string data_dir = (dir / "data").string();
  const std::string ns = env_or("DEC_K8S_NAMESPACE", "dec-test");
  {
    std::ofstream spec(dir / "spec.yaml");
    spec << "name: k8s-redis\n"
            "workload: {message_size: 256B, producers: 1, consumers: 1, rate: 1k/s, warmup: 1s,\n"
            "           duration: 5s}\n"
            "systems:\n"
            "  - name: redis\n"
            "    driver: redis\n"
            "    deploy:\n"
            "      provider: kubernetes\n"
            "      nodes: 1\n"
            "      cpus: 0.5\n"
            "      memory: 256MiB\n"
            "      settings: {namespace: "
         << ns << ", image: \"" << env_or("DEC_K8S_IMAGE", "dec:latest")
         << "\", ready_timeout: 180s}\n";
  }
  const std::string out = (dir / "run.out").string();
  int code = testing::run({DEC_BINARY, "run", (dir / "spec.yaml").string(), "--json", "--quiet",
                           "--data-dir", data_dir},
                          out, std::chrono::seconds(420));
  testing::Child log{-1, out};
  EXPECT_EQ(code, 0) << log.output();
  EXPECT_NE(log.output().find("\"succeeded\""), std::string::npos) << log.output();

  // Everything dec created carries the installation's label; all of it is gone.
  const std::string selector =
      "dec.installation=" + infra::kubernetes::label_value(infra::installation_id(data_dir));
  auto left = infra::linux_host::run_command({"kubectl", "get",
                                              "statefulsets,services,configmaps,jobs,deployments",
                                              "-A", "-l", selector, "-o", "name"});
  ASSERT_TRUE(left.ok()) << left.error();
  EXPECT_EQ(*left, "") << "left behind:\n" << *left;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dec
