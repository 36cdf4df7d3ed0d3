// Tests for src/core/util/glob.cpp (spec §4 match).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mg/glob.hpp"

using Caps = std::vector<std::string>;

namespace {

// (matched, captures as strings)
std::pair<bool, Caps> m(std::string_view s, std::string_view p) {
  std::vector<std::string_view> caps;
  bool ok = mg::glob_match(s, p, &caps);
  Caps out(caps.begin(), caps.end());
  // Captures are views into s.
  for (std::string_view c : caps)
    if (!c.empty()) EXPECT_TRUE(c.data() >= s.data() && c.data() + c.size() <= s.data() + s.size());
  EXPECT_EQ(ok, mg::glob_match(s, p)) << "with and without captures must agree";
  return {ok, out};
}

const std::pair<bool, Caps> kNo{false, {}};

}  // namespace

TEST(Glob, SpecExamples) {
  EXPECT_EQ(m("/api/users/42", "/api/*/??"), (std::pair<bool, Caps>{true, {"users", "4", "2"}}));
  EXPECT_EQ(m("foo/bar", "*"), kNo);
  EXPECT_EQ(m("/a/b/c.txt", "#.txt"), (std::pair<bool, Caps>{true, {"/a/b/c"}}));
  EXPECT_EQ(m("", ""), (std::pair<bool, Caps>{true, {}}));
}

TEST(Glob, Literals) {
  EXPECT_EQ(m("abc", "abc"), (std::pair<bool, Caps>{true, {}}));
  EXPECT_EQ(m("abc", "abd"), kNo);
  EXPECT_EQ(m("abc", "ABC"), kNo);  // case-sensitive
  EXPECT_EQ(m("abc", "ab"), kNo);   // whole string
  EXPECT_EQ(m("ab", "abc"), kNo);
  EXPECT_EQ(m("", "a"), kNo);
  EXPECT_EQ(m("a", ""), kNo);
  EXPECT_EQ(m("[a]", "[a]"), (std::pair<bool, Caps>{true, {}}));  // no character classes
}

TEST(Glob, QuestionMark) {
  EXPECT_EQ(m("abc", "???"), (std::pair<bool, Caps>{true, {"a", "b", "c"}}));
  EXPECT_EQ(m("a/c", "a?c"), (std::pair<bool, Caps>{true, {"/"}}));  // any character, '/' too
  EXPECT_EQ(m("", "?"), kNo);
  EXPECT_EQ(m("ab", "?"), kNo);
}

TEST(Glob, StarStopsAtSlash) {
  EXPECT_EQ(m("", "*"), (std::pair<bool, Caps>{true, {""}}));
  EXPECT_EQ(m("abc", "a*"), (std::pair<bool, Caps>{true, {"bc"}}));
  EXPECT_EQ(m("a/b", "*"), kNo);
  EXPECT_EQ(m("x/y", "x/*"), (std::pair<bool, Caps>{true, {"y"}}));
  EXPECT_EQ(m("x/y/", "x/*/"), (std::pair<bool, Caps>{true, {"y"}}));
  EXPECT_EQ(m("x//", "x/*/"), (std::pair<bool, Caps>{true, {""}}));
}

TEST(Glob, HashCrossesSlash) {
  EXPECT_EQ(m("", "#"), (std::pair<bool, Caps>{true, {""}}));
  EXPECT_EQ(m("a/b", "#"), (std::pair<bool, Caps>{true, {"a/b"}}));
  EXPECT_EQ(m("/api/v1/x", "/api/#"), (std::pair<bool, Caps>{true, {"v1/x"}}));
  EXPECT_EQ(m("/api", "/api/#"), kNo);
}

