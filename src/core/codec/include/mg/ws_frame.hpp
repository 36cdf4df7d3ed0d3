// WebSocket frame codec (RFC 6455 §5). Pure: parses and encodes frame headers over
// byte spans, never allocates, never reads past its input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mg::ws {

enum Opcode : uint8_t { kContinue = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;          // RSV1-3 bits (must be 0 without extensions)
  uint8_t opcode = 0;
  bool masked = false;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t payload_len = 0;
  size_t header_len = 0;    // 2..14 bytes
};

// RSV bits as FrameHeader::rsv holds them: RSV1 is permessage-deflate's "compressed" bit.
inline constexpr uint8_t kRsv1 = 0x4;

enum class Status : uint8_t { Complete, Incomplete, Error };

struct HeaderResult {
  Status status = Status::Incomplete;
  uint16_t close_code = 0;  // 1002 protocol error, 1009 too big (on Error)
  std::string_view error;   // "WS protocol error: <reason>", "MG_MAX_RECV_SIZE", "unknown WS op <n>" prefix
};

// Parses the header at the start of `in`. Validates (RFC 6455 §5.2, §5.5): RSV bits
// zero except those in `allowed_rsv` (kRsv1 once permessage-deflate is negotiated; RSV1
// is then refused on control frames and continuations, RFC 7692 §6); known opcode (else Error with error "unknown WS op" and close_code 1002 — the
// caller formats the number from out.opcode); control frames FIN set and payload <= 125;
// minimal-length encoding is not required (accepted); 64-bit length with the top bit
// clear; masking: `expect_masked` true on a server (unmasked -> 1002), false on a client
// (masked -> 1002); payload_len > max_payload -> Error, 1009, "MG_MAX_RECV_SIZE"
// (checked from the header alone, before any payload is buffered).
HeaderResult parse_header(std::string_view in, FrameHeader& out, bool expect_masked, uint64_t max_payload,
                          uint8_t allowed_rsv = 0);

// XORs `data` with the mask, `offset` being the position of data[0] in the payload
// (so unmasking can resume across partial reads).
void apply_mask(char* data, size_t len, const uint8_t mask[4], uint64_t offset);

// Writes a header for a frame (first byte = FIN|RSV|opcode as given) into `out`
// (at least 14 bytes); `mask` nullptr for server frames. Returns the header length.
size_t encode_header(char* out, uint8_t first_byte, uint64_t payload_len, const uint8_t* mask);

// Sec-WebSocket-Accept for a client key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)).
std::string accept_key(std::string_view client_key);

// Strict UTF-8 validation (RFC 3629), for text messages (close 1007 when invalid).
bool valid_utf8(std::string_view s);

}  // namespace mg::ws
