#include "drivers/http_client.h"

#include <curl/curl.h>

#include <mutex>

namespace dec::drivers {
namespace {

// curl_global_init must run before the first handle and is not thread-safe in every libcurl
// build; once per process, never undone (other code in the process may use libcurl too).
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

class CurlHttpClient : public HttpClient {
 public:
  explicit CurlHttpClient(const HttpClientOptions& options) : handle_(curl_easy_init()) {
    if (handle_ == nullptr) return;
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(handle_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(handle_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(options.request_timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_PROTOCOLS_STR, "http,https");
    // A proxy from the environment must not capture requests to a local emulator.
    curl_easy_setopt(handle_, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(handle_, CURLOPT_POST, 1L);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_);
  }

  ~CurlHttpClient() override {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }

  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  Result<HttpResponse> put(const std::string& url, const std::vector<HttpHeader>& headers,
                           std::string_view body) override {
    // Same request with the method word changed; the body is sent exactly as for POST.
    curl_easy_setopt(handle_, CURLOPT_CUSTOMREQUEST, "PUT");
    auto response = post(url, headers, body);
    curl_easy_setopt(handle_, CURLOPT_CUSTOMREQUEST, nullptr);
    if (!response.ok()) {
      std::string message = response.error();
      if (message.rfind("POST ", 0) == 0) message.replace(0, 4, "PUT");
      return make_error(message);
    }
    return response;
  }

  Result<HttpResponse> post(const std::string& url, const std::vector<HttpHeader>& headers,
                            std::string_view body) override {
    if (handle_ == nullptr) return make_error("libcurl could not create a handle");
    std::unique_ptr<curl_slist, SlistDeleter> list;
    std::string line;
    for (const HttpHeader& header : headers) {
      line.assign(header.name).append(": ").append(header.value);
      list.reset(curl_slist_append(list.release(), line.c_str()));
      if (!list) return make_error("out of memory building HTTP headers");
    }
    // Without this libcurl sends "Expect: 100-continue" for larger bodies and waits a round
    // trip (or a second) before sending them.
    list.reset(curl_slist_append(list.release(), "Expect:"));

    HttpResponse response;
    error_[0] = '\0';
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &response.body);
    CURLcode code = curl_easy_perform(handle_);
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, nullptr);  // `list` dies with this call
    if (code != CURLE_OK) {
      return make_error("POST " + url + ": " + (error_[0] ? error_ : curl_easy_strerror(code)));
    }
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

 private:
  CURL* handle_;
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace

std::unique_ptr<HttpClient> make_curl_http_client(const HttpClientOptions& options) {
  init_curl_once();
  return std::make_unique<CurlHttpClient>(options);
}

}  // namespace dec::drivers
