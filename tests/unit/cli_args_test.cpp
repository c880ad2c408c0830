#include <gtest/gtest.h>

#include "cli/args.h"

namespace dec::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"set", true, true}, {"json", false, false}, {"out", true, false}};

TEST(Args, PositionalsValuesAndFlags) {
  auto args =
      parse_args({"spec.yaml", "--set", "a=1", "--set=b=2", "--json", "--out", "f"}, kOptions);
  ASSERT_TRUE(args.ok()) << args.error();
  EXPECT_EQ(args->positionals, std::vector<std::string>{"spec.yaml"});
  EXPECT_EQ(args->all("set"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_TRUE(args->has("json"));
  EXPECT_EQ(args->get("out"), "f");
}

TEST(Args, Errors) {
  auto unknown = parse_args({"--jsn"}, kOptions);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("--jsn"), std::string::npos);
  EXPECT_NE(unknown.error().find("--json"), std::string::npos);
  EXPECT_FALSE(parse_args({"--out"}, kOptions).ok());
  EXPECT_FALSE(parse_args({"--out", "a", "--out", "b"}, kOptions).ok());
  EXPECT_FALSE(parse_args({"--json=1"}, kOptions).ok());
}

}  // namespace
}  // namespace dec::cli
