// SigV4 against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite: credentials
// AKIDEXAMPLE, region us-east-1, service "service", 20150830T123600Z) and the signing-key example
// of the SigV4 documentation; plus the credential and region chain.
#include "drivers/aws_sigv4.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace dec::drivers::aws {
namespace {

const Credentials kSuiteCredentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "",
                                    "test"};
constexpr const char* kDate = "20150830T123600Z";
constexpr const char* kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kSessionToken =
    "AQoDYXdzEPT//////////"
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIe"
    "oIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
    "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq"
    "5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypN"
    "C9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

// One test of the suite: the request (from its .req file) and the expected .creq, .sts, .authz.
struct SuiteVector {
  std::string name;
  std::string method;
  std::string path;   // decoded, as in the request line
  std::string query;  // raw "a=b&c=d" from the request line
  std::vector<Header> headers;
  std::string body;
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;
};

std::vector<Header> host_and_date() {
  return {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}};
}

std::string suite_sts(const std::string& hash) {
  return std::string("AWS4-HMAC-SHA256\n") + kDate + "\n20150830/us-east-1/service/aws4_request\n" +
         hash;
}

std::string suite_authz(const std::string& signed_headers, const std::string& signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         signed_headers + ", Signature=" + signature;
}

// The canonical request of the many vectors that sign only host and x-amz-date.
std::string plain_creq(const std::string& method, const std::string& uri,
                       const std::string& query) {
  return method + "\n" + uri + "\n" + query +
         "\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
         kEmptyHash;
}

