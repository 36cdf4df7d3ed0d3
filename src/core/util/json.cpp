// JSON path access: a validating, non-recursive tokenizer (RFC 8259). Written for this
// project; see mg/json.hpp for the exact rules.
#include "mg/json.hpp"

#include <locale.h>
#include <stdlib.h>

#include <cstring>
#include <limits>

namespace mg::json {
namespace {

using P = const char*;

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline P skip_ws(P p, P e) {
  while (p < e && is_ws(*p)) ++p;
  return p;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// p at the opening quote; returns the byte after the closing quote, or nullptr.
// *escaped is set if the string contains a backslash escape.
P scan_string(P p, P e, bool* escaped) {
  ++p;
  while (p < e) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p + 1;
    if (c < 0x20) return nullptr;  // control characters must be escaped
    if (c != '\\') {
      ++p;
      continue;
    }
    if (escaped) *escaped = true;
    if (++p >= e) return nullptr;
    switch (*p) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        ++p;
        break;
      case 'u':
        if (e - p < 5) return nullptr;
        for (int k = 1; k <= 4; ++k)
          if (hex_value(p[k]) < 0) return nullptr;
        p += 5;
        break;
      default:
        return nullptr;
    }
  }
  return nullptr;
}

// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
P scan_number(P p, P e) {
  if (p < e && *p == '-') ++p;
  if (p >= e) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < e && is_digit(*p)) ++p;
  } else {
    return nullptr;
  }
  if (p < e && *p == '.') {
    ++p;
    if (p >= e || !is_digit(*p)) return nullptr;
    while (p < e && is_digit(*p)) ++p;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < e && (*p == '+' || *p == '-')) ++p;
    if (p >= e || !is_digit(*p)) return nullptr;
    while (p < e && is_digit(*p)) ++p;
  }
  return p;
}

