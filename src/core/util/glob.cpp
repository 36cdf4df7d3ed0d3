// Glob matching with captures. Written for this project.
//
// A backward pass computes, for every pattern position i, the set F_i of character
// positions j such that pattern[i:] matches s[j:] (one bit per position). The sets right
// after each '*'/'#' are kept. A forward pass then gives each wildcard the shortest run
// that lands in the kept set after it, which yields the leftmost-shortest assignment
// without backtracking.
#include "mg/glob.hpp"

#include <algorithm>
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

// Positions 0..n of the subject as bits, 64 per word; bits above n stay zero. Each pattern
// token updates the set with word operations, so a step costs O(n / 64) plus, for a
// literal, one byte comparison per character.
using Bits = std::vector<uint64_t>;

bool get(const Bits& b, size_t i) { return (b[i / 64] >> (i % 64)) & 1; }

// new[j] = old[j + 1] & mask[j]: the character at j is consumed (literal or '?').
void step_one(Bits& b, const Bits& mask) {
  for (size_t i = 0; i < b.size(); ++i) {
    uint64_t next = i + 1 < b.size() ? b[i + 1] << 63 : 0;
    b[i] = ((b[i] >> 1) | next) & mask[i];
  }
}

// new[j] = old[j] | (allowed[j] & new[j + 1]): a run may end anywhere at or after j, crossing
// only allowed characters. Within a word the fill goes down in log steps (a parallel prefix);
// the lowest bit of a word carries into the top of the word below.
void step_run(Bits& b, const Bits& allowed) {
  uint64_t carry = 0;
  for (size_t i = b.size(); i-- > 0;) {
    uint64_t p = allowed[i];
    uint64_t g = b[i] | (carry << 63 & p);
    for (unsigned shift = 1; shift < 64; shift *= 2) {
      g |= p & (g >> shift);
      p &= p >> shift;
    }
    b[i] = g;
    carry = g & 1;
  }
}

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

  // Per character: its byte when it is a single byte, else 256 (compared as text).
  const size_t words = n / 64 + 1;
  std::vector<uint16_t> key(n);
  Bits no_slash(words, 0), any(words, 0);
  for (size_t k = 0; k < n; ++k) {
    key[k] = off[k + 1] - off[k] == 1 ? static_cast<unsigned char>(s[off[k]]) : 256;
    no_slash[k / 64] |= uint64_t{key[k] != '/'} << (k % 64);
    any[k / 64] |= uint64_t{1} << (k % 64);
  }

  // Backward pass.
  Bits cur(words, 0), eq(words);
  cur[n / 64] = uint64_t{1} << (n % 64);
  std::vector<Bits> after;  // F right after each run wildcard, last wildcard first
  after.reserve(runs);
  for (size_t t = toks.size(); t-- > 0;) {
    const Token& tok = toks[t];
    switch (tok.kind) {
      case Kind::Literal: {
        const unsigned want = tok.text.size() == 1 ? static_cast<unsigned char>(tok.text[0]) : 256;
        std::fill(eq.begin(), eq.end(), 0);
        for (size_t k = 0; k < n; ++k)
          if (key[k] == want && (want != 256 || ch(k) == tok.text)) eq[k / 64] |= uint64_t{1} << (k % 64);
        step_one(cur, eq);
        break;
      }
      case Kind::One:
        step_one(cur, any);
        break;
      case Kind::Run:
      case Kind::AnyRun:
        after.push_back(cur);
        step_run(cur, tok.kind == Kind::AnyRun ? any : no_slash);
        break;
    }
    if (std::all_of(cur.begin(), cur.end(), [](uint64_t word) { return word == 0; })) return false;
  }
  if (!get(cur, 0)) return false;
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
        while (!get(next, k)) ++k;  // exists: j is in F of this wildcard
        captures->push_back(s.substr(off[j], off[k] - off[j]));
        j = k;
        break;
      }
    }
  }
  return true;
}

}  // namespace mg
