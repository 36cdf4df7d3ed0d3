// Glob matching with captures. Written for this project.
//
// A backward pass computes, for every pattern position i, the set F_i of character
// positions j such that pattern[i:] matches s[j:] (one bit per position). The sets right
// after each '*'/'#' are kept. A forward pass then gives each wildcard the shortest run
// that lands in the kept set after it, which yields the leftmost-shortest assignment
// without backtracking.
#include "mg/glob.hpp"

#include <cstdint>
#include <cstring>

namespace mg {

size_t utf8_char_len(const unsigned char* p, size_t avail) noexcept {
  const unsigned c = p[0];
  auto cont = [&](size_t k, unsigned lo, unsigned hi) { return k < avail && p[k] >= lo && p[k] <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 1;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 1;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 1;
  }
  return 1;
}

namespace {

class Bits {
 public:
  explicit Bits(size_t n) : w_((n + 63) / 64, 0) {}
  bool get(size_t i) const { return (w_[i / 64] >> (i % 64)) & 1; }
  void set(size_t i, bool v) {
    uint64_t b = uint64_t{1} << (i % 64);
    if (v) w_[i / 64] |= b;
    else w_[i / 64] &= ~b;
  }

 private:
  std::vector<uint64_t> w_;
};

enum class Kind : uint8_t { Literal, One, Run, AnyRun };  // x, ?, *, #

struct Token {
  Kind kind;
  std::string_view text;  // the literal character (Literal only)
};

// Character boundaries of a byte string: off[k] is the byte offset of character k, off[n]
// the length.
std::vector<size_t> boundaries(std::string_view s) {
  std::vector<size_t> off;
  off.reserve(s.size() + 1);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size(); i += utf8_char_len(p + i, s.size() - i)) off.push_back(i);
  off.push_back(s.size());
  return off;
}

}  // namespace

bool glob_match(std::string_view s, std::string_view pattern, std::vector<std::string_view>* captures) {
  if (captures) captures->clear();

  std::vector<Token> toks;
  toks.reserve(pattern.size());
  size_t runs = 0;  // '*' and '#'
  {
    const auto* p = reinterpret_cast<const unsigned char*>(pattern.data());
    for (size_t i = 0; i < pattern.size();) {
      size_t len = utf8_char_len(p + i, pattern.size() - i);
      char c = pattern[i];
      if (c == '?') toks.push_back({Kind::One, {}});
      else if (c == '*') toks.push_back({Kind::Run, {}}), ++runs;
      else if (c == '#') toks.push_back({Kind::AnyRun, {}}), ++runs;
      else toks.push_back({Kind::Literal, pattern.substr(i, len)});
      i += len;
    }
  }

  const std::vector<size_t> off = boundaries(s);
  const size_t n = off.size() - 1;  // characters in s
  auto ch = [&](size_t k) { return s.substr(off[k], off[k + 1] - off[k]); };
  auto is_slash = [&](size_t k) { return off[k + 1] - off[k] == 1 && s[off[k]] == '/'; };

  // Backward pass.
  Bits cur(n + 1);
  cur.set(n, true);
  std::vector<Bits> after;  // F right after each run wildcard, last wildcard first
  after.reserve(runs);
  for (size_t t = toks.size(); t-- > 0;) {
    const Token& tok = toks[t];
    switch (tok.kind) {
      case Kind::Literal:
      case Kind::One:
        // Ascending, so cur[j + 1] is still the old value when cur[j] is written.
        for (size_t j = 0; j < n; ++j)
          cur.set(j, cur.get(j + 1) && (tok.kind == Kind::One || ch(j) == tok.text));
        cur.set(n, false);
        break;
      case Kind::Run:
      case Kind::AnyRun:
        after.push_back(cur);
        // Descending: cur[j + 1] is already the new value (a run may end anywhere after j).
        for (size_t j = n; j-- > 0;)
          if (!cur.get(j) && cur.get(j + 1) && (tok.kind == Kind::AnyRun || !is_slash(j))) cur.set(j, true);
        break;
    }
  }
  if (!cur.get(0)) return false;
  if (!captures) return true;

  // Forward pass: shortest run per wildcard, in order.
  size_t j = 0;
  size_t w = runs;  // after[w - 1] belongs to the next run wildcard
  for (const Token& tok : toks) {
    switch (tok.kind) {
      case Kind::Literal:
        ++j;
        break;
      case Kind::One:
        captures->push_back(ch(j));
        ++j;
        break;
      case Kind::Run:
      case Kind::AnyRun: {
        const Bits& next = after[--w];
        size_t k = j;
        while (!next.get(k)) ++k;  // exists: j is in F of this wildcard
        captures->push_back(s.substr(off[j], off[k] - off[j]));
        j = k;
        break;
      }
    }
  }
  return true;
}

}  // namespace mg
