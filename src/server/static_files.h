// The web app (web/dist, built by `npm --prefix web run build`) as `dec serve` hands it out:
// files under the web root with their content type, and index.html for every other path that is
// not the API's, so client-side routes (/experiments/ID, /compare?…) load the app. Paths that
// leave the web root (`..`, encoded or not) are never served. Without a build, every app path
// answers a short page saying how to build it; the C++ build never needs Node.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace dec::server {

struct StaticFile {
  int status = 200;
  std::string content;
  std::string content_type;
  std::string cache_control;  // "" = none; hashed assets are immutable, index.html is not
};

// `request_path` is the decoded URL path ("/", "/assets/index-3f2a.js", "/experiments/x").
// nullopt: not the web app's (an /api or /metrics path, an escape attempt, or a missing file
// that names an asset by its extension) — the caller answers 404.
std::optional<StaticFile> static_file(const std::string& request_path,
                                      const std::filesystem::path& web_root);

// Content type by file extension ("application/octet-stream" when unknown).
std::string content_type_for(const std::filesystem::path& file);

}  // namespace dec::server