TEST(Glob, EarliestWildcardShortest) {
  EXPECT_EQ(m("a.b.c", "*.*"), (std::pair<bool, Caps>{true, {"a", "b.c"}}));
  EXPECT_EQ(m("a.b.c", "#.#"), (std::pair<bool, Caps>{true, {"a", "b.c"}}));
  EXPECT_EQ(m("aaa", "*a*"), (std::pair<bool, Caps>{true, {"", "aa"}}));
  EXPECT_EQ(m("abc", "**"), (std::pair<bool, Caps>{true, {"", "abc"}}));
  EXPECT_EQ(m("abc", "*?"), (std::pair<bool, Caps>{true, {"ab", "c"}}));
  EXPECT_EQ(m("abc", "?*"), (std::pair<bool, Caps>{true, {"a", "bc"}}));
  EXPECT_EQ(m("abab", "*b"), (std::pair<bool, Caps>{true, {"aba"}}));
  EXPECT_EQ(m("ab/cd/ef", "#/#"), (std::pair<bool, Caps>{true, {"ab", "cd/ef"}}));
}

TEST(Glob, BacktracksAcrossWildcardKinds) {
  // The shortest '#' would leave a '/' for the '*': the matcher must give '#' more.
  EXPECT_EQ(m("a/b/c", "#/*"), (std::pair<bool, Caps>{true, {"a/b", "c"}}));
  EXPECT_EQ(m("/x/y/z", "/#/*"), (std::pair<bool, Caps>{true, {"x/y", "z"}}));
  EXPECT_EQ(m("a/b/c", "*/#"), (std::pair<bool, Caps>{true, {"a", "b/c"}}));
  EXPECT_EQ(m("a/b/c", "#/#/#"), (std::pair<bool, Caps>{true, {"a", "b", "c"}}));
  EXPECT_EQ(m("a/b/c", "*/*"), kNo);
  EXPECT_EQ(m("a/bx/cx/d", "#x/*"), (std::pair<bool, Caps>{true, {"a/bx/c", "d"}}));
}

TEST(Glob, WildcardsAreNotEscapable) {
  EXPECT_EQ(m("a*b", "a*b"), (std::pair<bool, Caps>{true, {"*"}}));
  EXPECT_EQ(m("a#b", "a?b"), (std::pair<bool, Caps>{true, {"#"}}));
}

TEST(Glob, NoCaptureLimit) {
  std::string s(100, 'x'), p(100, '?');
  auto r = m(s, p);
  EXPECT_TRUE(r.first);
  EXPECT_EQ(r.second.size(), 100u);
  std::string stars(50, '*');
  auto r2 = m("abc", stars);
  ASSERT_TRUE(r2.first);
  ASSERT_EQ(r2.second.size(), 50u);
  EXPECT_EQ(r2.second.back(), "abc");
}

TEST(Glob, Utf8Characters) {
  // '?' is one character, not one byte.
  EXPECT_EQ(m("caf\xC3\xA9", "caf?"), (std::pair<bool, Caps>{true, {"\xC3\xA9"}}));
  EXPECT_EQ(m("\xF0\x9F\x98\x80!", "??"), (std::pair<bool, Caps>{true, {"\xF0\x9F\x98\x80", "!"}}));
  EXPECT_EQ(m("\xE2\x82\xAC", "???"), kNo);
  EXPECT_EQ(m("x\xC3\xA9y", "x*y"), (std::pair<bool, Caps>{true, {"\xC3\xA9"}}));
  EXPECT_EQ(m("\xC3\xA9", "\xC3\xA9"), (std::pair<bool, Caps>{true, {}}));
}

TEST(Glob, InvalidUtf8BytesAreSingleCharacters) {
  // As Python's surrogateescape: each byte of an invalid sequence is one character.
  EXPECT_EQ(m("\xFF\xFE", "??"), (std::pair<bool, Caps>{true, {"\xFF", "\xFE"}}));
  EXPECT_EQ(m("\xE2\x82" "A", "???"), (std::pair<bool, Caps>{true, {"\xE2", "\x82", "A"}}));
  EXPECT_EQ(m("\xED\xA0\x80", "???"), (std::pair<bool, Caps>{true, {"\xED", "\xA0", "\x80"}}));  // surrogate
  EXPECT_EQ(m("\xC0\xAF", "??"), (std::pair<bool, Caps>{true, {"\xC0", "\xAF"}}));  // overlong
  // A lone lead byte in the pattern does not match half of a character.
  EXPECT_EQ(m("\xC3\xA9", "\xC3?"), kNo);
}

