// AWS Signature Version 4 (dec signs Kinesis, S3 and tagging requests with its own code): the
// canonical request of any method, path, query and headers never crashes; it does not depend
// on the order the query parameters and headers come in; and URI encoding leaves only
// unreserved characters and %XX escapes that decode back to the input. Input: NUL-separated
// method, path, query ("a=b&c=d"), headers ("name:value" lines) and a text to encode.
#include <algorithm>
#include <cctype>

#include "drivers/aws_sigv4.h"
#include "fuzz/fuzz.h"

namespace {

using dec::drivers::aws::Header;

std::vector<Header> pairs(const std::string& text, char separator, char equals) {
  std::vector<Header> out;
  size_t start = 0;
  while (start <= text.size() && out.size() < 64) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find(equals);
    out.push_back(eq == std::string::npos ? Header{item, ""}
                                          : Header{item.substr(0, eq), item.substr(eq + 1)});
    start = end + 1;
  }
  return out;
}

std::string decode(const std::string& encoded) {
  std::string out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      out.push_back(static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(encoded[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = dec::fuzz::split_parts(data, size, 5);
  dec::drivers::aws::SignableRequest request;
  request.method = parts[0];
  request.path = parts[1];
  request.query = pairs(parts[2], '&', '=');
  request.headers = pairs(parts[3], '\n', ':');
  request.payload_hash = dec::drivers::aws::sha256_hex(parts[4]);
  const std::string canonical = dec::drivers::aws::canonical_request(request);
  std::reverse(request.query.begin(), request.query.end());
  FUZZ_CHECK(dec::drivers::aws::canonical_request(request) == canonical,
             "depends on the order of query parameters: " + canonical);
  // Headers of different names may come in any order (a repeated header's values are joined
  // in request order, so only distinct names can be reordered freely).
  std::vector<std::string> names;
  for (const auto& [name, value] : request.headers) {
    // As the signer names a header: trimmed of " \t\r\n", lower-cased.
    const size_t begin = name.find_first_not_of(" \t\r\n");
    std::string key = begin == std::string::npos
                          ? ""
                          : name.substr(begin, name.find_last_not_of(" \t\r\n") - begin + 1);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(key);
  }
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) == names.end()) {
    std::reverse(request.headers.begin(), request.headers.end());
    FUZZ_CHECK(dec::drivers::aws::canonical_request(request) == canonical,
               "depends on the order of headers: " + canonical);
  }
  for (bool keep_slash : {false, true}) {
    const std::string encoded = dec::drivers::aws::uri_encode(parts[4], keep_slash);
    for (size_t i = 0; i < encoded.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(encoded[i]);
      const bool unreserved = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
                              (keep_slash && c == '/');
      if (c == '%') {
        FUZZ_CHECK(i + 2 < encoded.size() &&
                       std::isxdigit(static_cast<unsigned char>(encoded[i + 1])) &&
                       std::isxdigit(static_cast<unsigned char>(encoded[i + 2])),
                   encoded);
        FUZZ_CHECK(std::isupper(static_cast<unsigned char>(encoded[i + 1])) ||
                       std::isdigit(static_cast<unsigned char>(encoded[i + 1])),
                   "lower-case escape: " + encoded);
        i += 2;
      } else {
        FUZZ_CHECK(unreserved, "unescaped byte in " + encoded);
      }
    }
    FUZZ_CHECK(decode(encoded) == parts[4], encoded);
  }
  return 0;
}
