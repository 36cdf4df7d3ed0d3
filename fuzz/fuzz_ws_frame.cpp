// libFuzzer target: WebSocket frame codec (RFC 6455 §5) on arbitrary bytes.
//
// Input layout: byte 0 selects the side (bit 0: server, i.e. frames must be
// masked), the max_payload limit (bits 1-3) and the split pattern for unmasking
// (bits 4-7); the rest is a stream of frames. Each frame header is parsed at
// every prefix length (Incomplete or the same result as the whole input),
// checked against the RFC, re-encoded and parsed back; complete payloads are
// unmasked in pieces and compared with a one-shot unmask, and text payloads are
// UTF-8 validated and compared with an independent reference decoder.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mg/ws_frame.hpp"

using namespace mg::ws;

#include "check.hpp"

namespace {

// Reference UTF-8 check: decode each sequence to a code point, then reject
// overlongs, surrogates and values above U+10FFFF (RFC 3629 §3).
bool reference_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= size_t(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += size_t(extra) + 1;
  }
  return true;
}

bool same(const HeaderResult& a, const HeaderResult& b) {
  return a.status == b.status && a.close_code == b.close_code && a.error == b.error;
}

// Parses the header at the start of `in`, checks every invariant, and returns it.
HeaderResult check_header(std::string_view in, bool server, uint64_t max, FrameHeader& h) {
  HeaderResult r = parse_header(in, h, server, max);
  switch (r.status) {
    case Status::Incomplete:
      CHECK(in.size() < 14);
      break;
    case Status::Error:
      CHECK(r.close_code == 1002 || r.close_code == 1009);
      CHECK(!r.error.empty());
      if (r.close_code == 1009) CHECK(r.error == "MG_MAX_RECV_SIZE" && h.payload_len > max);
      if (r.error == "unknown WS op") CHECK(h.opcode != 0 && h.opcode != 1 && h.opcode != 2 &&
                                            h.opcode != 8 && h.opcode != 9 && h.opcode != 10);
      break;
    case Status::Complete: {
      CHECK(h.header_len >= 2 && h.header_len <= 14 && h.header_len <= in.size());
      CHECK(h.rsv == 0);
      CHECK(h.opcode <= 2 || (h.opcode >= 8 && h.opcode <= 10));
      CHECK(h.masked == server);
      CHECK(h.payload_len <= max && (h.payload_len >> 63) == 0);
      if (h.opcode >= 8) CHECK(h.fin && h.payload_len <= 125);
      const auto* b = reinterpret_cast<const unsigned char*>(in.data());
      CHECK(h.fin == ((b[0] & 0x80) != 0) && h.opcode == (b[0] & 0x0F));
      if (h.masked) CHECK(std::memcmp(h.mask, b + h.header_len - 4, 4) == 0);
      // Re-encode (minimal form) and parse back: same fields.
      char enc[14];
      size_t n = encode_header(enc, b[0], h.payload_len, h.masked ? h.mask : nullptr);
      CHECK(n >= 2 && n <= h.header_len);
      FrameHeader h2;
      HeaderResult r2 = parse_header(std::string_view(enc, n), h2, server, max);
      CHECK(r2.status == Status::Complete && h2.header_len == n);
      CHECK(h2.payload_len == h.payload_len && h2.opcode == h.opcode && h2.fin == h.fin &&
            h2.masked == h.masked && std::memcmp(h2.mask, h.mask, 4) == 0);
      // If the input used the minimal form, the encoding is byte-identical.
      if (n == h.header_len) CHECK(std::memcmp(enc, in.data(), n) == 0);
      break;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t cfg = data[0];
  const bool server = (cfg & 1) != 0;
  static const uint64_t kMax[8] = {UINT64_MAX, 0, 1, 125, 126, 65535, 65536, 3u << 20};
  const uint64_t max = kMax[(cfg >> 1) & 7];
  const size_t split = 1 + (cfg >> 4);

  // Exact-size copy so ASan sees any read past the end.
  std::vector<char> owned(data + 1, data + size);
  std::string_view stream(owned.data(), owned.size());

  for (int frames = 0; frames < 64 && !stream.empty(); ++frames) {
    FrameHeader h;
    HeaderResult full = check_header(stream, server, max, h);

    // Every prefix (each in its own exact-size allocation): Incomplete, or the same
    // result; once Complete, stays Complete with the same header.
    const size_t upto = stream.size() < 15 ? stream.size() : 15;
    bool decided = false;
    for (size_t k = 0; k <= upto; ++k) {
      std::vector<char> pre(stream.begin(), stream.begin() + k);
      FrameHeader hp;
      HeaderResult rp = check_header(std::string_view(pre.data(), k), server, max, hp);
      if (rp.status == Status::Incomplete) {
        CHECK(!decided);
        continue;
      }
      decided = true;
      CHECK(same(rp, full));
      if (rp.status == Status::Complete)
        CHECK(hp.header_len == h.header_len && hp.payload_len == h.payload_len);
    }
    if (full.status != Status::Complete) break;

    stream.remove_prefix(h.header_len);
    if (h.payload_len > stream.size()) break;  // payload not all here
    const size_t len = static_cast<size_t>(h.payload_len);
    std::string one(stream.substr(0, len));
    std::string pieces = one;
    if (h.masked) {
      apply_mask(one.data(), one.size(), h.mask, 0);
      // The same in pieces of varying size, resuming at the running offset.
      size_t off = 0, step = split;
      while (off < pieces.size()) {
        size_t n = pieces.size() - off < step ? pieces.size() - off : step;
        apply_mask(pieces.data() + off, n, h.mask, off);
        off += n;
        step = step * 3 % 17 + 1;
      }
      CHECK(one == pieces);
      // Masking twice restores the original.
      std::string twice = one;
      apply_mask(twice.data(), twice.size(), h.mask, 0);
      CHECK(twice == stream.substr(0, len));
    }
    CHECK(valid_utf8(one) == reference_utf8(one));
    stream.remove_prefix(len);
  }

  // The raw input as text, too (arbitrary byte patterns, not only payloads).
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  CHECK(valid_utf8(raw) == reference_utf8(raw));
  if (size >= 1 && size <= 64 && (cfg & 0x0F) == 0x0F) {
    std::string k = accept_key(raw.substr(1));
    CHECK(k.size() == 28 && k[27] == '=');
  }
  return 0;
}
