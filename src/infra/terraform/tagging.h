// The AWS Resource Groups Tagging API's GetResources (JSON 1.1 over HTTPS, SigV4 service
// "tagging"): every resource of an account and region that carries a tag, here
// dec-installation=<id>, with its tags. Pages are followed to the end (bounded).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "drivers/aws_sigv4.h"
#include "drivers/http_client.h"

namespace dec::infra::terraform {

struct TaggedResource {
  std::string arn;
  std::map<std::string, std::string> tags;
};

struct TaggingQuery {
  std::string endpoint;  // "https://tagging.<region>.amazonaws.com" or a test double's URL
  std::string region;
  std::string tag_key;
  std::string tag_value;
};

Result<std::vector<TaggedResource>> get_tagged_resources(
    drivers::HttpClient& http, const drivers::aws::Credentials& credentials,
    const TaggingQuery& query, std::chrono::system_clock::time_point now);

}  // namespace dec::infra::terraform
