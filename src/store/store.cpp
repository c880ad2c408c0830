#include "store/store.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>

namespace dec::store {
namespace {

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return stmt_ != nullptr; }
  void bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int column) {
    const unsigned char* p = sqlite3_column_text(stmt_, column);
    return p == nullptr ? ""
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS experiments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  results_json TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT '',
  summary_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS experiments_state ON experiments(state);
)sql";

constexpr const char* kColumns =
    "seq, id, name, state, error, spec_json, results_json, created_at, started_at, finished_at, "
    "summary_json, results_json != ''";
// The same columns without the two documents (ListFilter::documents = false).
constexpr const char* kListColumns =
    "seq, id, name, state, error, '', '', created_at, started_at, finished_at, summary_json, "
    "results_json != ''";

ExperimentRecord read_record(Statement& stmt) {
  ExperimentRecord r;
  r.seq = stmt.integer(0);
  r.id = stmt.text(1);
  r.name = stmt.text(2);
  r.state = stmt.text(3);
  r.error = stmt.text(4);
  r.spec_json = stmt.text(5);
  r.results_json = stmt.text(6);
  r.created_at = stmt.text(7);
  r.started_at = stmt.text(8);
  r.finished_at = stmt.text(9);
  r.summary_json = stmt.text(10);
  r.has_results = stmt.integer(11) != 0;
  return r;
}

bool is_terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

}  // namespace

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_experiment_id() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", random() & 0xffff);
  return std::string(buf) + "-" + suffix;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return make_error("cannot create " + parent.string() + ": " + ec.message());
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::string err = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error("cannot open database " + path + ": " + err);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Store> store(new Store(db));
  if (Status s = store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"); !s) {
    return make_error("database " + path + ": " + s.error());
  }
  if (Status s = store->exec(kSchema); !s) return make_error("database " + path + ": " + s.error());
  // Databases from before summaries get the column (empty: summaries are computed when read).
  if (Status s = store->exec("SELECT summary_json FROM experiments LIMIT 0"); !s) {
    if (Status added =
            store->exec("ALTER TABLE experiments ADD COLUMN summary_json TEXT NOT NULL DEFAULT ''");
        !added) {
      return make_error("database " + path + ": " + added.error());
    }
  }
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string err = message ? message : "unknown error";
    sqlite3_free(message);
    return make_error(err);
  }
  return Status::Ok();
}

Result<std::string> Store::create_experiment(const std::string& name, const std::string& spec_json,
                                             const std::string& state) {
  std::lock_guard lock(mutex_);
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::string id = new_experiment_id();
    Statement stmt(db_,
                   "INSERT INTO experiments (id, name, state, spec_json, created_at) "
                   "VALUES (?, ?, ?, ?, ?)");
    if (!stmt.ok()) return make_error("store: " + stmt.error());
    stmt.bind(1, id);
    stmt.bind(2, name);
    stmt.bind(3, state);
    stmt.bind(4, spec_json);
    stmt.bind(5, now_iso8601());
    int rc = stmt.step();
    if (rc == SQLITE_DONE) return id;
    if (rc != SQLITE_CONSTRAINT) return make_error("store: " + stmt.error());
  }
  return make_error("store: could not allocate a unique experiment id");
}

Status Store::set_state(const std::string& id, const std::string& state, const std::string& error) {
  std::lock_guard lock(mutex_);
  Statement stmt(
      db_,
      "UPDATE experiments SET state = ?, error = CASE WHEN ? = '' THEN error ELSE ? END, "
      "started_at = CASE WHEN started_at = '' AND ? NOT IN ('queued') THEN ? "
      "ELSE started_at END, "
      "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  std::string now = now_iso8601();
  stmt.bind(1, state);
  stmt.bind(2, error);
  stmt.bind(3, error);
  stmt.bind(4, state);
  stmt.bind(5, now);
  stmt.bind(6, static_cast<int64_t>(is_terminal(state) ? 1 : 0));
  stmt.bind(7, now);
  stmt.bind(8, id);
  if (stmt.step() != SQLITE_DONE) return make_error("store: " + stmt.error());
  if (sqlite3_changes(db_) == 0) return make_error("no experiment with id " + id);
  return Status::Ok();
}

Status Store::set_results(const std::string& id, const std::string& results_json,
                          const std::string& summary_json) {
  std::lock_guard lock(mutex_);
  Statement stmt(db_, "UPDATE experiments SET results_json = ?, summary_json = ? WHERE id = ?");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, results_json);
  stmt.bind(2, summary_json);
  stmt.bind(3, id);
  if (stmt.step() != SQLITE_DONE) return make_error("store: " + stmt.error());
  if (sqlite3_changes(db_) == 0) return make_error("no experiment with id " + id);
  return Status::Ok();
}

