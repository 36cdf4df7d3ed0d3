// HTTP/1.x response-head parser for the client side (RFC 9112 §4, §5, §6.3;
// spec §6.4). Same single left-to-right pass and header rules as the request
// parser (scan.hpp): a prefix of an input yields Incomplete or the very same
// result as the whole input.
#include "mg/http_parser.hpp"

#include "scan.hpp"

namespace mg::http {
namespace {

using namespace detail;

constexpr std::string_view kErrStatusLine = "HTTP parse error: status line";

}  // namespace

ParseResult parse_response(std::string_view input, Response& out, std::span<Header> storage,
                           const Limits& limits, bool head_request) {
  out = Response{};
  // As for requests, nothing beyond max_header_bytes is looked at (spec §8.1: the
  // limit covers the whole head, status line included).
  const bool capped = input.size() > limits.max_header_bytes;
  const size_t n = capped ? limits.max_header_bytes : input.size();
  const char* p = input.data();
  const ParseResult need_more =
      capped ? fail(431, kErrHeaderLimit) : ParseResult{ParseStatus::Incomplete, 0, {}};

  // Empty lines before the status line are ignored (RFC 9112 §2.2): some servers
  // send a stray CRLF after a body.
  size_t i = 0;
  if (ParseResult r = skip_leading_empty_lines(p, i, n, need_more); r.status != ParseStatus::Complete)
    return r;

  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).
  // HTTP-version: exactly "HTTP/1.<digit>", checked byte by byte as it arrives, so
  // a non-HTTP peer is rejected at its first deviating byte. A well-formed version
  // other than 1.x is a version error; anything else a status-line error.
  static constexpr std::string_view kPrefix = "HTTP/";
  const size_t version_start = i;
  for (size_t k = 0; k < kPrefix.size(); ++k, ++i) {
    if (i >= n) return need_more;
    if (p[i] != kPrefix[k]) return bad(kErrStatusLine);
  }
  for (size_t k = 0; k < 3; ++k, ++i) {  // DIGIT "." DIGIT
    if (i >= n) return need_more;
    const char c = p[i];
    if (k == 1 ? c != '.' : (c < '0' || c > '9')) return bad(kErrStatusLine);
    if (k == 0 && c != '1') return fail(505, kErrVersion);
  }
  out.proto = std::string_view(p + version_start, i - version_start);
  out.minor_version = p[i - 1] == '0' ? 0 : 1;

  if (i >= n) return need_more;
  if (p[i] != ' ') return bad(kErrStatusLine);
  ++i;

  // status-code = 3DIGIT. Accepted range 100-999 (a leading 0 is invalid; RFC 9110
  // §15 defines 100-599, but 600-999 are used in the wild and framed like 2xx).
  const size_t code_start = i;
  int code = 0;
  for (size_t k = 0; k < 3; ++k, ++i) {
    if (i >= n) return need_more;
    const char c = p[i];
    if (c < '0' || c > '9' || (k == 0 && c == '0')) return bad(kErrStatusLine);
    code = code * 10 + (c - '0');
  }
  out.status = code;
  out.status_text = std::string_view(p + code_start, 3);

  // [SP reason-phrase] line end. A missing SP is accepted before an empty reason
  // ("HTTP/1.1 200\r\n"); reason-phrase = *( HTAB / SP / VCHAR / obs-text ), kept
  // as sent (not trimmed).
  if (i >= n) return need_more;
  if (p[i] == ' ') {
    ++i;
    const size_t reason_start = i;
    i = scan_value(p, i, n);
    if (i >= n) return need_more;
    out.reason = std::string_view(p + reason_start, i - reason_start);
  }
  // A 4th digit, NUL or another control character before the line end: a bad status line.
  if (ParseResult r = take_eol(p, i, n, need_more, kErrStatusLine); r.status != ParseStatus::Complete)
    return r;

  const size_t max_fields = limits.max_headers < storage.size() ? limits.max_headers : storage.size();
  FieldSummary f;
  if (ParseResult r = parse_fields(p, i, n, storage.data(), max_fields, need_more, f);
      r.status != ParseStatus::Complete)
    return r;

  out.headers = storage.data();
  out.num_headers = f.count;
  out.head_len = i;
  out.keep_alive = !f.conn_close && (out.minor_version == 1 || f.conn_keep_alive);

  // Framing (RFC 9112 §6.3 items 1-2): a response to HEAD and any 1xx, 204 or 304
  // ends with its head "regardless of the header fields present", so Content-Length
  // and Transfer-Encoding are not interpreted there (a HEAD or 304 response
  // legitimately carries the values a full response would have).
  if (head_request || code < 200 || code == 204 || code == 304) {
    out.body_kind = ResponseBody::None;
    return ParseResult{ParseStatus::Complete, 0, {}};
  }
  // Otherwise the request rules apply unchanged (spec §6.4, §8.2): exactly one
  // framing, never repaired.
  if (f.cl_bad) return bad(kErrContentLength);
  if (f.cl_count > 0 && f.te_count > 0) return bad(kErrClWithTe);
  if (f.te_count > 0) {
    if (out.minor_version == 0) return fail(400, kErrTe);
    if (f.te_count > 1 || !f.te_chunked) return fail(501, kErrTe);
    out.body_kind = ResponseBody::Chunked;
  } else if (f.cl_count > 0) {
    out.body_kind = ResponseBody::ContentLength;
    out.content_length = f.content_length;
  } else {
    // Read until the server closes (item 8): the connection cannot be reused.
    out.body_kind = ResponseBody::UntilClose;
    out.keep_alive = false;
  }
  return ParseResult{ParseStatus::Complete, 0, {}};
}

}  // namespace mg::http
