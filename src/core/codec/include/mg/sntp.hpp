// SNTP messages (RFC 4330, spec §6.10). Pure: a 48-byte request, and the time a reply
// carries, checked as the spec says.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mg::sntp {

constexpr size_t kMessageSize = 48;
constexpr uint64_t kNtpToUnixSeconds = 2208988800ULL;  // 1900-01-01 to 1970-01-01

// A client request: LI 0, version 4, mode 3 (byte 0 = 0x23), transmit timestamp (bytes
// 40-47) = `unix_ms`, everything else zero.
void encode_request(uint64_t unix_ms, char out[kMessageSize]);

// The server's transmit time in Unix milliseconds, if `reply` is valid: at least 48 bytes,
// mode 4 (server) or 5 (broadcast), stratum not 0 (kiss-o'-death), version 3 or 4.
bool parse_reply(std::string_view reply, int64_t& server_unix_ms);

}  // namespace mg::sntp
