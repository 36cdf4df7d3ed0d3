// Tests for src/core/util/multipart.cpp (spec §6.8 http_parse_multipart).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/multipart.hpp"

using mg::http::MultipartPart;
using mg::http::parse_multipart;

namespace {

const std::string kBody =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"field1\"\r\n"
    "\r\n"
    "value1\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "file\r\ncontent\r\n"
    "--XyZ--\r\n";

struct Parsed {
  std::string name, filename, body;
};

std::vector<Parsed> all(std::string_view body) {
  std::vector<Parsed> out;
  size_t off = 0;
  MultipartPart p;
  while ((off = parse_multipart(body, off, p)) != 0) out.push_back({std::string(p.name), std::string(p.filename), std::string(p.body)});
  return out;
}

}  // namespace

TEST(Multipart, TwoParts) {
  MultipartPart p;
  size_t off = parse_multipart(kBody, 0, p);
  EXPECT_EQ(off, 64u);
  EXPECT_EQ(kBody.substr(off, 5), "--XyZ");
  EXPECT_EQ(p.name, "field1");
  EXPECT_EQ(p.filename, "");
  EXPECT_EQ(p.body, "value1");
  EXPECT_EQ(p.headers, "Content-Disposition: form-data; name=\"field1\"");
  off = parse_multipart(kBody, off, p);
  EXPECT_EQ(kBody.substr(off, 7), "--XyZ--");
  EXPECT_EQ(p.name, "f");
  EXPECT_EQ(p.filename, "a.txt");
  EXPECT_EQ(p.body, "file\r\ncontent");
  EXPECT_EQ(parse_multipart(kBody, off, p), 0u);  // the end delimiter
  EXPECT_EQ(p.name, "");
}

TEST(Multipart, NotMultipartOrEmpty) {
  MultipartPart p;
  EXPECT_EQ(parse_multipart("", 0, p), 0u);
  EXPECT_EQ(parse_multipart("hello", 0, p), 0u);
  EXPECT_EQ(parse_multipart("hello\r\nworld", 0, p), 0u);
  EXPECT_EQ(parse_multipart("--\r\n\r\nx\r\n--\r\n", 0, p), 0u);  // empty boundary
  EXPECT_EQ(parse_multipart("preamble\r\n--X\r\n\r\nabc\r\n--X--", 0, p), 0u);
}

TEST(Multipart, EmptyPreambleLinesAreSkipped) {
  auto v = all("\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "a");
  EXPECT_EQ(v[0].body, "1");
  EXPECT_EQ(all("\r\n\r\n--B\r\n\r\n1\r\n--B--").size(), 1u);
  EXPECT_EQ(all("\r\n").size(), 0u);
  EXPECT_EQ(all("\r\n\r\n").size(), 0u);
}

TEST(Multipart, OffsetMustBeAtADelimiter) {
  MultipartPart p;
  EXPECT_EQ(parse_multipart(kBody, 3, p), 0u);
  EXPECT_EQ(parse_multipart(kBody, kBody.size(), p), 0u);
  EXPECT_EQ(parse_multipart(kBody, kBody.size() + 1, p), 0u);
  EXPECT_EQ(parse_multipart(kBody, size_t(-1), p), 0u);
}

TEST(Multipart, PartWithoutHeadersAndEmptyBody) {
  EXPECT_EQ(all("--X\r\n\r\nabc\r\n--X--").size(), 1u);
  auto v = all("--X\r\n\r\nabc\r\n--X\r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--X--\r\n");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "");
  EXPECT_EQ(v[0].body, "abc");
  EXPECT_EQ(v[1].name, "e");
  EXPECT_EQ(v[1].body, "");
}

TEST(Multipart, EmptyPartWithoutItsOwnCrlf) {
  // "\r\n\r\n--b": the blank line's CRLF doubles as the delimiter's (werkzeug does this).
  auto v = all("--b\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n--b\r\n"
               "Content-Disposition: form-data; name=\"f\"\r\n\r\nF\r\n--b--\r\n");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "e");
  EXPECT_EQ(v[0].body, "");
  EXPECT_EQ(v[1].name, "f");
  EXPECT_EQ(v[1].body, "F");
}

