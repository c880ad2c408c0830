#include "server/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace dec {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("dec-static-" + std::to_string(getpid()));
    fs::remove_all(base_);
    root_ = base_ / "dist";
    fs::create_directories(root_ / "assets");
    write(root_ / "index.html", "<!doctype html><div id=root></div>");
    write(root_ / "assets" / "index-3f2a.js", "console.log(1)");
    write(root_ / "assets" / "index-3f2a.css", "body{}");
    write(root_ / "favicon.svg", "<svg/>");
    write(base_ / "secret.txt", "outside the root");
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }
  fs::path base_;
  fs::path root_;
};

TEST_F(StaticFilesTest, ServesFilesWithTheirContentTypes) {
  auto js = server::static_file("/assets/index-3f2a.js", root_);
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->content, "console.log(1)");
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js->cache_control.find("immutable"), std::string::npos) << "hashed asset";
  auto css = server::static_file("/assets/index-3f2a.css", root_);
  ASSERT_TRUE(css);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  auto svg = server::static_file("/favicon.svg", root_);
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->content_type, "image/svg+xml");
  auto index = server::static_file("/", root_);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->content, "<!doctype html><div id=root></div>");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-cache") << "a new build must load at once";
}

TEST_F(StaticFilesTest, AppRoutesFallBackToIndexButMissingAssetsDoNot) {
  for (const char* route : {"/experiments/20261202-023156-672d", "/compare", "/new", "/infra/"}) {
    auto page = server::static_file(route, root_);
    ASSERT_TRUE(page) << route;
    EXPECT_EQ(page->content, "<!doctype html><div id=root></div>") << route;
  }
  EXPECT_FALSE(server::static_file("/assets/gone-1234.js", root_)) << "a broken link is a 404";
}

TEST_F(StaticFilesTest, NeverAnswersForTheApi) {
  for (const char* path : {"/api", "/api/", "/api/nope", "/api/experiments/x/cancel", "/metrics"}) {
    EXPECT_FALSE(server::static_file(path, root_)) << path;
  }
}

TEST_F(StaticFilesTest, NeverLeavesTheWebRoot) {
  for (const char* path : {"/../secret.txt", "/assets/../../secret.txt", "/..",
                           "/a\\..\\secret.txt", "relative.txt", ""}) {
    EXPECT_FALSE(server::static_file(path, root_)) << path;
  }
  // A symlink inside the root that points out of it is not followed.
  fs::create_symlink(base_ / "secret.txt", root_ / "link.txt");
  EXPECT_FALSE(server::static_file("/link.txt", root_));
}

TEST_F(StaticFilesTest, WithoutABuildExplainsHowToBuild) {
  fs::remove(root_ / "index.html");
  auto page = server::static_file("/", root_);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->content.find("npm --prefix web ci &amp;&amp; npm --prefix web run build"),
            std::string::npos)
      << page->content;
  EXPECT_NE(page->content.find(root_.string()), std::string::npos) << "names where it looked";
  EXPECT_TRUE(server::static_file("/experiments/x", fs::path())) << "no web root at all";
  EXPECT_FALSE(server::static_file("/api/health", root_));
}

}  // namespace
}  // namespace dec
