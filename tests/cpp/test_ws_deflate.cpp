// permessage-deflate (RFC 7692): negotiation (codec, mg/ws_deflate.hpp), the RSV1 rules
// of the frame codec, and the zlib streams (proto, mg/ws_compress.hpp) split at every
// byte, against the RFC's own examples and at the decompressed-size limit's edges.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/buffer.hpp"
#include "mg/ws_compress.hpp"
#include "mg/ws_deflate.hpp"
#include "mg/ws_frame.hpp"

using namespace std::string_literals;
using mg::ws::DeflateAnswer;
using mg::ws::DeflateConfig;
using mg::ws::DeflateOffer;
using mg::ws::DeflateParams;
using Result = mg::ws::Inflater::Result;

namespace {

mg::testing::GuardedBuffer& guard() {
  static mg::testing::GuardedBuffer g(4096);
  return g;
}

// Negotiates over header values placed so that any over-read faults.
bool negotiate(std::vector<std::string> values, const DeflateConfig& cfg, DeflateParams& out) {
  static mg::testing::GuardedBuffer gs[4] = {mg::testing::GuardedBuffer(4096), mg::testing::GuardedBuffer(4096),
                                             mg::testing::GuardedBuffer(4096), mg::testing::GuardedBuffer(4096)};
  std::vector<std::string_view> views;
  for (size_t i = 0; i < values.size(); i++) views.push_back(gs[i].place_view(values[i]));
  return mg::ws::negotiate_deflate(views, cfg, out);
}

std::string response_for(std::vector<std::string> values, const DeflateConfig& cfg = {}) {
  DeflateParams p;
  if (!negotiate(std::move(values), cfg, p)) return "<declined>";
  char buf[mg::ws::kDeflateHeaderMax];
  return std::string(buf, mg::ws::format_deflate_response(p, buf));
}

DeflateAnswer check(std::vector<std::string> values, const DeflateConfig* cfg, DeflateParams& out) {
  std::vector<std::string_view> views;
  for (const std::string& v : values) views.push_back(v);
  return mg::ws::check_deflate_response(views, cfg, out);
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// Inflates `payload` (one message, tail removed) in pieces of `step` bytes.
Result inflate_all(mg::ws::Inflater& inf, std::string_view payload, std::string& out, size_t limit = 1 << 30,
                   size_t step = SIZE_MAX) {
  mg::Buffer b(nullptr);
  for (size_t at = 0; at < payload.size() || at == 0; at += step) {
    Result r = inf.feed(payload.substr(at, std::min(step, payload.size() - at)), b, limit);
    if (r != Result::Ok) return r;
    if (payload.empty()) break;
  }
  Result r = inf.finish(b, limit);
  out.assign(b.view());
  return r;
}

std::string compress(mg::ws::Deflater& d, std::string_view msg) {
  mg::Buffer b(nullptr);
  EXPECT_TRUE(d.compress(msg, b));
  return std::string(b.view());
}

}  // namespace

// --- parameters (RFC 7692 §7.1) ---

TEST(WsDeflateParams, EveryParameterWithItsValueRules) {
  DeflateOffer o;
  EXPECT_TRUE(mg::ws::parse_deflate_params("", o));
  EXPECT_FALSE(o.client_max_window_bits);
  ASSERT_TRUE(mg::ws::parse_deflate_params(
      "; server_no_context_takeover;client_no_context_takeover ; server_max_window_bits=10; client_max_window_bits", o));
  EXPECT_TRUE(o.server_no_context_takeover);
  EXPECT_TRUE(o.client_no_context_takeover);
  EXPECT_EQ(o.server_max_window_bits, 10);
  EXPECT_TRUE(o.client_max_window_bits);
  EXPECT_EQ(o.client_max_window_bits_value, 0);
  ASSERT_TRUE(mg::ws::parse_deflate_params("; client_max_window_bits=\"9\"", o));  // quoted-string form
  EXPECT_EQ(o.client_max_window_bits_value, 9);
  ASSERT_TRUE(mg::ws::parse_deflate_params("; server_max_window_bits = 15", o));
  EXPECT_EQ(o.server_max_window_bits, 15);
}

TEST(WsDeflateParams, RefusedForms) {
  DeflateOffer o;
  for (const char* bad : {"; foo", "; server_no_context_takeover=1", "; client_no_context_takeover; client_no_context_takeover",
                          "; server_max_window_bits", "; server_max_window_bits=7", "; server_max_window_bits=16",
                          "; server_max_window_bits=08", "; server_max_window_bits=1a", "; client_max_window_bits=",
                          "; client_max_window_bits=\"1\\0\"", "; client_max_window_bits; client_max_window_bits=10",
                          "; server_max_window_bits=10; server_max_window_bits=10", ";", "; ;", "x", "; \"q\"",
                          "; client_max_window_bits=\"10"})
    EXPECT_FALSE(mg::ws::parse_deflate_params(bad, o)) << bad;
  // The edges of the window range: 8 and 15 are valid values (the server then decides).
  EXPECT_TRUE(mg::ws::parse_deflate_params("; server_max_window_bits=8", o));
  EXPECT_TRUE(mg::ws::parse_deflate_params("; client_max_window_bits=15", o));
}

// --- server negotiation ---

TEST(WsDeflateServer, DefaultOfferAccepted) {
  EXPECT_EQ(response_for({"permessage-deflate; client_max_window_bits"}), "permessage-deflate");
  EXPECT_EQ(response_for({"permessage-deflate"}), "permessage-deflate");
  EXPECT_EQ(response_for({"Permessage-Deflate"}), "permessage-deflate");
}

TEST(WsDeflateServer, NoOfferOrOtherExtensionsOnly) {
  EXPECT_EQ(response_for({}), "<declined>");
  EXPECT_EQ(response_for({"x-webkit-deflate-frame"}), "<declined>");
  EXPECT_EQ(response_for({"foo, bar; baz=1"}), "<declined>");
}

TEST(WsDeflateServer, FirstAcceptableOfferWins) {
  // An unknown parameter declines that offer only; the next one is taken (§7.1).
  EXPECT_EQ(response_for({"permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover"}),
            "permessage-deflate; server_no_context_takeover");
  // Offers spread over several header fields form one list.
  EXPECT_EQ(response_for({"foo", "permessage-deflate; server_max_window_bits=8", "permessage-deflate; client_max_window_bits=12"}),
            "permessage-deflate; client_max_window_bits=12");
  // A comma inside a quoted value does not split the list.
  EXPECT_EQ(response_for({"foo; a=\"x,y\", permessage-deflate"}), "permessage-deflate");
  // Empty list elements are skipped (RFC 9110 §5.6.1).
  EXPECT_EQ(response_for({" , ,permessage-deflate ,"}), "permessage-deflate");
}

TEST(WsDeflateServer, UnparseableListDeclinesEverything) {
  EXPECT_EQ(response_for({"permessage-deflate; a=\"unterminated"}), "<declined>");
  EXPECT_EQ(response_for({"bad name, permessage-deflate"}), "<declined>");
}

TEST(WsDeflateServer, ServerWindowBits) {
  DeflateConfig cfg;
  // §7.1.2.1: the answer is no larger than the offer.
  EXPECT_EQ(response_for({"permessage-deflate; server_max_window_bits=9"}), "permessage-deflate; server_max_window_bits=9");
  EXPECT_EQ(response_for({"permessage-deflate; server_max_window_bits=15"}), "permessage-deflate; server_max_window_bits=15");
  // 8 bits: zlib cannot compress with them, the offer is declined.
  EXPECT_EQ(response_for({"permessage-deflate; server_max_window_bits=8"}), "<declined>");
  cfg.server_max_window_bits = 10;
  EXPECT_EQ(response_for({"permessage-deflate"}, cfg), "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(response_for({"permessage-deflate; server_max_window_bits=12"}, cfg),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(response_for({"permessage-deflate; server_max_window_bits=9"}, cfg),
            "permessage-deflate; server_max_window_bits=9");
  DeflateParams p;
  ASSERT_TRUE(negotiate({"permessage-deflate; server_max_window_bits=9"}, cfg, p));
  EXPECT_EQ(p.server_max_window_bits, 9);
}

TEST(WsDeflateServer, ClientWindowBits) {
  DeflateConfig cfg;
  EXPECT_EQ(response_for({"permessage-deflate; client_max_window_bits=10"}), "permessage-deflate; client_max_window_bits=10");
  // 8 is fine for the client's window: we decompress with 15 bits whatever it uses.
  EXPECT_EQ(response_for({"permessage-deflate; client_max_window_bits=8"}), "permessage-deflate; client_max_window_bits=8");
  cfg.client_max_window_bits = 12;
  EXPECT_EQ(response_for({"permessage-deflate; client_max_window_bits"}, cfg), "permessage-deflate; client_max_window_bits=12");
  EXPECT_EQ(response_for({"permessage-deflate; client_max_window_bits=10"}, cfg), "permessage-deflate; client_max_window_bits=10");
  // §7.1.2.2: not offered, so it must not be in the answer; the client may use 15 bits.
  EXPECT_EQ(response_for({"permessage-deflate"}, cfg), "permessage-deflate");
  DeflateParams p;
  ASSERT_TRUE(negotiate({"permessage-deflate"}, cfg, p));
  EXPECT_EQ(p.client_max_window_bits, 15);
}

TEST(WsDeflateServer, ContextTakeover) {
  DeflateConfig cfg;
  EXPECT_EQ(response_for({"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  cfg.server_no_context_takeover = true;
  cfg.client_no_context_takeover = true;
  EXPECT_EQ(response_for({"permessage-deflate"}, cfg), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  DeflateParams p;
  ASSERT_TRUE(negotiate({"permessage-deflate; client_no_context_takeover"}, {}, p));
  EXPECT_FALSE(p.server_no_context_takeover);
  EXPECT_TRUE(p.client_no_context_takeover);
}

// --- client: the offer and the answer ---

TEST(WsDeflateClient, Offers) {
  char buf[mg::ws::kDeflateHeaderMax];
  DeflateConfig cfg;
  EXPECT_EQ(std::string(buf, mg::ws::format_deflate_offer(cfg, buf)), "permessage-deflate; client_max_window_bits");
  cfg = {true, true, 9, 10};
  EXPECT_EQ(std::string(buf, mg::ws::format_deflate_offer(cfg, buf)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
            "client_max_window_bits=10");
  // The longest response fits the buffer.
  DeflateParams p{true, true, 15, 15, true, true};
  EXPECT_LT(mg::ws::format_deflate_response(p, buf), mg::ws::kDeflateHeaderMax);
}

TEST(WsDeflateClient, Answers) {
  DeflateConfig cfg;
  DeflateParams p;
  EXPECT_EQ(check({}, &cfg, p), DeflateAnswer::None);
  EXPECT_EQ(check({}, nullptr, p), DeflateAnswer::None);
  // RFC 6455 §4.1: an extension we did not offer.
  EXPECT_EQ(check({"permessage-deflate"}, nullptr, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"foo"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate, permessage-deflate"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate", "permessage-deflate"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; foo"}, &cfg, p), DeflateAnswer::Invalid);
  ASSERT_EQ(check({"permessage-deflate"}, &cfg, p), DeflateAnswer::Accepted);
  EXPECT_FALSE(p.client_no_context_takeover);
  EXPECT_EQ(p.client_max_window_bits, 15);
  ASSERT_EQ(check({"permessage-deflate; client_no_context_takeover; client_max_window_bits=11; server_max_window_bits=10"},
                  &cfg, p),
            DeflateAnswer::Accepted);
  EXPECT_TRUE(p.client_no_context_takeover);
  EXPECT_EQ(p.client_max_window_bits, 11);
  EXPECT_EQ(p.server_max_window_bits, 10);
  // §7.1.2.2: a value is required in an answer; 8 we cannot honour (zlib).
  EXPECT_EQ(check({"permessage-deflate; client_max_window_bits"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; client_max_window_bits=8"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; client_max_window_bits=9"}, &cfg, p), DeflateAnswer::Accepted);
}

TEST(WsDeflateClient, AnswerWithinTheOffer) {
  DeflateParams p;
  DeflateConfig cfg;
  cfg.client_max_window_bits = 10;
  EXPECT_EQ(check({"permessage-deflate; client_max_window_bits=11"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; client_max_window_bits=10"}, &cfg, p), DeflateAnswer::Accepted);
  ASSERT_EQ(check({"permessage-deflate"}, &cfg, p), DeflateAnswer::Accepted);
  EXPECT_EQ(p.client_max_window_bits, 10);  // we keep to our own offer
  cfg = {};
  cfg.server_max_window_bits = 10;  // §7.1.2.1: the server must answer with <= 10
  EXPECT_EQ(check({"permessage-deflate"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; server_max_window_bits=11"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; server_max_window_bits=10"}, &cfg, p), DeflateAnswer::Accepted);
  EXPECT_EQ(check({"permessage-deflate; server_max_window_bits=8"}, &cfg, p), DeflateAnswer::Accepted);
  cfg = {};
  cfg.server_no_context_takeover = true;  // §7.1.1.1: must be granted
  EXPECT_EQ(check({"permessage-deflate"}, &cfg, p), DeflateAnswer::Invalid);
  EXPECT_EQ(check({"permessage-deflate; server_no_context_takeover"}, &cfg, p), DeflateAnswer::Accepted);
  cfg = {};
  cfg.client_no_context_takeover = true;  // ours to keep even when the answer omits it
  ASSERT_EQ(check({"permessage-deflate"}, &cfg, p), DeflateAnswer::Accepted);
  EXPECT_TRUE(p.client_no_context_takeover);
}

TEST(WsDeflateClient, OurOfferIsAcceptedByOurServer) {
  for (DeflateConfig cfg : {DeflateConfig{}, DeflateConfig{true, true, 9, 9}, DeflateConfig{false, true, 12, 15}}) {
    char offer[mg::ws::kDeflateHeaderMax], answer[mg::ws::kDeflateHeaderMax];
    std::string o(offer, mg::ws::format_deflate_offer(cfg, offer));
    DeflateParams sp, cp;
    ASSERT_TRUE(negotiate({o}, DeflateConfig{}, sp)) << o;
    std::string a(answer, mg::ws::format_deflate_response(sp, answer));
    ASSERT_EQ(check({a}, &cfg, cp), DeflateAnswer::Accepted) << a;
    EXPECT_EQ(cp.client_max_window_bits, cfg.client_max_window_bits);
    EXPECT_EQ(sp.server_max_window_bits, cfg.server_max_window_bits);
    EXPECT_EQ(cp.server_no_context_takeover, cfg.server_no_context_takeover);
  }
}

// --- frame codec: RSV1 (RFC 7692 §6) ---

TEST(WsDeflateFrames, Rsv1OnlyWhenNegotiatedAndOnlyOnFirstDataFrames) {
  mg::ws::FrameHeader h;
  auto parse = [&](std::string in, uint8_t allowed) {
    return mg::ws::parse_header(guard().place_view(in), h, false, 1000, allowed);
  };
  EXPECT_EQ(parse(bytes({0xc1, 0x01}), 0).status, mg::ws::Status::Error);           // text + RSV1, not negotiated
  EXPECT_EQ(parse(bytes({0xc1, 0x01}), mg::ws::kRsv1).status, mg::ws::Status::Complete);
  EXPECT_EQ(h.rsv, mg::ws::kRsv1);
  EXPECT_EQ(parse(bytes({0x42, 0x01}), mg::ws::kRsv1).status, mg::ws::Status::Complete);  // binary, not FIN
  EXPECT_EQ(parse(bytes({0xc0, 0x01}), mg::ws::kRsv1).close_code, 1002);              // continuation
  EXPECT_EQ(parse(bytes({0xc9, 0x00}), mg::ws::kRsv1).close_code, 1002);              // ping
  EXPECT_EQ(parse(bytes({0xc8, 0x00}), mg::ws::kRsv1).close_code, 1002);              // close
  EXPECT_EQ(parse(bytes({0xa1, 0x01}), mg::ws::kRsv1).close_code, 1002);              // RSV2 stays refused
  EXPECT_EQ(parse(bytes({0x91, 0x01}), mg::ws::kRsv1).close_code, 1002);              // RSV3 too
  // The first byte alone is enough to refuse.
  EXPECT_EQ(parse(bytes({0xc0}), mg::ws::kRsv1).status, mg::ws::Status::Error);
}

// --- streams: RFC 7692 §7.2.3 examples ---

TEST(WsDeflateStream, RfcExamples) {
  mg::ws::Inflater inf;
  std::string out;
  // §7.2.3.1: "Hello" in one compressed frame.
  ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out), Result::Ok);
  EXPECT_EQ(out, "Hello");
  // §7.2.3.2: a second "Hello" referring back to the first (context takeover).
  ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out), Result::Ok);
  EXPECT_EQ(out, "Hello");
  // §7.2.3.3: a stored (uncompressed) DEFLATE block.
  mg::ws::Inflater fresh;
  ASSERT_EQ(inflate_all(fresh, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), out), Result::Ok);
  EXPECT_EQ(out, "Hello");
  // §7.2.3.4: a block with BFINAL set; the next message starts a new stream.
  ASSERT_EQ(inflate_all(fresh, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), out), Result::Ok);
  EXPECT_EQ(out, "Hello");
  ASSERT_EQ(inflate_all(fresh, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out), Result::Ok);
  EXPECT_EQ(out, "Hello");
  // §7.2.3.6: an empty message may be a single 0x00 byte.
  ASSERT_EQ(inflate_all(fresh, bytes({0x00}), out), Result::Ok);
  EXPECT_EQ(out, "");
}

TEST(WsDeflateStream, OurCompressorMatchesTheRfcExample) {
  mg::ws::Deflater d(15, false, -1, 8);
  EXPECT_EQ(compress(d, "Hello"), bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
  // With context takeover the second message refers back to the first.
  EXPECT_EQ(compress(d, "Hello"), bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
  mg::ws::Deflater n(15, true, -1, 8);
  EXPECT_EQ(compress(n, "Hello"), compress(n, "Hello"));  // no context takeover: same bytes
}

TEST(WsDeflateStream, EverySplitPointAndEveryWindow) {
  std::string msg;
  for (int i = 0; i < 300; i++) msg += "line " + std::to_string(i % 17) + " of a repetitive message\n";
  for (int bits = 9; bits <= 15; bits++) {
    mg::ws::Deflater d(bits, false, 6, 8);
    std::string z1 = compress(d, msg), z2 = compress(d, msg);
    ASSERT_LT(z1.size(), msg.size() / 4);
    ASSERT_LT(z2.size(), z1.size());  // the second refers back to the first
    // Whole, then cut in two at every byte: the decompressed bytes never depend on where frames end.
    for (size_t cut = 0; cut <= z1.size(); cut += (bits == 15 ? 1 : 37)) {
      mg::ws::Inflater inf;
      mg::Buffer b(nullptr);
      ASSERT_EQ(inf.feed(std::string_view(z1).substr(0, cut), b, msg.size()), Result::Ok);
      ASSERT_EQ(inf.feed(std::string_view(z1).substr(cut), b, msg.size()), Result::Ok);
      ASSERT_EQ(inf.finish(b, msg.size()), Result::Ok);
      ASSERT_EQ(b.view(), msg) << "bits " << bits << " cut " << cut;
      std::string out;
      ASSERT_EQ(inflate_all(inf, z2, out, msg.size()), Result::Ok);
      ASSERT_EQ(out, msg);
    }
  }
  mg::ws::Inflater inf;
  mg::ws::Deflater d(15, false, 6, 8);
  std::string out;
  ASSERT_EQ(inflate_all(inf, compress(d, msg), out, msg.size(), 1), Result::Ok);  // one byte at a time
  EXPECT_EQ(out, msg);
}

TEST(WsDeflateStream, NoContextTakeoverMessagesStandAlone) {
  mg::ws::Deflater d(12, true, 9, 9);
  std::string msg(5000, 'x');
  compress(d, msg);
  std::string z = compress(d, msg);
  mg::ws::Inflater fresh;  // never saw the first message
  std::string out;
  ASSERT_EQ(inflate_all(fresh, z, out), Result::Ok);
  EXPECT_EQ(out, msg);
}

TEST(WsDeflateStream, IncompressibleAndLargeMessages) {
  std::mt19937 rng(7);
  std::string msg(3 << 20, '\0');
  for (char& ch : msg) ch = static_cast<char>(rng());
  mg::ws::Deflater d(15, false, -1, 8);
  std::string z = compress(d, msg);
  // Worst-case growth is a few bytes per 16 KiB stored block; the driver allows 1/1024 + 64.
  EXPECT_LE(z.size(), msg.size() + (msg.size() >> 10) + 64);
  mg::ws::Inflater inf;
  std::string out;
  ASSERT_EQ(inflate_all(inf, z, out, msg.size()), Result::Ok);
  EXPECT_TRUE(out == msg);
}

TEST(WsDeflateStream, LimitAtBelowAndAbove) {
  std::string msg(100000, 'a');
  mg::ws::Deflater d(15, true, -1, 8);
  std::string z = compress(d, msg);
  for (size_t limit : {msg.size() + 1, msg.size()}) {
    mg::ws::Inflater inf;
    std::string out;
    EXPECT_EQ(inflate_all(inf, z, out, limit), Result::Ok) << limit;
    EXPECT_EQ(out.size(), msg.size());
  }
  mg::ws::Inflater inf;
  std::string out;
  EXPECT_EQ(inflate_all(inf, z, out, msg.size() - 1), Result::TooBig);
  // The limit binds the tail's output too: the last bytes can come out of finish().
  mg::ws::Inflater inf2;
  mg::Buffer b(nullptr);
  ASSERT_EQ(inf2.feed(z, b, msg.size()), Result::Ok);
  EXPECT_EQ(inf2.finish(b, msg.size()), Result::Ok);
  EXPECT_EQ(b.size(), msg.size());
}

TEST(WsDeflateStream, ZipBombStopsAtTheLimitBeforeTakingMemory) {
  // 256 MiB of zeros compress to ~256 KiB; with a 1 MiB limit the inflater stops after at
  // most limit + 1 bytes of output, its buffer at most twice that.
  mg::ws::Deflater d(15, true, 9, 9);
  std::string chunk(1 << 20, '\0');
  std::string z;
  {
    mg::Buffer b(nullptr);
    std::string big(64 << 20, '\0');
    ASSERT_TRUE(d.compress(big, b));
    z.assign(b.view());
  }
  ASSERT_LT(z.size(), 128u * 1024);
  mg::ws::Inflater inf;
  mg::Buffer out(nullptr);
  const size_t limit = 1 << 20;
  EXPECT_EQ(inf.feed(z, out, limit), Result::TooBig);
  EXPECT_LE(out.size(), limit + 1);
  EXPECT_LE(out.capacity(), 2 * limit + 2 * 16384);
}

TEST(WsDeflateStream, CorruptDataIsRefused) {
  mg::ws::Inflater inf;
  std::string out;
  EXPECT_EQ(inflate_all(inf, bytes({0xff, 0xff, 0xff, 0xff}), out), Result::Bad);  // reserved block type 11
  mg::ws::Inflater inf2;
  EXPECT_EQ(inflate_all(inf2, bytes({0x00, 0x05, 0x00, 0x00, 0x00}), out), Result::Bad);  // LEN/NLEN mismatch
}

TEST(WsDeflateStream, EmptyFeedsAndEmptyMessages) {
  mg::ws::Inflater inf;
  mg::Buffer b(nullptr);
  // An RSV1 message with an empty payload: no DEFLATE data, an empty message, and the
  // stream is still usable afterwards (the tail is not fed on its own).
  EXPECT_EQ(inf.feed("", b, 10), Result::Ok);
  EXPECT_EQ(inf.finish(b, 10), Result::Ok);
  EXPECT_EQ(b.size(), 0u);
  std::string out;
  ASSERT_EQ(inflate_all(inf, bytes({0x00}), out, 0), Result::Ok);  // a limit of 0 takes empty messages
  EXPECT_EQ(out, "");
  ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out, 5), Result::Ok);
  EXPECT_EQ(out, "Hello");
  ASSERT_EQ(inflate_all(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out, 4), Result::TooBig);
}

TEST(WsDeflateStream, EmptyMessagesCompressToOneZeroByte) {
  for (bool reset : {false, true}) {
    mg::ws::Deflater d(15, reset, -1, 8);
    mg::ws::Inflater inf;
    for (std::string msg : {""s, "Hello"s, ""s, ""s, "Hello"s}) {
      std::string z = compress(d, msg), out;
      if (msg.empty()) EXPECT_EQ(z, bytes({0x00}));
      ASSERT_EQ(inflate_all(inf, z, out), Result::Ok);
      EXPECT_EQ(out, msg);
    }
  }
}
