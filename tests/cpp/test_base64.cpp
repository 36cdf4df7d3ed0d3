#include <gtest/gtest.h>

#include <string>

#include "mg/base64.hpp"

namespace {

std::string dec(std::string_view s, bool* ok = nullptr) {
  std::string out = "garbage";
  bool r = mg::base64_decode(s, out);
  if (ok) *ok = r;
  if (!r) {
    EXPECT_TRUE(out.empty());
  }
  return out;
}

TEST(Base64, EncodeRfc4648Vectors) {
  EXPECT_EQ(mg::base64_encode(""), "");
  EXPECT_EQ(mg::base64_encode("f"), "Zg==");
  EXPECT_EQ(mg::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(mg::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(mg::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(mg::base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(mg::base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, EncodeBinaryAndHighAlphabet) {
  EXPECT_EQ(mg::base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  EXPECT_EQ(mg::base64_encode(std::string("\0\0\0", 3)), "AAAA");
  EXPECT_EQ(mg::base64_encode(std::string("\xff", 1)), "/w==");
}

TEST(Base64, DecodeRfc4648Vectors) {
  bool ok = false;
  EXPECT_EQ(dec("", &ok), "");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zg==", &ok), "f");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zm8="), "fo");
  EXPECT_EQ(dec("Zm9v"), "foo");
  EXPECT_EQ(dec("Zm9vYg=="), "foob");
  EXPECT_EQ(dec("Zm9vYmE="), "fooba");
  EXPECT_EQ(dec("Zm9vYmFy"), "foobar");
  EXPECT_EQ(dec("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64, RoundTripAllLengthsAndBytes) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    std::string out;
    std::string enc = mg::base64_encode(data);
    EXPECT_EQ(enc.size() % 4, 0u);
    ASSERT_TRUE(mg::base64_decode(enc, out)) << i;
    EXPECT_EQ(out, data) << i;
    data.push_back(static_cast<char>(i * 37 + 11));
  }
}

TEST(Base64, TrailingIncompleteQuartetIgnored) {
  bool ok = false;
  EXPECT_EQ(dec("Zm9vY", &ok), "foo");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zm9vYm", &ok), "foo");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zm9vYmF", &ok), "foo");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zg", &ok), "");
  EXPECT_TRUE(ok);
  EXPECT_EQ(dec("Zg=", &ok), "");
  EXPECT_TRUE(ok);
}

TEST(Base64, InvalidCharactersRejected) {
  bool ok = true;
  for (const char* s : {"Zm9v!", "Zm 9v", "Zm9\n", "Zm-_", "Zm9v\xc3\xa9", "====", "Z===",
                        "Zm=v", "Zg==Zm9v", "Zg==Z", "=m9v", "Z=9v", "Zm9v YmFy"}) {
    dec(s, &ok);
    EXPECT_FALSE(ok) << s;
  }
  dec(std::string_view("Zm9v\0", 5), &ok);
  EXPECT_FALSE(ok);
  dec("Zm9vYg==\n", &ok);  // invalid character in the ignored tail still counts
  EXPECT_FALSE(ok);
}

TEST(Base64, PaddingOnlyInLastQuartet) {
  bool ok = true;
  dec("Zm8=Zm9v", &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(dec("Zm8=", &ok), "fo");
  EXPECT_TRUE(ok);
}

}  // namespace