std::vector<SuiteVector> suite_vectors() {
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const std::string u1234 = "\xe1\x88\xb4";  // U+1234, the suite's UTF-8 character
  return {
      {"get-vanilla", "GET", "/", "", host_and_date(), "", plain_creq("GET", "/", ""),
       suite_sts("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
       suite_authz("host;x-amz-date",
                   "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
      {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1",
       host_and_date(), "", plain_creq("GET", "/", "Param1=value1&Param2=value2"),
       suite_sts("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
       suite_authz("host;x-amz-date",
                   "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")},
      {"get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", host_and_date(),
       "", plain_creq("GET", "/", "Param1=value1&Param1=value2"),
       suite_sts("c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606"),
       suite_authz("host;x-amz-date",
                   "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694")},
      {"get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", host_and_date(),
       "", plain_creq("GET", "/", "Param1=Value1&Param1=value2"),
       suite_sts("704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"),
       suite_authz("host;x-amz-date",
                   "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1")},
      {"get-vanilla-query-unreserved", "GET", "/", unreserved + "=" + unreserved, host_and_date(),
       "", plain_creq("GET", "/", unreserved + "=" + unreserved),
       suite_sts("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"),
       suite_authz("host;x-amz-date",
                   "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")},
      {"get-vanilla-utf8-query", "GET", "/", u1234 + "=bar", host_and_date(), "",
       plain_creq("GET", "/", "%E1%88%B4=bar"),
       suite_sts("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
       suite_authz("host;x-amz-date",
                   "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")},
      {"get-header-key-duplicate",
       "GET",
       "/",
       "",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", "value2"},
        {"My-Header1", "value2"},
        {"My-Header1", "value1"},
        {"X-Amz-Date", kDate}},
       "",
       std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                   "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
           kEmptyHash,
       suite_sts("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
       suite_authz("host;my-header1;x-amz-date",
                   "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")},
      {"get-header-value-order",
       "GET",
       "/",
       "",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", "value4"},
        {"My-Header1", "value1"},
        {"My-Header1", "value3"},
        {"My-Header1", "value2"},
        {"X-Amz-Date", kDate}},
       "",
       std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
                   "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
           kEmptyHash,
       suite_sts("31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86"),
       suite_authz("host;my-header1;x-amz-date",
                   "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")},
      {"get-header-value-trim",
       "GET",
       "/",
       "",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"},
        {"My-Header2", " \"a   b   c\""},
        {"X-Amz-Date", kDate}},
       "",
       std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                   "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                   "host;my-header1;my-header2;x-amz-date\n") +
           kEmptyHash,
       suite_sts("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
       suite_authz("host;my-header1;my-header2;x-amz-date",
                   "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")},
      {"get-unreserved", "GET", "/" + unreserved, "", host_and_date(), "",
       plain_creq("GET", "/" + unreserved, ""),
       suite_sts("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
       suite_authz("host;x-amz-date",
                   "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")},
      {"get-utf8", "GET", "/" + u1234, "", host_and_date(), "", plain_creq("GET", "/%E1%88%B4", ""),
       suite_sts("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
       suite_authz("host;x-amz-date",
                   "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")},
      {"get-space", "GET", "/example space/", "", host_and_date(), "",
       plain_creq("GET", "/example%20space/", ""),
       suite_sts("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
       suite_authz("host;x-amz-date",
                   "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")},
      {"post-vanilla", "POST", "/", "", host_and_date(), "", plain_creq("POST", "/", ""),
       suite_sts("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
       suite_authz("host;x-amz-date",
                   "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")},
      {"post-vanilla-query", "POST", "/", "Param1=value1", host_and_date(), "",
       plain_creq("POST", "/", "Param1=value1"),
       suite_sts("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
       suite_authz("host;x-amz-date",
                   "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")},
      {"post-header-key-sort",
       "POST",
       "/",
       "",
       {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}, {"X-Amz-Date", kDate}},
       "",
       std::string("POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                   "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
           kEmptyHash,
       suite_sts("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
       suite_authz("host;my-header1;x-amz-date",
                   "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")},
      {"post-header-value-case",
       "POST",
       "/",
       "",
       {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}, {"X-Amz-Date", kDate}},
       "",
       std::string("POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\n"
                   "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
           kEmptyHash,
       suite_sts("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
       suite_authz("host;my-header1;x-amz-date",
                   "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       "",
       {{"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", kDate}},
       "Param1=value1",
       "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       suite_sts("42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"),
       suite_authz("content-type;host;x-amz-date",
                   "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")},
      {"post-sts-header-before",
       "POST",
       "/",
       "",
       {{"Host", "example.amazonaws.com"},
        {"X-Amz-Date", kDate},
        {"X-Amz-Security-Token", kSessionToken}},
       "",
       std::string("POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
                   "x-amz-security-token:") +
           kSessionToken + "\n\nhost;x-amz-date;x-amz-security-token\n" + kEmptyHash,
       suite_sts("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
       suite_authz("host;x-amz-date;x-amz-security-token",
                   "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")},
  };
}

std::vector<Header> parse_query(const std::string& query) {
  std::vector<Header> pairs;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string pair = query.substr(start, end - start);
    size_t equals = pair.find('=');
    pairs.emplace_back(pair.substr(0, equals),
                       equals == std::string::npos ? "" : pair.substr(equals + 1));
    start = end + 1;
  }
  return pairs;
}

SignableRequest request_of(const SuiteVector& vector) {
  SignableRequest request;
  request.method = vector.method;
  request.path = vector.path;
  request.query = parse_query(vector.query);
  request.headers = vector.headers;
  request.payload_hash = sha256_hex(vector.body);
  return request;
}

class SigV4SuiteTest : public ::testing::TestWithParam<SuiteVector> {};

TEST_P(SigV4SuiteTest, MatchesEveryStepOfThePublishedVector) {
  const SuiteVector& vector = GetParam();
  SignableRequest request = request_of(vector);
  EXPECT_EQ(canonical_request(request), vector.canonical_request);
  // The published string to sign hashes the published canonical request: checks the data too.
  EXPECT_EQ(
      string_to_sign(kDate, "20150830/us-east-1/service/aws4_request", vector.canonical_request),
      vector.string_to_sign);
  Signature signature = sign(request, kSuiteCredentials, "us-east-1", "service", kDate);
  EXPECT_EQ(signature.canonical_request, vector.canonical_request);
  EXPECT_EQ(signature.string_to_sign, vector.string_to_sign);
  EXPECT_EQ(signature.authorization, vector.authorization);
}

INSTANTIATE_TEST_SUITE_P(AwsTestSuite, SigV4SuiteTest, ::testing::ValuesIn(suite_vectors()),
                         [](const ::testing::TestParamInfo<SuiteVector>& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

std::string hex(const SigningKey& key) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : key) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
  }
  return out;
}

// The worked example of the SigV4 documentation ("Calculate the signature"): IAM, 20150830.
TEST(SigV4Test, DerivesTheDocumentedSigningKeyAndSignature) {
  SigningKey key = derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
                                      "us-east-1", "iam");
  EXPECT_EQ(hex(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(hmac_sha256_hex(key,
                            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/"
                            "aws4_request\n"
                            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

std::chrono::system_clock::time_point suite_time() {
  // 2015-08-30T12:36:00Z
  return std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
}

TEST(SigV4Test, FormatsAmzDate) { EXPECT_EQ(amz_date(suite_time()), kDate); }

TEST(SigV4Test, SignerAddsDateAndSessionTokenHeaders) {
  Credentials credentials = kSuiteCredentials;
  credentials.session_token = kSessionToken;
  Signer signer(credentials, "us-east-1", "service");
  SignableRequest request;
  request.method = "POST";
  request.headers = {{"Host", "example.amazonaws.com"}};
  request.payload_hash = sha256_hex("");
  // The same request as post-sts-header-before once the signer has added its headers.
  EXPECT_EQ(signer.sign(request, suite_time()),
            suite_authz("host;x-amz-date;x-amz-security-token",
                        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"));
  std::map<std::string, std::string> added(request.headers.begin(), request.headers.end());
  EXPECT_EQ(added["x-amz-date"], kDate);
  EXPECT_EQ(added["x-amz-security-token"], kSessionToken);
}

TEST(SigV4Test, SignerWithoutTokenMatchesPostVanilla) {
  Signer signer(kSuiteCredentials, "us-east-1", "service");
  SignableRequest request;
  request.headers = {{"Host", "example.amazonaws.com"}};
  request.payload_hash = sha256_hex("");
  EXPECT_EQ(signer.sign(request, suite_time()),
            suite_authz("host;x-amz-date",
                        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
  // The cached key of the same day gives the same answer.
  request.headers = {{"Host", "example.amazonaws.com"}};
  EXPECT_EQ(signer.sign(request, suite_time()),
            suite_authz("host;x-amz-date",
                        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

TEST(SigV4Test, UriEncodesOnlyOutsideUnreserved) {
  EXPECT_EQ(uri_encode("a b/c~d", true), "a%20b/c~d");
  EXPECT_EQ(uri_encode("a b/c+d=", false), "a%20b%2Fc%2Bd%3D");
}

// ---- credentials and region -----------------------------------------------------------------

class CredentialChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dec-aws-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / ".aws");
    variables_["HOME"] = dir_.string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EnvironmentLookup environment() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = variables_.find(name);
      if (it == variables_.end()) return std::nullopt;
      return it->second;
    };
  }
  void write(const std::string& relative, const std::string& text) {
    std::ofstream(dir_ / relative) << text;
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> variables_;
};

TEST_F(CredentialChainTest, NoneAnywhereIsNotAnError) {
  auto credentials = load_credentials(environment());
  ASSERT_TRUE(credentials.ok()) << credentials.error();
  EXPECT_FALSE(credentials->has_value());
  EXPECT_EQ(load_region(environment()), "");
}

TEST_F(CredentialChainTest, EnvironmentComesFirst) {
  write(".aws/credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = x\n");
  variables_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  variables_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  variables_["AWS_SESSION_TOKEN"] = "envtoken";
  auto credentials = load_credentials(environment());
  ASSERT_TRUE(credentials.ok() && credentials->has_value());
  EXPECT_EQ((*credentials)->access_key_id, "ENVKEY");
  EXPECT_EQ((*credentials)->secret_access_key, "envsecret");
  EXPECT_EQ((*credentials)->session_token, "envtoken");
}

TEST_F(CredentialChainTest, HalfSetEnvironmentIsAnError) {
  variables_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  auto credentials = load_credentials(environment());
  ASSERT_FALSE(credentials.ok());
  EXPECT_NE(credentials.error().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

TEST_F(CredentialChainTest, ReadsTheProfileOfTheSharedFile) {
  write(".aws/credentials",
        "# comment\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n\n"
        "[bench]\naws_access_key_id=BENCHKEY\naws_secret_access_key=  b s  \n"
        "aws_session_token = tok\n");
  auto credentials = load_credentials(environment());
  ASSERT_TRUE(credentials.ok() && credentials->has_value());
  EXPECT_EQ((*credentials)->access_key_id, "DEFAULTKEY");

  variables_["AWS_PROFILE"] = "bench";
  credentials = load_credentials(environment());
  ASSERT_TRUE(credentials.ok() && credentials->has_value()) << credentials.error();
  EXPECT_EQ((*credentials)->access_key_id, "BENCHKEY");
  EXPECT_EQ((*credentials)->secret_access_key, "b s");
  EXPECT_EQ((*credentials)->session_token, "tok");

  variables_["AWS_PROFILE"] = "missing";
  credentials = load_credentials(environment());
  ASSERT_FALSE(credentials.ok());
  EXPECT_NE(credentials.error().find("missing"), std::string::npos);
}

TEST_F(CredentialChainTest, SharedFileLocationCanBeOverridden) {
  write("elsewhere", "[default]\naws_access_key_id = OTHER\naws_secret_access_key = o\n");
  variables_["AWS_SHARED_CREDENTIALS_FILE"] = (dir_ / "elsewhere").string();
  auto credentials = load_credentials(environment());
  ASSERT_TRUE(credentials.ok() && credentials->has_value());
  EXPECT_EQ((*credentials)->access_key_id, "OTHER");
}

TEST_F(CredentialChainTest, RegionFromEnvironmentThenConfigFile) {
  write(".aws/config", "[default]\nregion = eu-west-1\n[profile bench]\nregion = ap-south-1\n");
  EXPECT_EQ(load_region(environment()), "eu-west-1");
  variables_["AWS_PROFILE"] = "bench";
  EXPECT_EQ(load_region(environment()), "ap-south-1");
  variables_["AWS_DEFAULT_REGION"] = "us-west-2";
  EXPECT_EQ(load_region(environment()), "us-west-2");
  variables_["AWS_REGION"] = "eu-central-1";
  EXPECT_EQ(load_region(environment()), "eu-central-1");
}

}  // namespace
}  // namespace dec::drivers::aws
