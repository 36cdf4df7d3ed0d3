// mg::http::step_body: body framing shared by requests and responses (RFC 9112 §6.3).
#include <gtest/gtest.h>

#include <string>

#include "mg/http_body.hpp"

using mg::http::BodyFraming;
using mg::http::Limits;
using mg::http::ParseStatus;
using mg::http::step_body;

namespace {
constexpr size_t kHead = 5;  // a pretend 5-byte head precedes every body below
}

TEST(HttpBody, NoBodyIsCompleteAtTheHead) {
  std::string buf = "HEAD!next request";
  BodyFraming f;
  f.start(BodyFraming::Kind::None, 0);
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Complete);
  EXPECT_EQ(s.msg_len, kHead);
  EXPECT_TRUE(s.body.empty());
}

TEST(HttpBody, ContentLengthWaitsForEveryByteAndStopsThere) {
  std::string buf = "HEAD!hello world";
  BodyFraming f;
  f.start(BodyFraming::Kind::Length, 5);
  for (size_t avail = kHead; avail < kHead + 5; avail++) {
    auto s = step_body(f, buf.data(), avail, kHead, Limits{}, 100);
    EXPECT_EQ(s.status, ParseStatus::Incomplete);
    EXPECT_EQ(s.body, buf.substr(kHead, avail - kHead));
  }
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Complete);
  EXPECT_EQ(s.body, "hello");
  EXPECT_EQ(s.msg_len, kHead + 5);  // pipelined bytes after it are not part of the message
}

TEST(HttpBody, ChunkedIsDecodedInPlaceAcrossEverySplit) {
  const std::string wire = "HEAD!5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET";
  for (size_t split = kHead; split <= wire.size(); split++) {
    std::string buf = wire;
    BodyFraming f;
    f.start(BodyFraming::Kind::Chunked, 0);
    auto first = step_body(f, buf.data(), split, kHead, Limits{}, 100);
    ASSERT_NE(first.status, ParseStatus::Error) << split;
    auto s = first.status == ParseStatus::Complete ? first
                                                   : step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
    ASSERT_EQ(s.status, ParseStatus::Complete) << split;
    EXPECT_EQ(s.body, "hello world") << split;
    EXPECT_EQ(s.msg_len, wire.size() - 3) << split;
  }
}

TEST(HttpBody, ChunkedErrorsCarryStatusAndText) {
  std::string buf = "HEAD!zz\r\n";
  BodyFraming f;
  f.start(BodyFraming::Kind::Chunked, 0);
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Error);
  EXPECT_EQ(s.http_status, 400);
  EXPECT_EQ(s.error, "Invalid chunk");
}

TEST(HttpBody, UntilCloseNeverCompletesAndIsBounded) {
  std::string buf = "HEAD!0123456789";
  BodyFraming f;
  f.start(BodyFraming::Kind::UntilClose, 0);
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Incomplete);
  EXPECT_EQ(s.body, "0123456789");
  auto over = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 9);
  EXPECT_EQ(over.status, ParseStatus::Error);
  EXPECT_EQ(over.error, "MG_MAX_RECV_SIZE");
}

// drop_decoded(): a streamed body's pieces are removed after the head as they are handed
// on; what stays is only the undecoded rest. Every split point of the wire.
TEST(HttpBody, DroppedPiecesOfAChunkedBodyAddUpToTheBodyAtEverySplit) {
  const std::string wire = "HEAD!5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\nGET";
  for (size_t split = kHead; split <= wire.size(); split++) {
    std::string buf = wire.substr(0, split);
    std::string rest = wire.substr(split);
    BodyFraming f;
    f.start(BodyFraming::Kind::Chunked, 0);
    std::string got;
    size_t consumed = 0;  // raw body bytes removed so far
    for (int round = 0; round < 2; round++) {
      auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
      ASSERT_NE(s.status, ParseStatus::Error) << split;
      got.append(s.body);
      size_t removed = f.drop_decoded(s.body.size());
      buf.erase(kHead, removed);
      consumed += removed;
      if (s.status == ParseStatus::Complete) {
        EXPECT_EQ(consumed + s.msg_len - removed, wire.size() - 3) << split;
        break;
      }
      buf += rest;
      rest.clear();
    }
    EXPECT_EQ(got, "hello world") << split;
  }
}

TEST(HttpBody, DroppedPiecesOfALengthBodyLeaveTheRemainingLength) {
  std::string buf = "HEAD!hello";
  BodyFraming f;
  f.start(BodyFraming::Kind::Length, 11);
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Incomplete);
  EXPECT_EQ(f.drop_decoded(s.body.size()), 5u);
  EXPECT_EQ(f.content_length, 6u);
  buf = "HEAD! worldGET";
  s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 100);
  EXPECT_EQ(s.status, ParseStatus::Complete);
  EXPECT_EQ(s.body, " world");
  EXPECT_EQ(s.msg_len, kHead + 6);
}

TEST(HttpBody, DroppingDoesNotResetTheChunkedBodyLimit) {
  // max_body bounds the whole body even when its pieces are removed as they come.
  std::string buf = "HEAD!6\r\n012345\r\n";
  BodyFraming f;
  f.start(BodyFraming::Kind::Chunked, 0);
  auto s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 10);
  ASSERT_EQ(s.status, ParseStatus::Incomplete);
  buf.erase(kHead, f.drop_decoded(s.body.size()));
  buf += "5\r\n";
  s = step_body(f, buf.data(), buf.size(), kHead, Limits{}, 10);
  EXPECT_EQ(s.status, ParseStatus::Error);
  EXPECT_EQ(s.http_status, 413);
}
