// `dec serve`: the experiment service. A persistent queue (SQLite) of experiments run one at a
// time by a runner thread, an HTTP API to submit, list, watch (server-sent events), cancel and
// read results, and a shutdown endpoint that defers while an experiment runs so continuous
// deployment can wait for a safe moment. See docs/api.md.
#pragma once

#include <atomic>
#include <string>

#include "infra/provider.h"

namespace dec::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;  // non-empty: POST requests need "Authorization: Bearer <token>"
  infra::ProviderContext provider_context;  // data dir, env, installation, tools
  size_t max_body_bytes = 1 << 20;
  std::string artifacts;           // s3://bucket/prefix: upload each experiment's results there
  std::string artifacts_endpoint;  // S3-compatible endpoint URL ("" = AWS)
  // The built web app (web/dist) served at "/"; see static_files.h.
  std::string web_root;
  // The shipped example specs served by GET /api/examples (every *.yaml); "" or a missing
  // directory = none. Defaults to the source tree's examples/.
  std::string examples_dir = default_examples_dir();
  static std::string default_examples_dir();
};

// Runs until POST /api/shutdown succeeds or `stop` turns true (SIGINT/SIGTERM): a running
// experiment is then stopped and its infrastructure destroyed; queued ones stay queued.
// Returns a process exit code.
int serve(const ServerOptions& options, const std::atomic<bool>& stop);

}  // namespace dec::server
