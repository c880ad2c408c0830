#include "server/static_files.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "server/html.h"

namespace dec::server {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNotBuiltPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dec: web app not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>dec: the web app is not built</h1>
<p>This server found no <code>index.html</code> in its web root (<code>WEB_ROOT</code>).
Build the app, then reload this page:</p>
<pre>npm --prefix web ci &amp;&amp; npm --prefix web run build</pre>
<p>(<code>scripts/setup</code> does both.) Or start the server with <code>dec serve --web DIR</code>
pointing at a built app. The HTTP API works without it: see
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
)";

bool is_api_path(const std::string& path) {
  return path == "/api" || path.rfind("/api/", 0) == 0 || path == "/metrics";
}

// Rejects what could leave the root or confuse the file system: "..", NUL, backslashes.
bool is_safe_path(const std::string& path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) return false;
  std::stringstream segments(path);
  std::string segment;
  while (std::getline(segments, segment, '/')) {
    if (segment == "..") return false;
  }
  return true;
}

std::optional<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A regular file strictly inside the (canonical) root, symlinks resolved.
bool inside_root(const fs::path& file, const fs::path& root) {
  std::error_code ec;
  auto canonical_file = fs::weakly_canonical(file, ec);
  if (ec) return false;
  auto canonical_root = fs::weakly_canonical(root, ec);
  if (ec) return false;
  auto [root_end, file_it] = std::mismatch(canonical_root.begin(), canonical_root.end(),
                                           canonical_file.begin(), canonical_file.end());
  return root_end == canonical_root.end() && file_it != canonical_file.end();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

std::string content_type_for(const fs::path& file) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".webmanifest", "application/manifest+json"},
  };
  auto it = kTypes.find(file.extension().string());
  return it != kTypes.end() ? it->second : "application/octet-stream";
}

std::optional<StaticFile> static_file(const std::string& request_path, const fs::path& web_root) {
  if (is_api_path(request_path) || !is_safe_path(request_path)) return std::nullopt;
  std::error_code ec;
  const fs::path index = web_root / "index.html";
  if (web_root.empty() || !fs::is_regular_file(index, ec)) {
    const std::string root = web_root.empty() ? "none given" : web_root.string();
    return StaticFile{200, replace_all(kNotBuiltPage, "WEB_ROOT", html_escape(root)),
                      "text/html; charset=utf-8", "no-store"};
  }
  const fs::path relative = fs::path(request_path).relative_path();
  const fs::path candidate = web_root / relative;
  if (!relative.empty() && fs::is_regular_file(candidate, ec) && inside_root(candidate, web_root)) {
    auto content = read_file(candidate);
    if (!content) return std::nullopt;
    // Vite names built assets by their content hash: they never change under their name.
    const bool hashed = relative.begin() != relative.end() && *relative.begin() == "assets";
    return StaticFile{200, std::move(*content), content_type_for(candidate),
                      hashed ? "public, max-age=31536000, immutable" : "no-cache"};
  }
  // A missing file named with an extension is a broken link, not an app route.
  if (relative.has_extension()) return std::nullopt;
  auto content = read_file(index);
  if (!content) return std::nullopt;
  return StaticFile{200, std::move(*content), "text/html; charset=utf-8", "no-cache"};
}

}  // namespace dec::server
