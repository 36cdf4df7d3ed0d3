// Tests for the HTTP/1.x response-head parser (client side, spec §6.4, §8.1, §8.2).
#include <gtest/gtest.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // designated-initializer tables

#include <string>
#include <utility>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/http_parser.hpp"

using namespace std::string_literals;
using mg::http::Header;
using mg::http::Limits;
using mg::http::ParseResult;
using mg::http::ParseStatus;
using mg::http::Response;
using mg::http::ResponseBody;
using mg::testing::GuardedBuffer;

namespace {

struct Parsed {
  ParseResult r;
  Response resp;
  std::vector<Header> storage;
};

Parsed parse(std::string_view in, const Limits& lim = Limits{}, bool head = false) {
  Parsed p;
  p.storage.resize(lim.max_headers);
  p.r = mg::http::parse_response(in, p.resp, p.storage, lim, head);
  return p;
}

// Shared guarded region: every input is placed flush against a PROT_NONE page.
GuardedBuffer& guard() {
  static GuardedBuffer g(512 * 1024);
  return g;
}

Parsed parse_guarded(std::string_view in, const Limits& lim = Limits{}, bool head = false) {
  return parse(guard().place_view(in), lim, head);
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
// Valid responses, checked at every split point.

struct Valid {
  std::string name;
  std::string input;  // the head
  std::string tail;   // bytes after the head (body, next response)
  bool head_request = false;
  std::string proto = "HTTP/1.1";
  int status = 200;
  std::string reason = "OK";
  int minor = 1;
  std::vector<std::pair<std::string, std::string>> headers = {};
  ResponseBody body = ResponseBody::UntilClose;
  uint64_t content_length = 0;
  bool keep_alive = false;
};

std::vector<Valid> valid_cases() {
  std::vector<Valid> v;
  v.push_back({.name = "content_length",
               .input = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
               .tail = "hello",
               .headers = {{"Content-Length", "5"}},
               .body = ResponseBody::ContentLength,
               .content_length = 5,
               .keep_alive = true});
  v.push_back({.name = "content_length_zero",
               .input = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
               .headers = {{"content-length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "content_length_duplicate_identical",
               .input = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n",
               .tail = "abc",
               .headers = {{"Content-Length", "3"}, {"Content-Length", "3, 3"}},
               .body = ResponseBody::ContentLength,
               .content_length = 3,
               .keep_alive = true});
  v.push_back({.name = "content_length_max",
               .input = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
               .headers = {{"Content-Length", "18446744073709551615"}},
               .body = ResponseBody::ContentLength,
               .content_length = 18446744073709551615ULL,
               .keep_alive = true});
  v.push_back({.name = "chunked",
               .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n",
               .tail = "5\r\nhello\r\n0\r\n\r\n",
               .headers = {{"Transfer-Encoding", "Chunked"}},
               .body = ResponseBody::Chunked,
               .keep_alive = true});
  v.push_back({.name = "until_close",
               .input = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
               .tail = "everything until the server closes",
               .headers = {{"Content-Type", "text/plain"}}});
  v.push_back({.name = "until_close_http10",
               .input = "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n",
               .tail = "<html>",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {{"Server", "SimpleHTTP/0.6"}}});
  v.push_back({.name = "http10_content_length",
               .input = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
               .tail = "ok",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {{"Content-Length", "2"}},
               .body = ResponseBody::ContentLength,
               .content_length = 2});
  v.push_back({.name = "http10_keep_alive",
               .input = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
               .tail = "ok",
               .proto = "HTTP/1.0",
               .minor = 0,
               .headers = {{"Connection", "Keep-Alive"}, {"Content-Length", "2"}},
               .body = ResponseBody::ContentLength,
               .content_length = 2,
               .keep_alive = true});
  v.push_back({.name = "http11_close",
               .input = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
               .headers = {{"Connection", "keep-alive, Close"}, {"Content-Length", "0"}},
               .body = ResponseBody::ContentLength});
  v.push_back({.name = "http_1_9_is_1_1",
               .input = "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n",
               .proto = "HTTP/1.9",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  // No-body statuses (RFC 9112 §6.3 item 1): framing headers are not interpreted.
  v.push_back({.name = "status_204",
               .input = "HTTP/1.1 204 No Content\r\n\r\n",
               .tail = "HTTP/1.1 200 OK\r\n",
               .status = 204,
               .reason = "No Content",
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_204_with_cl",
               .input = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
               .status = 204,
               .reason = "No Content",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_304_with_cl",
               .input = "HTTP/1.1 304 Not Modified\r\nEtag: \"1.2\"\r\nContent-Length: 1234\r\n\r\n",
               .status = 304,
               .reason = "Not Modified",
               .headers = {{"Etag", "\"1.2\""}, {"Content-Length", "1234"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_304_with_te",
               .input = "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
               .status = 304,
               .reason = "Not Modified",
               .headers = {{"Transfer-Encoding", "chunked"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_100",
               .input = "HTTP/1.1 100 Continue\r\n\r\n",
               .tail = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
               .status = 100,
               .reason = "Continue",
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_101",
               .input = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
               .tail = "\x81\x05Hello",
               .status = 101,
               .reason = "Switching Protocols",
               .headers = {{"Upgrade", "websocket"},
                           {"Connection", "Upgrade"},
                           {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_103",
               .input = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
               .status = 103,
               .reason = "Early Hints",
               .headers = {{"Link", "</s.css>; rel=preload"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "status_1xx_ignores_bad_cl",
               .input = "HTTP/1.1 199 X\r\nContent-Length: nope\r\n\r\n",
               .status = 199,
               .reason = "X",
               .headers = {{"Content-Length", "nope"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  // HEAD responses (head_request = true): no body whatever the headers say.
  v.push_back({.name = "head_with_cl",
               .input = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
               .tail = "HTTP/1.1 200 OK\r\n",
               .head_request = true,
               .headers = {{"Content-Length", "100"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "head_with_te",
               .input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
               .head_request = true,
               .headers = {{"Transfer-Encoding", "gzip, chunked"}},
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "head_without_framing",
               .input = "HTTP/1.1 404 Not Found\r\n\r\n",
               .head_request = true,
               .status = 404,
               .reason = "Not Found",
               .body = ResponseBody::None,
               .keep_alive = true});
  // Status line forms.
  v.push_back({.name = "reason_missing_no_sp",
               .input = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
               .reason = "",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "reason_empty_with_sp",
               .input = "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
               .reason = "",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "reason_missing_bare_lf",
               .input = "HTTP/1.1 204\n\n",
               .status = 204,
               .reason = "",
               .body = ResponseBody::None,
               .keep_alive = true});
  v.push_back({.name = "reason_with_spaces_tab_obs_text",
               .input = "HTTP/1.1 404 Not \tFound \xc3\xa9\xff \r\nContent-Length: 0\r\n\r\n",
               .status = 404,
               .reason = "Not \tFound \xc3\xa9\xff ",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "reason_leading_space_kept",
               .input = "HTTP/1.1 500  Oops\r\nContent-Length: 0\r\n\r\n",
               .status = 500,
               .reason = " Oops",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "status_599", .input = "HTTP/1.1 599 X\r\n\r\n", .status = 599, .reason = "X"});
  v.push_back({.name = "status_999", .input = "HTTP/1.1 999 X\r\n\r\n", .status = 999, .reason = "X"});
  v.push_back({.name = "bare_lf",
               .input = "HTTP/1.1 200 OK\nContent-Length: 1\n\n",
               .tail = "x",
               .headers = {{"Content-Length", "1"}},
               .body = ResponseBody::ContentLength,
               .content_length = 1,
               .keep_alive = true});
  v.push_back({.name = "mixed_line_ends",
               .input = "HTTP/1.1 200 OK\nX: y\r\nContent-Length: 1\n\r\n",
               .headers = {{"X", "y"}, {"Content-Length", "1"}},
               .body = ResponseBody::ContentLength,
               .content_length = 1,
               .keep_alive = true});
  v.push_back({.name = "leading_empty_lines",
               .input = "\r\n\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
               .headers = {{"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "no_host_needed_and_two_hosts_fine",
               .input = "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n",
               .headers = {{"Host", "a"}, {"Host", "b"}, {"Content-Length", "0"}},
               .body = ResponseBody::ContentLength,
               .keep_alive = true});
  v.push_back({.name = "ows_and_empty_values",
               .input = "HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-E:\r\nX-O: caf\xc3\xa9 \xff\r\n"
                        "Content-Length:7\r\n\r\n",
               .headers = {{"X-A", "a b"}, {"X-E", ""}, {"X-O", "caf\xc3\xa9 \xff"},
                           {"Content-Length", "7"}},
               .body = ResponseBody::ContentLength,
               .content_length = 7,
               .keep_alive = true});
  v.push_back({.name = "typical_server",
               .input = "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                        "Server: nginx\r\nContent-Type: application/json\r\n"
                        "Set-Cookie: a=b; Path=/\r\nSet-Cookie: c=d\r\nContent-Length: 2\r\n\r\n",
               .tail = "{}",
               .headers = {{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"},
                           {"Server", "nginx"},
                           {"Content-Type", "application/json"},
                           {"Set-Cookie", "a=b; Path=/"},
                           {"Set-Cookie", "c=d"},
                           {"Content-Length", "2"}},
               .body = ResponseBody::ContentLength,
               .content_length = 2,
               .keep_alive = true});
  return v;
}

void check_fields(const Parsed& p, const Valid& c, std::string_view placed) {
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  const Response& r = p.resp;
  size_t head_len = c.input.size();
  EXPECT_EQ(r.head_len, head_len);
  EXPECT_EQ(r.proto, c.proto);
  EXPECT_EQ(r.status, c.status);
  EXPECT_EQ(r.status_text, std::to_string(c.status));
  EXPECT_EQ(r.reason, c.reason);
  EXPECT_EQ(r.minor_version, c.minor);
  EXPECT_EQ(r.body_kind, c.body);
  EXPECT_EQ(r.content_length, c.content_length);
  EXPECT_EQ(r.keep_alive, c.keep_alive);
  ASSERT_EQ(r.num_headers, c.headers.size());
  for (size_t i = 0; i < r.num_headers; ++i) {
    EXPECT_EQ(r.headers[i].name, c.headers[i].first) << i;
    EXPECT_EQ(r.headers[i].value, c.headers[i].second) << i;
  }
  // Zero-copy: every view points into the parsed input.
  auto inside = [&](std::string_view v) {
    return v.empty() ||
           (v.data() >= placed.data() && v.data() + v.size() <= placed.data() + head_len);
  };
  EXPECT_TRUE(inside(r.proto) && inside(r.status_text) && inside(r.reason));
  for (size_t i = 0; i < r.num_headers; ++i)
    EXPECT_TRUE(inside(r.headers[i].name) && inside(r.headers[i].value));
  EXPECT_EQ(mg::http::find_head_end(placed), head_len);
}

class ValidResponse : public ::testing::TestWithParam<Valid> {};

TEST_P(ValidResponse, WholeInput) {
  const Valid& c = GetParam();
  std::string_view placed = guard().place_view(c.input + c.tail);
  check_fields(parse(placed, Limits{}, c.head_request), c, placed);
}

TEST_P(ValidResponse, EverySplitPoint) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  const size_t head_len = c.input.size();
  for (size_t k = 0; k <= full.size(); ++k) {
    std::string_view placed = guard().place_view(std::string_view(full).substr(0, k));
    Parsed p = parse(placed, Limits{}, c.head_request);
    if (k < head_len) {
      ASSERT_EQ(p.r.status, ParseStatus::Incomplete) << "prefix " << k << ": " << p.r.error;
    } else {
      SCOPED_TRACE("prefix " + std::to_string(k));
      check_fields(p, c, placed);
    }
  }
}

TEST_P(ValidResponse, TinyLimitsGiveOnlyLimitErrors) {
  const Valid& c = GetParam();
  Limits lim;
  lim.max_request_line = 4;  // not applied to status lines
  lim.max_header_bytes = 24;
  lim.max_headers = 1;
  const std::string full = c.input + c.tail;
  for (size_t k = 0; k <= full.size(); ++k) {
    Parsed p = parse_guarded(std::string_view(full).substr(0, k), lim, c.head_request);
    if (p.r.status == ParseStatus::Error) {
      EXPECT_EQ(p.r.http_status, 431) << "prefix " << k << ": " << p.r.error;
      EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ValidResponse, ::testing::ValuesIn(valid_cases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Rejections: the request rules (spec §6.3 table, §8.2) applied to responses.

struct Reject {
  std::string name;
  std::string input;
  int status;  // the status a server would answer; no response is sent on the client
  std::string error;
  bool head_request = false;
};

std::vector<Reject> reject_cases() {
  const std::string sl = "HTTP parse error: status line";
  const std::string ver = "HTTP parse error: version";
  const std::string cr = "HTTP parse error: bare CR";
  const std::string fold = "HTTP parse error: obs-fold";
  const std::string hn = "HTTP parse error: header name";
  const std::string hv = "HTTP parse error: header value";
  const std::string cl = "HTTP parse error: content-length";
  const std::string clte = "HTTP parse error: content-length with transfer-encoding";
  const std::string te = "Invalid Transfer-Encoding";
  const std::string head = "HTTP/1.1 200 OK\r\n";
  auto with_cl = [&](const std::string& v) { return head + "Content-Length: " + v + "\r\n\r\n"; };
  auto with_te = [&](const std::string& v) { return head + "Transfer-Encoding: " + v + "\r\n\r\n"; };
  return {
      // Status line.
      {"lowercase_http", "http/1.1 200 OK\r\n\r\n", 400, sl},
      {"icy", "ICY 200 OK\r\n\r\n", 400, sl},
      {"html", "<html><body>hi</body></html>\r\n\r\n", 400, sl},
      {"request_line", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, sl},
      {"version_missing_minor", "HTTP/1 200 OK\r\n\r\n", 400, sl},
      {"version_1_x", "HTTP/1.x 200 OK\r\n\r\n", 400, sl},
      {"version_1_10", "HTTP/1.10 200 OK\r\n\r\n", 400, sl},
      {"version_only", "HTTP/1.1\r\n\r\n", 400, sl},
      {"http2", "HTTP/2.0 200 OK\r\n\r\n", 505, ver},
      {"http2_short", "HTTP/2 200 OK\r\n\r\n", 505, ver},
      {"http09", "HTTP/0.9 200 OK\r\n\r\n", 505, ver},
      {"double_space", "HTTP/1.1  200 OK\r\n\r\n", 400, sl},
      {"tab_after_version", "HTTP/1.1\t200 OK\r\n\r\n", 400, sl},
      {"status_two_digits", "HTTP/1.1 20 OK\r\n\r\n", 400, sl},
      {"status_two_digits_eol", "HTTP/1.1 20\r\n\r\n", 400, sl},
      {"status_four_digits", "HTTP/1.1 2000 OK\r\n\r\n", 400, sl},
      {"status_leading_zero", "HTTP/1.1 099 X\r\n\r\n", 400, sl},
      {"status_000", "HTTP/1.1 000 X\r\n\r\n", 400, sl},
      {"status_alpha", "HTTP/1.1 2x0 OK\r\n\r\n", 400, sl},
      {"status_sign", "HTTP/1.1 +20 OK\r\n\r\n", 400, sl},
      {"status_tab_before_reason", "HTTP/1.1 200\tOK\r\n\r\n", 400, sl},
      {"reason_nul", "HTTP/1.1 200 O\0K\r\n\r\n"s, 400, sl},
      {"reason_ctl", "HTTP/1.1 200 O\x01K\r\n\r\n", 400, sl},
      {"reason_del", "HTTP/1.1 200 O\x7fK\r\n\r\n", 400, sl},
      {"bare_cr_status_line", "HTTP/1.1 200 OK\rX: y\r\n\r\n", 400, cr},
      {"bare_cr_after_code", "HTTP/1.1 200\rX\r\n\r\n", 400, cr},
      {"bare_cr_leading", "\rHTTP/1.1 200 OK\r\n\r\n", 400, cr},
      // Header fields (same rules as requests).
      {"bare_cr_header", head + "X: a\rb\r\n\r\n", 400, cr},
      {"bare_cr_final_line", head + "\rX\r\n", 400, cr},
      {"obs_fold", head + "X: a\r\n b\r\n\r\n", 400, fold},
      {"obs_fold_first", head + " X: a\r\n\r\n", 400, fold},
      {"space_before_colon", head + "X : a\r\n\r\n", 400, hn},
      {"empty_name", head + ": a\r\n\r\n", 400, hn},
      {"missing_colon", head + "NoColon\r\n\r\n", 400, hn},
      {"utf8_in_name", head + "X\xc3\xa9: a\r\n\r\n", 400, hn},
      {"nul_in_value", head + "X: a\0b\r\n\r\n"s, 400, hv},
      {"ctl_in_value", head + "X: a\x01\r\n\r\n", 400, hv},
      {"del_in_value", head + "X: \x7f\r\n\r\n", 400, hv},
      // Content-Length.
      {"cl_alpha", with_cl("abc"), 400, cl},
      {"cl_negative", with_cl("-1"), 400, cl},
      {"cl_plus", with_cl("+5"), 400, cl},
      {"cl_space_inside", with_cl("5 5"), 400, cl},
      {"cl_empty", with_cl(""), 400, cl},
      {"cl_overflow", with_cl("18446744073709551616"), 400, cl},
      {"cl_list_differs", with_cl("5, 6"), 400, cl},
      {"cl_list_trailing_comma", with_cl("5,"), 400, cl},
      {"cl_conflicting_fields", head + "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400, cl},
      {"cl_conflicting_http10", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n",
       400, cl},
      {"cl_bad_on_404", "HTTP/1.1 404 Not Found\r\nContent-Length: x\r\n\r\n", 400, cl},
      // CL + TE.
      {"cl_then_te", head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, clte},
      {"te_then_cl", head + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, clte},
      // Transfer-Encoding.
      {"te_gzip", with_te("gzip"), 501, te},
      {"te_gzip_chunked", with_te("gzip, chunked"), 501, te},
      {"te_chunked_chunked", with_te("chunked, chunked"), 501, te},
      {"te_identity", with_te("identity"), 501, te},
      {"te_empty", with_te(""), 501, te},
      {"te_repeated", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
       te},
      {"te_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 400, te},
      // Non-HTTP peers.
      {"tls_server_hello", "\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03"s, 400, sl},
      {"ssh_banner", "SSH-2.0-OpenSSH_9.2\r\n", 400, sl},
      {"binary_zeros", "\0\0\0\0"s, 400, sl},
      {"websocket_frame", "\x81\x05Hello", 400, sl},
  };
}

class RejectResponse : public ::testing::TestWithParam<Reject> {};

TEST_P(RejectResponse, WholeInput) {
  const Reject& c = GetParam();
  Parsed p = parse_guarded(c.input, Limits{}, c.head_request);
  ASSERT_EQ(p.r.status, ParseStatus::Error) << status_name(p.r.status);
  EXPECT_EQ(p.r.http_status, c.status);
  EXPECT_EQ(p.r.error, c.error);
}

TEST_P(RejectResponse, PrefixesAreIncompleteOrSameError) {
  const Reject& c = GetParam();
  for (size_t k = 0; k <= c.input.size(); ++k) {
    Parsed p = parse_guarded(std::string_view(c.input).substr(0, k), Limits{}, c.head_request);
    ASSERT_NE(p.r.status, ParseStatus::Complete) << "prefix " << k;
    if (p.r.status == ParseStatus::Error) {
      ASSERT_EQ(p.r.http_status, c.status) << "prefix " << k;
      ASSERT_EQ(p.r.error, c.error) << "prefix " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, RejectResponse, ::testing::ValuesIn(reject_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(HttpResponse, EarlyRejectionOfNonHttpBytes) {
  // The first deviating byte of the version decides, without waiting for a line end.
  for (std::string in : {"X"s, "H\x00"s, "HTTP/"s + "\x16", "\x16\x03\x01"s, "HTTP/1.1 2x"s}) {
    Parsed p = parse_guarded(in);
    EXPECT_EQ(p.r.status, ParseStatus::Error) << testing::PrintToString(in);
  }
  Parsed p = parse_guarded("HTTP/3");
  EXPECT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 505);
}

TEST(HttpResponse, FramingErrorsIgnoredWithoutBody) {
  // 1xx/204/304 and HEAD responses end with the head whatever CL/TE say.
  const std::string bad = "Content-Length: 5\r\nContent-Length: 6\r\nTransfer-Encoding: gzip\r\n\r\n";
  for (const char* line : {"HTTP/1.1 100 Continue\r\n", "HTTP/1.1 204 No Content\r\n",
                           "HTTP/1.1 304 Not Modified\r\n"}) {
    Parsed p = parse_guarded(line + bad);
    ASSERT_EQ(p.r.status, ParseStatus::Complete) << line << p.r.error;
    EXPECT_EQ(p.resp.body_kind, ResponseBody::None);
    EXPECT_EQ(p.resp.content_length, 0u);
  }
  Parsed p = parse_guarded("HTTP/1.1 200 OK\r\n" + bad, Limits{}, /*head=*/true);
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.resp.body_kind, ResponseBody::None);
  // The same headers on a 200 to a GET are an error.
  p = parse_guarded("HTTP/1.1 200 OK\r\n" + bad);
  EXPECT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.error, "HTTP parse error: content-length");
  // 205 and 2xx other than 204 do have a body.
  p = parse_guarded("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.resp.body_kind, ResponseBody::ContentLength);
}

TEST(HttpResponse, UntilCloseNeverKeepsAlive) {
  Parsed p = parse_guarded("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.resp.body_kind, ResponseBody::UntilClose);
  EXPECT_FALSE(p.resp.keep_alive);
}

TEST(HttpResponse, EveryStatusCode) {
  for (int code = 0; code < 1000; ++code) {
    char line[64];
    std::snprintf(line, sizeof line, "HTTP/1.1 %03d R\r\nContent-Length: 1\r\n\r\n", code);
    Parsed p = parse_guarded(line);
    if (code < 100) {
      EXPECT_EQ(p.r.status, ParseStatus::Error) << code;
      continue;
    }
    ASSERT_EQ(p.r.status, ParseStatus::Complete) << code;
    EXPECT_EQ(p.resp.status, code);
    bool no_body = code < 200 || code == 204 || code == 304;
    EXPECT_EQ(p.resp.body_kind, no_body ? ResponseBody::None : ResponseBody::ContentLength) << code;
  }
}

// ---------------------------------------------------------------------------
// Limits (spec §8.1: max_header_bytes covers the status line; max_headers applies).

TEST(HttpResponseLimits, HeadExactlyAtLimit) {
  const std::string in = "HTTP/1.1 200 OK\r\nX: " + std::string(20, 'v') + "\r\n\r\n";
  Limits lim;
  lim.max_header_bytes = in.size();
  Parsed p = parse_guarded(in + "body", lim);
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.resp.head_len, in.size());
  lim.max_header_bytes = in.size() - 1;
  p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
  // Without an end in sight: Incomplete up to the limit, an error past it.
  const std::string never = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'v');
  p = parse_guarded(never.substr(0, lim.max_header_bytes), lim);
  EXPECT_EQ(p.r.status, ParseStatus::Incomplete);
  p = parse_guarded(never.substr(0, lim.max_header_bytes + 1), lim);
  EXPECT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
}

TEST(HttpResponseLimits, LongStatusLineLimitedByHeaderBytesOnly) {
  const std::string in = "HTTP/1.1 200 " + std::string(10000, 'r') + "\r\nContent-Length: 0\r\n\r\n";
  Parsed p = parse_guarded(in);  // max_request_line (8192) does not apply
  ASSERT_EQ(p.r.status, ParseStatus::Complete) << p.r.error;
  EXPECT_EQ(p.resp.reason.size(), 10000u);
  Limits lim;
  lim.max_header_bytes = 4096;
  p = parse_guarded(in, lim);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
  // A status line that never ends.
  p = parse_guarded("HTTP/1.1 200 " + std::string(5000, 'r'), lim);
  EXPECT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
}

TEST(HttpResponseLimits, HeaderCount) {
  std::string in = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 4; ++i) in += "X" + std::to_string(i) + ": v\r\n";
  Limits lim;
  lim.max_headers = 4;
  Parsed p = parse_guarded(in + "\r\n", lim);
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.resp.num_headers, 4u);
  p = parse_guarded(in + "X4: v\r\n\r\n", lim);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.http_status, 431);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
  // Storage smaller than max_headers bounds the count too.
  std::vector<Header> small(2);
  Response r;
  ParseResult res = mg::http::parse_response(guard().place_view(in + "\r\n"), r, small, Limits{});
  EXPECT_EQ(res.status, ParseStatus::Error);
  EXPECT_EQ(res.http_status, 431);
}

TEST(HttpResponseLimits, FiveHundredHeadersAndHugeValue) {
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 500; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  Parsed p = parse_guarded(many + "\r\n");
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(100 * 1024, 'v') + "\r\n\r\n";
  p = parse_guarded(big);
  ASSERT_EQ(p.r.status, ParseStatus::Error);
  EXPECT_EQ(p.r.error, "HTTP header limit exceeded");
}

TEST(HttpResponse, OutputResetOnEachCall) {
  Parsed p = parse_guarded("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  p.r = mg::http::parse_response(guard().place_view("HTTP/1.1 204 No Content\r\n\r\n"), p.resp,
                                 p.storage, Limits{});
  ASSERT_EQ(p.r.status, ParseStatus::Complete);
  EXPECT_EQ(p.resp.status, 204);
  EXPECT_EQ(p.resp.body_kind, ResponseBody::None);
  EXPECT_EQ(p.resp.content_length, 0u);
  EXPECT_EQ(p.resp.num_headers, 0u);
}

}  // namespace
