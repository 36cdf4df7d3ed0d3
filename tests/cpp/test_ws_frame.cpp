// Tests for the WebSocket frame codec (RFC 6455 §5; spec §6.7, §8.1, §8.6).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/ws_frame.hpp"

using namespace std::string_literals;
using mg::ws::FrameHeader;
using mg::ws::HeaderResult;
using mg::ws::Status;
using mg::testing::GuardedBuffer;

namespace {

constexpr uint64_t kNoLimit = ~uint64_t{0};

GuardedBuffer& guard() {
  static GuardedBuffer g(64 * 1024);
  return g;
}

HeaderResult parse(std::string_view in, FrameHeader& h, bool server = true,
                   uint64_t max = kNoLimit) {
  return mg::ws::parse_header(guard().place_view(in), h, server, max);
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// Encodes a complete frame with the codec (header + optionally masked payload).
std::string frame(uint8_t first, std::string_view payload, const uint8_t* mask) {
  char hdr[14];
  size_t n = mg::ws::encode_header(hdr, first, payload.size(), mask);
  std::string out(hdr, n);
  std::string p(payload);
  if (mask) mg::ws::apply_mask(p.data(), p.size(), mask, 0);
  return out + p;
}

// Parses `in` at every prefix length: every proper prefix of the header is
// Incomplete, and the full header gives the same result as the whole input.
void expect_resumable(std::string_view in, bool server, size_t header_len) {
  for (size_t k = 0; k < header_len; ++k) {
    FrameHeader h;
    HeaderResult r = parse(in.substr(0, k), h, server);
    EXPECT_EQ(r.status, Status::Incomplete) << "prefix " << k;
  }
  for (size_t k = header_len; k <= in.size(); ++k) {
    FrameHeader h;
    HeaderResult r = parse(in.substr(0, k), h, server);
    EXPECT_EQ(r.status, Status::Complete) << "prefix " << k;
    EXPECT_EQ(h.header_len, header_len);
  }
}

// ---------------------------------------------------------------------------
// RFC 6455 §5.7 examples.

TEST(WsFrame, Rfc6455SingleFrameUnmaskedText) {
  std::string in = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  FrameHeader h;
  HeaderResult r = parse(in, h, /*server=*/false);
  ASSERT_EQ(r.status, Status::Complete);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.rsv, 0);
  EXPECT_EQ(h.opcode, mg::ws::kText);
  EXPECT_FALSE(h.masked);
  EXPECT_EQ(h.payload_len, 5u);
  EXPECT_EQ(h.header_len, 2u);
  EXPECT_EQ(in.substr(h.header_len), "Hello");
  expect_resumable(in, false, 2);
}

TEST(WsFrame, Rfc6455SingleFrameMaskedText) {
  std::string in = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  FrameHeader h;
  HeaderResult r = parse(in, h, /*server=*/true);
  ASSERT_EQ(r.status, Status::Complete);
  EXPECT_TRUE(h.fin);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.opcode, mg::ws::kText);
  EXPECT_EQ(h.payload_len, 5u);
  EXPECT_EQ(h.header_len, 6u);
  const uint8_t want_mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(std::memcmp(h.mask, want_mask, 4), 0);
  std::string payload = in.substr(h.header_len);
  mg::ws::apply_mask(payload.data(), payload.size(), h.mask, 0);
  EXPECT_EQ(payload, "Hello");
  expect_resumable(in, true, 6);
}

TEST(WsFrame, Rfc6455FragmentedUnmaskedText) {
  std::string first = bytes({0x01, 0x03, 0x48, 0x65, 0x6c});
  std::string second = bytes({0x80, 0x02, 0x6c, 0x6f});
  FrameHeader h;
  ASSERT_EQ(parse(first, h, false).status, Status::Complete);
  EXPECT_FALSE(h.fin);
  EXPECT_EQ(h.opcode, mg::ws::kText);
  EXPECT_EQ(h.payload_len, 3u);
  ASSERT_EQ(parse(second, h, false).status, Status::Complete);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, mg::ws::kContinue);
  EXPECT_EQ(h.payload_len, 2u);
}

