// libFuzzer target: permessage-deflate (RFC 7692) — negotiation over arbitrary
// Sec-WebSocket-Extensions text, and the decompressor on arbitrary DEFLATE data.
//
// Input layout: byte 0 picks the limit (bits 0-2: 0 .. 64 KiB), the split point of the
// payload (bits 3-7, a fraction of its length) ; byte 1 is the mode: 0-127 treat the rest
// as header values (split at '\n' into up to 4 values) for negotiate_deflate and
// check_deflate_response; 128-255 as a compressed message payload.
// Invariants: negotiation answers parse back and are accepted by a client that offered
// what the server's config allows, window bits stay 9..15 for our compressors; the
// decompressor never outputs more than limit + 1 bytes, gives the same result whether the
// payload comes in one piece or two, and what it accepted re-compresses and decompresses
// back to itself.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mg/buffer.hpp"
#include "mg/ws_compress.hpp"
#include "mg/ws_deflate.hpp"

#include "check.hpp"

using namespace mg::ws;

namespace {

void negotiation(std::string_view text, uint8_t knobs) {
  std::vector<std::string_view> values;
  while (!text.empty() && values.size() < 4) {
    size_t nl = text.find('\n');
    values.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  DeflateConfig cfg;
  cfg.server_no_context_takeover = knobs & 1;
  cfg.client_no_context_takeover = knobs & 2;
  cfg.server_max_window_bits = static_cast<uint8_t>(9 + (knobs >> 2) % 7);
  cfg.client_max_window_bits = static_cast<uint8_t>(9 + (knobs >> 5) % 7);
  DeflateParams p;
  if (negotiate_deflate(values, cfg, p)) {
    CHECK(p.server_max_window_bits >= 9 && p.server_max_window_bits <= cfg.server_max_window_bits);
    CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
    CHECK(!cfg.server_no_context_takeover || p.server_no_context_takeover);
    char buf[kDeflateHeaderMax];
    size_t n = format_deflate_response(p, buf);
    CHECK(n < kDeflateHeaderMax);
    std::string_view resp(buf, n);
    CHECK(resp.substr(0, 18) == "permessage-deflate");
    DeflateOffer o;
    CHECK(parse_deflate_params(resp.substr(18), o));
    CHECK(o.server_no_context_takeover == p.server_no_context_takeover);
    CHECK(o.client_no_context_takeover == p.client_no_context_takeover);
  }
  // A client that offered the default config judges arbitrary answers.
  DeflateConfig offered;
  DeflateParams cp;
  DeflateAnswer a = check_deflate_response(values, &offered, cp);
  if (a == DeflateAnswer::Accepted) CHECK(cp.client_max_window_bits >= 9 && cp.client_max_window_bits <= 15);
  if (check_deflate_response(values, nullptr, cp) == DeflateAnswer::Accepted) CHECK(false);
  // Our own offers always parse.
  char buf[kDeflateHeaderMax];
  size_t n = format_deflate_offer(cfg, buf);
  DeflateOffer o;
  CHECK(parse_deflate_params(std::string_view(buf, n).substr(18), o));
}

Inflater::Result inflate(std::string_view z, size_t split, size_t limit, std::string& out) {
  Inflater inf;
  mg::Buffer b(nullptr);
  Inflater::Result r = inf.feed(z.substr(0, split), b, limit);
  CHECK(b.size() <= limit + 1);
  if (r == Inflater::Result::Ok) r = inf.feed(z.substr(split), b, limit);
  CHECK(b.size() <= limit + 1);
  if (r == Inflater::Result::Ok) r = inf.finish(b, limit);
  CHECK(b.size() <= limit + 1);
  if (r == Inflater::Result::Ok) CHECK(b.size() <= limit);
  out.assign(b.view());
  return r;
}

void decompression(std::string_view z, uint8_t knobs) {
  static const size_t kLimits[8] = {0, 1, 5, 100, 1000, 4096, 16384, 65536};
  const size_t limit = kLimits[knobs & 7];
  const size_t split = z.size() * (knobs >> 3) / 31;
  std::string whole, pieces;
  Inflater::Result r1 = inflate(z, z.size(), limit, whole);
  Inflater::Result r2 = inflate(z, split, limit, pieces);
  CHECK(r1 == r2);
  if (r1 != Inflater::Result::Ok) return;
  CHECK(whole == pieces);
  // What we accepted survives our own compressor (every window size, with and without
  // context takeover over two messages).
  for (int bits : {9, 15}) {
    Deflater d(bits, bits == 9, -1, 8);
    Inflater inf;
    for (int round = 0; round < 2; round++) {
      mg::Buffer zb(nullptr), out(nullptr);
      CHECK(d.compress(whole, zb));
      CHECK(inf.feed(zb.view(), out, whole.size()) == Inflater::Result::Ok);
      CHECK(inf.finish(out, whole.size()) == Inflater::Result::Ok);
      CHECK(out.view() == whole);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[1] < 128) negotiation(rest, data[0]);
  else decompression(rest, data[0]);
  return 0;
}
