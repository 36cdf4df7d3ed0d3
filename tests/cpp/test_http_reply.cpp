// Tests for src/core/http/reply.cpp: reason phrases (spec §2.6), header validation
// (§6.1, §8.3) and the exact response bytes of reply() (§6.1) and engine errors (§6.3).
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mg/http_reply.hpp"

using mg::Buffer;
using mg::http::Header;
using mg::http::HeaderCheck;
using mg::http::HeaderFault;
using namespace std::string_view_literals;

namespace {

std::string respond(int status, std::vector<Header> headers, std::string_view body,
                    bool omit_body = false) {
  Buffer out;
  EXPECT_TRUE(mg::http::write_response(out, status, headers, body, omit_body));
  EXPECT_LE(out.size(), out.capacity());
  return std::string(out.view());
}

HeaderCheck check(std::vector<Header> headers, bool reject_te = true) {
  return mg::http::validate_headers(headers, reject_te);
}

}  // namespace

// ---- reason_phrase ------------------------------------------------------------------------

TEST(ReasonPhrase, SpecTable) {
  const std::pair<int, std::string_view> table[] = {
      {100, "Continue"}, {101, "Switching Protocols"}, {102, "Processing"},
      {200, "OK"}, {201, "Created"}, {202, "Accepted"},
      {203, "Non-authoritative Information"}, {204, "No Content"}, {205, "Reset Content"},
      {206, "Partial Content"}, {207, "Multi-Status"}, {208, "Already Reported"},
      {226, "IM Used"}, {300, "Multiple Choices"}, {301, "Moved Permanently"},
      {302, "Found"}, {303, "See Other"}, {304, "Not Modified"}, {305, "Use Proxy"},
      {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
      {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
      {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
      {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {409, "Conflict"},
      {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"},
      {413, "Payload Too Large"}, {414, "Request-URI Too Long"},
      {415, "Unsupported Media Type"}, {416, "Requested Range Not Satisfiable"},
      {417, "Expectation Failed"}, {418, "I'm a teapot"}, {421, "Misdirected Request"},
      {422, "Unprocessable Entity"}, {423, "Locked"}, {424, "Failed Dependency"},
      {426, "Upgrade Required"}, {428, "Precondition Required"}, {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"}, {444, "Connection Closed Without Response"},
      {451, "Unavailable For Legal Reasons"}, {499, "Client Closed Request"},
      {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
      {503, "Service Unavailable"}, {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"}, {506, "Variant Also Negotiates"},
      {507, "Insufficient Storage"}, {508, "Loop Detected"}, {510, "Not Extended"},
      {511, "Network Authentication Required"}, {599, "Network Connect Timeout Error"},
  };
  EXPECT_EQ(std::size(table), 63u);  // every row of the spec table
  for (auto& [code, phrase] : table) EXPECT_EQ(mg::http::reason_phrase(code), phrase) << code;
}

TEST(ReasonPhrase, UnknownIsEmpty) {
  for (int code : {0, -1, 1, 99, 103, 199, 209, 299, 306, 309, 399, 419, 420, 425, 427, 430,
                   432, 450, 452, 509, 512, 598, 600, 999, 1000, 65536})
    EXPECT_EQ(mg::http::reason_phrase(code), "") << code;
}

// ---- validate_headers ---------------------------------------------------------------------

TEST(ValidateHeaders, EmptyAndValid) {
  EXPECT_EQ(check({}).fault, HeaderFault::None);
  HeaderCheck r = check({{"Content-Type", "text/html; charset=utf-8"},
                         {"X-Empty", ""},
                         {"X-Tab", "a\tb"},
                         {"X-Utf8", "h\xc3\xa9llo \xe2\x82\xac"},
                         {"X-High", "\x80\xff"},
                         {"X-Fmt", "%s %n {} {0}"},
                         {"!#$%&'*+-.^_`|~09azAZ", "v"}});
  EXPECT_EQ(r.fault, HeaderFault::None);
  EXPECT_EQ(r.index, 0u);
}

TEST(ValidateHeaders, CrLfNulInName) {
  EXPECT_EQ(check({{"X\rY", "v"}}).fault, HeaderFault::NameCrLfNul);
  EXPECT_EQ(check({{"X\nY", "v"}}).fault, HeaderFault::NameCrLfNul);
  EXPECT_EQ(check({{"X\0Y"sv, "v"}}).fault, HeaderFault::NameCrLfNul);
  EXPECT_EQ(check({{"\r\n", "v"}}).fault, HeaderFault::NameCrLfNul);
}

TEST(ValidateHeaders, NonTokenName) {
  EXPECT_EQ(check({{"", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X Y", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X:", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X\t", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X\x01", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X\x7f", "v"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"X\xc3\xa9", "v"}}).fault, HeaderFault::NameNotToken);  // non-ASCII
  for (char sep : std::string_view("\"(),/:;<=>?@[\\]{} ")) {
    std::string name = std::string("A") + sep + "B";
    EXPECT_EQ(check({{name, "v"}}).fault, HeaderFault::NameNotToken) << name;
  }
}

TEST(ValidateHeaders, CrLfNulInValue) {
  EXPECT_EQ(check({{"X", "a\rb"}}).fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(check({{"X", "a\nb"}}).fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(check({{"X", "a\0b"sv}}).fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(check({{"X", "v\r\nSet-Cookie: evil=1"}}).fault, HeaderFault::ValueCrLfNul);
}

TEST(ValidateHeaders, ControlInValue) {
  EXPECT_EQ(check({{"X", "a\x01"}}).fault, HeaderFault::ValueControl);
  EXPECT_EQ(check({{"X", "\x1f"}}).fault, HeaderFault::ValueControl);
  EXPECT_EQ(check({{"X", "\x7f"}}).fault, HeaderFault::ValueControl);
  EXPECT_EQ(check({{"X", "\x0b"}}).fault, HeaderFault::ValueControl);  // VT
  EXPECT_EQ(check({{"X", "\x1b[31m"}}).fault, HeaderFault::ValueControl);
}

TEST(ValidateHeaders, CrLfNulReportedBeforeOtherFaultsOfSameField) {
  // A space comes first in the name, but the CR must win.
  EXPECT_EQ(check({{"A B\r", "v"}}).fault, HeaderFault::NameCrLfNul);
  EXPECT_EQ(check({{"A:\0"sv, "v"}}).fault, HeaderFault::NameCrLfNul);
  // A control character comes first in the value, but the LF/NUL must win.
  EXPECT_EQ(check({{"X", "\x01\n"}}).fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(check({{"X", "\x7f\0"sv}}).fault, HeaderFault::ValueCrLfNul);
}

TEST(ValidateHeaders, NameCheckedBeforeValue) {
  EXPECT_EQ(check({{"A B", "x\ny"}}).fault, HeaderFault::NameNotToken);
  EXPECT_EQ(check({{"A\nB", "x\ny"}}).fault, HeaderFault::NameCrLfNul);
}

TEST(ValidateHeaders, FirstFaultyHeaderIndex) {
  HeaderCheck r = check({{"A", "1"}, {"B", "2"}, {"C", "bad\r"}, {"D D", "4"}});
  EXPECT_EQ(r.fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(r.index, 2u);
  r = check({{"A", "1"}, {"B B", "2"}, {"C", "bad\r"}});
  EXPECT_EQ(r.fault, HeaderFault::NameNotToken);
  EXPECT_EQ(r.index, 1u);
}

TEST(ValidateHeaders, TransferEncoding) {
  HeaderCheck r = check({{"X", "1"}, {"transfer-ENCODING", "chunked"}}, true);
  EXPECT_EQ(r.fault, HeaderFault::TransferEncoding);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}}, false).fault, HeaderFault::None);
  // Only the exact name.
  EXPECT_EQ(check({{"Transfer-Encodings", "x"}, {"X-Transfer-Encoding", "x"}}, true).fault,
            HeaderFault::None);
  // Injection faults of the same field are reported first.
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked\r\n"}}, true).fault, HeaderFault::ValueCrLfNul);
  EXPECT_EQ(check({{"Transfer-Encoding", "\x01"}}, true).fault, HeaderFault::ValueControl);
}

// ---- has_token ------------------------------------------------------------------------------

TEST(HasToken, CommaSeparatedCaseInsensitive) {
  EXPECT_TRUE(mg::http::has_token("close", "close"));
  EXPECT_TRUE(mg::http::has_token("Close", "close"));
  EXPECT_TRUE(mg::http::has_token("CLOSE", "close"));
  EXPECT_TRUE(mg::http::has_token("keep-alive, close", "close"));
  EXPECT_TRUE(mg::http::has_token("close, keep-alive", "close"));
  EXPECT_TRUE(mg::http::has_token("  close  ", "close"));
  EXPECT_TRUE(mg::http::has_token("\tclose\t,x", "close"));
  EXPECT_TRUE(mg::http::has_token("a,,close", "close"));
  EXPECT_TRUE(mg::http::has_token("Upgrade, Keep-Alive", "upgrade"));
  EXPECT_TRUE(mg::http::has_token("gzip, chunked", "chunked"));
}

TEST(HasToken, NoPartialMatches) {
  EXPECT_FALSE(mg::http::has_token("", "close"));
  EXPECT_FALSE(mg::http::has_token("closed", "close"));
  EXPECT_FALSE(mg::http::has_token("xclose", "close"));
  EXPECT_FALSE(mg::http::has_token("clo se", "close"));
  EXPECT_FALSE(mg::http::has_token("keep-alive", "close"));
  EXPECT_FALSE(mg::http::has_token("close;q=1", "close"));
  EXPECT_FALSE(mg::http::has_token(",,,", "close"));
}

// ---- write_response -------------------------------------------------------------------------

TEST(WriteResponse, DefaultContentType) {
  EXPECT_EQ(respond(200, {}, "hello"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "hello");
}

TEST(WriteResponse, EmptyBody) {
  EXPECT_EQ(respond(404, {}, ""),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
}

TEST(WriteResponse, UserHeadersInOrderAfterDefaultContentType) {
  EXPECT_EQ(respond(201, {{"X-B", "2"}, {"X-A", "1"}, {"X-B", "3"}}, "ok"),
            "HTTP/1.1 201 Created\r\n"
            "Content-Type: text/plain\r\n"
            "X-B: 2\r\n"
            "X-A: 1\r\n"
            "X-B: 3\r\n"
            "Content-Length: 2\r\n"
            "\r\n"
            "ok");
}

TEST(WriteResponse, UserContentTypeAnyCaseReplacesDefault) {
  EXPECT_EQ(respond(200, {{"X-A", "1"}, {"content-TYPE", "application/json"}}, "{}"),
            "HTTP/1.1 200 OK\r\n"
            "X-A: 1\r\n"
            "content-TYPE: application/json\r\n"
            "Content-Length: 2\r\n"
            "\r\n"
            "{}");
}

TEST(WriteResponse, UserContentLengthDropped) {
  EXPECT_EQ(respond(200, {{"Content-Length", "999"}, {"X", "y"}, {"content-length", "-1"}}, "abc"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "X: y\r\n"
            "Content-Length: 3\r\n"
            "\r\n"
            "abc");
}

TEST(WriteResponse, HeadOmitsBodyKeepsContentLength) {
  EXPECT_EQ(respond(200, {{"X", "1"}}, "hello world", true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "X: 1\r\n"
            "Content-Length: 11\r\n"
            "\r\n");
}

TEST(WriteResponse, NoContentStatusesHaveNoBodyNorLength) {
  for (int status : {100, 101, 102, 150, 199, 204, 304}) {
    std::string reason(mg::http::reason_phrase(status));
    for (bool omit : {false, true}) {
      EXPECT_EQ(respond(status, {{"X", "1"}, {"Content-Length", "5"}}, "body!", omit),
                "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\n"
                    "Content-Type: text/plain\r\n"
                    "X: 1\r\n"
                    "\r\n")
          << status << " omit=" << omit;
    }
  }
  // Neighbours of 204/304 are ordinary.
  EXPECT_EQ(respond(205, {}, ""),
            "HTTP/1.1 205 Reset Content\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(respond(200, {}, "", true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
}

TEST(WriteResponse, UnknownStatusHasEmptyReason) {
  EXPECT_EQ(respond(299, {}, "x"),
            "HTTP/1.1 299 \r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx");
}

TEST(WriteResponse, BodyBytesExactIncludingNul) {
  const std::string body("\0a\0\r\n\xff\0"sv);
  EXPECT_EQ(respond(200, {{"Content-Type", "application/octet-stream"}}, body),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Length: 7\r\n"
            "\r\n" +
                body);
}

TEST(WriteResponse, ValuesAreLiteral) {
  EXPECT_EQ(respond(200, {{"X-Fmt", "%s%n{}"}}, "%d"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Fmt: %s%n{}\r\nContent-Length: 2\r\n\r\n%d");
}

TEST(WriteResponse, DefaultConstructedViews) {
  // Empty views with data() == nullptr (e.g. the body of a GET) are valid input.
  EXPECT_EQ(respond(200, {{"X-Empty", std::string_view()}}, std::string_view()),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Empty: \r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(respond(200, {}, std::string_view(), true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
}

TEST(WriteResponse, AppendsAfterExistingOutput) {
  Buffer out;
  ASSERT_TRUE(out.append("PREVIOUS"));
  ASSERT_TRUE(mg::http::write_response(out, 200, {}, "a", false));
  ASSERT_TRUE(mg::http::write_response(out, 200, {}, "b", false));
  EXPECT_EQ(out.view(),
            "PREVIOUS"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\na"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nb");
}

TEST(WriteResponse, LargeBody) {
  std::string body(3 * 1024 * 1024 + 7, 'z');
  std::string r = respond(200, {}, body);
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3145735\r\n\r\n";
  ASSERT_EQ(r.size(), head.size() + body.size());
  EXPECT_EQ(r.substr(0, head.size()), head);
  EXPECT_TRUE(r.compare(head.size(), std::string::npos, body) == 0);
}

// The reserved room must cover the whole response for every body size: a response that
// ends exactly at (or past) the reserved room must never leave size() > capacity(),
// which would make the next reserve_extra() underflow and write past the allocation.
TEST(WriteResponse, NeverWritesPastReservedRoom) {
  for (size_t prefix : {0u, 1000u}) {
    for (size_t n = 0; n < 9000; n++) {
      Buffer out;
      std::string pre(prefix, 'p');
      ASSERT_TRUE(out.append(pre));
      std::string body(n, 'b');
      const Header hdrs[] = {{"X-A", "1"}};
      ASSERT_TRUE(mg::http::write_response(out, 200, hdrs, body, false));
      ASSERT_LE(out.size(), out.capacity()) << "prefix " << prefix << " body " << n;
      std::string expect = pre + "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n"
                                 "Content-Length: " + std::to_string(n) + "\r\n\r\n" + body;
      ASSERT_EQ(out.view(), expect) << "prefix " << prefix << " body " << n;
      // Appending afterwards must still grow the buffer correctly.
      ASSERT_TRUE(out.append(std::string(64, 't')));
      ASSERT_LE(out.size(), out.capacity());
    }
  }
}

TEST(WriteResponse, WideStatusCodesFit) {
  for (int status : {-2147483647 - 1, -1, 0, 1, 99999, 2147483647}) {
    for (size_t n : {1000u, 1982u, 4030u, 10000u}) {
      Buffer out;
      std::string body(n, 'b');
      ASSERT_TRUE(mg::http::write_response(out, status, {}, body, false));
      EXPECT_LE(out.size(), out.capacity()) << status << " " << n;
      EXPECT_TRUE(out.view().starts_with("HTTP/1.1 " + std::to_string(status) + " \r\n"));
      if (status >= 200) {
        EXPECT_TRUE(out.view().ends_with("\r\n\r\n" + body)) << status;
      } else {
        EXPECT_TRUE(out.view().ends_with("text/plain\r\n\r\n")) << status;
      }
    }
  }
}

// ---- write_error_response ------------------------------------------------------------------

TEST(WriteErrorResponse, ExactBytes) {
  Buffer out;
  ASSERT_TRUE(mg::http::write_error_response(out, 400));
  EXPECT_EQ(out.view(),
            "HTTP/1.1 400 Bad Request\r\n"
            "Content-Type: text/plain\r\n"
            "Connection: close\r\n"
            "Content-Length: 11\r\n"
            "\r\n"
            "Bad Request");
}

TEST(WriteErrorResponse, EngineStatuses) {
  for (int status : {400, 408, 413, 414, 431, 501, 505}) {
    Buffer out;
    ASSERT_TRUE(mg::http::write_error_response(out, status));
    std::string reason(mg::http::reason_phrase(status));
    ASSERT_FALSE(reason.empty());
    EXPECT_EQ(out.view(), "HTTP/1.1 " + std::to_string(status) + " " + reason +
                              "\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                              "Content-Length: " + std::to_string(reason.size()) + "\r\n\r\n" +
                              reason)
        << status;
  }
}