P scan_literal(P p, P e, std::string_view word) {
  if (static_cast<size_t>(e - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0) return nullptr;
  return p + word.size();
}

// p at the first byte of a value (no leading whitespace); returns the byte after it.
P skip_value(P p, P e) {
  uint64_t kinds[kMaxDepth / 64];  // bit set: object, clear: array (written before read)
  size_t depth = 0;
  enum { kValue, kKey, kAfter } state = kValue;
  for (;;) {
    switch (state) {
      case kValue:
        if (p >= e) return nullptr;
        switch (*p) {
          case '{':
          case '[': {
            if (depth == kMaxDepth) return nullptr;
            const bool obj = *p == '{';
            uint64_t bit = uint64_t{1} << (depth % 64);
            uint64_t& word = kinds[depth / 64];
            if (depth % 64 == 0) word = obj ? bit : 0;  // first use of this word: no stale read
            else if (obj) word |= bit;
            else word &= ~bit;
            ++depth;
            p = skip_ws(p + 1, e);
            if (p < e && *p == (obj ? '}' : ']')) {
              ++p;
              --depth;
              state = kAfter;
            } else {
              state = obj ? kKey : kValue;
            }
            continue;
          }
          case '"': p = scan_string(p, e, nullptr); break;
          case 't': p = scan_literal(p, e, "true"); break;
          case 'f': p = scan_literal(p, e, "false"); break;
          case 'n': p = scan_literal(p, e, "null"); break;
          default: p = scan_number(p, e); break;
        }
        if (p == nullptr) return nullptr;
        state = kAfter;
        continue;
      case kKey:
        if (p >= e || *p != '"') return nullptr;
        p = scan_string(p, e, nullptr);
        if (p == nullptr) return nullptr;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return nullptr;
        p = skip_ws(p + 1, e);
        state = kValue;
        continue;
      case kAfter: {
        if (depth == 0) return p;
        p = skip_ws(p, e);
        if (p >= e) return nullptr;
        const bool obj = (kinds[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
        if (*p == ',') {
          p = skip_ws(p + 1, e);
          state = obj ? kKey : kValue;
        } else if (*p == (obj ? '}' : ']')) {
          ++p;
          --depth;
        } else {
          return nullptr;
        }
        continue;
      }
    }
  }
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t hex4(P p) {
  return static_cast<uint32_t>(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 | hex_value(p[3]));
}

// Unescapes the content of a string already validated by scan_string (between the quotes).
bool unescape(P p, P e, std::string& out) {
  out.clear();
  out.reserve(static_cast<size_t>(e - p));
  while (p < e) {
    if (*p != '\\') {
      P q = p;
      while (q < e && *q != '\\') ++q;
      out.append(p, q);
      p = q;
      continue;
    }
    ++p;
    switch (*p++) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      default: {  // 'u' (scan_string admits nothing else)
        uint32_t cp = hex4(p);
        p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (e - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
          uint32_t lo = hex4(p + 2);
          if (lo < 0xDC00 || lo > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
        put_utf8(out, cp);
      }
    }
  }
  return true;
}

bool key_equals(P k, P ke, bool escaped, std::string_view key) {
  if (!escaped) return std::string_view(k, static_cast<size_t>(ke - k)) == key;
  std::string tmp;
  return unescape(k, ke, tmp) && tmp == key;
}

bool is_number_token(std::string_view raw) {
  P e = raw.data() + raw.size();
  return !raw.empty() && scan_number(raw.data(), e) == e;
}

}  // namespace

std::optional<std::string_view> get(std::string_view doc, std::string_view path) {
  if (path.empty() || path[0] != '$') return std::nullopt;
  P p = skip_ws(doc.data(), doc.data() + doc.size());
  P const e = doc.data() + doc.size();
  char close = 0;  // closing bracket of the container holding the current value; 0 at the root
  size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t j = i + 1;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      if (j == i + 1) return std::nullopt;  // empty key
      std::string_view key = path.substr(i + 1, j - i - 1);
      i = j;
      if (p >= e || *p != '{') return std::nullopt;
      p = skip_ws(p + 1, e);
      for (;;) {
        if (p >= e || *p != '"') return std::nullopt;  // also '}': the member is absent
        bool escaped = false;
        P ks = p;
        p = scan_string(p, e, &escaped);
        if (p == nullptr) return std::nullopt;
        bool match = key_equals(ks + 1, p - 1, escaped, key);
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return std::nullopt;
        p = skip_ws(p + 1, e);
        if (match) break;
        p = skip_value(p, e);
        if (p == nullptr) return std::nullopt;
        p = skip_ws(p, e);
        if (p >= e || *p != ',') return std::nullopt;
        p = skip_ws(p + 1, e);
      }
      close = '}';
    } else if (path[i] == '[') {
      size_t j = i + 1;
      uint64_t index = 0;
      bool huge = false;
      while (j < path.size() && is_digit(path[j])) {
        if (index > (std::numeric_limits<uint64_t>::max() - 9) / 10) huge = true;
        else index = index * 10 + static_cast<uint64_t>(path[j] - '0');
        ++j;
      }
      if (j == i + 1 || j >= path.size() || path[j] != ']' || huge) return std::nullopt;
      i = j + 1;
      if (p >= e || *p != '[') return std::nullopt;
      p = skip_ws(p + 1, e);
      if (p < e && *p == ']') return std::nullopt;  // empty array
      for (uint64_t n = 0; n < index; ++n) {
        p = skip_value(p, e);
        if (p == nullptr) return std::nullopt;
        p = skip_ws(p, e);
        if (p >= e || *p != ',') return std::nullopt;  // ']': out of range
        p = skip_ws(p + 1, e);
      }
      close = ']';
    } else {
      return std::nullopt;
    }
  }
  P start = p;
  P end = skip_value(p, e);
  if (end == nullptr) return std::nullopt;
  P next = skip_ws(end, e);
  if (close == 0 ? next != e : (next >= e || (*next != ',' && *next != close))) return std::nullopt;
  return std::string_view(start, static_cast<size_t>(end - start));
}

std::optional<double> number_value(std::string_view raw) {
  if (!is_number_token(raw)) return std::nullopt;
  // strtod_l in the C locale: correctly rounded, +-HUGE_VAL (inf) on overflow, +-0 or a
  // subnormal on underflow, whatever LC_NUMERIC the program chose.
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  std::string text(raw);
  return strtod_l(text.c_str(), nullptr, c_locale);
}

std::optional<int64_t> long_value(std::string_view raw) {
  if (!is_number_token(raw)) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (raw.find_first_of(".eE") == std::string_view::npos) {
    const bool neg = raw[0] == '-';
    // Accumulate the magnitude as unsigned; 2^63 fits, so INT64_MIN is exact.
    uint64_t mag = 0;
    const uint64_t limit = neg ? uint64_t{1} << 63 : static_cast<uint64_t>(kMax);
    for (size_t k = neg ? 1 : 0; k < raw.size(); ++k) {
      uint64_t d = static_cast<uint64_t>(raw[k] - '0');
      if (mag > (limit - d) / 10) return neg ? kMin : kMax;
      mag = mag * 10 + d;
    }
    if (!neg) return static_cast<int64_t>(mag);
    return mag == (uint64_t{1} << 63) ? kMin : -static_cast<int64_t>(mag);
  }
  double d = *number_value(raw);
  if (d >= 9223372036854775808.0) return kMax;
  if (d <= -9223372036854775808.0) return kMin;
  return static_cast<int64_t>(d);  // truncates toward zero
}

std::optional<std::string> string_value(std::string_view raw) {
  if (raw.size() < 2 || raw[0] != '"') return std::nullopt;
  P e = raw.data() + raw.size();
  if (scan_string(raw.data(), e, nullptr) != e) return std::nullopt;
  std::string out;
  if (!unescape(raw.data() + 1, e - 1, out)) return std::nullopt;
  return out;
}

std::optional<double> get_number(std::string_view doc, std::string_view path) {
  auto raw = get(doc, path);
  return raw ? number_value(*raw) : std::nullopt;
}

std::optional<bool> get_bool(std::string_view doc, std::string_view path) {
  auto raw = get(doc, path);
  if (!raw) return std::nullopt;
  if (*raw == "true") return true;
  if (*raw == "false") return false;
  return std::nullopt;
}

std::optional<int64_t> get_long(std::string_view doc, std::string_view path) {
  auto raw = get(doc, path);
  return raw ? long_value(*raw) : std::nullopt;
}

std::optional<std::string> get_string(std::string_view doc, std::string_view path) {
  auto raw = get(doc, path);
  return raw ? string_value(*raw) : std::nullopt;
}

}  // namespace mg::json
