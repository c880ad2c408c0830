// deploy.server options that would reach beyond a broker's run directory (host paths, code
// loading, outbound connections) are refused at planning, for every product, before anything
// exists: each package declares its list once and the local provider checks it.
#include <gtest/gtest.h>

#include "infra/env.h"
#include "orchestrator/preflight.h"
#include "systems/registry.h"

namespace dec {
namespace {

TEST(ServerKeyPattern, GlobsAreAnchoredAndCaseInsensitive) {
  EXPECT_TRUE(systems::server_key_matches("dir", "dir"));
  EXPECT_TRUE(systems::server_key_matches("dir", "DIR"));
  EXPECT_FALSE(systems::server_key_matches("dir", "dirx"));
  EXPECT_FALSE(systems::server_key_matches("dir", "xdir"));
  EXPECT_TRUE(systems::server_key_matches("tls-*", "tls-cert-file"));
  EXPECT_TRUE(systems::server_key_matches("*.location", "listener.name.a.ssl.keystore.location"));
  EXPECT_FALSE(systems::server_key_matches("*.location", "location"));
  EXPECT_TRUE(systems::server_key_matches("*file", "cafile"));
  EXPECT_TRUE(systems::server_key_matches("*.*_file", "tls.cert_file"));
  EXPECT_TRUE(systems::server_key_matches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(systems::server_key_matches("a*b*c", "aXbYbZ"));
}

class BrokerOptions : public ::testing::Test {
 protected:
  // What `dec validate` and POST /api/experiments answer for one system's deploy.server.
  std::vector<core::FieldError> errors(const std::string& driver, const std::string& server,
                                       const std::string& deploy_extra = "") {
    infra::ProviderContext context;
    context.env = &env_;
    context.data_dir = "/tmp/dec-broker-options-test";
    context.installation = "test";
    context.tools_dir = DEC_SOURCE_DIR "/tools";
    auto parsed =
        orchestrator::validate_spec("name: t\nsystems:\n  - {name: s, driver: " + driver +
                                        ", deploy: {server: " + server + deploy_extra + "}}\n",
                                    {}, context);
    return parsed.errors;
  }
  std::string first_error(const std::string& driver, const std::string& server,
                          const std::string& deploy_extra = "") {
    auto found = errors(driver, server, deploy_extra);
    return found.empty() ? "" : found.front().to_string();
  }
  infra::PosixEnv env_;
};

const std::string kPath =
    "names a host path; dec keeps each broker's files in its run directory — remove it";
const std::string kCode =
    "loads code or runs a program on the host; dec runs only the broker it deploys — remove it";
const std::string kNetwork =
    "makes the broker connect to other hosts; a broker dec deploys talks only to dec and its "
    "own nodes — remove it";

TEST_F(BrokerOptions, RedisPathsModulesAndReplicationAreRefused) {
  EXPECT_EQ(first_error("redis", "{dir: /tmp/x, appendonly: \"yes\"}"),
            "systems[0].deploy.server.dir: " + kPath);
  for (const char* key :
       {"dbfilename", "appendfilename", "appenddirname", "logfile", "include", "unixsocket",
        "pidfile", "aclfile", "tls-cert-file", "tls-ca-cert-dir", "cluster-config-file"}) {
    EXPECT_EQ(first_error("redis", "{" + std::string(key) + ": x}"),
              "systems[0].deploy.server." + std::string(key) + ": " + kPath);
  }
  EXPECT_EQ(first_error("redis", "{loadmodule: /tmp/evil.so}"),
            "systems[0].deploy.server.loadmodule: " + kCode);
  EXPECT_EQ(first_error("redis", "{replicaof: \"203.0.113.1 6379\"}"),
            "systems[0].deploy.server.replicaof: " + kNetwork);
  // A key redis-server would turn into a config line of its own choosing.
  EXPECT_NE(first_error("redis", "{\"appendonly yes\\ndir\": /tmp/x}")
                .find("deploy.server.appendonly yes\ndir: a redis-server setting is a config name"),
            std::string::npos);
  // What stays allowed: settings of the broker itself.
  EXPECT_TRUE(
      errors("redis", "{appendonly: \"yes\", appendfsync: always, maxmemory: 100mb}").empty());
}

TEST_F(BrokerOptions, KafkaLogDirsKeyStoresClassesAndConfigProvidersAreRefused) {
  EXPECT_EQ(first_error("kafka", "{log.dirs: /tmp/k}"),
            "systems[0].deploy.server.log.dirs: " + kPath);
  EXPECT_EQ(first_error("kafka", "{metadata.log.dir: /tmp/k}"),
            "systems[0].deploy.server.metadata.log.dir: " + kPath);
  EXPECT_EQ(first_error("kafka", "{listener.name.plaintext.ssl.keystore.location: /k.jks}"),
            "systems[0].deploy.server.listener.name.plaintext.ssl.keystore.location: " + kPath);
  EXPECT_EQ(first_error("kafka", "{authorizer.class.name: x.Evil}"),
            "systems[0].deploy.server.authorizer.class.name: " + kCode);
  EXPECT_EQ(first_error("kafka", "{config.providers: file}"),
            "systems[0].deploy.server.config.providers: " + kCode);
  EXPECT_EQ(first_error("kafka", "{sasl.jaas.config: x}"),
            "systems[0].deploy.server.sasl.jaas.config: " + kCode);
  EXPECT_EQ(first_error("kafka", "{metric.reporters: x.Evil}"),
            "systems[0].deploy.server.metric.reporters: " + kCode);
  EXPECT_EQ(first_error("kafka", "{sasl.oauthbearer.jwks.endpoint.url: \"file:///etc/x\"}"),
            "systems[0].deploy.server.sasl.oauthbearer.jwks.endpoint.url: " + kNetwork);
  // Broker settings proper are the product's to judge (and need the installed broker next).
  const std::string allowed = first_error("kafka", "{min.insync.replicas: 1}");
  EXPECT_EQ(allowed.find("deploy.server"), std::string::npos) << allowed;
}

TEST_F(BrokerOptions, NatsFilesIncludesAndWhatABlockValueHides) {
  EXPECT_EQ(first_error("nats", "{log_file: /tmp/n.log}"),
            "systems[0].deploy.server.log_file: " + kPath);
  EXPECT_EQ(first_error("nats", "{pid_file: /tmp/n.pid}"),
            "systems[0].deploy.server.pid_file: " + kPath);
  EXPECT_EQ(first_error("nats", "{tls: \"{cert_file: /c}\"}"),
            "systems[0].deploy.server.tls: " + kPath);
  EXPECT_EQ(first_error("nats", "{leafnodes: \"{remotes: []}\"}"),
            "systems[0].deploy.server.leafnodes: " + kNetwork);
  EXPECT_EQ(first_error("nats", "{authorization: \"{include /etc/nats/users.conf}\"}"),
            "systems[0].deploy.server.authorization: include (inside the value) " + kPath);
  EXPECT_EQ(first_error("nats", "{max_payload: $AWS_SECRET_ACCESS_KEY}"),
            "systems[0].deploy.server.max_payload: $VARIABLE references would read the server's "
            "environment; write the value itself");
  // The reserved keys are refused at planning now too, not only when the node starts.
  EXPECT_EQ(first_error("nats", "{server_name: x}"),
            "systems[0].deploy.server.server_name: dec sets this itself for every node "
            "(addresses, names, store and cluster)");
  EXPECT_TRUE(errors("nats", "{max_payload: 2MB, jetstream.max_file_store: 1GB}").empty());
}

TEST_F(BrokerOptions, RabbitmqAndMosquittoFilesPluginsAndBridges) {
  EXPECT_EQ(first_error("rabbitmq", "{log.file: /tmp/r.log}"),
            "systems[0].deploy.server.log.file: " + kPath);
  EXPECT_EQ(first_error("rabbitmq", "{ssl_options.certfile: /c.pem}"),
            "systems[0].deploy.server.ssl_options.certfile: " + kPath);
  EXPECT_EQ(first_error("rabbitmq", "{load_definitions: /d.json}"),
            "systems[0].deploy.server.load_definitions: " + kPath);
  EXPECT_EQ(first_error("rabbitmq", "{cluster_formation.peer_discovery_backend: dns}"),
            "systems[0].deploy.server.cluster_formation.peer_discovery_backend: " + kNetwork);
  const std::string rabbit = first_error("rabbitmq", "{vm_memory_high_watermark.relative: 0.6}");
  EXPECT_EQ(rabbit.find("deploy.server"), std::string::npos) << rabbit;

  EXPECT_EQ(first_error("mqtt", "{persistence_location: /tmp/m/}"),
            "systems[0].deploy.server.persistence_location: " + kPath);
  EXPECT_EQ(first_error("mqtt", "{log_dest: \"file /tmp/m.log\"}"),
            "systems[0].deploy.server.log_dest: " + kPath);
  EXPECT_EQ(first_error("mqtt", "{password_file: /p}"),
            "systems[0].deploy.server.password_file: " + kPath);
  EXPECT_EQ(first_error("mqtt", "{certfile: /c}"), "systems[0].deploy.server.certfile: " + kPath);
  EXPECT_EQ(first_error("mqtt", "{plugin: /tmp/evil.so}"),
            "systems[0].deploy.server.plugin: " + kCode);
  EXPECT_EQ(first_error("mqtt", "{connection: bridge}"),
            "systems[0].deploy.server.connection: " + kNetwork);
  const std::string mqtt = first_error("mqtt", "{max_queued_messages: 0}");
  EXPECT_EQ(mqtt.find("deploy.server"), std::string::npos) << mqtt;
}

TEST_F(BrokerOptions, AMatrixValueIsCheckedLikeTheSpec) {
  infra::ProviderContext context;
  context.env = &env_;
  context.data_dir = "/tmp/dec-broker-options-test";
  context.installation = "test";
  auto parsed = orchestrator::validate_spec(
      "name: t\nsystems:\n  - {name: s, driver: redis}\nmatrix:\n"
      "  systems[s].deploy.server.dir: [/tmp/a, /tmp/b]\n",
      {}, context);
  ASSERT_FALSE(parsed.errors.empty());
  EXPECT_EQ(parsed.errors.front().to_string(), "systems[0].deploy.server.dir: " + kPath);
}

}  // namespace
}  // namespace dec
