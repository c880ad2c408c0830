#include "server/artifacts.h"

#include <cstdlib>

#include "drivers/aws_sigv4.h"
#include "drivers/http_client.h"

namespace dec::server {
namespace {

class S3ArtifactStore : public ArtifactStore {
 public:
  S3ArtifactStore(std::string endpoint, std::string bucket, std::string prefix,
                  drivers::aws::Credentials credentials, std::string region)
      : endpoint_(std::move(endpoint)),
        bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        signer_(std::move(credentials), std::move(region), "s3"),
        http_(drivers::make_curl_http_client({})) {}

  Result<std::string> put(const std::string& name, const std::string& body,
                          const std::string& content_type) override {
    std::string key = prefix_.empty() ? name : prefix_ + "/" + name;
    // Path-style addressing works with AWS and with every S3-compatible server.
    std::string path = "/" + bucket_ + "/" + drivers::aws::uri_encode(key, true);
    std::string host = endpoint_.substr(endpoint_.find("://") + 3);
    drivers::aws::SignableRequest request;
    request.method = "PUT";
    request.path = path;
    request.payload_hash = drivers::aws::sha256_hex(body);
    request.headers = {{"host", host},
                       {"content-type", content_type},
                       {"x-amz-content-sha256", request.payload_hash}};
    std::string authorization = signer_.sign(request, std::chrono::system_clock::now());
    std::vector<drivers::HttpHeader> headers;
    for (const auto& [header, value] : request.headers) {
      if (header != "host") headers.push_back({header, value});
    }
    headers.push_back({"Authorization", authorization});
    std::string url = endpoint_ + path;
    auto response = http_->put(url, headers, body);
    if (!response.ok()) return make_error(response.error());
    if (response->status < 200 || response->status >= 300) {
      return make_error("PUT " + url + " answered " + std::to_string(response->status) + ": " +
                        response->body.substr(0, 300));
    }
    return url;
  }

 private:
  std::string endpoint_;
  std::string bucket_;
  std::string prefix_;
  drivers::aws::Signer signer_;
  std::unique_ptr<drivers::HttpClient> http_;
};

std::optional<std::string> from_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

Result<std::unique_ptr<ArtifactStore>> ArtifactStore::open(const std::string& target,
                                                           const std::string& endpoint) {
  const std::string scheme = "s3://";
  if (target.rfind(scheme, 0) != 0 || target.size() == scheme.size()) {
    return make_error("--artifacts: expected s3://bucket/prefix, got \"" + target + "\"");
  }
  std::string rest = target.substr(scheme.size());
  auto slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  auto credentials = drivers::aws::load_credentials(from_environment);
  if (!credentials.ok()) return make_error("--artifacts: " + credentials.error());
  if (!credentials->has_value()) {
    return make_error(
        "--artifacts: no AWS credentials (set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or configure ~/.aws/credentials)");
  }
  std::string region = drivers::aws::load_region(from_environment);
  if (region.empty()) region = "us-east-1";
  std::string url = endpoint.empty() ? "https://s3." + region + ".amazonaws.com" : endpoint;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return make_error("--artifacts-endpoint: expected a URL such as http://127.0.0.1:4568");
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return std::unique_ptr<ArtifactStore>(
      new S3ArtifactStore(url, bucket, prefix, std::move(**credentials), region));
}

}  // namespace dec::server
