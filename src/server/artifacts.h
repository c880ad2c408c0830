// Uploads each finished experiment's results (results.json, report.html) to S3-compatible object
// storage: `--artifacts s3://bucket/prefix`. Requests are signed with the same SigV4 code as the
// Kinesis driver; endpoint, region and credentials are found the same way (AWS_* variables or
// the shared files), and `--artifacts-endpoint` points at any S3-compatible server.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"

namespace dec::server {

class ArtifactStore {
 public:
  // `target` is s3://bucket[/prefix]; `endpoint` "" = https://s3.<region>.amazonaws.com.
  static Result<std::unique_ptr<ArtifactStore>> open(const std::string& target,
                                                     const std::string& endpoint);
  virtual ~ArtifactStore() = default;
  // Stores `body` at <prefix>/<name>; returns the object's URL.
  virtual Result<std::string> put(const std::string& name, const std::string& body,
                                  const std::string& content_type) = 0;
};

}  // namespace dec::server
