#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace dec::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dec-store-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StoreTest, CreatesDatabaseAndKeepsExperimentsAcrossReopen) {
  std::string path = (dir_ / "nested" / "dec.db").string();
  std::string id;
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error();
    auto created = (*store)->create_experiment("exp", "{\"name\":\"exp\"}", "queued");
    ASSERT_TRUE(created.ok());
    id = *created;
    ASSERT_TRUE((*store)->set_state(id, "running"));
    ASSERT_TRUE((*store)->set_results(id, "{\"runs\":[]}"));
    ASSERT_TRUE((*store)->set_state(id, "failed", "broker died"));
  }
  auto store = Store::open(path);
  ASSERT_TRUE(store.ok());
  auto record = (*store)->get(id);
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(record->has_value());
  const auto& r = **record;
  EXPECT_EQ(r.name, "exp");
  EXPECT_EQ(r.state, "failed");
  EXPECT_EQ(r.error, "broker died");
  EXPECT_EQ(r.results_json, "{\"runs\":[]}");
  EXPECT_FALSE(r.started_at.empty());
  EXPECT_FALSE(r.finished_at.empty());
}

TEST_F(StoreTest, ListsFiltersAndFindsByPrefix) {
  auto store = Store::open((dir_ / "dec.db").string());
  ASSERT_TRUE(store.ok());
  auto a = (*store)->create_experiment("a", "{}", "queued");
  auto b = (*store)->create_experiment("b", "{}", "queued");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*store)->set_state(*b, "succeeded"));
  auto all = (*store)->list({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "b");  // newest first
  ListFilter queued;
  queued.state = "queued";
  auto only = (*store)->list(queued);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].name, "a");
  auto found = (*store)->find_ids(a->substr(0, a->size() - 1));
  ASSERT_TRUE(found.ok());
  EXPECT_GE(found->size(), 1u);
  EXPECT_FALSE((*store)->set_state("nope", "failed").ok());
  auto missing = (*store)->get("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(StoreTest, ListWithoutDocumentsReadsSummariesOnly) {
  auto store = Store::open((dir_ / "dec.db").string());
  ASSERT_TRUE(store.ok());
  auto id = (*store)->create_experiment("a", "{\"name\":\"a\"}", "running");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE((*store)->set_results(*id, "{\"runs\":[1]}", "{\"verdict\":\"v\"}"));
  ListFilter light;
  light.documents = false;
  auto rows = (*store)->list(light);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].summary_json, "{\"verdict\":\"v\"}");
  EXPECT_EQ((*rows)[0].results_json, "");
  EXPECT_EQ((*rows)[0].spec_json, "");
  EXPECT_TRUE((*rows)[0].has_results) << "known without reading the document";
  auto full = (*store)->list({});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)[0].results_json, "{\"runs\":[1]}");
  EXPECT_EQ((*full)[0].spec_json, "{\"name\":\"a\"}");
  ASSERT_TRUE((*store)->set_summary(*id, "{}"));
  EXPECT_EQ((**(*store)->get(*id)).summary_json, "{}");
  EXPECT_FALSE((*store)->set_summary("nope", "{}").ok());
  auto bare = (*store)->create_experiment("b", "{}", "failed");
  ASSERT_TRUE(bare.ok());
  auto both = (*store)->list(light);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_FALSE((*both)[0].has_results) << "a failed experiment without results is not re-read";
}

// A database written before summaries existed gains the column and keeps its rows.
TEST_F(StoreTest, OpensADatabaseWithoutTheSummaryColumn) {
  std::filesystem::create_directories(dir_);
  const std::string path = (dir_ / "old.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE experiments (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT "
                         "NOT NULL UNIQUE, name TEXT NOT NULL, state TEXT NOT NULL, error TEXT NOT "
                         "NULL DEFAULT '', spec_json TEXT NOT NULL, results_json TEXT NOT NULL "
                         "DEFAULT '', created_at TEXT NOT NULL, started_at TEXT NOT NULL DEFAULT "
                         "'', finished_at TEXT NOT NULL DEFAULT '');"
                         "INSERT INTO experiments (id, name, state, spec_json, results_json, "
                         "created_at) VALUES ('old-1', 'old', 'succeeded', '{}', '{\"runs\":[]}', "
                         "'2026-01-01T00:00:00Z');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::open(path);
  ASSERT_TRUE(store.ok()) << store.error();
  auto record = (*store)->get("old-1");
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((**record).results_json, "{\"runs\":[]}");
  EXPECT_EQ((**record).summary_json, "");
  EXPECT_TRUE((**record).has_results);
  ASSERT_TRUE((*store)->set_summary("old-1", "{\"verdict\":\"\"}"));
  EXPECT_EQ((**(*store)->get("old-1")).summary_json, "{\"verdict\":\"\"}");
}

TEST_F(StoreTest, UnwritableLocationIsAClearError) {
  auto store = Store::open("/proc/dec-cannot-exist/dec.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("/proc/dec-cannot-exist"), std::string::npos);
}

}  // namespace
}  // namespace dec::store