TEST(WsFrame, Rfc6455PingAndPong) {
  std::string ping = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  FrameHeader h;
  ASSERT_EQ(parse(ping, h, false).status, Status::Complete);
  EXPECT_EQ(h.opcode, mg::ws::kPing);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.payload_len, 5u);
  std::string pong = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  ASSERT_EQ(parse(pong, h, true).status, Status::Complete);
  EXPECT_EQ(h.opcode, mg::ws::kPong);
  std::string payload = pong.substr(h.header_len);
  mg::ws::apply_mask(payload.data(), payload.size(), h.mask, 0);
  EXPECT_EQ(payload, "Hello");
}

TEST(WsFrame, Rfc6455Binary256And64KiB) {
  std::string b256 = bytes({0x82, 0x7E, 0x01, 0x00}) + std::string(256, 'x');
  FrameHeader h;
  ASSERT_EQ(parse(b256, h, false).status, Status::Complete);
  EXPECT_EQ(h.opcode, mg::ws::kBinary);
  EXPECT_EQ(h.payload_len, 256u);
  EXPECT_EQ(h.header_len, 4u);
  expect_resumable(b256.substr(0, 6), false, 4);

  std::string b64k = bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00});
  ASSERT_EQ(parse(b64k, h, false).status, Status::Complete);
  EXPECT_EQ(h.payload_len, 65536u);
  EXPECT_EQ(h.header_len, 10u);
  expect_resumable(b64k, false, 10);
}

// ---------------------------------------------------------------------------
// Every header form, encoded and parsed back.

TEST(WsFrame, EncodeParseRoundTripAllLengthForms) {
  const uint8_t mask[4] = {0xA1, 0x02, 0xF3, 0x44};
  const uint64_t lengths[] = {0,       1,      125,    126,    127,         1000,
                              65535,   65536,  65537,  1u << 24, (1ull << 32) + 5,
                              (1ull << 63) - 1};
  for (bool masked : {false, true}) {
    for (uint64_t len : lengths) {
      char buf[14];
      std::memset(buf, 0xEE, sizeof buf);
      size_t n = mg::ws::encode_header(buf, 0x82, len, masked ? mask : nullptr);
      size_t want = (len < 126 ? 2 : len <= 65535 ? 4 : 10) + (masked ? 4 : 0);
      ASSERT_EQ(n, want) << len;
      EXPECT_EQ(static_cast<unsigned char>(buf[0]), 0x82);
      EXPECT_EQ((static_cast<unsigned char>(buf[1]) & 0x80) != 0, masked);
      FrameHeader h;
      HeaderResult r = parse(std::string_view(buf, n), h, masked);
      ASSERT_EQ(r.status, Status::Complete) << len;
      EXPECT_EQ(h.payload_len, len);
      EXPECT_EQ(h.header_len, n);
      EXPECT_EQ(h.masked, masked);
      EXPECT_TRUE(h.fin);
      EXPECT_EQ(h.opcode, mg::ws::kBinary);
      if (masked) {
        EXPECT_EQ(std::memcmp(h.mask, mask, 4), 0);
      }
      expect_resumable(std::string_view(buf, n), masked, n);
    }
  }
}

TEST(WsFrame, EncodeExactBytes) {
  char buf[14];
  size_t n = mg::ws::encode_header(buf, 0x81, 5, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x81, 0x05}));
  n = mg::ws::encode_header(buf, 0x82, 126, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x82, 0x7E, 0x00, 0x7E}));
  n = mg::ws::encode_header(buf, 0x82, 65535, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x82, 0x7E, 0xFF, 0xFF}));
  n = mg::ws::encode_header(buf, 0x82, 65536, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
  n = mg::ws::encode_header(buf, 0x82, 0x0102030405060708ull, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8}));
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  n = mg::ws::encode_header(buf, 0x81, 5, mask);
  EXPECT_EQ(std::string(buf, n), bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
  n = mg::ws::encode_header(buf, 0x88, 0, nullptr);  // empty close frame
  EXPECT_EQ(std::string(buf, n), bytes({0x88, 0x00}));
  // The first byte is written as given (FIN clear, RSV bits: the caller's business).
  n = mg::ws::encode_header(buf, 0x71, 1, nullptr);
  EXPECT_EQ(std::string(buf, n), bytes({0x71, 0x01}));
}

