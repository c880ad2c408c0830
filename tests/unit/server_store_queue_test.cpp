// The store queries the server's queue relies on: next in submission order, queue position,
// and counts by state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/store.h"

namespace dec::store {
namespace {

TEST(ServerStoreQueue, NextQueuedPositionAndCountsFollowSubmissionOrder) {
  auto dir = std::filesystem::temp_directory_path() / ("dec-queue-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = Store::open((dir / "dec.db").string());
  ASSERT_TRUE(store.ok()) << store.error();
  Store& s = **store;

  auto empty = s.next_queued();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());

  std::vector<std::string> ids;
  for (const char* name : {"a", "b", "c"}) {
    auto id = s.create_experiment(name, "{}", "queued");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  EXPECT_EQ(*s.queue_position(ids[0]), 1);
  EXPECT_EQ(*s.queue_position(ids[2]), 3);
  EXPECT_EQ((*s.next_queued())->id, ids[0]);

  // The first starts running and the second is cancelled: the third moves up to the front.
  ASSERT_TRUE(s.set_state(ids[0], "running"));
  ASSERT_TRUE(s.set_state(ids[1], "cancelled"));
  EXPECT_EQ(*s.queue_position(ids[0]), 0) << "not queued";
  EXPECT_EQ(*s.queue_position(ids[2]), 1);
  EXPECT_EQ(*s.queue_position("no-such-id"), 0);
  EXPECT_EQ((*s.next_queued())->id, ids[2]);

  auto counts = s.count_by_state();
  ASSERT_TRUE(counts.ok());
  std::vector<std::pair<std::string, int64_t>> expected = {
      {"cancelled", 1}, {"queued", 1}, {"running", 1}};
  EXPECT_EQ(*counts, expected);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dec::store
