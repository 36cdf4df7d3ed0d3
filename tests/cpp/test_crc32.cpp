// Tests for src/core/util/crc32.cpp (values from zlib.crc32).
#include <gtest/gtest.h>

#include <string>

#include "mg/crc32.hpp"

TEST(Crc32, KnownValues) {
  EXPECT_EQ(mg::crc32(0, ""), 0u);
  EXPECT_EQ(mg::crc32(0, "123456789"), 0xCBF43926u);  // the CRC-32 check value
  EXPECT_EQ(mg::crc32(0, "The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  std::string all;
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(mg::crc32(0, all), 0xB70B4C26u);
}

TEST(Crc32, Incremental) {
  EXPECT_EQ(mg::crc32(mg::crc32(0, "hel"), "lo"), mg::crc32(0, "hello"));
  std::string s;
  for (int i = 0; i < 1000; ++i) s += static_cast<char>(i * 7 + 3);
  // Every split point, so the 8-byte and the byte-wise loops are both crossed.
  uint32_t whole = mg::crc32(0, s);
  for (size_t k = 0; k <= s.size(); k += 13)
    EXPECT_EQ(mg::crc32(mg::crc32(0, std::string_view(s).substr(0, k)), std::string_view(s).substr(k)), whole) << k;
  EXPECT_EQ(mg::crc32(whole, ""), whole);
}

TEST(Crc32, UnalignedInput) {
  std::string buf(64, 'x');
  std::string_view ref = "unaligned crc input of some length";
  uint32_t want = mg::crc32(0, ref);
  for (size_t off = 1; off < 9; ++off) {
    buf.replace(off, ref.size(), ref);
    EXPECT_EQ(mg::crc32(0, std::string_view(buf).substr(off, ref.size())), want);
  }
}
