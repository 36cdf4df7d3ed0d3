// Tests for the HTTP/1.1 request-head parser (spec §6.3, §8.2, §8.6).
#include <gtest/gtest.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // designated-initializer tables

#include <string>
#include <utility>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/http_parser.hpp"

using namespace std::string_literals;
using mg::http::BodyKind;
using mg::http::Header;
using mg::http::Limits;
using mg::http::ParseResult;
using mg::http::ParseStatus;
using mg::http::Request;
using mg::testing::GuardedBuffer;

namespace {

struct Parsed {
  ParseResult r;
  Request req;
  std::vector<Header> storage;
};

Parsed parse(std::string_view in, const Limits& lim = Limits{}) {
  Parsed p;
  p.storage.resize(lim.max_headers);
  p.r = mg::http::parse_request(in, p.req, p.storage, lim);
  return p;
}

// Shared guarded region: every input is placed flush against a PROT_NONE page.
GuardedBuffer& guard() {
  static GuardedBuffer g(512 * 1024);
  return g;
}

Parsed parse_guarded(std::string_view in, const Limits& lim = Limits{}) {
  return parse(guard().place_view(in), lim);
}

const char* status_name(ParseStatus s) {
  switch (s) {
    case ParseStatus::Complete: return "Complete";
    case ParseStatus::Incomplete: return "Incomplete";
    case ParseStatus::Error: return "Error";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Valid requests, checked at every split point.

struct Valid {
  std::string name;
  std::string input;         // the head
  std::string tail;          // bytes after the head (body, next request)
  std::string method = "GET";
  std::string uri = "/";
  std::string query;
  std::string proto = "HTTP/1.1";
  int minor = 1;
  std::vector<std::pair<std::string, std::string>> headers = {{"Host", "a"}};
  BodyKind body = BodyKind::None;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

std::vector<Valid> valid_cases() {
  std::vector<Valid> v;
  v.push_back({.name = "simple", .input = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"});
  v.push_back({.name = "query",
               .input = "GET /path/to?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/path/to",
               .query = "x=1&y=2"});
  v.push_back({.name = "empty_query",
               .input = "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/p"});
  v.push_back({.name = "two_qmarks",
               .input = "GET /p?a?b HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/p",
               .query = "a?b"});
  v.push_back({.name = "http10_no_host",
               .input = "GET /x HTTP/1.0\r\n\r\n",
               .uri = "/x",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {},
               .keep_alive = false});
  v.push_back({.name = "http10_keep_alive",
               .input = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {{"Connection", "Keep-Alive"}},
               .keep_alive = true});
  v.push_back({.name = "http10_keep_alive_and_close",
               .input = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {{"Connection", "keep-alive, close"}},
               .keep_alive = false});
  v.push_back({.name = "http11_close",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
               .headers = {{"Host", "a"}, {"Connection", "close"}},
               .keep_alive = false});
  v.push_back({.name = "http11_close_in_list",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade ,\tCLOSE \r\n\r\n",
               .headers = {{"Host", "a"}, {"connection", "Upgrade ,\tCLOSE"}},
               .keep_alive = false});
  v.push_back({.name = "http11_closed_is_not_close",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
               .headers = {{"Host", "a"}, {"Connection", "closed"}},
               .keep_alive = true});
  v.push_back({.name = "bare_lf",
               .input = "GET / HTTP/1.1\nHost: a\n\n"});
  v.push_back({.name = "mixed_line_ends",
               .input = "GET / HTTP/1.1\nHost: a\r\nX: y\n\r\n",
               .headers = {{"Host", "a"}, {"X", "y"}}});
  v.push_back({.name = "leading_empty_lines",
               .input = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"});
  v.push_back({.name = "ows_trimmed",
               .input = "GET / HTTP/1.1\r\nHost: \t a b \t \r\n\r\n",
               .headers = {{"Host", "a b"}}});
  v.push_back({.name = "empty_values",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nX-E:\r\nX-F:   \t\r\n\r\n",
               .headers = {{"Host", "a"}, {"X-E", ""}, {"X-F", ""}}});
  v.push_back({.name = "obs_text_value",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\xfe\r\n\r\n",
               .headers = {{"Host", "a"}, {"X", "caf\xc3\xa9 \xff\xfe"}}});
  v.push_back({.name = "value_with_colons",
               .input = "GET / HTTP/1.1\r\nHost: h:8080\r\nX: a:b: c\r\n\r\n",
               .headers = {{"Host", "h:8080"}, {"X", "a:b: c"}}});
  v.push_back({.name = "percent_encoded_utf8_target",
               .input = "GET /caf%C3%A9/%E2%82%AC HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/caf%C3%A9/%E2%82%AC"});
  v.push_back({.name = "long_ascii_target",
               .input = "GET /" + std::string(100, 'a') + "?" + std::string(50, 'b') +
                        " HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/" + std::string(100, 'a'),
               .query = std::string(50, 'b')});
  v.push_back({.name = "percent_encoded_nul",
               .input = "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/a%00b"});
  v.push_back({.name = "post_content_length_with_body",
               .input = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
               .tail = "hello",
               .method = "POST",
               .uri = "/u",
               .headers = {{"Host", "a"}, {"Content-Length", "5"}},
               .body = BodyKind::ContentLength,
               .content_length = 5});
  v.push_back({.name = "content_length_zero",
               .input = "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
               .method = "POST",
               .headers = {{"Host", "a"}, {"content-length", "0"}},
               .body = BodyKind::ContentLength});
  v.push_back({.name = "content_length_duplicate_identical",
               .input = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 12\r\n\r\n",
               .method = "PUT",
               .headers = {{"Host", "a"}, {"Content-Length", "12"}, {"Content-Length", "12"}},
               .body = BodyKind::ContentLength,
               .content_length = 12});
  v.push_back({.name = "content_length_list_identical",
               .input = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 ,7,\t7\r\n\r\n",
               .method = "PUT",
               .headers = {{"Host", "a"}, {"Content-Length", "7 ,7,\t7"}},
               .body = BodyKind::ContentLength,
               .content_length = 7});
  v.push_back({.name = "content_length_max",
               .input = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
               .method = "PUT",
               .headers = {{"Host", "a"}, {"Content-Length", "18446744073709551615"}},
               .body = BodyKind::ContentLength,
               .content_length = 18446744073709551615ULL});
  v.push_back({.name = "chunked",
               .input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n",
               .tail = "5\r\nhello\r\n0\r\n\r\n",
               .method = "POST",
               .headers = {{"Host", "a"}, {"Transfer-Encoding", "Chunked"}},
               .body = BodyKind::Chunked});
  v.push_back({.name = "expect_continue",
               .input = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
               .method = "POST",
               .headers = {{"Host", "a"}, {"Expect", "100-Continue"}, {"Content-Length", "3"}},
               .body = BodyKind::ContentLength,
               .content_length = 3,
               .expect_continue = true});
  v.push_back({.name = "bogus_method",
               .input = "FOOBAR /x HTTP/1.1\r\nHost: a\r\n\r\n",
               .method = "FOOBAR",
               .uri = "/x"});
  v.push_back({.name = "all_tchar_method",
               .input = "!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: a\r\n\r\n",
               .method = "!#$%&'*+-.^_`|~09azAZ"});
  v.push_back({.name = "all_tchar_header_name",
               .input = "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n",
               .headers = {{"Host", "a"}, {"!#$%&'*+-.^_`|~09azAZ", "v"}}});
  v.push_back({.name = "options_asterisk",
               .input = "OPTIONS * HTTP/1.1\r\nHOST: example.com\r\n\r\n",
               .method = "OPTIONS",
               .uri = "*",
               .headers = {{"HOST", "example.com"}}});
  v.push_back({.name = "absolute_form_https_uppercase_scheme",
               .input = "GET HTTPS://example.com:8443/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
               .uri = "HTTPS://example.com:8443/",
               .headers = {{"Host", "example.com"}}});
  v.push_back({.name = "absolute_form",
               .input = "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
               .uri = "http://example.com/a",
               .query = "b",
               .headers = {{"Host", "example.com"}}});
  v.push_back({.name = "connect_authority_form",
               .input = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
               .method = "CONNECT",
               .uri = "example.com:443",
               .headers = {{"Host", "example.com:443"}}});
  v.push_back({.name = "http_1_9_is_1_1",
               .input = "GET / HTTP/1.9\r\nHost: a\r\n\r\n",
               .proto = "HTTP/1.9"});
  v.push_back({.name = "empty_host_allowed",
               .input = "GET / HTTP/1.1\r\nHost:\r\n\r\n",
               .headers = {{"Host", ""}}});
  v.push_back({.name = "pipelined_first",
               .input = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
               .tail = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
               .uri = "/a"});
  v.push_back({.name = "many_headers",
               .input = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
               .headers = {{"Host", "a"}, {"A", "1"}, {"B", "2"}, {"C", "3"}, {"D", "4"}, {"E", "5"}}});
  return v;
}

void check_fields(const Parsed& p, const Valid& c, std::string_view placed) {
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  const Request& r = p.req;
  size_t head_len = c.input.size();
  EXPECT_EQ(r.head_len, head_len);
  EXPECT_EQ(r.method, c.method);
  EXPECT_EQ(r.uri, c.uri);
  EXPECT_EQ(r.query, c.query);
  EXPECT_EQ(r.proto, c.proto);
  EXPECT_EQ(r.minor_version, c.minor);
  EXPECT_EQ(r.body_kind, c.body);
  EXPECT_EQ(r.content_length, c.content_length);
  EXPECT_EQ(r.keep_alive, c.keep_alive);
  EXPECT_EQ(r.expect_continue, c.expect_continue);
  ASSERT_EQ(r.num_headers, c.headers.size());
  for (size_t i = 0; i < r.num_headers; ++i) {
    EXPECT_EQ(r.headers[i].name, c.headers[i].first) << i;
    EXPECT_EQ(r.headers[i].value, c.headers[i].second) << i;
  }
  // Zero-copy: every view points into the parsed input.
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= placed.data() && v.data() + v.size() <= placed.data() + head_len);
  };
  EXPECT_TRUE(inside(r.method) && inside(r.uri) && inside(r.query) && inside(r.proto));
  for (size_t i = 0; i < r.num_headers; ++i)
    EXPECT_TRUE(inside(r.headers[i].name) && inside(r.headers[i].value));
  EXPECT_EQ(mg::http::find_head_end(placed), head_len);
}

class ValidRequest : public ::testing::TestWithParam<Valid> {};

TEST_P(ValidRequest, WholeInput) {
  const Valid& c = GetParam();
  std::string_view placed = guard().place_view(c.input + c.tail);
  Parsed p = parse(placed);
  check_fields(p, c, placed);
}

TEST_P(ValidRequest, EverySplitPoint) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  size_t head_len = c.input.size();
  for (size_t k = 0; k <= full.size(); ++k) {
    std::string_view placed = guard().place_view(std::string_view(full).substr(0, k));
    Parsed p = parse(placed);
    if (k < head_len) {
      ASSERT_EQ(p.r.status, ParseStatus::Incomplete) << "prefix " << k << ": " << p.r.error;
      ASSERT_EQ(mg::http::find_head_end(placed), 0u) << "prefix " << k;
    } else {
      SCOPED_TRACE("prefix " + std::to_string(k));
      check_fields(p, c, placed);
    }
  }
}

TEST_P(ValidRequest, IncrementalFindHeadEnd) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  size_t head_len = c.input.size();
  // Feed one byte at a time, passing the previous size as scan_from.
  size_t prev = 0, found = 0;
  for (size_t k = 1; k <= full.size() && found == 0; ++k) {
    found = mg::http::find_head_end(std::string_view(full).substr(0, k), prev);
    prev = k;
    if (found) {
      EXPECT_EQ(k, head_len);
    }
  }
  EXPECT_EQ(found, head_len);
}

TEST_P(ValidRequest, TinyLimitsGiveOnlyLimitErrors) {
  // With limits below the request's size, every prefix is Incomplete or a limit
  // error (414/431), never a syntax error.
  const Valid& c = GetParam();
  Limits lim;
  lim.max_request_line = 10;
  lim.max_header_bytes = 24;
  lim.max_headers = 1;
  const std::string full = c.input + c.tail;
  for (size_t k = 0; k <= full.size(); ++k) {
    Parsed p = parse_guarded(std::string_view(full).substr(0, k), lim);
    if (p.r.status == ParseStatus::Error) {
      EXPECT_TRUE(p.r.http_status == 414 || p.r.http_status == 431)
          << "prefix " << k << ": " << p.r.error;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ValidRequest, ::testing::ValuesIn(valid_cases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Rejections (spec §6.3 table, §8.2, §8.6).

struct Reject {
  std::string name;
  std::string input;
  int status;
  std::string error;
};

const std::string kHost = "Host: a\r\n";

std::vector<Reject> reject_cases() {
  const std::string m = "HTTP parse error: method";
  const std::string t = "HTTP parse error: target";
  const std::string rl = "HTTP parse error: request line";
  const std::string ver = "HTTP parse error: version";
  const std::string cr = "HTTP parse error: bare CR";
  const std::string fold = "HTTP parse error: obs-fold";
  const std::string hn = "HTTP parse error: header name";
  const std::string hv = "HTTP parse error: header value";
  const std::string host = "HTTP parse error: host";
  const std::string cl = "HTTP parse error: content-length";
  const std::string clte = "HTTP parse error: content-length with transfer-encoding";
  const std::string te = "Invalid Transfer-Encoding";
  const std::string lim = "HTTP header limit exceeded";
  const std::string head = "GET / HTTP/1.1\r\n" + kHost;
  auto with_cl = [&](const std::string& v) {
    return "POST / HTTP/1.1\r\n" + kHost + "Content-Length: " + v + "\r\n\r\n";
  };
  auto with_te = [&](const std::string& v) {
    return "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: " + v + "\r\n\r\n";
  };
  std::vector<Reject> v = {
      // Malformed request line.
      {"empty_method", " / HTTP/1.1\r\n" + kHost + "\r\n", 400, m},
      {"method_paren", "G(ET / HTTP/1.1\r\n" + kHost + "\r\n", 400, m},
      {"method_nul", "GE\0T / HTTP/1.1\r\n"s + kHost + "\r\n", 400, m},
      {"method_utf8", "G\xc3\xa9T / HTTP/1.1\r\n" + kHost + "\r\n", 400, m},
      {"method_invalid_utf8", "\xff\xfe / HTTP/1.1\r\n" + kHost + "\r\n", 400, m},
      {"method_tab", "GET\t/ HTTP/1.1\r\n" + kHost + "\r\n", 400, m},
      {"method_only", "GET\r\n\r\n", 400, rl},
      {"no_version", "GET /\r\n\r\n", 400, rl},
      {"double_space", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"trailing_space", "GET / HTTP/1.1 \r\n" + kHost + "\r\n", 400, rl},
      {"space_in_target", "GET /a b HTTP/1.1\r\n" + kHost + "\r\n", 400, rl},
      {"empty_version", "GET / \r\n" + kHost + "\r\n", 400, rl},
      {"ctl_in_target", "GET /\x01 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"del_in_target", "GET /\x7f HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"nul_in_uri", "GET /a\0b HTTP/1.1\r\n"s + kHost + "\r\n", 400, t},
      {"tab_in_target", "GET /a\tb HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"cr_in_target", "GET /a\rb HTTP/1.1\r\n" + kHost + "\r\n", 400, rl},
      {"invalid_utf8_target", "GET /\xff HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"overlong_utf8_target", "GET /\xc0\xaf HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"surrogate_utf8_target", "GET /\xed\xa0\x80 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"truncated_utf8_target", "GET /\xe2\x82 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"above_max_utf8_target", "GET /\xf4\x90\x80\x80 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"lone_continuation_target", "GET /\x80 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"utf8_in_query_invalid", "GET /?q=\xc3 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      // Request-target forms (RFC 9112 §3.2) and raw non-ASCII bytes.
      {"valid_utf8_target_raw", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"valid_utf8_query_raw", "GET /?q=\xc3\xa9 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"relative_target", "GET foo/bar HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"asterisk_with_get", "GET * HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"asterisk_with_m_search", "M-SEARCH * HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"asterisk_with_suffix", "OPTIONS *x HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"authority_without_connect", "GET example.com:80 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"connect_with_origin_form", "CONNECT /x HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"connect_without_port", "CONNECT example.com HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"connect_with_path", "CONNECT example.com:443/x HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"connect_with_userinfo", "CONNECT u@example.com:443 HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"scheme_without_authority", "GET http:/x HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"scheme_only", "GET http:// HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      {"digit_first_scheme", "GET 1http://x/ HTTP/1.1\r\n" + kHost + "\r\n", 400, t},
      // Version.
      {"http2", "GET / HTTP/2.0\r\n" + kHost + "\r\n", 505, ver},
      {"http09", "GET / HTTP/0.9\r\n" + kHost + "\r\n", 505, ver},
      {"http_1_10", "GET / HTTP/1.10\r\n" + kHost + "\r\n", 505, ver},
      {"lowercase_http", "GET / http/1.1\r\n" + kHost + "\r\n", 505, ver},
      {"http_1_x", "GET / HTTP/1.x\r\n" + kHost + "\r\n", 505, ver},
      {"garbage_version", "GET / FOO\r\n" + kHost + "\r\n", 505, ver},
      {"h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, ver},
      // Bare CR.
      {"bare_cr_request_line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, cr},
      {"bare_cr_header", head + "X: a\rb\r\n\r\n", 400, cr},
      {"bare_cr_header_end", head + "X: a\r\r\n\r\n", 400, cr},
      {"bare_cr_final_line", head + "\rX\r\n", 400, cr},
      {"bare_cr_leading", "\rGET / HTTP/1.1\r\n" + kHost + "\r\n", 400, cr},
      // obs-fold.
      {"obs_fold", head + " folded\r\n\r\n", 400, fold},
      {"obs_fold_tab", head + "X: a\r\n\tb\r\n\r\n", 400, fold},
      {"space_before_first_header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, fold},
      // Header names.
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, hn},
      {"tab_before_colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, hn},
      {"space_in_name", head + "X Y: a\r\n\r\n", 400, hn},
      {"empty_name", head + ": a\r\n\r\n", 400, hn},
      {"missing_colon", head + "NoColon\r\n\r\n", 400, hn},
      {"missing_colon_lf", head + "NoColon\n\n", 400, hn},
      {"nul_in_name", head + "X\0Y: a\r\n\r\n"s, 400, hn},
      {"utf8_in_name", head + "X\xc3\xa9: a\r\n\r\n", 400, hn},
      {"slash_in_name", head + "X/Y: a\r\n\r\n", 400, hn},
      // Header values.
      {"nul_in_value", head + "X: a\0b\r\n\r\n"s, 400, hv},
      {"ctl_in_value", head + "X: a\x01\r\n\r\n", 400, hv},
      {"esc_in_value", head + "X: a\x1b[0m\r\n\r\n", 400, hv},
      {"del_in_value", head + "X: \x7f\r\n\r\n", 400, hv},
      {"vt_in_value", head + "X: a\vb\r\n\r\n", 400, hv},
      // Host (RFC 9112 §3.2).
      {"http11_no_host", "GET / HTTP/1.1\r\n\r\n", 400, host},
      {"http11_two_hosts", head + "host: b\r\n\r\n", 400, host},
      {"http11_two_identical_hosts", head + kHost + "\r\n", 400, host},
      {"http10_two_hosts", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, host},
      // Content-Length.
      {"cl_alpha", with_cl("abc"), 400, cl},
      {"cl_negative", with_cl("-1"), 400, cl},
      {"cl_plus", with_cl("+5"), 400, cl},
      {"cl_space_inside", with_cl("5 5"), 400, cl},
      {"cl_empty", with_cl(""), 400, cl},
      {"cl_hex", with_cl("0x5"), 400, cl},
      {"cl_decimal_point", with_cl("5.0"), 400, cl},
      {"cl_overflow", with_cl("18446744073709551616"), 400, cl},
      {"cl_huge", with_cl("99999999999999999999999999"), 400, cl},
      {"cl_list_differs", with_cl("5, 6"), 400, cl},
      {"cl_list_trailing_comma", with_cl("5,"), 400, cl},
      {"cl_list_leading_comma", with_cl(",5"), 400, cl},
      {"cl_list_empty_element", with_cl("5,,5"), 400, cl},
      {"cl_conflicting_fields",
       "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, cl},
      {"cl_conflicting_case",
       "POST / HTTP/1.1\r\n" + kHost + "content-length: 5\r\nCONTENT-LENGTH: 50\r\n\r\n", 400, cl},
      // CL + TE.
      {"cl_then_te",
       "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       400, clte},
      {"te_then_cl",
       "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
       400, clte},
      {"te_bad_with_cl",
       "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
       400, clte},
      // Transfer-Encoding.
      {"te_gzip", with_te("gzip"), 501, te},
      {"te_identity", with_te("identity"), 501, te},
      {"te_gzip_chunked", with_te("gzip, chunked"), 501, te},
      {"te_chunked_chunked", with_te("chunked, chunked"), 501, te},
      {"te_chunked_trailing_comma", with_te("chunked,"), 501, te},
      {"te_empty", with_te(""), 501, te},
      {"te_chunked_suffix", with_te("chunkedx"), 501, te},
      {"te_quoted", with_te("\"chunked\""), 501, te},
      {"te_repeated",
       "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       501, te},
      {"te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, te},
      // Non-HTTP bytes (§8.6).
      {"tls_client_hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, 400, m},
      {"ssh_banner", "SSH-2.0-OpenSSH_9.2\r\n", 400, rl},
      {"binary_zeros", "\0\0\0\0"s, 400, m},
      {"json", "{\"a\": 1}\r\n", 400, m},
  };
  return v;
}

class RejectRequest : public ::testing::TestWithParam<Reject> {};

TEST_P(RejectRequest, WholeInput) {
  const Reject& c = GetParam();
  Parsed p = parse_guarded(c.input);
  ASSERT_EQ(p.r.status, ParseStatus::Error) << status_name(p.r.status);
  EXPECT_EQ(p.r.http_status, c.status);
  EXPECT_EQ(p.r.error, c.error);
}

TEST_P(RejectRequest, PrefixesAreIncompleteOrSameError) {
  const Reject& c = GetParam();
  for (size_t k = 0; k <= c.input.size(); ++k) {
    Parsed p = parse_guarded(std::string_view(c.input).substr(0, k));
    ASSERT_NE(p.r.status, ParseStatus::Complete) << "prefix " << k;
    if (p.r.status == ParseStatus::Error) {
      ASSERT_EQ(p.r.http_status, c.status) << "prefix " << k;
      ASSERT_EQ(p.r.error, c.error) << "prefix " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, RejectRequest, ::testing::ValuesIn(reject_cases()),
                         [](const auto& info) { return info.param.name; });

// Syntax errors inside the request line are reported before it is complete, so
// junk is refused without waiting for a line end.
TEST(HttpParser, EarlyRejectionWithoutLineEnd) {
  for (std::string in : {"\x16\x03\x01"s, "GET /\x01"s, "G\x80"s, "GET /a\0"s}) {
    Parsed p = parse_guarded(in);
    EXPECT_EQ(p.r.status, ParseStatus::Error) << in;
    EXPECT_EQ(p.r.http_status, 400);
  }
}

// ---------------------------------------------------------------------------
// Limits (spec §8.1).

TEST(HttpParserLimits, RequestLineExactlyAtLimit) {
  Limits lim;
  lim.max_request_line = 32;
  std::string line = "GET /" + std::string(32 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 32u);
  for (const char* eol : {"\r\n", "\n"}) {
    Parsed p = parse_guarded(line + eol + kHost + "\r\n", lim);
    EXPECT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  }
}

TEST(HttpParserLimits, RequestLineOneOverLimit) {
  Limits lim;
  lim.max_request_line = 32;
  std::string line = "GET /" + std::string(32 - 13, 'a') + " HTTP/1.1";
  std::string in = line + "\r\n" + kHost + "\r\n";
  Parsed p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 414);
  EXPECT_EQ(p.r.error, "URI too long");
  // Detected as soon as the 33rd byte arrives, without a line end.
  EXPECT_EQ(parse_guarded(line.substr(0, 33), lim).r.http_status, 414);
  EXPECT_EQ(parse_guarded(line.substr(0, 32), lim).r.status, ParseStatus::Incomplete);
}

TEST(HttpParserLimits, DefaultRequestLineLimit) {
  std::string target(9000, 'a');
  Parsed p = parse_guarded("GET /" + target + " HTTP/1.1\r\n" + kHost + "\r\n");
  EXPECT_EQ(p.r.http_status, 414);
  // Incomplete request line already longer than the limit.
  p = parse_guarded("GET /" + target);
  EXPECT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 414);
  EXPECT_EQ(p.r.error, "URI too long");
  // Long method, long version: the limit is on the whole line.
  p = parse_guarded(std::string(8193, 'G'));
  EXPECT_EQ(p.r.http_status, 414);
  p = parse_guarded("GET / " + std::string(8190, 'H'));
  EXPECT_EQ(p.r.http_status, 414);
}

TEST(HttpParserLimits, LeadingEmptyLinesDoNotCountTowardsRequestLine) {
  Limits lim;
  lim.max_request_line = 16;
  Parsed p = parse_guarded(std::string(100, '\n') + "GET / HTTP/1.1\r\n" + kHost + "\r\n", lim);
  EXPECT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.req.head_len, 100u + 16 + 9 + 2);
}

TEST(HttpParserLimits, HeadExactlyAtLimitAndOneOver) {
  std::string in = "GET / HTTP/1.1\r\n" + kHost + "X: abc\r\n\r\n";
  Limits lim;
  lim.max_header_bytes = in.size();
  Parsed p = parse_guarded(in, lim);
  EXPECT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  // A body after the head does not count.
  p = parse_guarded(in + "body", lim);
  EXPECT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  lim.max_header_bytes = in.size() - 1;
  p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
  // Prefixes up to the limit are Incomplete; beyond it the head cannot fit.
  EXPECT_EQ(parse_guarded(std::string_view(in).substr(0, in.size() - 1), lim).r.status,
            ParseStatus::Incomplete);
}

TEST(HttpParserLimits, LeadingEmptyLinesCountTowardsHead) {
  Limits lim;
  lim.max_header_bytes = 64;
  Parsed p = parse_guarded(std::string(65, '\n'), lim);
  EXPECT_EQ(p.r.http_status, 431);
  p = parse_guarded(std::string(64, '\n'), lim);
  EXPECT_EQ(p.r.status, ParseStatus::Incomplete);
}

TEST(HttpParserLimits, HeadThatNeverEnds) {
  std::string in = "GET / HTTP/1.1\r\n" + kHost;
  while (in.size() <= 70000) in += "X-Filler: " + std::string(1000, 'x') + "\r\n";
  Parsed p = parse_guarded(in.substr(0, 65536));
  EXPECT_EQ(p.r.status, ParseStatus::Incomplete);
  p = parse_guarded(in);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
}

TEST(HttpParserLimits, HeaderCount) {
  Limits lim;
  lim.max_headers = 5;
  std::string in = "GET / HTTP/1.1\r\n" + kHost;
  for (int i = 0; i < 4; ++i) in += "X" + std::to_string(i) + ": v\r\n";
  Parsed p = parse_guarded(in + "\r\n", lim);
  EXPECT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.req.num_headers, 5u);
  // Sixth field: 431 as soon as its first byte arrives.
  p = parse_guarded(in + "Y", lim);
  EXPECT_EQ(p.r.http_status, 431);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
}

TEST(HttpParserLimits, StorageSmallerThanMaxHeaders) {
  std::vector<Header> storage(2);
  Request req;
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
  ParseResult r = mg::http::parse_request(guard().place_view(in), req, storage, Limits{});
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(r.http_status, 431);
  std::vector<Header> none;
  r = mg::http::parse_request(guard().place_view("GET / HTTP/1.0\r\n\r\n"), req, none, Limits{});
  EXPECT_EQ(r.status, ParseStatus::Complete);
}

TEST(HttpParserLimits, ZeroLimits) {
  Limits lim{0, 0, 0};
  EXPECT_EQ(parse_guarded("", lim).r.status, ParseStatus::Incomplete);
  EXPECT_EQ(parse_guarded("G", lim).r.http_status, 431);
  lim = Limits{0, 1000, 0};
  EXPECT_EQ(parse_guarded("G", lim).r.http_status, 414);
}

TEST(HttpParserAdversarial, FiveHundredHeaders) {
  std::string in = "GET / HTTP/1.1\r\n" + kHost;
  for (int i = 0; i < 500; ++i) in += "X-H" + std::to_string(i) + ": v\r\n";
  in += "\r\n";
  Parsed p = parse_guarded(in);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
  // With a large enough limit all 501 are returned.
  Limits lim;
  lim.max_headers = 600;
  p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.req.num_headers, 501u);
  EXPECT_EQ(p.req.headers[500].name, "X-H499");
}

TEST(HttpParserAdversarial, HundredKilobyteHeaderValue) {
  std::string in = "GET / HTTP/1.1\r\n" + kHost + "X-Big: " + std::string(100 * 1024, 'v') + "\r\n\r\n";
  Parsed p = parse_guarded(in);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
  Limits lim;
  lim.max_header_bytes = 200 * 1024;
  p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.req.headers[1].value.size(), 100u * 1024);
}

TEST(HttpParserAdversarial, EveryByteValueInValue) {
  // Each byte value in a header value: accepted exactly for HTAB, SP, VCHAR, obs-text.
  for (int b = 0; b < 256; ++b) {
    std::string in = "GET / HTTP/1.1\r\n" + kHost + "X: a" + char(b) + "b\r\n\r\n";
    Parsed p = parse_guarded(in);
    bool ok = b == '\t' || (b >= 0x20 && b != 0x7F);
    if (b == '\n') {
      // "X: a\nb\r\n" ends the field; "b" then lacks a colon.
      EXPECT_EQ(p.r.error, "HTTP parse error: header name");
    } else if (b == '\r') {
      EXPECT_EQ(p.r.error, "HTTP parse error: bare CR");
    } else if (ok) {
      EXPECT_EQ(p.r.status, ParseStatus::Complete) << b;
    } else {
      EXPECT_EQ(p.r.error, "HTTP parse error: header value") << b;
    }
  }
}

TEST(HttpParserAdversarial, EveryByteValueInTarget) {
  for (int b = 0; b < 128; ++b) {
    std::string in = "GET /a"s + char(b) + "b HTTP/1.1\r\n" + kHost + "\r\n";
    Parsed p = parse_guarded(in);
    bool ok = b > 0x20 && b < 0x7F;
    EXPECT_EQ(p.r.status == ParseStatus::Complete, ok) << b << " " << p.r.error;
  }
}

TEST(HttpParserAdversarial, EveryByteValueInMethod) {
  const std::string_view tchars = "!#$%&'*+-.^_`|~";
  for (int b = 0; b < 256; ++b) {
    std::string in = "G"s + char(b) + "T / HTTP/1.1\r\n" + kHost + "\r\n";
    Parsed p = parse_guarded(in);
    bool ok = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
              (b != 0 && tchars.find(char(b)) != std::string_view::npos);
    EXPECT_EQ(p.r.status == ParseStatus::Complete, ok) << b << " " << p.r.error;
  }
}

// ---------------------------------------------------------------------------
// Pipelining and helpers.

TEST(HttpParser, PipelinedRequests) {
  std::string in =
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /b?x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
      "\r\nGET /c HTTP/1.0\r\n\r\n";
  std::string_view all = guard().place_view(in);
  Parsed p = parse(all);
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.req.uri, "/a");
  all.remove_prefix(p.req.head_len);
  p = parse(all);
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.req.method, "POST");
  EXPECT_EQ(p.req.uri, "/b");
  EXPECT_EQ(p.req.query, "x");
  ASSERT_EQ(p.req.body_kind, BodyKind::ContentLength);
  all.remove_prefix(p.req.head_len);
  EXPECT_EQ(all.substr(0, 3), "xyz");
  all.remove_prefix(p.req.content_length);
  // A stray CRLF after a body is skipped as a leading empty line.
  p = parse(all);
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.req.uri, "/c");
  EXPECT_EQ(p.req.head_len, all.size());
}

TEST(HttpParser, FindHeader) {
  Parsed p = parse_guarded("GET / HTTP/1.1\r\nHost: a\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n");
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  const Header* h = mg::http::find_header(p.req, "X-THING");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->value, "1");
  EXPECT_EQ(mg::http::find_header(p.req, "X-Thin"), nullptr);
  EXPECT_EQ(mg::http::find_header(p.req, "host")->value, "a");
}

TEST(HttpParser, IequalsAndIsToken) {
  EXPECT_TRUE(mg::http::iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(mg::http::iequals("", ""));
  EXPECT_FALSE(mg::http::iequals("a", "ab"));
  EXPECT_FALSE(mg::http::iequals("[", "{"));  // differ only in bit 0x20, not letters
  EXPECT_FALSE(mg::http::iequals("\xc0", "\xe0"));
  EXPECT_TRUE(mg::http::is_token("X-Custom_1.0~"));
  EXPECT_FALSE(mg::http::is_token(""));
  EXPECT_FALSE(mg::http::is_token("a b"));
  EXPECT_FALSE(mg::http::is_token("a:b"));
  EXPECT_FALSE(mg::http::is_token("caf\xc3\xa9"));
  EXPECT_FALSE(mg::http::is_token(std::string_view("a\0", 2)));
}

TEST(HttpParser, FindHeadEnd) {
  using mg::http::find_head_end;
  EXPECT_EQ(find_head_end(""), 0u);
  EXPECT_EQ(find_head_end("\r\n\r\n"), 0u);  // only leading empty lines
  EXPECT_EQ(find_head_end("\n\n\n"), 0u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\r\n\r\n"), 18u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\n\nrest"), 16u);
  EXPECT_EQ(find_head_end("\r\nGET / HTTP/1.0\n\r\nrest"), 19u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\r\nA: b\r\n"), 0u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\r\nA: b\r\n\r"), 0u);
  // scan_from larger than the input is harmless.
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\r\n\r\n", 100), 0u);
  // scan_from = previous size: a terminator straddling the boundary is found.
  std::string s = "GET / HTTP/1.0\r\n\r\n";
  for (size_t prev = 0; prev < s.size(); ++prev)
    EXPECT_EQ(find_head_end(s, prev), s.size()) << prev;
}

TEST(HttpParser, OutputResetBetweenCalls) {
  Parsed p = parse_guarded("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
  ASSERT_TRUE(p.req.expect_continue);
  Request& req = p.req;
  ParseResult r = mg::http::parse_request(guard().place_view("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                                          req, p.storage, Limits{});
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_FALSE(req.expect_continue);
  EXPECT_EQ(req.body_kind, BodyKind::None);
  EXPECT_EQ(req.content_length, 0u);
}

}  // namespace
