// AWS Signature Version 4 (header authentication) and the standard ways to find credentials and a
// region. Service-agnostic: Kinesis signs with service "kinesis", S3 uploads with "s3".
//
// The signer follows the published algorithm step by step, and each step is a function of its own
// so tests can check it against AWS's test-suite vectors: canonical request -> string to sign ->
// signing key -> signature -> Authorization header.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace dec::drivers::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless the credentials are temporary (STS)
  std::string source;         // where they were found, for messages (never the secret)
};

// Reads one environment variable; nullopt when unset. Passed in so tests need no real environment.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvironmentLookup process_environment();

// The credential chain every AWS SDK starts with: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
// (+ AWS_SESSION_TOKEN), else the profile AWS_PROFILE (default "default") of the shared credentials
// file (AWS_SHARED_CREDENTIALS_FILE, default $HOME/.aws/credentials). nullopt when neither has
// any; an error when a source is half-filled (a key id without a secret), the file cannot be read,
// or a profile named by AWS_PROFILE does not exist.
Result<std::optional<Credentials>> load_credentials(const EnvironmentLookup& environment);

// AWS_REGION, else AWS_DEFAULT_REGION, else `region` in the profile's section of the shared config
// file (AWS_CONFIG_FILE, default $HOME/.aws/config); "" when none says.
std::string load_region(const EnvironmentLookup& environment);

using Header = std::pair<std::string, std::string>;

// What SigV4 covers of an HTTP request. `path` and `query` are *decoded*: the signer percent-
// encodes them (RFC 3986 unreserved characters stay, '/' stays in the path) exactly once, which
// is S3's rule and the test suite's. The path is used as given (no "."/".." removal).
struct SignableRequest {
  std::string method = "POST";
  std::string path = "/";
  std::vector<Header> query;    // decoded name/value pairs, any order, names may repeat
  std::vector<Header> headers;  // every header to sign, including host and x-amz-date
  std::string payload_hash;     // sha256_hex(body), or "UNSIGNED-PAYLOAD" where S3 allows it
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // the value of the Authorization header
};

using SigningKey = std::array<unsigned char, 32>;

// The steps of the algorithm, public for tests and for other AWS services.
std::string canonical_request(const SignableRequest& request);
std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service);
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service);

// Signs `request` as of `amz_date` ("YYYYMMDDTHHMMSSZ", which must equal its x-amz-date header).
Signature sign(const SignableRequest& request, const Credentials& credentials,
               std::string_view region, std::string_view service, std::string_view amz_date);

// Signs requests for one service and region with one set of credentials, caching the signing key
// for the current day. Not thread-safe: one per thread (it is cheap).
class Signer {
 public:
  Signer(Credentials credentials, std::string region, std::string service);

  // Adds x-amz-date (and x-amz-security-token for temporary credentials) to `request.headers`,
  // signs, and returns the Authorization header's value.
  std::string sign(SignableRequest& request, std::chrono::system_clock::time_point now);

  const Credentials& credentials() const { return credentials_; }
  const std::string& region() const { return region_; }

 private:
  Credentials credentials_;
  std::string region_;
  std::string service_;
  std::string key_date_;  // the day `key_` was derived for
  SigningKey key_{};
};

// Helpers shared with callers that build requests.
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(const SigningKey& key, std::string_view data);
std::string uri_encode(std::string_view text, bool keep_slash);
std::string amz_date(std::chrono::system_clock::time_point time);  // "YYYYMMDDTHHMMSSZ", UTC

}  // namespace dec::drivers::aws
