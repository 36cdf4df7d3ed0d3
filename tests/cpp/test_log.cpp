// Tests for src/core/util/log.cpp (spec §2.3, §4 log_set/log_get).
#include <gtest/gtest.h>

#include <string>

#include "mg/log.hpp"

namespace {

struct LevelGuard {
  int saved = mg::log_level();
  ~LevelGuard() { mg::log_set_level(saved); }
};

}  // namespace

TEST(Log, NoneAtStartUp) {
  // Every test restores the level, so this holds whatever the order.
  EXPECT_EQ(mg::log_level(), mg::LL_NONE);
}

TEST(Log, LevelsAndValidation) {
  LevelGuard g;
  for (int l = mg::LL_NONE; l <= mg::LL_VERBOSE; ++l) {
    EXPECT_TRUE(mg::log_set_level(l));
    EXPECT_EQ(mg::log_level(), l);
  }
  EXPECT_FALSE(mg::log_set_level(-1));
  EXPECT_FALSE(mg::log_set_level(5));
  EXPECT_EQ(mg::log_level(), mg::LL_VERBOSE);  // unchanged
}

TEST(Log, Enabled) {
  LevelGuard g;
  mg::log_set_level(mg::LL_INFO);
  EXPECT_TRUE(mg::log_enabled(mg::LL_ERROR));
  EXPECT_TRUE(mg::log_enabled(mg::LL_INFO));
  EXPECT_FALSE(mg::log_enabled(mg::LL_DEBUG));
  EXPECT_FALSE(mg::log_enabled(mg::LL_NONE));
  mg::log_set_level(mg::LL_NONE);
  EXPECT_FALSE(mg::log_enabled(mg::LL_ERROR));
}

TEST(Log, LineFormat) {
  EXPECT_EQ(mg::log_format_line(12345, mg::LL_ERROR, "http", "bad request"), "12345 ERROR http: bad request");
  EXPECT_EQ(mg::log_format_line(1, mg::LL_INFO, "loop", ""), "1 INFO loop: ");
  EXPECT_EQ(mg::log_format_line(2, mg::LL_DEBUG, "ws", "x"), "2 DEBUG ws: x");
  EXPECT_EQ(mg::log_format_line(3, mg::LL_VERBOSE, "dns", "y"), "3 VERBOSE dns: y");
}

TEST(Log, WritesToStderrOnlyAtOrAboveTheLevel) {
  LevelGuard g;
  mg::log_set_level(mg::LL_INFO);
  testing::internal::CaptureStderr();
  mg::log(mg::LL_ERROR, "http", "status %d for %s", 400, "/x");
  mg::log(mg::LL_INFO, "loop", "%s", "100% user text, %s not a format");
  mg::log(mg::LL_DEBUG, "loop", "hidden");
  MG_LOG(mg::LL_VERBOSE, "loop", "hidden too");
  std::string out = testing::internal::GetCapturedStderr();
  // "<millis> ERROR http: status 400 for /x\n<millis> INFO loop: 100% user text, %s not a format\n"
  size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  std::string first = out.substr(0, nl), second = out.substr(nl + 1);
  EXPECT_NE(first.find(" ERROR http: status 400 for /x"), std::string::npos) << first;
  EXPECT_GT(std::stoull(first), 0u);
  EXPECT_EQ(second.substr(second.find(' ')), " INFO loop: 100% user text, %s not a format\n");
}

TEST(Log, NothingAtLevelNone) {
  LevelGuard g;
  mg::log_set_level(mg::LL_NONE);
  testing::internal::CaptureStderr();
  mg::log(mg::LL_ERROR, "http", "x");
  mg::log_write(mg::LL_ERROR, "http", "y");
  int evaluated = 0;
  MG_LOG(mg::LL_ERROR, "http", "%d", ++evaluated);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(evaluated, 0);  // MG_LOG does not evaluate its arguments when disabled
}

TEST(Log, LongMessagesAreNotTruncated) {
  LevelGuard g;
  mg::log_set_level(mg::LL_ERROR);
  std::string big(5000, 'z');
  testing::internal::CaptureStderr();
  mg::log(mg::LL_ERROR, "t", "[%s]", big.c_str());
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("[" + big + "]\n"), std::string::npos);
}
