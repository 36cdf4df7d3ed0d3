// SNTP messages (RFC 4330 §4-5). Timestamps are 64-bit fixed point: seconds since 1900
// (32 bits, big endian), then a 32-bit binary fraction of a second.
#include "mg/sntp.hpp"

#include <cstring>

namespace mg::sntp {

void encode_request(uint64_t unix_ms, char out[kMessageSize]) {
  std::memset(out, 0, kMessageSize);
  out[0] = 0x23;  // LI 0, VN 4, mode 3 (client)
  const uint64_t secs = unix_ms / 1000 + kNtpToUnixSeconds;
  const uint64_t frac = ((unix_ms % 1000) << 32) / 1000;
  for (int i = 0; i < 4; i++) {
    out[40 + i] = static_cast<char>((secs >> (24 - 8 * i)) & 0xFF);
    out[44 + i] = static_cast<char>((frac >> (24 - 8 * i)) & 0xFF);
  }
}

bool parse_reply(std::string_view reply, int64_t& server_unix_ms) {
  if (reply.size() < kMessageSize) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(reply.data());
  const int mode = b[0] & 7, version = (b[0] >> 3) & 7, stratum = b[1];
  if ((mode != 4 && mode != 5) || stratum == 0 || (version != 3 && version != 4)) return false;
  uint64_t secs = 0, frac = 0;
  for (int i = 0; i < 4; i++) {
    secs = secs << 8 | b[40 + i];
    frac = frac << 8 | b[44 + i];
  }
  // RFC 4330 §3: times before 1968 (MSB clear) belong to the next era, from 2036 on.
  if (!(secs & 0x80000000ULL)) secs += 1ULL << 32;
  server_unix_ms = static_cast<int64_t>((secs - kNtpToUnixSeconds) * 1000 + ((frac * 1000) >> 32));
  return true;
}

}  // namespace mg::sntp
