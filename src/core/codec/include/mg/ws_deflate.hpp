// permessage-deflate negotiation (RFC 7692 §7.1) over Sec-WebSocket-Extensions values
// (RFC 6455 §9.1). Pure: parses views, writes into caller buffers, never allocates. The
// compression streams themselves (zlib) live in the proto layer (mg/ws_compress.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mg::ws {

// What one endpoint is willing to do. Window bits are 9..15 (zlib cannot deflate with an
// 8-bit window, so we never agree to compress with one).
struct DeflateConfig {
  bool server_no_context_takeover = false;  // server: we reset our compressor per message; client: we ask the server to
  bool client_no_context_takeover = false;  // server: we ask the client to; client: we reset ours per message
  uint8_t server_max_window_bits = 15;
  uint8_t client_max_window_bits = 15;
  // Stream settings, not negotiated: zlib level (0-9, -1 = zlib's default) and memLevel (1-9).
  int8_t level = -1;
  uint8_t mem_level = 8;
};

// What both endpoints agreed on.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  uint8_t server_max_window_bits = 15;  // the server compresses with at most this window
  uint8_t client_max_window_bits = 15;  // the client compresses with at most this window
  bool server_bits_in_response = false; // server_max_window_bits=N goes into the response
  bool client_bits_in_response = false; // client_max_window_bits=N goes into the response
};

// One permessage-deflate element's parameters (RFC 7692 §7.1), as offered or answered.
struct DeflateOffer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  uint8_t server_max_window_bits = 0;  // 0: absent
  bool client_max_window_bits = false; // present (with or without a value)
  uint8_t client_max_window_bits_value = 0;  // 0: present without a value
};

// Parses the parameters that follow "permessage-deflate" in one element (the text after
// the extension name, e.g. "; client_max_window_bits; server_no_context_takeover").
// False for an unknown parameter, a repeated one, a value where none is allowed, a
// missing or invalid window size (8..15, digits, optionally quoted), or bad syntax.
bool parse_deflate_params(std::string_view params, DeflateOffer& out);

// Server side: the first acceptable permessage-deflate offer among the request's
// Sec-WebSocket-Extensions values (in order), judged against `cfg`. Offers with unknown
// or invalid parameters, or asking for a server window of 8 bits, are declined (the next
// one is tried). False when none is acceptable (the connection opens without compression).
bool negotiate_deflate(std::span<const std::string_view> values, const DeflateConfig& cfg, DeflateParams& out);

enum class DeflateAnswer : uint8_t { None, Accepted, Invalid };

// Client side: judges the 101's Sec-WebSocket-Extensions values against what we offered
// (`cfg`; nullptr = we offered nothing). None: no extension; Accepted: `out` holds the
// agreement; Invalid: an extension we did not offer, more than one, bad or unknown
// parameters, a window larger than we asked for, server_no_context_takeover asked for and
// not granted, client_max_window_bits without a value or of 8 (RFC 7692 §7.1): the client
// must fail the connection.
DeflateAnswer check_deflate_response(std::span<const std::string_view> values, const DeflateConfig* cfg,
                                     DeflateParams& out);

// Writes the client's offer / the server's response (no CRLF) into `out`, which must hold
// kDeflateHeaderMax bytes; returns the length.
inline constexpr size_t kDeflateHeaderMax = 160;
size_t format_deflate_offer(const DeflateConfig& cfg, char* out);
size_t format_deflate_response(const DeflateParams& p, char* out);

// The four bytes every compressed message ends with before its tail is removed
// (RFC 7692 §7.2.1), appended again by the receiver (§7.2.2).
inline constexpr std::string_view kDeflateTail{"\x00\x00\xff\xff", 4};

}  // namespace mg::ws