TEST(Multipart, MissingClosingDelimiterIsMalformed) {
  MultipartPart p;
  EXPECT_EQ(parse_multipart("--X\r\nA: b\r\n\r\nabc", 0, p), 0u);
  EXPECT_EQ(parse_multipart("--X\r\nA: b\r\n", 0, p), 0u);  // headers never end
  EXPECT_EQ(parse_multipart("--X\r\nA: b\r\n\r\nabc\r\n--Y--", 0, p), 0u);
}

TEST(Multipart, HeaderWithoutColonIsMalformed) {
  MultipartPart p;
  EXPECT_EQ(parse_multipart("--X\r\nbogus\r\n\r\nabc\r\n--X--", 0, p), 0u);
  EXPECT_EQ(parse_multipart("--X\r\n: v\r\n\r\nabc\r\n--X--", 0, p), 0u);
}

TEST(Multipart, DispositionParameters) {
  auto one = [](std::string_view disp) {
    std::string body = "--b\r\n" + std::string(disp) + "\r\n\r\nD\r\n--b--";
    auto v = all(body);
    EXPECT_EQ(v.size(), 1u) << disp;
    return v.empty() ? Parsed{} : v[0];
  };
  Parsed p = one("content-disposition: form-data; filename=x; name=y");
  EXPECT_EQ(p.name, "y");  // "name" is not found inside "filename"
  EXPECT_EQ(p.filename, "x");
  p = one("CONTENT-DISPOSITION:form-data;NAME=\"a b\";FILENAME=\"c;d.txt\"");
  EXPECT_EQ(p.name, "a b");
  EXPECT_EQ(p.filename, "c;d.txt");
  p = one("Content-Disposition: form-data ; name = \"sp\" ; filename = \"\"");
  EXPECT_EQ(p.name, "sp");
  EXPECT_EQ(p.filename, "");
  p = one("Content-Disposition: form-data; name=\"C:\\dir\\f\"");
  EXPECT_EQ(p.name, "C:\\dir\\f");  // backslashes taken literally (browsers do not escape)
  p = one("Content-Disposition: form-data; flag; name=\"z\"");
  EXPECT_EQ(p.name, "z");
  p = one("Content-Disposition: form-data; name=\"unterminated");
  EXPECT_EQ(p.name, "unterminated");
  p = one("X-Other: name=\"no\"");
  EXPECT_EQ(p.name, "");
  p = one("Content-Disposition: form-data");
  EXPECT_EQ(p.name, "");
  p = one("Content-Disposition: form-data; name=\"caf\xC3\xA9\"");
  EXPECT_EQ(p.name, "caf\xC3\xA9");
}

TEST(Multipart, BoundaryLookalikesInData) {
  auto v = all("--abc\r\n\r\nx\r\n--abd\r\n--ab\r\n--abc\r\n\r\ny\r\n--abc--");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].body, "x\r\n--abd\r\n--ab");
  EXPECT_EQ(v[1].body, "y");
}

TEST(Multipart, BinaryData) {
  std::string data("\0\xff\r\n-\r\n--", 9);
  auto v = all("--B\r\n\r\n" + data + "\r\n--B--");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].body, data);
}

TEST(Multipart, NeverReadsPastTheInput) {
  mg::testing::GuardedBuffer g(kBody.size());
  for (size_t n = 0; n <= kBody.size(); ++n) {
    std::string_view v = g.place_view(std::string_view(kBody).substr(0, n));
    size_t off = 0;
    MultipartPart p;
    int parts = 0;
    while ((off = parse_multipart(v, off, p)) != 0) {
      ASSERT_LE(off, n);
      EXPECT_TRUE(g.contains(p.body.data(), p.body.size()) || p.body.empty());
      ++parts;
    }
    EXPECT_EQ(parts, n >= 179 ? 2 : (n >= 69 ? 1 : 0)) << n;
  }
}
