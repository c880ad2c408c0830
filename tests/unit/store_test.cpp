#include "store/store.h"

#include <gtest/gtest.h>
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

TEST_F(StoreTest, UnwritableLocationIsAClearError) {
  auto store = Store::open("/proc/dec-cannot-exist/dec.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("/proc/dec-cannot-exist"), std::string::npos);
}

}  // namespace
}  // namespace dec::store
