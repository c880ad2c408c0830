// `dec serve`: the experiment service. A persistent queue (SQLite) of experiments run one at a
// time by a runner thread, an HTTP API to submit, list, watch (server-sent events), cancel and
// read results, and a shutdown endpoint that defers while an experiment runs so continuous
// deployment can wait for a safe moment. See docs/api.md.
#pragma once

#include <atomic>
#include <string>

#include "infra/provider.h"
#include "server/service_log.h"

namespace dec::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  // Non-empty: every request to /api/ except /api/health needs "Authorization: Bearer <token>"
  // (or ?access_token=<token>, for EventSource and download links). Empty is refused on an
  // address beyond loopback unless `insecure`.
  std::string token;
  bool insecure = false;
  LogFormat log_format = LogFormat::kText;  // of the lines on stderr
  infra::ProviderContext provider_context;  // data dir, env, installation, tools
  // What posted specs may reach (secrets, endpoints): nothing unless the operator allows it.
  // Replaces provider_context.spec_policy, so every spec this server validates or runs gets it.
  core::SpecPolicy spec_policy = core::SpecPolicy::untrusted();
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

// Whether `host` (an address or name given to --listen) reaches this machine only.
bool is_loopback_host(const std::string& host);

// Runs until POST /api/shutdown succeeds or `stop` turns true (SIGINT/SIGTERM): a running
// experiment is then stopped and its infrastructure destroyed; queued ones stay queued.
// Returns a process exit code.
int serve(const ServerOptions& options, const std::atomic<bool>& stop);

}  // namespace dec::server
