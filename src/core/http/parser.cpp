// HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5, §6; RFC 9110 §5).
//
// Design: one left-to-right pass over the input. Every decision depends only on
// bytes already scanned, so a prefix of an input yields either Incomplete or the
// very same result as the whole input (the fuzzer checks this). Semantic checks
// that need the whole head (Host, Content-Length, Transfer-Encoding) run once the
// empty line ending the head has been seen.
#include "mg/http_parser.hpp"

#include <array>
#include <cstring>
#include <limits>

namespace mg::http {
namespace {

// Byte classes. Constant tables only: the parser keeps no state between calls.
enum : uint8_t {
  kTchar = 1,  // RFC 9110 §5.6.2 tchar
  kVchar = 2,  // 0x21-0x7E and obs-text 0x80-0xFF: allowed in targets and values
  kValue = 4,  // kVchar plus SP and HTAB (field-value content, RFC 9110 §5.5)
  kHex = 8,
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos))
      v |= kTchar;
    if ((c >= 0x21 && c <= 0x7E) || c >= 0x80) v |= kVchar | kValue;
    if (c == ' ' || c == '\t') v |= kValue;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    t[c] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool has(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c; }

// Word-at-a-time helpers (bit tricks on 8 bytes, loaded with memcpy: no
// out-of-bounds or unaligned access; callers guarantee 8 bytes are in range).
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;
inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
// Nonzero iff some byte of w is < n (n <= 128); bytes >= 0x80 never match.
inline uint64_t any_below(uint64_t w, uint8_t n) { return (w - kOnes * n) & ~w & kHigh; }
// Nonzero iff some byte of w equals b.
inline uint64_t any_equal(uint64_t w, uint8_t b) {
  uint64_t x = w ^ (kOnes * b);
  return (x - kOnes) & ~x & kHigh;
}

// Advances i over field-value bytes (HTAB, SP, VCHAR, obs-text) and returns the
// first index that is not one (or end).
inline size_t scan_value(const char* p, size_t i, size_t end) {
  while (end - i >= 8) {
    uint64_t w = load8(p + i);
    if (any_below(w, 0x20) | any_equal(w, 0x7F)) break;  // CR, LF, CTL or DEL inside: go slow
    i += 8;
  }
  while (i < end && has(p[i], kValue)) ++i;
  return i;
}

// Advances i over request-target bytes (VCHAR, obs-text); `high` collects whether
// any byte >= 0x80 was seen so UTF-8 validation only runs when needed.
inline size_t scan_target(const char* p, size_t i, size_t end, bool& high) {
  uint64_t acc = 0;
  while (end - i >= 8) {
    uint64_t w = load8(p + i);
    if (any_below(w, 0x21) | any_equal(w, 0x7F)) break;
    acc |= w;
    i += 8;
  }
  high = (acc & kHigh) != 0;
  for (; i < end && has(p[i], kVchar); ++i) high |= static_cast<unsigned char>(p[i]) >= 0x80;
  return i;
}

inline size_t scan_token(const char* p, size_t i, size_t end) {
  while (i < end && has(p[i], kTchar)) ++i;
  return i;
}

// Well-formed UTF-8 per Unicode Table 3-7 (no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = b[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len || b[i + 1] < lo || b[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k)
      if ((b[i + k] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each OWS-trimmed element of a comma-separated list
// (RFC 9110 §5.6.1). Empty elements are passed too; callers decide.
template <class F>
void for_each_element(std::string_view v, F&& f) {
  for (;;) {
    size_t comma = v.find(',');
    f(trim_ows(v.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// Content-Length = 1*DIGIT (RFC 9112 §6.3). Returns false on syntax or overflow.
bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    unsigned d = unsigned(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

constexpr std::string_view kErrMethod = "HTTP parse error: method";
constexpr std::string_view kErrTarget = "HTTP parse error: target";
constexpr std::string_view kErrRequestLine = "HTTP parse error: request line";
constexpr std::string_view kErrVersion = "HTTP parse error: version";
constexpr std::string_view kErrBareCr = "HTTP parse error: bare CR";
constexpr std::string_view kErrObsFold = "HTTP parse error: obs-fold";
constexpr std::string_view kErrHeaderName = "HTTP parse error: header name";
constexpr std::string_view kErrHeaderValue = "HTTP parse error: header value";
constexpr std::string_view kErrHost = "HTTP parse error: host";
constexpr std::string_view kErrContentLength = "HTTP parse error: content-length";
constexpr std::string_view kErrClWithTe = "HTTP parse error: content-length with transfer-encoding";
constexpr std::string_view kErrTe = "Invalid Transfer-Encoding";
constexpr std::string_view kErrUriTooLong = "URI too long";
constexpr std::string_view kErrHeaderLimit = "HTTP header limit exceeded";

inline ParseResult fail(int status, std::string_view msg) {
  return ParseResult{ParseStatus::Error, status, msg};
}
inline ParseResult bad(std::string_view msg) { return fail(400, msg); }

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;  // the common case: same spelling
    // Otherwise equal only if they are the two cases of one ASCII letter.
    const unsigned char folded = x | 0x20;
    if ((x ^ y) != 0x20 || folded < 'a' || folded > 'z') return false;
  }
  return true;
}

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
  for (;;) {
    if (i >= n) return need_more;
    if (p[i] == '\n') {
      ++i;
    } else if (p[i] == '\r') {
      if (i + 1 >= n) return need_more;
      if (p[i + 1] != '\n') return bad(kErrBareCr);
      i += 2;
    } else {
      break;
    }
  }

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
  if (high && !valid_utf8(target)) return bad(kErrTarget);
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
  out.proto = version;
  out.minor_version = version[7] == '0' ? 0 : 1;
  i += p[i] == '\r' ? 2 : 1;

  // Header fields (RFC 9112 §5): field-name ":" OWS field-value OWS.
  const size_t max_fields = limits.max_headers < storage.size() ? limits.max_headers : storage.size();
  size_t count = 0;
  size_t host_count = 0, cl_count = 0, te_count = 0;
  bool cl_bad = false, te_chunked = false, conn_close = false, conn_keep_alive = false;
  uint64_t content_length = 0;

  for (;;) {
    if (i >= n) return need_more;
    char c = p[i];
    if (c == '\n') {
      ++i;
      break;
    }
    if (c == '\r') {
      if (i + 1 >= n) return need_more;
      if (p[i + 1] != '\n') return bad(kErrBareCr);
      i += 2;
      break;
    }
    if (count == max_fields) return fail(431, kErrHeaderLimit);
    // A line starting with whitespace is obs-fold (RFC 9112 §5.2): reject, never unfold.
    if (c == ' ' || c == '\t') return bad(kErrObsFold);

    const size_t name_start = i;
    i = scan_token(p, i, n);
    if (i >= n) return need_more;
    // Whitespace before ':' must be rejected (RFC 9112 §5.1); so must any non-tchar.
    if (p[i] != ':' || i == name_start) return bad(kErrHeaderName);
    std::string_view name(p + name_start, i - name_start);
    ++i;

    const size_t value_start = i;
    i = scan_value(p, i, n);
    if (i >= n) return need_more;
    const size_t value_end = i;
    if (p[i] == '\r') {
      if (i + 1 >= n) return need_more;
      if (p[i + 1] != '\n') return bad(kErrBareCr);
      i += 2;
    } else if (p[i] == '\n') {
      ++i;
    } else {
      return bad(kErrHeaderValue);  // NUL, other CTL or DEL (RFC 9110 §5.5)
    }
    std::string_view value = trim_ows(std::string_view(p + value_start, value_end - value_start));
    storage[count++] = Header{name, value};

    // Remember what framing and connection management need; judged after the head.
    switch (name.size()) {
      case 4:
        if (iequals(name, "host")) ++host_count;
        break;
      case 6:
        if (iequals(name, "expect") && iequals(value, "100-continue")) out.expect_continue = true;
        break;
      case 10:
        if (iequals(name, "connection")) {
          for_each_element(value, [&](std::string_view tok) {
            if (iequals(tok, "close")) conn_close = true;
            else if (iequals(tok, "keep-alive")) conn_keep_alive = true;
          });
        }
        break;
      case 14:
        if (iequals(name, "content-length")) {
          // Duplicates (separate fields or a comma list) are accepted only if every
          // element is 1*DIGIT and all are equal (RFC 9112 §6.3 item 5, strict form).
          for_each_element(value, [&](std::string_view elem) {
            uint64_t v = 0;
            if (!parse_decimal(elem, v) || (cl_count > 0 && v != content_length)) cl_bad = true;
            content_length = v;
            ++cl_count;
          });
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) {
          ++te_count;
          // Only a lone "chunked" coding is supported; anything else (lists, gzip,
          // empty) is refused rather than guessed at (RFC 9112 §6.1).
          te_chunked = iequals(value, "chunked");
        }
        break;
      default:
        break;
    }
  }

  out.headers = storage.data();
  out.num_headers = count;
  out.head_len = i;

  // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; more than one is refused for any version.
  if (host_count > 1 || (out.minor_version == 1 && host_count == 0)) return bad(kErrHost);
  if (cl_bad) return bad(kErrContentLength);
  // RFC 9112 §6.1: CL with TE is a smuggling signature; refuse instead of preferring TE.
  if (cl_count > 0 && te_count > 0) return bad(kErrClWithTe);
  if (te_count > 0) {
    // RFC 9112 §6.1: TE in HTTP/1.0 is a framing fault (400); unsupported codings are 501.
    if (out.minor_version == 0) return fail(400, kErrTe);
    if (te_count > 1 || !te_chunked) return fail(501, kErrTe);
    out.body_kind = BodyKind::Chunked;
  } else if (cl_count > 0) {
    out.body_kind = BodyKind::ContentLength;
    out.content_length = content_length;
  }
  out.keep_alive = !conn_close && (out.minor_version == 1 || conn_keep_alive);
  return ParseResult{ParseStatus::Complete, 0, {}};
}

}  // namespace mg::http
