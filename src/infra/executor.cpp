#include "infra/executor.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "core/hash.h"

namespace dec::infra {

std::string installation_id(const std::string& data_dir) {
  // FNV-1a: stable across runs and builds (std::hash is not guaranteed to be).
  uint64_t hash = core::fnv1a(data_dir, core::kFnv1aNamesBasis);
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << hash;
  return out.str().substr(0, 12);
}

std::string state_path(const std::string& data_dir, const std::string& run_id) {
  return data_dir + "/state/" + run_id + ".json";
}

StateFile::StateFile(Env& env, std::string path) : env_(env), path_(std::move(path)) {}

Status StateFile::save(const RunState& state) {
  auto slash = path_.rfind('/');
  if (slash != std::string::npos) {
    if (Status s = env_.make_dirs(path_.substr(0, slash)); !s) return s;
  }
  return env_.write_file_atomic(path_, run_state_to_json(state));
}

Result<RunState> StateFile::load() {
  auto text = env_.read_file(path_);
  if (!text) return make_error(text.error());
  return run_state_from_json(*text);
}

Status StateFile::remove() { return env_.remove_file(path_); }

namespace {

// Serialises every change to a run's state and its file: steps running side by side each work
// on their own copy of their record and publish it here.
class StateWriter {
 public:
  StateWriter(RunState& state, StateFile& file) : state_(state), file_(file) {}
  Status upsert(const ResourceRecord& record) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ResourceRecord* existing = state_.find(record.resource.address)) {
      *existing = record;
    } else {
      state_.resources.push_back(record);
    }
    return file_.save(state_);
  }
  Status erase(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(state_.resources,
                  [&](const ResourceRecord& r) { return r.resource.address == address; });
    return file_.save(state_);
  }
  std::optional<ResourceRecord> find(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ResourceRecord* r = state_.find(address)) return *r;
    return std::nullopt;
  }
  RunState snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_;
  }
  void log(const LogFn& fn, const std::string& line) {
    if (!fn) return;
    std::lock_guard<std::mutex> lock(log_mutex_);
    fn(line);
  }

 private:
  std::mutex mutex_;
  std::mutex log_mutex_;
  RunState& state_;
  StateFile& file_;
};

// Runs `tasks` with at most `parallel` at a time; returns each task's status in order. With
// `stop_on_failure`, no task starts after one failed (those already running finish).
std::vector<Status> run_tasks(const std::vector<std::function<Status()>>& tasks, int parallel,
                              bool stop_on_failure) {
  std::vector<Status> results(tasks.size(), Status::Ok());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) {
      if (stop_on_failure && failed) return;
      results[i] = tasks[i]();
      if (!results[i]) failed = true;
    }
  };
  size_t count = std::min<size_t>(tasks.size(), static_cast<size_t>(std::max(parallel, 1)));
  if (count <= 1) {
    work();
    return results;
  }
  std::vector<std::thread> threads;
  for (size_t t = 0; t < count; ++t) threads.emplace_back(work);
  for (auto& thread : threads) thread.join();
  return results;
}

Status execute_change(Provider& provider, const PlannedChange& change, const RunState& snapshot,
                      StateWriter& writer, const LogFn& log) {
  const std::string& address = change.resource.address;
  if (change.kind == ChangeKind::kDelete || change.kind == ChangeKind::kReplace) {
    if (auto existing = writer.find(address)) {
      existing->status = "deleting";
      if (Status s = writer.upsert(*existing); !s) return s;
      if (Status s = provider.destroy(*existing, snapshot); !s) {
        return make_error("destroy " + address + ": " + s.error());
      }
      if (Status s = writer.erase(address); !s) return s;
      writer.log(log, "destroyed " + address);
    }
    if (change.kind == ChangeKind::kDelete) return Status::Ok();
  }
  if (change.kind == ChangeKind::kUpdate) {
    auto existing = writer.find(address);
    if (!existing) return make_error("update " + address + ": not recorded");
    ResourceRecord record = *existing;
    record.status = "updating";
    if (Status s = writer.upsert(record); !s) return s;
    auto save = [&]() { return writer.upsert(record); };
    if (Status s = provider.update(record, change.resource, snapshot, save); !s) {
      return make_error("update " + address + ": " + s.error());
    }
    record.resource = change.resource;
    record.status = "created";
    if (Status s = writer.upsert(record); !s) return s;
    writer.log(log, "updated " + address + " in place");
    return Status::Ok();
  }
  ResourceRecord record{change.resource, "creating", {}};
  if (Status s = writer.upsert(record); !s) return s;
  auto save = [&]() { return writer.upsert(record); };
  Status created = provider.create(record, snapshot, save);
  if (!created) {
    (void)writer.upsert(record);
    return make_error("create " + address + ": " + created.error());
  }
  record.status = "created";
  if (Status s = writer.upsert(record); !s) return s;
  writer.log(log, "created " + address);
  return Status::Ok();
}

}  // namespace

