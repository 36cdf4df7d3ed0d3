// Tests for src/core/util/random.cpp (OS CSPRNG).
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>

#include "mg/random.hpp"

TEST(Random, FillsAndDiffers) {
  std::array<unsigned char, 32> a{}, b{};
  ASSERT_TRUE(mg::random_fill(a.data(), a.size()));
  ASSERT_TRUE(mg::random_fill(b.data(), b.size()));
  EXPECT_NE(a, b);  // 2^-256
  EXPECT_TRUE(mg::random_fill(nullptr, 0));
}

TEST(Random, LargeRequest) {
  std::string big(1 << 20, '\0');
  ASSERT_TRUE(mg::random_fill(big.data(), big.size()));
  size_t zeros = 0;
  for (char c : big) zeros += c == 0;
  EXPECT_LT(zeros, 5000u);  // expected 4096
}

TEST(RandomAlnum, AlphabetAndLength) {
  for (size_t n : {0u, 1u, 7u, 62u, 255u, 256u, 1000u, 100000u}) {
    std::string s(n, '\0');
    ASSERT_TRUE(mg::random_alnum(s.data(), n));
    for (char c : s) ASSERT_TRUE(isalnum(static_cast<unsigned char>(c))) << int(c);
  }
}

TEST(RandomAlnum, RoughlyUniform) {
  std::string s(62 * 2000, '\0');
  ASSERT_TRUE(mg::random_alnum(s.data(), s.size()));
  std::array<int, 256> count{};
  for (char c : s) count[static_cast<unsigned char>(c)]++;
  std::set<char> seen;
  for (int c = 0; c < 256; ++c)
    if (count[c]) {
      seen.insert(static_cast<char>(c));
      EXPECT_GT(count[c], 1700) << char(c);  // mean 2000, sd ~44
      EXPECT_LT(count[c], 2300) << char(c);
    }
  EXPECT_EQ(seen.size(), 62u);
}
