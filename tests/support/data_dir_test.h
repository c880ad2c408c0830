// A test with its own dec data dir: a fresh temporary directory per test, the `dec` command line
// pointed at it, and the local provider of its installation, whose discover() is how tests look
// for anything left behind. TearDown destroys whatever is still tagged, even after a failure.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "infra/env.h"
#include "infra/executor.h"
#include "infra/local_provider.h"

namespace dec::testing {

class DataDirTest : public ::testing::Test {
 protected:
  // `prefix` names the temporary directory: /tmp/<prefix>-<pid>-<test name>.
  explicit DataDirTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (prefix_ + "-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    data_dir_ = (dir_ / "data").string();
    installation_ = infra::installation_id(data_dir_);
  }

  void TearDown() override {
    if (dir_.empty()) return;  // skipped before SetUp finished
    // Never leave anything behind, even when an assertion failed half way. Two rounds: a
    // namespace is only deletable once the processes inside it are gone.
    for (int round = 0; round < 2; ++round) {
      for (const auto& d : provider().discover()) (void)provider().destroy_discovered(d);
    }
    std::filesystem::remove_all(dir_);
  }

  // argv for the dec binary under test, with --data-dir appended.
  std::vector<std::string> dec(std::vector<std::string> args) const {
    args.insert(args.begin(), DEC_BINARY);
    args.push_back("--data-dir");
    args.push_back(data_dir_);
    return args;
  }

  infra::LocalProvider& provider() {
    if (!provider_) {
      infra::ProviderContext pc;
      pc.env = &env_;
      pc.data_dir = data_dir_;
      pc.installation = installation_;
      provider_ = std::make_unique<infra::LocalProvider>(pc);
    }
    return *provider_;
  }

  std::filesystem::path dir_;
  std::string data_dir_;
  std::string installation_;
  infra::PosixEnv env_;

 private:
  std::string prefix_;
  std::unique_ptr<infra::LocalProvider> provider_;
};

}  // namespace dec::testing
