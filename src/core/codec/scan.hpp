// Internal helpers shared by the HTTP request and response parsers (and the
// WebSocket codec's UTF-8 check). Not a public header: include with a relative path.
//
// Everything here is inline and operates on [p, end) spans the caller owns; nothing
// reads past `end`.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

#include "mg/http_parser.hpp"

namespace mg::http::detail {

// Byte classes. Constant tables only: the parsers keep no state between calls.
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
inline constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool has(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c; }

// Word-at-a-time helpers (bit tricks on 8 bytes, loaded with memcpy: no
// out-of-bounds or unaligned access; callers guarantee 8 bytes are in range).
inline constexpr uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kHigh = 0x8080808080808080ULL;
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

// Well-formed UTF-8 per RFC 3629 / Unicode Table 3-7: no overlongs, no surrogates
// (U+D800-DFFF), nothing above U+10FFFF, no truncated sequences. ASCII runs are
// skipped 8 bytes at a time.
inline bool valid_utf8(std::string_view s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8 && (load8(s.data() + i) & kHigh) == 0) {
      i += 8;
      continue;
    }
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
      if (c == 0xE0) lo = 0xA0;  // overlong below U+0800
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong below U+10000
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // continuation byte, C0/C1 overlong lead, F5-FF
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
inline bool parse_decimal(std::string_view s, uint64_t& out) {
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

inline constexpr std::string_view kErrBareCr = "HTTP parse error: bare CR";
inline constexpr std::string_view kErrObsFold = "HTTP parse error: obs-fold";
inline constexpr std::string_view kErrHeaderName = "HTTP parse error: header name";
inline constexpr std::string_view kErrHeaderValue = "HTTP parse error: header value";
inline constexpr std::string_view kErrVersion = "HTTP parse error: version";
inline constexpr std::string_view kErrContentLength = "HTTP parse error: content-length";
inline constexpr std::string_view kErrClWithTe = "HTTP parse error: content-length with transfer-encoding";
inline constexpr std::string_view kErrTe = "Invalid Transfer-Encoding";
inline constexpr std::string_view kErrHeaderLimit = "HTTP header limit exceeded";

inline ParseResult fail(int status, std::string_view msg) {
  return ParseResult{ParseStatus::Error, status, msg};
}
inline ParseResult bad(std::string_view msg) { return fail(400, msg); }

// Consumes the line ending at p[i] (RFC 9112 §2.2: CRLF, or a bare LF). Complete when
// taken; `need_more` if the input stops inside it; a bare CR or anything else is a 400
// (`other` names what the line was).
inline ParseResult take_eol(const char* p, size_t& i, size_t n, const ParseResult& need_more,
                            std::string_view other) {
  if (p[i] == '\r') {
    if (i + 1 >= n) return need_more;
    if (p[i + 1] != '\n') return bad(kErrBareCr);
    i += 2;
  } else if (p[i] == '\n') {
    ++i;
  } else {
    return bad(other);
  }
  return ParseResult{ParseStatus::Complete, 0, {}};
}

// What the header section says about framing and connection management,
// judged by the caller once the head is complete.
struct FieldSummary {
  size_t count = 0;
  size_t host_count = 0;
  size_t cl_count = 0;
  size_t te_count = 0;
  uint64_t content_length = 0;
  bool cl_bad = false;           // a Content-Length element not 1*DIGIT, or differing values
  bool te_chunked = false;       // the (last) Transfer-Encoding value is exactly "chunked"
  bool conn_close = false;       // "close" among the Connection tokens
  bool conn_keep_alive = false;  // "keep-alive" among the Connection tokens
  bool expect_continue = false;  // "Expect: 100-continue"
};

// Parses header fields (RFC 9112 §5: field-name ":" OWS field-value OWS) from
// p[i..n) up to and including the empty line ending the head; on Complete, `i` is
// just past that line. Returns `need_more` when the input ends first (the caller
// decides whether that is Incomplete or a limit error). Strict: obs-fold, bare
// CR, whitespace before ':', non-token names and CTL/NUL/DEL in values are errors;
// more than `max_fields` fields -> 431.
inline ParseResult parse_fields(const char* p, size_t& i, size_t n, Header* storage,
                                size_t max_fields, const ParseResult& need_more,
                                FieldSummary& s) {
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
    if (s.count == max_fields) return fail(431, kErrHeaderLimit);
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
    // NUL, another CTL or DEL ends the value early: a 400 (RFC 9110 §5.5).
    if (ParseResult r = take_eol(p, i, n, need_more, kErrHeaderValue); r.status != ParseStatus::Complete)
      return r;
    std::string_view value = trim_ows(std::string_view(p + value_start, value_end - value_start));
    storage[s.count++] = Header{name, value};

    // Remember what framing and connection management need; judged after the head.
    switch (name.size()) {
      case 4:
        if (iequals(name, "host")) ++s.host_count;
        break;
      case 6:
        if (iequals(name, "expect") && iequals(value, "100-continue")) s.expect_continue = true;
        break;
      case 10:
        if (iequals(name, "connection")) {
          for_each_element(value, [&](std::string_view tok) {
            if (iequals(tok, "close")) s.conn_close = true;
            else if (iequals(tok, "keep-alive")) s.conn_keep_alive = true;
          });
        }
        break;
      case 14:
        if (iequals(name, "content-length")) {
          // Duplicates (separate fields or a comma list) are accepted only if every
          // element is 1*DIGIT and all are equal (RFC 9112 §6.3 item 5, strict form).
          for_each_element(value, [&](std::string_view elem) {
            uint64_t v = 0;
            if (!parse_decimal(elem, v) || (s.cl_count > 0 && v != s.content_length)) s.cl_bad = true;
            s.content_length = v;
            ++s.cl_count;
          });
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) {
          ++s.te_count;
          // Only a lone "chunked" coding is supported; anything else (lists, gzip,
          // empty) is refused rather than guessed at (RFC 9112 §6.1).
          s.te_chunked = iequals(value, "chunked");
        }
        break;
      default:
        break;
    }
  }
  return ParseResult{ParseStatus::Complete, 0, {}};
}

// Skips empty lines before a start line (RFC 9112 §2.2). Returns Complete with `i`
// at the first byte of the start line, `need_more` if the input ends first, or a
// bare-CR error.
inline ParseResult skip_leading_empty_lines(const char* p, size_t& i, size_t n,
                                            const ParseResult& need_more) {
  for (;;) {
    if (i >= n) return need_more;
    if (p[i] == '\n') {
      ++i;
    } else if (p[i] == '\r') {
      if (i + 1 >= n) return need_more;
      if (p[i + 1] != '\n') return bad(kErrBareCr);
      i += 2;
    } else {
      return ParseResult{ParseStatus::Complete, 0, {}};
    }
  }
}

}  // namespace mg::http::detail