Status Store::set_summary(const std::string& id, const std::string& summary_json) {
  std::lock_guard lock(mutex_);
  Statement stmt(db_, "UPDATE experiments SET summary_json = ? WHERE id = ?");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, summary_json);
  stmt.bind(2, id);
  if (stmt.step() != SQLITE_DONE) return make_error("store: " + stmt.error());
  if (sqlite3_changes(db_) == 0) return make_error("no experiment with id " + id);
  return Status::Ok();
}

Result<std::optional<ExperimentRecord>> Store::get(const std::string& id) {
  std::lock_guard lock(mutex_);
  std::string sql = std::string("SELECT ") + kColumns + " FROM experiments WHERE id = ?";
  Statement stmt(db_, sql.c_str());
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, id);
  int rc = stmt.step();
  if (rc == SQLITE_ROW) return std::optional<ExperimentRecord>(read_record(stmt));
  if (rc == SQLITE_DONE) return std::optional<ExperimentRecord>();
  return make_error("store: " + stmt.error());
}

Result<std::vector<ExperimentRecord>> Store::list(const ListFilter& filter) {
  std::lock_guard lock(mutex_);
  std::string sql = std::string("SELECT ") + (filter.documents ? kColumns : kListColumns) +
                    " FROM experiments WHERE (? = '' OR state = ?)" + " ORDER BY seq " +
                    (filter.newest_first ? "DESC" : "ASC") + " LIMIT ? OFFSET ?";
  Statement stmt(db_, sql.c_str());
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, filter.state);
  stmt.bind(2, filter.state);
  stmt.bind(3, static_cast<int64_t>(filter.limit));
  stmt.bind(4, static_cast<int64_t>(filter.offset));
  std::vector<ExperimentRecord> records;
  int rc;
  while ((rc = stmt.step()) == SQLITE_ROW) records.push_back(read_record(stmt));
  if (rc != SQLITE_DONE) return make_error("store: " + stmt.error());
  return records;
}

Result<std::vector<std::string>> Store::find_ids(const std::string& prefix) {
  std::lock_guard lock(mutex_);
  Statement stmt(db_, "SELECT id FROM experiments WHERE substr(id, 1, length(?)) = ? ORDER BY seq");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, prefix);
  stmt.bind(2, prefix);
  std::vector<std::string> ids;
  int rc;
  while ((rc = stmt.step()) == SQLITE_ROW) ids.push_back(stmt.text(0));
  if (rc != SQLITE_DONE) return make_error("store: " + stmt.error());
  return ids;
}

Result<std::optional<std::string>> Store::latest_id_named(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement stmt(db_, "SELECT id FROM experiments WHERE name = ? ORDER BY seq DESC LIMIT 1");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, name);
  int rc = stmt.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(stmt.text(0));
  if (rc != SQLITE_DONE) return make_error("store: " + stmt.error());
  return std::optional<std::string>();
}

Result<std::optional<ExperimentRecord>> Store::next_queued() {
  std::lock_guard lock(mutex_);
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM experiments WHERE state = 'queued' ORDER BY seq ASC LIMIT 1";
  Statement stmt(db_, sql.c_str());
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  int rc = stmt.step();
  if (rc == SQLITE_ROW) return std::optional<ExperimentRecord>(read_record(stmt));
  if (rc == SQLITE_DONE) return std::optional<ExperimentRecord>();
  return make_error("store: " + stmt.error());
}

Result<int> Store::queue_position(const std::string& id) {
  std::lock_guard lock(mutex_);
  // Counts the queued experiments submitted no later than `id`; the join yields no row when
  // `id` is not queued.
  Statement stmt(db_,
                 "SELECT COUNT(*) FROM experiments q JOIN experiments e "
                 "ON e.id = ? AND e.state = 'queued' WHERE q.state = 'queued' AND q.seq <= e.seq");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  stmt.bind(1, id);
  if (stmt.step() != SQLITE_ROW) return make_error("store: " + stmt.error());
  return static_cast<int>(stmt.integer(0));
}

Result<std::vector<std::pair<std::string, int64_t>>> Store::count_by_state() {
  std::lock_guard lock(mutex_);
  Statement stmt(db_, "SELECT state, COUNT(*) FROM experiments GROUP BY state ORDER BY state");
  if (!stmt.ok()) return make_error("store: " + stmt.error());
  std::vector<std::pair<std::string, int64_t>> counts;
  int rc;
  while ((rc = stmt.step()) == SQLITE_ROW) counts.emplace_back(stmt.text(0), stmt.integer(1));
  if (rc != SQLITE_DONE) return make_error("store: " + stmt.error());
  return counts;
}

}  // namespace dec::store