TEST(Glob, Utf8CharLen) {
  auto len = [](std::string_view s) {
    return mg::utf8_char_len(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  EXPECT_EQ(len("a"), 1u);
  EXPECT_EQ(len("\xC3\xA9"), 2u);
  EXPECT_EQ(len("\xC3"), 1u);
  EXPECT_EQ(len("\xC1\xBF"), 1u);
  EXPECT_EQ(len("\xE0\x9F\xBF"), 1u);  // overlong 3-byte
  EXPECT_EQ(len("\xE0\xA0\x80"), 3u);
  EXPECT_EQ(len("\xED\x9F\xBF"), 3u);
  EXPECT_EQ(len("\xED\xA0\x80"), 1u);  // surrogate
  EXPECT_EQ(len("\xF0\x90\x80\x80"), 4u);
  EXPECT_EQ(len("\xF0\x8F\xBF\xBF"), 1u);
  EXPECT_EQ(len("\xF4\x8F\xBF\xBF"), 4u);
  EXPECT_EQ(len("\xF4\x90\x80\x80"), 1u);  // above U+10FFFF
  EXPECT_EQ(len("\xF5\x80\x80\x80"), 1u);
  EXPECT_EQ(len("\x80"), 1u);
}

TEST(Glob, LargeInputsStayPolynomial) {
  // Classic exponential-backtracking pattern: answered by the bit-set passes at once.
  std::string s(2000, 'a');
  std::string p;
  for (int i = 0; i < 20; ++i) p += "*a";
  p += "b";
  EXPECT_EQ(m(s, p), kNo);
  std::string s2 = std::string(3000, 'a') + "/" + std::string(3000, 'a');
  EXPECT_EQ(m(s2, "#a*a#b"), kNo);
  auto r = m(s2, "#/*");
  EXPECT_TRUE(r.first);
  EXPECT_EQ(r.second[0].size(), 3000u);
}

// The engine keeps 64 subject positions per machine word; runs and single characters must
// carry across word boundaries (at 63/64, 127/128 ...) in both directions.
TEST(Glob, LongSubjectsAcrossWordBoundaries) {
  for (size_t len : {62u, 63u, 64u, 65u, 127u, 128u, 129u, 200u}) {
    const std::string a(len, 'a');
    EXPECT_EQ(m(a, "*"), (std::pair<bool, Caps>{true, {a}})) << len;
    EXPECT_EQ(m(a, "#"), (std::pair<bool, Caps>{true, {a}})) << len;
    EXPECT_EQ(m(a, std::string(len, '?')).first, true) << len;
    EXPECT_EQ(m(a, std::string(len + 1, '?')), kNo) << len;
    EXPECT_EQ(m(a + "/" + a, "*/*"), (std::pair<bool, Caps>{true, {a, a}})) << len;
    EXPECT_EQ(m(a + "/" + a, "*"), kNo) << len;                        // the slash blocks a '*'
    EXPECT_EQ(m(a + "/" + a + "b", "#b"), (std::pair<bool, Caps>{true, {a + "/" + a}})) << len;
    EXPECT_EQ(m(a + "b" + a, "*b*"), (std::pair<bool, Caps>{true, {a, a}})) << len;
    EXPECT_EQ(m(a + "b" + a + "b", "*b*"), (std::pair<bool, Caps>{true, {a, a + "b"}})) << len;
    EXPECT_EQ(m("x" + a + "/y", "x*?y"), (std::pair<bool, Caps>{true, {a, "/"}})) << len;
    EXPECT_EQ(m(a + "/", "*?"), (std::pair<bool, Caps>{true, {a, "/"}})) << len;
    EXPECT_EQ(m("/" + a, "*?"), kNo) << len;                           // '*' would have to hold "/"
    EXPECT_EQ(m("/" + a, "*#"), (std::pair<bool, Caps>{true, {"", "/" + a}})) << len;
  }
}
