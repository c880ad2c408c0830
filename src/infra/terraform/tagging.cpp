#include "infra/terraform/tagging.h"

#include <nlohmann/json.hpp>

namespace dec::infra::terraform {
namespace {

using nlohmann::json;

constexpr int kMaxPages = 100;  // 100 resources a page: 10 000 tagged resources at most

std::string host_of(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find('/', start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

Result<std::vector<TaggedResource>> get_tagged_resources(
    drivers::HttpClient& http, const drivers::aws::Credentials& credentials,
    const TaggingQuery& query, std::chrono::system_clock::time_point now) {
  drivers::aws::Signer signer(credentials, query.region, "tagging");
  std::vector<TaggedResource> found;
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    json body = {{"TagFilters", {{{"Key", query.tag_key}, {"Values", {query.tag_value}}}}},
                 {"ResourcesPerPage", 100}};
    if (!token.empty()) body["PaginationToken"] = token;
    const std::string text = body.dump();
    drivers::aws::SignableRequest request;
    request.headers = {{"content-type", "application/x-amz-json-1.1"},
                       {"host", host_of(query.endpoint)},
                       {"x-amz-target", "ResourceGroupsTaggingAPI_20170126.GetResources"}};
    request.payload_hash = drivers::aws::sha256_hex(text);
    std::string authorization = signer.sign(request, now);
    std::vector<drivers::HttpHeader> headers;
    for (auto& [name, value] : request.headers) headers.push_back({name, value});
    headers.push_back({"authorization", authorization});
    auto response = http.post(query.endpoint + "/", headers, text);
    if (!response) {
      return make_error("Resource Groups Tagging API at " + query.endpoint + ": " +
                        response.error());
    }
    json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (response->status != 200) {
      std::string message =
          answer.is_object() ? answer.value("message", answer.value("Message", "")) : "";
      std::string type = answer.is_object() ? answer.value("__type", "") : "";
      return make_error("Resource Groups Tagging API GetResources in " + query.region +
                        " answered HTTP " + std::to_string(response->status) +
                        (type.empty() ? "" : " " + type.substr(type.find('#') + 1)) +
                        (message.empty() ? "" : ": " + message));
    }
    if (!answer.is_object()) {
      return make_error("Resource Groups Tagging API GetResources: the answer is not JSON");
    }
    if (answer.contains("ResourceTagMappingList") && answer["ResourceTagMappingList"].is_array()) {
      for (const auto& mapping : answer["ResourceTagMappingList"]) {
        if (!mapping.is_object()) continue;
        TaggedResource resource;
        resource.arn = mapping.value("ResourceARN", "");
        if (mapping.contains("Tags") && mapping["Tags"].is_array()) {
          for (const auto& tag : mapping["Tags"]) {
            if (tag.is_object()) resource.tags[tag.value("Key", "")] = tag.value("Value", "");
          }
        }
        if (!resource.arn.empty()) found.push_back(std::move(resource));
      }
    }
    token = answer.value("PaginationToken", "");
    if (token.empty()) return found;
  }
  return make_error("Resource Groups Tagging API GetResources: more than " +
                    std::to_string(kMaxPages) + " pages; stopped");
}

}  // namespace dec::infra::terraform
