// HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5, §6; RFC 9110 §5).
//
// Design: one left-to-right pass over the input. Every decision depends only on
// bytes already scanned, so a prefix of an input yields either Incomplete or the
// very same result as the whole input (the fuzzer checks this). Semantic checks
// that need the whole head (Host, Content-Length, Transfer-Encoding) run once the
// empty line ending the head has been seen.
#include "mg/http_parser.hpp"

#include <cstring>

#include "scan.hpp"

namespace mg::http {
namespace {

using namespace detail;

constexpr std::string_view kErrMethod = "HTTP parse error: method";
constexpr std::string_view kErrTarget = "HTTP parse error: target";
constexpr std::string_view kErrRequestLine = "HTTP parse error: request line";
constexpr std::string_view kErrHost = "HTTP parse error: host";
constexpr std::string_view kErrUriTooLong = "URI too long";


// RFC 9112 §3.2.1-3.2.4: origin-form ("/path?q") for any method; absolute-form
// ("scheme://...") for any method (a server must accept it, §3.2.2); authority-form
// ("host:port") only with CONNECT; asterisk-form ("*") only with OPTIONS.
bool valid_target_form(std::string_view method, std::string_view target) {
  if (target.front() == '/') return method != "CONNECT";
  if (target == "*") return method == "OPTIONS";
  if (method == "CONNECT") {
    // authority = host ":" port, no path, query or userinfo.
    size_t colon = target.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) return false;
    for (size_t k = colon + 1; k < target.size(); ++k)
      if (target[k] < '0' || target[k] > '9') return false;
    return target.find_first_of("/?#@") == std::string_view::npos;
  }
  // absolute-URI: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" here
  // (a hier-part with an authority: what HTTP proxies and clients send).
  auto alpha = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); };
  if (!alpha(target.front())) return false;
  size_t k = 1;
  while (k < target.size() && (alpha(target[k]) || (target[k] >= '0' && target[k] <= '9') || target[k] == '+' ||
                               target[k] == '-' || target[k] == '.'))
    ++k;
  return target.substr(k, 3) == "://" && target.size() > k + 3;
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && scan_token(s.data(), 0, s.size()) == s.size();
}

const Header* find_header(const Request& req, std::string_view name) {
  for (size_t i = 0; i < req.num_headers; ++i)
    if (iequals(req.headers[i].name, name)) return &req.headers[i];
  return nullptr;
}

size_t find_head_end(std::string_view input, size_t scan_from) {
  const char* p = input.data();
  const size_t n = input.size();
  // Skip leading empty lines (RFC 9112 §2.2) so their LFs are not taken for the end.
  size_t s = 0;
  while (s < n) {
    if (p[s] == '\n') {
      ++s;
    } else if (p[s] == '\r' && s + 1 < n && p[s + 1] == '\n') {
      s += 2;
    } else {
      break;
    }
  }
  // The terminator is LF followed by LF or CRLF; back up 2 bytes so one that
  // straddles the previous end of input is found.
  size_t i = scan_from > 2 ? scan_from - 2 : 0;
  if (i < s) i = s;
  while (i < n) {
    const void* q = std::memchr(p + i, '\n', n - i);
    if (q == nullptr) return 0;
    size_t j = size_t(static_cast<const char*>(q) - p);
    if (j + 1 < n && p[j + 1] == '\n') return j + 2;
    if (j + 2 < n && p[j + 1] == '\r' && p[j + 2] == '\n') return j + 3;
    i = j + 1;
  }
  return 0;
}

