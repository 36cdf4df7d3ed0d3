// Tests for src/core/codec/sntp.cpp (RFC 4330, spec §6.10): the request's bytes, and which
// replies are valid and what time they carry, at every length around 48 bytes.
#include <gtest/gtest.h>

#include <string>

#include "mg/sntp.hpp"

namespace sntp = mg::sntp;

namespace {

std::string reply(uint32_t ntp_secs, uint32_t frac, uint8_t mode = 4, uint8_t version = 4, uint8_t stratum = 1) {
  std::string r(48, '\0');
  r[0] = static_cast<char>(version << 3 | mode);
  r[1] = static_cast<char>(stratum);
  for (int i = 0; i < 4; i++) {
    r[40 + i] = static_cast<char>(ntp_secs >> (24 - 8 * i));
    r[44 + i] = static_cast<char>(frac >> (24 - 8 * i));
  }
  return r;
}

TEST(Sntp, RequestBytes) {
  char out[sntp::kMessageSize];
  sntp::encode_request(1700000000500ULL, out);
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x23);
  for (int i = 1; i < 40; i++) EXPECT_EQ(out[i], 0) << i;
  uint32_t secs = 0, frac = 0;
  for (int i = 0; i < 4; i++) {
    secs = secs << 8 | static_cast<unsigned char>(out[40 + i]);
    frac = frac << 8 | static_cast<unsigned char>(out[44 + i]);
  }
  EXPECT_EQ(secs, 1700000000u + sntp::kNtpToUnixSeconds);
  EXPECT_EQ(frac, 1u << 31);  // half a second
}

TEST(Sntp, ValidRepliesGiveUnixMilliseconds) {
  int64_t ms = 0;
  const uint32_t secs = static_cast<uint32_t>(1700000000ULL + sntp::kNtpToUnixSeconds);
  ASSERT_TRUE(sntp::parse_reply(reply(secs, 1u << 30), ms));
  EXPECT_EQ(ms, 1700000000250LL);
  EXPECT_TRUE(sntp::parse_reply(reply(secs, 0, 5), ms)) << "broadcast mode";
  EXPECT_TRUE(sntp::parse_reply(reply(secs, 0, 4, 3), ms)) << "version 3";
  EXPECT_TRUE(sntp::parse_reply(reply(secs, 0) + "extension", ms)) << "longer than 48 bytes";
  // RFC 4330 §3: a timestamp with the top bit clear is in era 1 (from 2036-02-07).
  ASSERT_TRUE(sntp::parse_reply(reply(1000, 0), ms));
  EXPECT_EQ(ms, ((1LL << 32) + 1000 - static_cast<int64_t>(sntp::kNtpToUnixSeconds)) * 1000);
}

TEST(Sntp, InvalidReplies) {
  int64_t ms = 0;
  const uint32_t secs = static_cast<uint32_t>(1700000000ULL + sntp::kNtpToUnixSeconds);
  std::string good = reply(secs, 0);
  for (size_t n = 0; n < 48; n++) EXPECT_FALSE(sntp::parse_reply(good.substr(0, n), ms)) << "length " << n;
  EXPECT_FALSE(sntp::parse_reply(reply(secs, 0, 3), ms)) << "client mode";
  EXPECT_FALSE(sntp::parse_reply(reply(secs, 0, 4, 4, 0), ms)) << "stratum 0 (kiss-o'-death)";
  EXPECT_FALSE(sntp::parse_reply(reply(secs, 0, 4, 2), ms)) << "version 2";
  EXPECT_FALSE(sntp::parse_reply(reply(secs, 0, 4, 5), ms)) << "version 5";
}

}  // namespace
