#include "systems/redis/package.h"

#include "systems/redis/redis_driver.h"

namespace dec::systems {
namespace {

// One redis-server per node (a sharded set: the driver spreads streams over the nodes), no
// persistence unless deploy.server asks for it; every deploy.server key becomes --key value.
Result<Launch> redis_launch(const LaunchInput& in) {
  Launch launch;
  launch.argv = {"redis-server", "--port",       std::to_string(in.port),
                 "--bind",       in.listen_host, "--dir",
                 in.dir,         "--save",       "",
                 "--appendonly", "no",           "--protected-mode",
                 "no",           "--daemonize",  "no"};
  for (const auto& [key, value] : in.server) {
    launch.argv.push_back("--" + key);
    launch.argv.push_back(value);
  }
  return launch;
}

}  // namespace

SystemPackage redis_package() {
  SystemPackage package;
  package.driver = drivers::redis_driver_info();
  LocalRecipe recipe;
  recipe.program = "redis-server";
  recipe.label = "redis-server";
  recipe.sharded_nodes = true;
  recipe.default_port = 6379;
  recipe.launch = redis_launch;
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