TEST(WsFrame, EncodedMaskedFrameMatchesRfcExample) {
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(frame(0x81, "Hello", mask),
            bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(frame(0x81, "Hello", nullptr), bytes({0x81, 0x05}) + "Hello");
}

TEST(WsFrame, NonMinimalLengthEncodingsAccepted) {
  FrameHeader h;
  std::string in16 = bytes({0x82, 0x7E, 0x00, 0x05});
  ASSERT_EQ(parse(in16, h, false).status, Status::Complete);
  EXPECT_EQ(h.payload_len, 5u);
  EXPECT_EQ(h.header_len, 4u);
  std::string in64 = bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x05});
  ASSERT_EQ(parse(in64, h, false).status, Status::Complete);
  EXPECT_EQ(h.payload_len, 5u);
  EXPECT_EQ(h.header_len, 10u);
  std::string in64_small = bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF});
  ASSERT_EQ(parse(in64_small, h, false).status, Status::Complete);
  EXPECT_EQ(h.payload_len, 65535u);
}

TEST(WsFrame, EveryOpcodeAndFinCombination) {
  for (int op = 0; op < 16; ++op) {
    for (int fin = 0; fin < 2; ++fin) {
      std::string in = bytes({(fin ? 0x80 : 0) | op, 0x00});
      FrameHeader h;
      HeaderResult r = parse(in, h, false);
      bool known = op <= 2 || (op >= 8 && op <= 10);
      bool control = op >= 8;
      EXPECT_EQ(h.opcode, op);
      if (!known) {
        EXPECT_EQ(r.status, Status::Error) << op;
        EXPECT_EQ(r.close_code, 1002);
        EXPECT_EQ(r.error, "unknown WS op");
      } else if (control && !fin) {
        EXPECT_EQ(r.status, Status::Error) << op;
        EXPECT_EQ(r.close_code, 1002);
        EXPECT_EQ(r.error, "WS protocol error: fragmented control frame");
      } else {
        EXPECT_EQ(r.status, Status::Complete) << op;
        EXPECT_EQ(h.fin, fin == 1);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Validation errors: each reported as soon as the offending byte is present.

struct BadCase {
  const char* name;
  std::string in;
  bool server;
  uint64_t max;
  uint16_t code;
  std::string_view error;
  size_t decided_at;  // bytes needed before the error is reported
};

TEST(WsFrame, ValidationErrors) {
  const std::vector<BadCase> cases = {
      {"rsv1", bytes({0xC1, 0x85, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: RSV bits set", 1},
      {"rsv2", bytes({0xA1, 0x85, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: RSV bits set", 1},
      {"rsv3", bytes({0x91, 0x85, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: RSV bits set", 1},
      {"op3", bytes({0x83, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002, "unknown WS op", 1},
      {"op7", bytes({0x87, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002, "unknown WS op", 1},
      {"opB", bytes({0x8B, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002, "unknown WS op", 1},
      {"opF", bytes({0x8F, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002, "unknown WS op", 1},
      {"ping_no_fin", bytes({0x09, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: fragmented control frame", 1},
      {"close_no_fin", bytes({0x08, 0x80, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: fragmented control frame", 1},
      {"pong_no_fin", bytes({0x0A, 0x00}), false, kNoLimit, 1002,
       "WS protocol error: fragmented control frame", 1},
      {"ping_126", bytes({0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4}), true, kNoLimit, 1002,
       "WS protocol error: control frame too long", 2},
      {"close_127", bytes({0x88, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5}), false, kNoLimit, 1002,
       "WS protocol error: control frame too long", 2},
      {"ping_16bit_small", bytes({0x89, 0x7E, 0x00, 0x05}), false, kNoLimit, 1002,
       "WS protocol error: control frame too long", 2},
      {"unmasked_on_server", bytes({0x81, 0x05}) + "Hello", true, kNoLimit, 1002,
       "WS protocol error: unmasked frame", 2},
      {"masked_on_client", bytes({0x81, 0x85, 1, 2, 3, 4}), false, kNoLimit, 1002,
       "WS protocol error: masked frame", 2},
      {"len64_top_bit", bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), true,
       kNoLimit, 1002, "WS protocol error: invalid length", 10},
      {"len64_all_ones", bytes({0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}),
       false, kNoLimit, 1002, "WS protocol error: invalid length", 10},
      {"too_big_7bit", bytes({0x82, 0x86, 1, 2, 3, 4}), true, 5, 1009, "MG_MAX_RECV_SIZE", 2},
      {"too_big_16bit", bytes({0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4}), true, 255, 1009,
       "MG_MAX_RECV_SIZE", 4},
      {"too_big_64bit", bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}), true, 65535,
       1009, "MG_MAX_RECV_SIZE", 10},
      {"too_big_control", bytes({0x89, 0x8A, 1, 2, 3, 4}), true, 9, 1009, "MG_MAX_RECV_SIZE", 2},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    for (size_t k = 0; k <= c.in.size(); ++k) {
      FrameHeader h;
      HeaderResult r = parse(std::string_view(c.in).substr(0, k), h, c.server, c.max);
      if (k < c.decided_at) {
        EXPECT_EQ(r.status, Status::Incomplete) << "prefix " << k;
        continue;
      }
      ASSERT_EQ(r.status, Status::Error) << "prefix " << k;
      EXPECT_EQ(r.close_code, c.code);
      EXPECT_EQ(r.error, c.error);
    }
  }
}

TEST(WsFrame, UnknownOpcodeIsReportedInHeader) {
  FrameHeader h;
  HeaderResult r = parse(bytes({0x85}), h);
  ASSERT_EQ(r.status, Status::Error);
  EXPECT_EQ(h.opcode, 5);
  EXPECT_EQ(r.error.substr(0, 13), "unknown WS op");
}

TEST(WsFrame, MaxPayloadBoundaries) {
  FrameHeader h;
  // Exactly at the limit is accepted, one above is 1009, for every length form.
  for (uint64_t max : {uint64_t{0}, uint64_t{125}, uint64_t{126}, uint64_t{65535},
                       uint64_t{65536}, uint64_t{3} << 20}) {
    for (uint64_t len : {max, max + 1}) {
      char buf[14];
      const uint8_t mask[4] = {1, 2, 3, 4};
      size_t n = mg::ws::encode_header(buf, 0x82, len, mask);
      HeaderResult r = parse(std::string_view(buf, n), h, true, max);
      if (len <= max) {
        EXPECT_EQ(r.status, Status::Complete) << max << " " << len;
      } else {
        EXPECT_EQ(r.status, Status::Error) << max << " " << len;
        EXPECT_EQ(r.close_code, 1009);
        EXPECT_EQ(r.error, "MG_MAX_RECV_SIZE");
      }
    }
  }
}

TEST(WsFrame, OneGiBAnnouncedRejectedFromHeaderAlone) {
  // spec §8.6: a frame header announcing 1 GiB, with no payload behind it.
  std::string in = bytes({0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD});
  FrameHeader h;
  HeaderResult r = parse(in, h, true, 3u << 20);
  ASSERT_EQ(r.status, Status::Error);
  EXPECT_EQ(r.close_code, 1009);
  EXPECT_EQ(r.error, "MG_MAX_RECV_SIZE");
  EXPECT_EQ(h.payload_len, uint64_t{1} << 30);
  // Decided as soon as the length is known, before the mask arrives.
  r = parse(in.substr(0, 10), h, true, 3u << 20);
  EXPECT_EQ(r.status, Status::Error);
  EXPECT_EQ(r.close_code, 1009);
  // Without a limit the same header is fine.
  r = parse(in, h, true, kNoLimit);
  EXPECT_EQ(r.status, Status::Complete);
  EXPECT_EQ(h.payload_len, uint64_t{1} << 30);
}

TEST(WsFrame, LargestLegalLength) {
  std::string in = bytes({0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  FrameHeader h;
  HeaderResult r = parse(in, h, false);
  ASSERT_EQ(r.status, Status::Complete);
  EXPECT_EQ(h.payload_len, (uint64_t{1} << 63) - 1);
  // header_len + payload_len cannot overflow.
  EXPECT_GE(h.payload_len + h.header_len, h.payload_len);
}

TEST(WsFrame, EmptyInputIsIncomplete) {
  FrameHeader h;
  EXPECT_EQ(parse("", h).status, Status::Incomplete);
  EXPECT_EQ(mg::ws::parse_header(std::string_view(), h, true, 0).status, Status::Incomplete);
}

TEST(WsFrame, TrailingBytesIgnored) {
  const uint8_t mask[4] = {9, 8, 7, 6};
  std::string two = frame(0x81, "ab", mask) + frame(0x82, "cde", mask);
  FrameHeader h;
  ASSERT_EQ(parse(two, h).status, Status::Complete);
  EXPECT_EQ(h.header_len, 6u);
  EXPECT_EQ(h.payload_len, 2u);
  ASSERT_EQ(parse(std::string_view(two).substr(8), h).status, Status::Complete);
  EXPECT_EQ(h.opcode, mg::ws::kBinary);
  EXPECT_EQ(h.payload_len, 3u);
}

// ---------------------------------------------------------------------------
// apply_mask: resumable at every offset and split.

std::string reference_mask(std::string_view data, const uint8_t mask[4], uint64_t offset) {
  std::string out(data);
  for (size_t i = 0; i < out.size(); ++i) out[i] = char(out[i] ^ mask[(offset + i) % 4]);
  return out;
}

TEST(WsFrame, ApplyMaskMatchesReferenceAtEveryOffsetAndLength) {
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  std::string data;
  for (int i = 0; i < 70; ++i) data.push_back(char(i * 13 + 1));
  for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4},
                          uint64_t{5}, uint64_t{7}, (uint64_t{1} << 40) + 3}) {
    for (size_t len = 0; len <= data.size(); ++len) {
      // Also vary alignment of the buffer.
      for (size_t align = 0; align < 8; align += 3) {
        std::vector<char> buf(align + len + 1);
        std::memcpy(buf.data() + align, data.data(), len);
        mg::ws::apply_mask(buf.data() + align, len, mask, offset);
        EXPECT_EQ(std::string(buf.data() + align, len),
                  reference_mask(data.substr(0, len), mask, offset))
            << offset << " " << len;
      }
    }
  }
}

TEST(WsFrame, ApplyMaskResumesAcrossEverySplit) {
  const uint8_t mask[4] = {0xDE, 0xAD, 0xBE, 0xEF};
  std::string plain = "The quick brown fox jumps over the lazy dog, twice over: 0123456789";
  std::string masked = reference_mask(plain, mask, 0);
  for (size_t a = 0; a <= masked.size(); ++a) {
    for (size_t b = a; b <= masked.size(); b += 5) {
      std::string buf = masked;
      mg::ws::apply_mask(buf.data(), a, mask, 0);
      mg::ws::apply_mask(buf.data() + a, b - a, mask, a);
      mg::ws::apply_mask(buf.data() + b, buf.size() - b, mask, b);
      ASSERT_EQ(buf, plain) << a << " " << b;
    }
  }
}

TEST(WsFrame, ApplyMaskIsAnInvolutionAndZeroMaskIsIdentity) {
  const uint8_t zero[4] = {0, 0, 0, 0};
  std::string s = "payload \x00\xff bytes"s;
  std::string t = s;
  mg::ws::apply_mask(t.data(), t.size(), zero, 17);
  EXPECT_EQ(t, s);
  const uint8_t mask[4] = {1, 2, 3, 4};
  mg::ws::apply_mask(t.data(), t.size(), mask, 2);
  EXPECT_NE(t, s);
  mg::ws::apply_mask(t.data(), t.size(), mask, 2);
  EXPECT_EQ(t, s);
  mg::ws::apply_mask(nullptr, 0, mask, 0);  // empty: no access
}

TEST(WsFrame, ApplyMaskStaysInsideGuardedBuffer) {
  const uint8_t mask[4] = {5, 6, 7, 8};
  for (size_t len = 0; len < 40; ++len) {
    std::string data(len, 'z');
    char* p = guard().place(data);
    mg::ws::apply_mask(p, len, mask, len);
    EXPECT_EQ(std::string(p, len), reference_mask(data, mask, len));
  }
}

// ---------------------------------------------------------------------------
// accept_key (RFC 6455 §1.3, §4.2.2).

TEST(WsFrame, AcceptKeyRfcSample) {
  EXPECT_EQ(mg::ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFrame, AcceptKeyOtherKeys) {
  // Computed independently: base64(sha1(key + GUID)).
  EXPECT_EQ(mg::ws::accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_EQ(mg::ws::accept_key("").size(), 28u);
  EXPECT_NE(mg::ws::accept_key("a"), mg::ws::accept_key("b"));
}

// ---------------------------------------------------------------------------
// valid_utf8 (RFC 3629).

TEST(WsFrame, Utf8Valid) {
  for (std::string s : {""s, "hello"s, "caf\xc3\xa9"s, "\xe2\x82\xac"s, "\xf0\x9f\x98\x80"s,
                        "\x7f"s, "\x00"s, "\xc2\x80"s, "\xdf\xbf"s, "\xe0\xa0\x80"s,
                        "\xed\x9f\xbf"s, "\xee\x80\x80"s, "\xef\xbf\xbf"s, "\xf0\x90\x80\x80"s,
                        "\xf4\x8f\xbf\xbf"s, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"s,
                        std::string(1000, 'a') + "\xc3\xa9" + std::string(13, 'b')}) {
    EXPECT_TRUE(mg::ws::valid_utf8(s)) << s;
  }
}

TEST(WsFrame, Utf8Invalid) {
  for (std::string s : {
           "\x80"s,                  // lone continuation
           "\xbf"s,                  //
           "a\x80\x80"s,             //
           "\xc0\x80"s,              // overlong NUL
           "\xc0\xaf"s,              // overlong '/'
           "\xc1\xbf"s,              // overlong
           "\xe0\x80\xaf"s,          // overlong 3-byte
           "\xe0\x9f\xbf"s,          // overlong (U+07FF in 3 bytes)
           "\xf0\x80\x80\xaf"s,      // overlong 4-byte
           "\xf0\x8f\xbf\xbf"s,      // overlong (U+FFFF in 4 bytes)
           "\xed\xa0\x80"s,          // U+D800 high surrogate
           "\xed\xbf\xbf"s,          // U+DFFF low surrogate
           "\xed\xa0\x80\xed\xb0\x80"s,  // surrogate pair encoded (CESU-8)
           "\xf4\x90\x80\x80"s,      // U+110000
           "\xf5\x80\x80\x80"s,      // F5 lead
           "\xf8\x88\x80\x80\x80"s,  // 5-byte form
           "\xfc\x84\x80\x80\x80\x80"s,  // 6-byte form
           "\xfe"s, "\xff"s,         //
           "\xc3"s,                  // truncated 2-byte
           "\xe2\x82"s,              // truncated 3-byte
           "\xf0\x9f\x98"s,          // truncated 4-byte
           "abc\xe2\x82"s,           // truncated at the end after ASCII
           "\xe2\x28\xa1"s,          // bad second byte
           "\xe2\x82\x28"s,          // bad third byte
           "\xf0\x9f\x98\x28"s,      // bad fourth byte
           "\xc3\xa9\xc3"s,          // valid then truncated
           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"s,
           std::string(64, 'a') + "\xff" + std::string(64, 'a'),
           std::string(7, 'a') + "\xc3",  // truncation right after an 8-byte boundary scan
       }) {
    EXPECT_FALSE(mg::ws::valid_utf8(s)) << testing::PrintToString(s);
  }
}

TEST(WsFrame, Utf8TruncationNeverReadsPastEnd) {
  const std::string full = "\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9";
  for (size_t k = 0; k <= full.size(); ++k) {
    std::string_view v = guard().place_view(std::string_view(full).substr(0, k));
    bool want = k == 0 || k == 4 || k == 7 || k == 9;
    EXPECT_EQ(mg::ws::valid_utf8(v), want) << k;
  }
}

TEST(WsFrame, Utf8AllTwoByteSequencesAgreeWithDefinition) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      std::string s{char(a), char(b)};
      bool want;
      if (a < 0x80) {
        want = b < 0x80;
      } else {
        want = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
      }
      ASSERT_EQ(mg::ws::valid_utf8(s), want) << a << " " << b;
    }
  }
}

TEST(WsFrame, Utf8EveryCodePointRoundTrips) {
  // Encode every scalar value; surrogates must be rejected, everything else accepted.
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x20000 ? 1 : 97)) {
    std::string s;
    if (cp < 0x80) {
      s.push_back(char(cp));
    } else if (cp < 0x800) {
      s.push_back(char(0xC0 | (cp >> 6)));
      s.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(char(0xE0 | (cp >> 12)));
      s.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(char(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(char(0xF0 | (cp >> 18)));
      s.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(char(0x80 | (cp & 0x3F)));
    }
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(mg::ws::valid_utf8(s), !surrogate) << std::hex << cp;
  }
}

}  // namespace
