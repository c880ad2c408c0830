// A minimal HTTP client for drivers that speak HTTP APIs (Kinesis, later S3). The interface is the
// seam for tests: a fake returns scripted responses (throttling, partial failures) that a local
// emulator cannot produce.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dec::drivers {

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpResponse {
  long status = 0;  // HTTP status code; any status is a response, not an error
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sends one POST and waits for the whole response. An error means no response arrived
  // (connection refused, timeout, TLS failure); the request may or may not have been applied.
  virtual Result<HttpResponse> post(const std::string& url, const std::vector<HttpHeader>& headers,
                                    std::string_view body) = 0;
  // Sends one PUT (object uploads). Clients that only speak POST say so.
  virtual Result<HttpResponse> put(const std::string& url, const std::vector<HttpHeader>& headers,
                                   std::string_view body) {
    (void)headers;
    (void)body;
    return make_error("PUT " + url + ": not supported by this HTTP client");
  }
};

// Makes one client per thread: a client is not safe to share between threads.
using HttpClientFactory = std::function<std::unique_ptr<HttpClient>()>;

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // whole request, connect included
};

// libcurl: one easy handle per client, reused so the connection stays open (keep-alive) between
// requests; TCP_NODELAY so small requests are not held back by Nagle's algorithm.
std::unique_ptr<HttpClient> make_curl_http_client(const HttpClientOptions& options);

}  // namespace dec::drivers
