// WebSocket frame codec (RFC 6455 §5). Written for this project.
//
//  0                   1                   2                   3
//  +-+-+-+-+-------+-+-------------+-------------------------------+
//  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//  +-+-+-+-+-------+-+-------------+-------------------------------+
//  ...  Masking-key (0 or 4 bytes)  ...  Payload data  ...
//
// parse_header validates each field as soon as the bytes holding it are present,
// so a bad first two bytes are reported without waiting for the rest, and an
// oversized length is refused before any payload is buffered.
#include "mg/ws_frame.hpp"

#include <openssl/evp.h>

#include <cstring>

#include "scan.hpp"
#include "mg/base64.hpp"

namespace mg::ws {
namespace {

constexpr std::string_view kErrRsv = "WS protocol error: RSV bits set";
constexpr std::string_view kErrRsv1 = "WS protocol error: RSV1 on a control frame or continuation";
constexpr std::string_view kErrUnknownOp = "unknown WS op";
constexpr std::string_view kErrControlFragmented = "WS protocol error: fragmented control frame";
constexpr std::string_view kErrControlTooLong = "WS protocol error: control frame too long";
constexpr std::string_view kErrUnmasked = "WS protocol error: unmasked frame";
constexpr std::string_view kErrMasked = "WS protocol error: masked frame";
constexpr std::string_view kErrLength = "WS protocol error: invalid length";
constexpr std::string_view kErrTooBig = "MG_MAX_RECV_SIZE";

constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kMessageTooBig = 1009;

inline HeaderResult error(uint16_t code, std::string_view msg) {
  return HeaderResult{Status::Error, code, msg};
}

inline bool known_opcode(uint8_t op) {
  return op == kContinue || op == kText || op == kBinary || op == kClose || op == kPing ||
         op == kPong;
}

}  // namespace

HeaderResult parse_header(std::string_view in, FrameHeader& out, bool expect_masked,
                          uint64_t max_payload, uint8_t allowed_rsv) {
  out = FrameHeader{};
  const auto* b = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  if (n < 1) return HeaderResult{};

  out.fin = (b[0] & 0x80) != 0;
  out.rsv = static_cast<uint8_t>((b[0] >> 4) & 0x07);
  out.opcode = static_cast<uint8_t>(b[0] & 0x0F);
  // RSV bits are zero unless a negotiated extension defines them (RFC 6455 §5.2).
  if (out.rsv & ~allowed_rsv) return error(kProtocolError, kErrRsv);
  if (!known_opcode(out.opcode)) return error(kProtocolError, kErrUnknownOp);
  const bool control = (out.opcode & 0x08) != 0;
  // permessage-deflate's "Per-Message Compressed" bit is only on the first frame of a
  // data message: never on control frames or continuations (RFC 7692 §6).
  if ((out.rsv & kRsv1) && (control || out.opcode == kContinue)) return error(kProtocolError, kErrRsv1);
  // Control frames must not be fragmented (§5.5).
  if (control && !out.fin) return error(kProtocolError, kErrControlFragmented);
  if (n < 2) return HeaderResult{};

  out.masked = (b[1] & 0x80) != 0;
  const uint8_t len7 = b[1] & 0x7F;
  // Control frame payloads are at most 125 bytes, so never use an extended length (§5.5).
  if (control && len7 > 125) return error(kProtocolError, kErrControlTooLong);
  // Client-to-server frames are masked, server-to-client frames are not (§5.1).
  if (out.masked != expect_masked)
    return error(kProtocolError, expect_masked ? kErrUnmasked : kErrMasked);

  size_t pos = 2;
  uint64_t len = len7;
  if (len7 == 126) {
    if (n < 4) return HeaderResult{};
    len = (uint64_t{b[2]} << 8) | b[3];
    pos = 4;
  } else if (len7 == 127) {
    if (n < 10) return HeaderResult{};
    len = 0;
    for (size_t k = 0; k < 8; ++k) len = (len << 8) | b[2 + k];
    pos = 10;
    // The most significant bit must be 0 (§5.2): lengths stay below 2^63, so
    // header_len + payload_len can never overflow a uint64_t.
    if (len >> 63) return error(kProtocolError, kErrLength);
  }
  // Minimal encoding is not required: a 16-/64-bit form carrying a small length is accepted.
  out.payload_len = len;
  if (len > max_payload) return error(kMessageTooBig, kErrTooBig);

  if (out.masked) {
    if (n < pos + 4) return HeaderResult{};
    std::memcpy(out.mask, b + pos, 4);
    pos += 4;
  }
  out.header_len = pos;
  return HeaderResult{Status::Complete, 0, {}};
}

void apply_mask(char* data, size_t len, const uint8_t mask[4], uint64_t offset) {
  if (len == 0) return;
  // The key rotated so that key[0] applies to data[0].
  const unsigned r = static_cast<unsigned>(offset & 3);
  uint8_t key[8];
  for (unsigned k = 0; k < 8; ++k) key[k] = mask[(r + k) & 3];
  auto* p = reinterpret_cast<unsigned char*>(data);
  size_t i = 0;
  if (len >= 8) {
    uint64_t k8;
    std::memcpy(&k8, key, 8);
    for (; len - i >= 8; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= k8;
      std::memcpy(p + i, &w, 8);
    }
  }
  // i is a multiple of 8 (hence of 4) here, so key[i & 3] is the right byte.
  for (; i < len; ++i) p[i] ^= key[i & 3];
}

size_t encode_header(char* out, uint8_t first_byte, uint64_t payload_len, const uint8_t* mask) {
  auto* o = reinterpret_cast<unsigned char*>(out);
  const unsigned char mask_bit = mask != nullptr ? 0x80 : 0x00;
  o[0] = first_byte;
  size_t pos;
  if (payload_len < 126) {
    o[1] = static_cast<unsigned char>(mask_bit | payload_len);
    pos = 2;
  } else if (payload_len <= 0xFFFF) {
    o[1] = mask_bit | 126;
    o[2] = static_cast<unsigned char>(payload_len >> 8);
    o[3] = static_cast<unsigned char>(payload_len);
    pos = 4;
  } else {
    o[1] = mask_bit | 127;
    for (size_t k = 0; k < 8; ++k) o[2 + k] = static_cast<unsigned char>(payload_len >> (56 - 8 * k));
    pos = 10;
  }
  if (mask != nullptr) {
    std::memcpy(o + pos, mask, 4);
    pos += 4;
  }
  return pos;
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text;
  text.reserve(client_key.size() + kGuid.size());
  text.append(client_key);
  text.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1)
    return {};  // only on OpenSSL failure (e.g. SHA-1 unavailable); the handshake then fails
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), digest_len));
}

bool valid_utf8(std::string_view s) { return http::detail::valid_utf8(s); }

}  // namespace mg::ws
