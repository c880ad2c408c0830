#include "drivers/aws_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

namespace dec::drivers::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr char kHexDigits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* data, size_t size) {
  std::string hex(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    hex[2 * i] = kHexDigits[data[i] >> 4];
    hex[2 * i + 1] = kHexDigits[data[i] & 0x0f];
  }
  return hex;
}

SigningKey hmac_sha256(const unsigned char* key, size_t key_size, std::string_view data) {
  SigningKey out{};
  unsigned int size = 0;
  // One-shot HMAC() is the OpenSSL 3 API that needs no context object; it cannot fail for
  // SHA-256 with in-memory buffers.
  HMAC(EVP_sha256(), key, static_cast<int>(key_size),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &size);
  return out;
}

SigningKey hmac_sha256(const SigningKey& key, std::string_view data) {
  return hmac_sha256(key.data(), key.size(), data);
}

std::string_view trim(std::string_view text) {
  const char* spaces = " \t\r\n";
  size_t begin = text.find_first_not_of(spaces);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(spaces);
  return text.substr(begin, end - begin + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A header value as SigV4 canonicalises it: trimmed, each run of spaces made one space.
std::string canonical_header_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : trim(value)) {
    bool space = c == ' ' || c == '\t';
    if (space && in_space) continue;
    out.push_back(space ? ' ' : c);
    in_space = space;
  }
  return out;
}

// ---- shared config files (INI) ---------------------------------------------------------------

using IniSection = std::map<std::string, std::string>;
using IniFile = std::map<std::string, IniSection>;

// nullopt when the file does not exist; an error when it exists but cannot be read.
Result<std::optional<IniFile>> read_ini(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    if (!error) return std::optional<IniFile>();
    return make_error("cannot read AWS file " + path + ": " + error.message());
  }
  std::ifstream in(path);
  if (!in) return make_error("cannot read AWS file " + path);
  IniFile file;
  std::string section;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    std::string_view text = trim(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    if (text.front() == '[') {
      if (text.back() != ']') {
        return make_error(path + ":" + std::to_string(line_number) +
                          ": expected a section header like [default]");
      }
      section = std::string(trim(text.substr(1, text.size() - 2)));
      file[section];
      continue;
    }
    size_t equals = text.find('=');
    if (equals == std::string_view::npos) {
      // Indented continuation lines (nested settings such as s3 = ...) carry no credentials.
      if (line.front() == ' ' || line.front() == '\t') continue;
      return make_error(path + ":" + std::to_string(line_number) + ": expected key = value");
    }
    if (section.empty()) continue;  // keys before any section belong to no profile
    file[section][lower(trim(text.substr(0, equals)))] = std::string(trim(text.substr(equals + 1)));
  }
  return std::optional<IniFile>(std::move(file));
}

std::string home_file(const EnvironmentLookup& environment, const char* override_variable,
                      const char* name) {
  if (auto path = environment(override_variable); path && !path->empty()) return *path;
  auto home = environment("HOME");
  if (!home || home->empty()) return "";
  return *home + "/.aws/" + name;
}

std::string profile_name(const EnvironmentLookup& environment) {
  auto profile = environment("AWS_PROFILE");
  return profile && !profile->empty() ? *profile : "default";
}

}  // namespace

EnvironmentLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::optional<Credentials>> load_credentials(const EnvironmentLookup& environment) {
  auto key_id = environment("AWS_ACCESS_KEY_ID");
  auto secret = environment("AWS_SECRET_ACCESS_KEY");
  bool has_key_id = key_id && !key_id->empty();
  bool has_secret = secret && !secret->empty();
  if (has_key_id != has_secret) {
    return make_error(std::string("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set ") +
                      "together; only " +
                      (has_key_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") + " is set");
  }
  if (has_key_id) {
    Credentials credentials{*key_id, *secret, "", "environment variables"};
    if (auto token = environment("AWS_SESSION_TOKEN")) credentials.session_token = *token;
    return std::optional<Credentials>(std::move(credentials));
  }

  std::string path = home_file(environment, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  std::string profile = profile_name(environment);
  bool profile_named = environment("AWS_PROFILE").has_value();
  if (path.empty()) return std::optional<Credentials>();
  auto file = read_ini(path);
  if (!file.ok()) return make_error(file.error());
  if (!file->has_value()) {
    if (profile_named) {
      return make_error("AWS_PROFILE is \"" + profile + "\" but " + path + " does not exist");
    }
    return std::optional<Credentials>();
  }
  auto section = (*file)->find(profile);
  if (section == (*file)->end()) {
    if (profile_named) return make_error("profile \"" + profile + "\" not found in " + path);
    return std::optional<Credentials>();
  }
  const IniSection& values = section->second;
  auto value = [&](const char* key) {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  Credentials credentials{value("aws_access_key_id"), value("aws_secret_access_key"),
                          value("aws_session_token"), path + " [" + profile + "]"};
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return make_error("profile \"" + profile + "\" in " + path +
                      " needs both aws_access_key_id and aws_secret_access_key");
  }
  return std::optional<Credentials>(std::move(credentials));
}

std::string load_region(const EnvironmentLookup& environment) {
  for (const char* variable : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto region = environment(variable); region && !region->empty()) return *region;
  }
  std::string path = home_file(environment, "AWS_CONFIG_FILE", "config");
  if (path.empty()) return "";
  auto file = read_ini(path);
  if (!file.ok() || !file->has_value()) return "";
  std::string profile = profile_name(environment);
  // The config file names sections "[profile NAME]", except the default profile.
  for (const std::string& name : {"profile " + profile, profile}) {
    auto section = (*file)->find(name);
    if (section == (*file)->end()) continue;
    if (auto region = section->second.find("region"); region != section->second.end()) {
      return region->second;
    }
  }
  return "";
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    bool unreserved = std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back("0123456789ABCDEF"[byte >> 4]);
      out.push_back("0123456789ABCDEF"[byte & 0x0f]);
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return to_hex(digest, size);
}

std::string hmac_sha256_hex(const SigningKey& key, std::string_view data) {
  SigningKey mac = hmac_sha256(key, data);
  return to_hex(mac.data(), mac.size());
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  size_t size = std::strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  return std::string(text, size);
}

std::string canonical_request(const SignableRequest& request) {
  std::string out;
  out.reserve(256 + request.path.size());
  out.append(request.method).push_back('\n');
  out.append(request.path.empty() ? "/" : uri_encode(request.path, true)).push_back('\n');

  std::vector<Header> query;
  query.reserve(request.query.size());
  for (const auto& [name, value] : request.query) {
    query.emplace_back(uri_encode(name, false), uri_encode(value, false));
  }
  std::sort(query.begin(), query.end());
  for (size_t i = 0; i < query.size(); ++i) {
    if (i) out.push_back('&');
    out.append(query[i].first).append("=").append(query[i].second);
  }
  out.push_back('\n');

  // Stable sort by lower-cased name keeps the values of a repeated header in request order,
  // which is the order SigV4 joins them in.
  std::vector<Header> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(lower(trim(name)), canonical_header_value(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const Header& a, const Header& b) { return a.first < b.first; });
  std::string signed_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    bool repeat = i > 0 && headers[i].first == headers[i - 1].first;
    if (repeat) {
      out.push_back(',');
    } else {
      if (i > 0) {
        out.push_back('\n');
        signed_headers.push_back(';');
      }
      out.append(headers[i].first).push_back(':');
      signed_headers.append(headers[i].first);
    }
    out.append(headers[i].second);
  }
  out.append("\n\n").append(signed_headers).push_back('\n');
  out.append(request.payload_hash);
  return out;
}

std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service) {
  std::string scope(date);
  scope.append("/").append(region).append("/").append(service).append("/aws4_request");
  return scope;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out.append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(sha256_hex(canonical_request));
  return out;
}

SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service) {
  std::string secret = "AWS4";
  secret.append(secret_access_key);
  SigningKey key =
      hmac_sha256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), date);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  return hmac_sha256(key, "aws4_request");
}

namespace {

Signature sign_with_key(const SignableRequest& request, const Credentials& credentials,
                        const SigningKey& key, std::string_view scope, std::string_view amz_date) {
  Signature result;
  result.canonical_request = canonical_request(request);
  result.string_to_sign = string_to_sign(amz_date, scope, result.canonical_request);
  result.signature = hmac_sha256_hex(key, result.string_to_sign);
  // Signed headers again, as the canonical request lists them (lower-cased, sorted, unique).
  std::vector<std::string> names;
  for (const auto& header : request.headers) names.push_back(lower(trim(header.first)));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers;
  for (size_t i = 0; i < names.size(); ++i) signed_headers += (i ? ";" : "") + names[i];
  result.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id +
                         "/" + std::string(scope) + ", SignedHeaders=" + signed_headers +
                         ", Signature=" + result.signature;
  return result;
}

}  // namespace

Signature sign(const SignableRequest& request, const Credentials& credentials,
               std::string_view region, std::string_view service, std::string_view amz_date) {
  std::string_view date = amz_date.substr(0, 8);
  SigningKey key = derive_signing_key(credentials.secret_access_key, date, region, service);
  return sign_with_key(request, credentials, key, credential_scope(date, region, service),
                       amz_date);
}

Signer::Signer(Credentials credentials, std::string region, std::string service)
    : credentials_(std::move(credentials)),
      region_(std::move(region)),
      service_(std::move(service)) {}

std::string Signer::sign(SignableRequest& request, std::chrono::system_clock::time_point now) {
  std::string date_time = amz_date(now);
  std::string date = date_time.substr(0, 8);
  if (date != key_date_) {
    key_ = derive_signing_key(credentials_.secret_access_key, date, region_, service_);
    key_date_ = date;
  }
  request.headers.emplace_back("x-amz-date", date_time);
  if (!credentials_.session_token.empty()) {
    request.headers.emplace_back("x-amz-security-token", credentials_.session_token);
  }
  return sign_with_key(request, credentials_, key_, credential_scope(date, region_, service_),
                       date_time)
      .authorization;
}

}  // namespace dec::drivers::aws
