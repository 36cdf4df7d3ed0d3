// libFuzzer target: glob matching with captures (mg/glob.hpp).
//
// Input layout: byte 0 = pattern length n (mod the input size), then n pattern bytes, then
// the subject string; both in exact-size heap blocks. Invariants: with and without captures
// agree; substituting the captures into the pattern's wildcards rebuilds the subject;
// '?' captures are one character, '*' captures contain no '/'; for subjects up to 200 bytes
// (and patterns up to 24 characters) the result and captures equal a backtracking
// reference that tries shorter runs first.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "mg/glob.hpp"

#include "check.hpp"

namespace {

std::vector<std::string_view> chars(std::string_view s) {
  std::vector<std::string_view> out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t n = mg::utf8_char_len(p + i, s.size() - i);
    CHECK(n >= 1 && n <= 4 && i + n <= s.size());
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Reference: plain backtracking over characters, shorter runs first. Whether p[i:] matches
// s[j:] does not depend on the captures so far, so a (i, j) that failed once is skipped
// afterwards: the search order (and so the captures) stays that of plain backtracking, but
// the cost is polynomial, which lets the reference cover subjects several words long.
struct Ref {
  const std::vector<std::string_view>& s;
  const std::vector<std::string_view>& p;
  std::vector<char> failed = std::vector<char>((s.size() + 1) * (p.size() + 1), 0);
  std::vector<std::string> caps;

  bool match(size_t j, size_t i) {
    char& memo = failed[i * (s.size() + 1) + j];
    if (memo) return false;
    bool ok = step(j, i);
    if (!ok) memo = 1;
    return ok;
  }

  bool step(size_t j, size_t i) {
    if (i == p.size()) return j == s.size();
    std::string_view c = p[i];
    if (c == "?") {
      if (j == s.size()) return false;
      caps.emplace_back(s[j]);
      if (match(j + 1, i + 1)) return true;
      caps.pop_back();
      return false;
    }
    if (c == "*" || c == "#") {
      std::string run;
      for (size_t k = j;; ++k) {
        caps.push_back(run);
        if (match(k, i + 1)) return true;
        caps.pop_back();
        if (k == s.size() || (c == "*" && s[k] == "/")) return false;
        run += s[k];
      }
    }
    return j < s.size() && s[j] == c && match(j + 1, i + 1);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t n = data[0] % size;
  std::unique_ptr<char[]> pb(new char[n ? n : 1]), sb(new char[size - 1 - n ? size - 1 - n : 1]);
  if (n) std::memcpy(pb.get(), data + 1, n);
  if (size - 1 - n) std::memcpy(sb.get(), data + 1 + n, size - 1 - n);
  std::string_view pat(pb.get(), n), s(sb.get(), size - 1 - n);

  std::vector<std::string_view> caps;
  bool ok = mg::glob_match(s, pat, &caps);
  CHECK(ok == mg::glob_match(s, pat));
  std::vector<std::string_view> pc = chars(pat);
  if (!ok) {
    CHECK(caps.empty());
  } else {
    std::string rebuilt;
    size_t k = 0;
    for (std::string_view c : pc) {
      if (c == "?" || c == "*" || c == "#") {
        CHECK(k < caps.size());
        std::string_view cap = caps[k++];
        CHECK(cap.empty() || (cap.data() >= s.data() && cap.data() + cap.size() <= s.data() + s.size()));
        if (c == "?") CHECK(chars(cap).size() == 1);
        if (c == "*") CHECK(cap.find('/') == std::string_view::npos);
        rebuilt += cap;
      } else {
        rebuilt += c;
      }
    }
    CHECK(k == caps.size());
    CHECK(rebuilt == s);
  }
  // Subjects up to 200 bytes: the engine's bit sets then span up to four 64-bit words.
  if (s.size() <= 200 && pc.size() <= 24) {
    std::vector<std::string_view> sc = chars(s);
    Ref ref{sc, pc};
    bool rok = ref.match(0, 0);
    CHECK(rok == ok);
    if (ok) {
      CHECK(ref.caps.size() == caps.size());
      for (size_t i = 0; i < caps.size(); ++i) CHECK(ref.caps[i] == caps[i]);
    }
  }
  return 0;
}
