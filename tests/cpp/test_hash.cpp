// Tests for src/core/util/hash.cpp: RFC 1321 / FIPS 180 / RFC 4231 test vectors.
#include <gtest/gtest.h>

#include <string>

#include "mg/hash.hpp"

namespace {

template <size_t N>
std::string hex(const uint8_t (&d)[N]) {
  static const char* x = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) s += x[b >> 4], s += x[b & 15];
  return s;
}

std::string md5(std::string_view s) {
  uint8_t d[mg::kMd5Size];
  EXPECT_TRUE(mg::md5(s, d));
  return hex(d);
}
std::string sha1(std::string_view s) {
  uint8_t d[mg::kSha1Size];
  EXPECT_TRUE(mg::sha1(s, d));
  return hex(d);
}
std::string sha256(std::string_view s) {
  uint8_t d[mg::kSha256Size];
  EXPECT_TRUE(mg::sha256(s, d));
  return hex(d);
}
std::string hmac(std::string_view k, std::string_view s) {
  uint8_t d[mg::kSha256Size];
  EXPECT_TRUE(mg::hmac_sha256(k, s, d));
  return hex(d);
}

}  // namespace

TEST(Hash, Md5Rfc1321) {
  EXPECT_EQ(md5(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Hash, Sha1) {
  EXPECT_EQ(sha1(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Hash, Sha256) {
  EXPECT_EQ(sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256(std::string("\0\xff", 2)), "06eb7d6a69ee19e5fbdf749018d3d2abfa04bcbd1365db312eb86dc7169389b8");  // binary-safe
}

TEST(Hash, HmacSha256Rfc4231) {
  // Test case 1
  EXPECT_EQ(hmac(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2
  EXPECT_EQ(hmac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(hmac(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hash, HmacEmptyKeyAndData) {
  EXPECT_EQ(hmac("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}
