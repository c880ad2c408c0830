// The policy a spec from the API runs under: endpoint allowlist entries, and `${NAME}` secrets
// that resolve only when the operator allowed them, with no way to learn what else is set.
#include "core/spec_policy.h"

#include <gtest/gtest.h>

#include <map>

namespace dec::core {
namespace {

EndpointRule rule(const std::string& text) {
  auto parsed = parse_endpoint_rule(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed ? "" : parsed.error());
  return parsed ? *parsed : EndpointRule{};
}

TEST(EndpointRule, HostsPortsAndNetworks) {
  EXPECT_TRUE(rule("kafka.internal").matches("kafka.internal", 9092));
  EXPECT_TRUE(rule("Kafka.Internal").matches("KAFKA.internal", 1)) << "names are case-insensitive";
  EXPECT_FALSE(rule("kafka.internal").matches("kafka.internal.evil.example", 9092));
  EXPECT_TRUE(rule("kafka.internal:9092").matches("kafka.internal", 9092));
  EXPECT_FALSE(rule("kafka.internal:9092").matches("kafka.internal", 9093));
  EXPECT_TRUE(rule("10.1.0.0/16").matches("10.1.200.3", 6379));
  EXPECT_FALSE(rule("10.1.0.0/16").matches("10.2.0.1", 6379));
  EXPECT_FALSE(rule("10.1.0.0/16").matches("ten.one.host", 6379)) << "names are not resolved";
  EXPECT_TRUE(rule("0.0.0.0/0").matches("203.0.113.9", 1));
  EXPECT_TRUE(rule("[::1]:4222").matches("[::1]", 4222));
  EXPECT_TRUE(rule("::1").matches("0:0::1", 80)) << "the same address written another way";
  EXPECT_TRUE(rule("fd00::/8").matches("fd12::5", 80));
  EXPECT_FALSE(rule("fd00::/8").matches("10.0.0.1", 80));
  EXPECT_EQ(rule("127.0.0.1:1").text, "127.0.0.1:1");
}

TEST(EndpointRule, MalformedEntriesSayWhatIsExpected) {
  for (const char* bad : {"", "host:", "host:0", "host:70000", "host:port", "10.0.0.0/33",
                          "10.0.0.0/", "name/8", "[::1", "[::1]x", "a b", "[fd00::]:x"}) {
    auto parsed = parse_endpoint_rule(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.error().find("expected HOST, HOST:PORT"), std::string::npos) << bad;
  }
}

TEST(SpecPolicy, TrustedAllowsEveryEndpointUntrustedOnlyItsList) {
  EXPECT_TRUE(SpecPolicy{}.endpoint_allowed("anything.example", 1));
  SpecPolicy api = SpecPolicy::untrusted();
  EXPECT_FALSE(api.endpoint_allowed("127.0.0.1", 6379)) << "nothing allowed by default";
  api.endpoints.push_back(rule("127.0.0.1:6379"));
  EXPECT_TRUE(api.endpoint_allowed("127.0.0.1", 6379));
  EXPECT_FALSE(api.endpoint_allowed("127.0.0.1", 6380));
}

SpecPolicy with_environment(SpecPolicy policy, std::map<std::string, std::string> variables) {
  policy.environment = [variables](const std::string& name) -> std::optional<std::string> {
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
  return policy;
}

TEST(ExpandSecrets, TheCliReadsTheWholeEnvironment) {
  const SpecPolicy cli = with_environment(SpecPolicy{}, {{"KEY", "k1"}, {"PASS", "p1"}});
  EXPECT_EQ(*expand_secrets("${KEY}:${PASS}@x", "f", cli), "k1:p1@x");
  auto missing = expand_secrets("${NOPE}", "deploy.settings.password", cli);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(),
            "deploy.settings.password: environment variable NOPE is not set (export it before "
            "running dec)");
}

TEST(ExpandSecrets, TheApiReadsOnlyAllowedNamesAndCannotProbeTheRest) {
  SpecPolicy api = SpecPolicy::untrusted();
  api.secrets = {"KAFKA_PASSWORD", "ALLOWED_BUT_UNSET"};
  api = with_environment(api, {{"KAFKA_PASSWORD", "hunter2"}, {"AWS_SECRET_ACCESS_KEY", "aws"}});
  EXPECT_EQ(*expand_secrets("${KAFKA_PASSWORD}", "f", api), "hunter2");
  // A set variable and an unset one the operator did not allow get the same answer.
  auto set = expand_secrets("${AWS_SECRET_ACCESS_KEY}", "deploy.settings.sasl.password", api);
  auto unset = expand_secrets("${AWS_SECRET_KEY_NOT_SET}", "deploy.settings.sasl.password", api);
  ASSERT_FALSE(set.ok());
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(set.error(),
            "deploy.settings.sasl.password: ${AWS_SECRET_ACCESS_KEY} is not a secret this server "
            "lets specs read (its operator allows one with dec serve --secret "
            "AWS_SECRET_ACCESS_KEY)");
  std::string unset_message = unset.error();
  unset_message.replace(unset_message.find("AWS_SECRET_KEY_NOT_SET"), 22, "AWS_SECRET_ACCESS_KEY");
  unset_message.replace(unset_message.find("AWS_SECRET_KEY_NOT_SET"), 22, "AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(unset_message, set.error());
  EXPECT_EQ(expand_secrets("${ALLOWED_BUT_UNSET}", "f", api).error(),
            "f: secret ALLOWED_BUT_UNSET is allowed (dec serve --secret) but not set in the "
            "server's environment");
  // The environment is not even asked about a name that is not allowed.
  bool asked = false;
  SpecPolicy watching = SpecPolicy::untrusted();
  watching.environment = [&](const std::string&) -> std::optional<std::string> {
    asked = true;
    return "x";
  };
  EXPECT_FALSE(expand_secrets("${HOME}", "f", watching).ok());
  EXPECT_FALSE(asked);
}

TEST(SecretReferences, NamesAndUnterminatedReferences) {
  EXPECT_EQ(*secret_references("a${X}b${Y_2}", "f"), (std::vector<std::string>{"X", "Y_2"}));
  EXPECT_TRUE(secret_references("plain", "f")->empty());
  EXPECT_EQ(secret_references("${oops", "deploy.settings.p").error(),
            "deploy.settings.p: unterminated ${ in \"${oops\"");
}

}  // namespace
}  // namespace dec::core