ParseResult parse_request(std::string_view input, Request& out, std::span<Header> storage,
                          const Limits& limits) {
  out = Request{};
  // Never look beyond max_header_bytes: if the head does not end inside that
  // window it is too large, whatever follows (RFC 9112 §2.3 lets us pick limits).
  const bool capped = input.size() > limits.max_header_bytes;
  const size_t n = capped ? limits.max_header_bytes : input.size();
  const char* p = input.data();
  const ParseResult need_more =
      capped ? fail(431, kErrHeaderLimit) : ParseResult{ParseStatus::Incomplete, 0, {}};

  // Leading empty lines are ignored (RFC 9112 §2.2) but count towards the head size.
  size_t i = 0;
  if (ParseResult r = skip_leading_empty_lines(p, i, n, need_more); r.status != ParseStatus::Complete)
    return r;

  // Request line (RFC 9112 §3): method SP request-target SP HTTP-version.
  // Its content may hold at most max_request_line bytes: the byte at rl_limit,
  // if any, must be the line terminator, otherwise 414 — decided as soon as
  // that byte arrives, whatever the bytes before it were.
  const size_t rl_start = i;
  const size_t rl_limit =
      limits.max_request_line > n - rl_start ? n + 1 : rl_start + limits.max_request_line;
  auto too_long = [&](size_t at) {
    return at > rl_limit || (at == rl_limit && at < n && p[at] != '\r' && p[at] != '\n');
  };
  const size_t rl_scan_end = rl_limit < n ? rl_limit + 1 : n;

  i = scan_token(p, i, rl_scan_end);
  if (too_long(i)) return fail(414, kErrUriTooLong);
  if (i >= n) return need_more;
  if (p[i] != ' ') return bad(p[i] == '\r' || p[i] == '\n' ? kErrRequestLine : kErrMethod);
  if (i == rl_start) return bad(kErrMethod);
  out.method = std::string_view(p + rl_start, i - rl_start);
  ++i;

  const size_t target_start = i;
  bool high = false;
  i = scan_target(p, i, rl_scan_end, high);
  if (too_long(i)) return fail(414, kErrUriTooLong);
  if (i >= n) return need_more;
  if (p[i] == '\r' || p[i] == '\n') return bad(kErrRequestLine);  // no version: HTTP/0.9 style
  if (p[i] != ' ' || i == target_start) return bad(kErrTarget);
  std::string_view target(p + target_start, i - target_start);
  // RFC 9112 §3.2: request-target is ASCII (RFC 3986 characters, non-ASCII percent-
  // encoded).
  if (high) return bad(kErrTarget);
  size_t qmark = target.find('?');
  out.uri = target.substr(0, qmark);
  if (qmark != std::string_view::npos) out.query = target.substr(qmark + 1);
  ++i;

  const size_t version_start = i;
  bool unused_high;
  i = scan_target(p, i, rl_scan_end, unused_high);
  if (too_long(i)) return fail(414, kErrUriTooLong);
  if (i >= n) return need_more;
  if (p[i] == '\r') {
    if (i + 1 >= n) return need_more;
    if (p[i + 1] != '\n') return bad(kErrBareCr);
  } else if (p[i] != '\n') {
    return bad(kErrRequestLine);  // extra SP or a control character
  }
  if (i == version_start) return bad(kErrRequestLine);
  std::string_view version(p + version_start, i - version_start);
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
  // Only 1.x is served; anything else in this position gets 505.
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
      version[7] > '9')
    return fail(505, kErrVersion);
  // The form of the target is tied to the method; checked after the version, so an
  // HTTP/2 preface ("PRI * HTTP/2.0") still gets its 505.
  if (!valid_target_form(out.method, target)) return bad(kErrTarget);
  out.proto = version;
  out.minor_version = version[7] == '0' ? 0 : 1;
  i += p[i] == '\r' ? 2 : 1;

  // Header fields (RFC 9112 §5): field-name ":" OWS field-value OWS.
  const size_t max_fields = limits.max_headers < storage.size() ? limits.max_headers : storage.size();
  FieldSummary f;
  if (ParseResult r = parse_fields(p, i, n, storage.data(), max_fields, need_more, f);
      r.status != ParseStatus::Complete)
    return r;

  out.headers = storage.data();
  out.num_headers = f.count;
  out.head_len = i;
  out.expect_continue = f.expect_continue;

  // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; more than one is refused for any version.
  if (f.host_count > 1 || (out.minor_version == 1 && f.host_count == 0)) return bad(kErrHost);
  if (f.cl_bad) return bad(kErrContentLength);
  // RFC 9112 §6.1: CL with TE is a smuggling signature; refuse instead of preferring TE.
  if (f.cl_count > 0 && f.te_count > 0) return bad(kErrClWithTe);
  if (f.te_count > 0) {
    // RFC 9112 §6.1: TE in HTTP/1.0 is a framing fault (400); unsupported codings are 501.
    if (out.minor_version == 0) return fail(400, kErrTe);
    if (f.te_count > 1 || !f.te_chunked) return fail(501, kErrTe);
    out.body_kind = BodyKind::Chunked;
  } else if (f.cl_count > 0) {
    out.body_kind = BodyKind::ContentLength;
    out.content_length = f.content_length;
  }
  out.keep_alive = !f.conn_close && (out.minor_version == 1 || f.conn_keep_alive);
  return ParseResult{ParseStatus::Complete, 0, {}};
}

}  // namespace mg::http
