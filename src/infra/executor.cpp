#include "infra/executor.h"

#include <signal.h>

#include <cstdlib>
#include <functional>
#include <iomanip>
#include <sstream>

namespace dec::infra {

std::string installation_id(const std::string& data_dir) {
  // FNV-1a: stable across runs and builds (std::hash is not guaranteed to be).
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : data_dir) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << hash;
  return out.str().substr(0, 12);
}

std::string state_path(const std::string& data_dir, const std::string& run_id) {
  return data_dir + "/state/" + run_id + ".json";
}

StateFile::StateFile(Env& env, std::string path) : env_(env), path_(std::move(path)) {
  if (const char* crash = std::getenv("DEC_TEST_CRASH_AFTER_WRITE")) {
    crash_after_write_ = std::atoi(crash);
  }
}

Status StateFile::save(const RunState& state) {
  auto slash = path_.rfind('/');
  if (slash != std::string::npos) {
    if (Status s = env_.make_dirs(path_.substr(0, slash)); !s) return s;
  }
  Status status = env_.write_file_atomic(path_, run_state_to_json(state));
  if (crash_after_write_ > 0 && --crash_after_write_ == 0) raise(SIGKILL);
  return status;
}

Result<RunState> StateFile::load() {
  auto text = env_.read_file(path_);
  if (!text) return make_error(text.error());
  return run_state_from_json(*text);
}

Status StateFile::remove() { return env_.remove_file(path_); }

Status apply_plan(Provider& provider, const Plan& plan, RunState& state, StateFile& file,
                  const LogFn& log) {
  auto save = [&]() { return file.save(state); };
  if (Status s = save(); !s) return s;
  for (const auto& change : plan.changes) {
    const std::string& address = change.resource.address;
    if (change.kind == ChangeKind::kDelete || change.kind == ChangeKind::kReplace) {
      if (ResourceRecord* existing = state.find(address)) {
        existing->status = "deleting";
        if (Status s = save(); !s) return s;
        if (Status s = provider.destroy(*existing, state); !s) {
          return make_error("destroy " + address + ": " + s.error());
        }
        std::erase_if(state.resources,
                      [&](const ResourceRecord& r) { return r.resource.address == address; });
        if (Status s = save(); !s) return s;
        if (log) log("destroyed " + address);
      }
      if (change.kind == ChangeKind::kDelete) continue;
    }
    if (change.kind == ChangeKind::kUpdate) {
      // No provider updates in place yet; a recorded attribute change is applied as replace.
      return make_error("update in place of " + address + " is not supported by " +
                        provider.name());
    }
    state.resources.push_back(ResourceRecord{change.resource, "creating", {}});
    if (Status s = save(); !s) return s;
    ResourceRecord& record = state.resources.back();
    Status created = provider.create(record, state, save);
    if (!created) {
      (void)save();
      return make_error("create " + address + ": " + created.error());
    }
    record.status = "created";
    if (Status s = save(); !s) return s;
    if (log) log("created " + address);
  }
  return Status::Ok();
}

Status destroy_run(Provider& provider, RunState& state, StateFile& file, const LogFn& log) {
  std::string errors;
  for (auto& record : state.resources) record.status = "deleting";
  (void)file.save(state);
  // Reverse creation order; a failure keeps the resource recorded so the next attempt retries.
  std::vector<ResourceRecord> failed;
  while (!state.resources.empty()) {
    ResourceRecord record = state.resources.back();
    Status s = provider.destroy(record, state);
    state.resources.pop_back();
    if (!s) {
      errors += record.resource.address + ": " + s.error() + "; ";
      if (log) log("failed to destroy " + record.resource.address + ": " + s.error());
      failed.insert(failed.begin(), record);
      continue;
    }
    std::vector<ResourceRecord> snapshot = state.resources;
    state.resources.insert(state.resources.begin(), failed.begin(), failed.end());
    (void)file.save(state);
    state.resources = std::move(snapshot);
    if (log) log("destroyed " + record.resource.address);
  }
  state.resources = std::move(failed);
  if (!errors.empty()) {
    (void)file.save(state);
    return make_error(errors.substr(0, errors.size() - 2));
  }
  return file.remove();
}

}  // namespace dec::infra
