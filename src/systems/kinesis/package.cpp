#include "systems/kinesis/package.h"

#include "core/units.h"
#include "drivers/config_checks.h"
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

// The per-shard quota keys, the proxy option each sets, and AWS's value (Kinesis Data Streams
// Developer Guide, "Quotas and limits").
struct QuotaKey {
  const char* key;
  const char* option;
  bool bytes;  // a size ("1MiB") rather than a count
  uint64_t aws;
};
constexpr QuotaKey kQuotaKeys[] = {
    {"shard_write_records_per_s", "--write-records-per-s", false, 1000},
    {"shard_write_bytes_per_s", "--write-bytes-per-s", true, uint64_t{1} << 20},
    {"shard_read_calls_per_s", "--read-calls-per-s", false, 5},
    {"shard_read_bytes_per_s", "--read-bytes-per-s", true, uint64_t{2} << 20},
};

std::string setting(const core::Settings& server, const std::string& key,
                    const std::string& fallback) {
  auto it = server.find(key);
  return it == server.end() ? fallback : it->second;
}

Result<uint64_t> quota_value(const QuotaKey& quota, const std::string& text) {
  const std::string field = std::string("deploy.server.") + quota.key;
  if (quota.bytes) {
    auto bytes = core::parse_size(text);
    if (!bytes) return make_error(field + ": " + bytes.error() + " (bytes per second per shard)");
    if (*bytes < 1 || *bytes > (uint64_t{1} << 40)) {
      return make_error(field + ": expected from 1B to 1TiB per second per shard, got \"" + text +
                        "\"");
    }
    return *bytes;
  }
  auto number = drivers::parse_integer(text);
  if (!number || *number < 1 || *number > 1'000'000'000) {
    return make_error(field + ": expected a whole number from 1 to 1000000000 per second per " +
                      "shard, got \"" + text + "\"");
  }
  return static_cast<uint64_t>(*number);
}

bool quotas_on(const core::Settings& server) { return setting(server, "quotas", "aws") == "aws"; }

Status kinesis_check_server(const core::Settings& server) {
  std::string limit = setting(server, "shard_limit", "1000");
  auto number = drivers::parse_integer(limit);
  if (!number || *number < 1 || *number > 100000) {
    return make_error(
        "deploy.server.shard_limit: expected a whole number from 1 to 100000 (the "
        "most shards kinesalite allows in total), got \"" +
        limit + "\"");
  }
  std::string quotas = setting(server, "quotas", "aws");
  if (quotas != "aws" && quotas != "off") {
    return make_error(
        "deploy.server.quotas: expected aws (AWS's per-shard throughput quotas, "
        "the default) or off (kinesalite alone, which never throttles), got \"" +
        quotas + "\"");
  }
  for (const QuotaKey& quota : kQuotaKeys) {
    auto it = server.find(quota.key);
    if (it == server.end()) continue;
    if (quotas == "off") {
      return make_error(std::string("deploy.server.") + quota.key +
                        ": has no effect with quotas: off; remove it or the quotas setting");
    }
    if (auto value = quota_value(quota, it->second); !value) return make_error(value.error());
  }
  return Status::Ok();
}

Result<Launch> kinesalite_launch(const LaunchInput& in) {
  if (Status s = kinesalite_installed(*in.context); !s) return make_error(s.error());
  if (Status s = kinesis_check_server(in.server); !s) return make_error(s.error());
  const std::string limit = setting(in.server, "shard_limit", "1000");
  // kinesalite's cli.js listens on every interface; started through its module it listens on
  // the given address only. In-memory store (no path): the on-disk store needs a native module.
  const char* script =
      "require(process.argv[1])({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,"
      "shardLimit:Number(process.argv[3])}).listen(Number(process.argv[2]),process.argv[4])";
  Launch launch;
  if (!quotas_on(in.server)) {
    launch.argv = {
        "node", "-e",          script, kinesalite_module(*in.context), std::to_string(in.port),
        limit,  in.listen_host};
    launch.label = "kinesalite";
    return launch;
  }
  // The proxy serves the node's address and starts kinesalite on a loopback port of its own.
  if (in.context->dec_binary.empty()) return make_error("cannot locate the dec binary");
  launch.argv = {in.context->dec_binary, "kinesis-quota", "--listen",
                 in.listen_host + ":" + std::to_string(in.port)};
  std::string custom;
  for (const QuotaKey& quota : kQuotaKeys) {
    uint64_t value = quota.aws;
    if (auto it = in.server.find(quota.key); it != in.server.end()) {
      auto parsed = quota_value(quota, it->second);
      if (!parsed) return make_error(parsed.error());
      value = *parsed;
    }
    launch.argv.push_back(quota.option);
    launch.argv.push_back(std::to_string(value));
    if (value != quota.aws) {
      custom += (custom.empty() ? "" : ", ") + std::string(quota.key) + " " +
                (quota.bytes ? core::format_size(value) : std::to_string(value));
    }
  }
  for (std::string arg :
       {std::string("--"), std::string("node"), std::string("-e"), std::string(script),
        kinesalite_module(*in.context), std::string("{port}"), limit, std::string("127.0.0.1")}) {
    launch.argv.push_back(std::move(arg));
  }
  launch.label =
      custom.empty()
          ? "kinesalite behind dec's AWS per-shard quota proxy"
          : "kinesalite behind dec's per-shard quota proxy (not AWS's quotas: " + custom + ")";
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
  recipe.server_keys = {"shard_limit", "quotas"};
  for (const QuotaKey& quota : kQuotaKeys) recipe.server_keys.push_back(quota.key);
  recipe.check_server = kinesis_check_server;
  recipe.installed = kinesalite_installed;
  recipe.launch = kinesalite_launch;
  // The proxy starts kinesalite and serves only once it answers: node's start-up on a busy
  // machine.
  recipe.start_timeout = std::chrono::seconds(60);
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