Status apply_plan(Provider& provider, const Plan& plan, RunState& state, StateFile& file,
                  const LogFn& log) {
  if (Status s = file.save(state); !s) return s;
  StateWriter writer(state, file);
  // Deletes of resources no longer wanted go first, one by one in reverse creation order.
  std::vector<const PlannedChange*> rest;
  for (const auto& change : plan.changes) {
    if (change.kind != ChangeKind::kDelete) {
      rest.push_back(&change);
      continue;
    }
    if (Status s = execute_change(provider, change, writer.snapshot(), writer, log); !s) return s;
  }
  // The rest level by level: a step starts once everything it depends on is done, and steps
  // of one level (e.g. three broker hosts) run side by side.
  std::vector<Resource> resources;
  for (const auto* change : rest) resources.push_back(change->resource);
  std::vector<int> levels = dependency_levels(resources);
  int max_level = 0;
  for (int l : levels) max_level = std::max(max_level, l);
  for (int level = 0; level <= max_level; ++level) {
    RunState snapshot = writer.snapshot();
    std::vector<std::function<Status()>> tasks;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (levels[i] != level) continue;
      const PlannedChange* change = rest[i];
      tasks.push_back([&, change, snapshot]() {
        return execute_change(provider, *change, snapshot, writer, log);
      });
    }
    std::string errors;
    for (const Status& s : run_tasks(tasks, provider.max_parallel(), true)) {
      if (!s) errors += (errors.empty() ? "" : "; ") + s.error();
    }
    if (!errors.empty()) return make_error(errors);
  }
  return Status::Ok();
}

Status destroy_run(Provider& provider, RunState& state, StateFile& file, const LogFn& log) {
  for (auto& record : state.resources) record.status = "deleting";
  (void)file.save(state);
  // Reverse dependency order: everything that depends on a resource goes before it; a level's
  // resources go side by side. A failure keeps the resource recorded so the next attempt
  // retries it, and does not stop the others.
  std::vector<Resource> resources;
  for (const auto& record : state.resources) resources.push_back(record.resource);
  std::vector<int> levels = dependency_levels(resources);
  int max_level = 0;
  for (int l : levels) max_level = std::max(max_level, l);
  std::vector<ResourceRecord> records = state.resources;
  StateWriter writer(state, file);
  std::mutex errors_mutex;
  std::string errors;
  for (int level = max_level; level >= 0; --level) {
    RunState snapshot = writer.snapshot();
    std::vector<std::function<Status()>> tasks;
    // Within a level, later-created resources first (the order one-by-one providers expect).
    for (size_t i = records.size(); i-- > 0;) {
      if (levels[i] != level) continue;
      const ResourceRecord* record = &records[i];
      tasks.push_back([&, record, snapshot]() -> Status {
        Status s = provider.destroy(*record, snapshot);
        const std::string& address = record->resource.address;
        if (!s) {
          writer.log(log, "failed to destroy " + address + ": " + s.error());
          std::lock_guard<std::mutex> lock(errors_mutex);
          errors += address + ": " + s.error() + "; ";
          return s;
        }
        (void)writer.erase(address);
        writer.log(log, "destroyed " + address);
        return Status::Ok();
      });
    }
    (void)run_tasks(tasks, provider.max_parallel(), false);
  }
  if (!errors.empty()) {
    (void)file.save(state);
    return make_error(errors.substr(0, errors.size() - 2));
  }
  return file.remove();
}

}  // namespace dec::infra
