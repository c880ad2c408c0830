#include "systems/kinesis/package.h"

#include "systems/kinesis/kinesis_driver.h"

namespace dec::systems {
namespace {

std::string kinesalite_module(const RecipeContext& context) {
  return context.tools_dir + "/node_modules/kinesalite/index.js";
}

Status kinesalite_installed(const RecipeContext& context) {
  if (context.path_exists(kinesalite_module(context))) return Status::Ok();
  return make_error("kinesalite is not installed (" + kinesalite_module(context) +
                    " missing): run scripts/setup");
}

Result<Launch> kinesalite_launch(const LaunchInput& in) {
  if (Status s = kinesalite_installed(*in.context); !s) return make_error(s.error());
  auto limit = in.server.find("shard_limit");
  // kinesalite's cli.js listens on every interface; started through its module it listens on
  // the given address only. In-memory store (no path): the on-disk store needs a native module.
  const char* script =
      "require(process.argv[1])({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,"
      "shardLimit:Number(process.argv[3])}).listen(Number(process.argv[2]),process.argv[4])";
  Launch launch;
  launch.argv = {"node",
                 "-e",
                 script,
                 kinesalite_module(*in.context),
                 std::to_string(in.port),
                 limit == in.server.end() ? "1000" : limit->second,
                 in.listen_host};
  return launch;
}

}  // namespace

SystemPackage kinesis_package() {
  SystemPackage package;
  package.driver = drivers::kinesis_driver_info();
  LocalRecipe recipe;
  recipe.program = "kinesalite";
  recipe.emulated = true;
  recipe.label = "kinesalite";
  recipe.default_port = 4567;
  recipe.server_keys = {"shard_limit"};
  recipe.installed = kinesalite_installed;
  recipe.launch = kinesalite_launch;
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
