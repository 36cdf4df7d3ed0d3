// WebSocket on a connection (RFC 6455): server handshake, frame reassembly, control
// frames, close handshake and limits (spec §6.7).
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "drivers.hpp"
#include "mg/base64.hpp"
#include "mg/http_reply.hpp"
#include "mg/proto.hpp"
#include "mg/random.hpp"
#include "mg/url.hpp"
#include "mg/ws_compress.hpp"
#include "mg/ws_deflate.hpp"
#include "mg/ws_frame.hpp"

namespace mg::proto {

namespace {

std::string_view find_value(const HttpMessage& m, std::string_view name) {
  for (size_t i = 0; i < m.num_headers; i++)
    if (http::iequals(m.headers[i].name, name)) return m.headers[i].value;
  return {};
}

bool has_header(std::span<const http::Header> hs, std::string_view name) {
  for (const http::Header& h : hs)
    if (http::iequals(h.name, name)) return true;
  return false;
}

// Masks come from a small pool refilled from the OS CSPRNG (spec §8.7), so a client
// sending many frames does not pay a syscall per frame.
void fresh_mask(uint8_t mask[4]) {
  static thread_local uint8_t pool[256];
  static thread_local size_t left = 0;
  if (left < 4) {
    random_fill(pool, sizeof pool);
    left = sizeof pool;
  }
  left -= 4;
  std::copy(pool + left, pool + left + 4, mask);
}

// RFC 6455 §7.4.1-7.4.2: codes a peer may send; 1005, 1006 and 1015 are never on the
// wire, 0-999 and unassigned 1xxx codes are invalid. A reason must be UTF-8 (§5.5.1).
bool valid_close_payload(std::string_view data) {
  if (data.empty()) return true;
  if (data.size() < 2) return false;
  unsigned code = (static_cast<unsigned char>(data[0]) << 8) | static_cast<unsigned char>(data[1]);
  bool ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  return ok && ws::valid_utf8(data.substr(2));
}

}  // namespace

class WsDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  WsDriver(BlockPool* pool, const WsCompression* z) : Driver(&kTag), frag(pool) {
    if (z) {
      deflater = std::make_unique<ws::Deflater>(z->window_bits, z->no_context_takeover, z->level, z->mem_level);
      inflater = std::make_unique<ws::Inflater>();
      peer_no_context_takeover = z->peer_no_context_takeover;
    }
  }
  void on_data(Connection& c) override;
  uint64_t deadline(const Connection& c) const override { return close_sent ? close_deadline : 0; }
  void on_timeout(Connection& c) override {
    if (close_sent && close_deadline && c.mgr->now() >= close_deadline)
      c.mgr->mark_closing(&c);  // the peer never answered our close frame
  }
  void fail(Connection& c, uint16_t code, std::string_view err);
  // Decompresses a frame of a compressed message into `frag` (and the tail on its last
  // frame); false after failing the connection (1009 too big, 1007 bad data).
  bool inflate(Connection& c, std::string_view data, bool fin, uint64_t max_msg);

  bool close_sent = false;     // we sent a close frame: the peer's close is not echoed
  uint64_t close_deadline = 0;
  uint8_t frag_opcode = 0;     // first opcode of the fragmented message being assembled
  bool frag_compressed = false;  // that message had RSV1: `frag` holds its decompressed bytes
  Buffer frag;                 // fragments of a message being reassembled (decompressed)
  // permessage-deflate (RFC 7692), when negotiated: our compressor and the peer's stream.
  std::unique_ptr<ws::Deflater> deflater;
  std::unique_ptr<ws::Inflater> inflater;
  bool peer_no_context_takeover = false;
};

std::unique_ptr<Driver> make_ws_driver(BlockPool* pool, const WsCompression* z) {
  return std::make_unique<WsDriver>(pool, z);
}

WsCompression ws_compression(const ws::DeflateParams& p, const ws::DeflateConfig& cfg, bool server) {
  WsCompression z;
  z.window_bits = server ? p.server_max_window_bits : p.client_max_window_bits;
  z.no_context_takeover = server ? p.server_no_context_takeover : p.client_no_context_takeover;
  z.peer_no_context_takeover = server ? p.client_no_context_takeover : p.server_no_context_takeover;
  z.level = cfg.level;
  z.mem_level = cfg.mem_level;
  return z;
}

namespace {

void write_frame(Connection* c, uint8_t first_byte, std::string_view payload) {
  char hdr[14];
  uint8_t mask[4];
  const bool masked = c->is_client;  // RFC 6455 §5.3: clients mask, servers never do
  if (masked) fresh_mask(mask);
  size_t n = ws::encode_header(hdr, first_byte, payload.size(), masked ? mask : nullptr);
  Buffer& tx = c->tx();
  tx.append(hdr, n);
  if (!payload.empty()) {
    size_t at = tx.size();
    tx.append(payload);
    if (masked) ws::apply_mask(tx.data() + at, payload.size(), mask, 0);
  }
  c->mgr->output_queued(c);
}

}  // namespace

std::string ws_client_request(std::string_view url_text, std::string& accept, const ws::DeflateConfig* compression) {
  url::Parts parts = url::split(url_text);
  uint8_t nonce[16];
  random_fill(nonce, sizeof nonce);
  std::string key = base64_encode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  accept = ws::accept_key(key);
  std::string req;
  req.reserve(256);
  req.append("GET ").append(parts.uri.empty() ? std::string_view("/") : parts.uri).append(" HTTP/1.1\r\n");
  req.append("Upgrade: websocket\r\nHost: ").append(parts.host);
  if (!parts.port_text.empty()) req.append(":").append(parts.port_text);
  req.append("\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
  req.append(key).append("\r\n");
  if (compression) {
    char offer[ws::kDeflateHeaderMax];
    size_t n = ws::format_deflate_offer(*compression, offer);
    req.append("Sec-WebSocket-Extensions: ").append(offer, n).append("\r\n");
  }
  req.append("\r\n");
  return req;
}

void WsDriver::fail(Connection& c, uint16_t code, std::string_view err) {
  char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  write_frame(&c, 0x80 | ws::kClose, std::string_view(payload, 2));
  close_sent = true;
  c.rx.clear();  // nothing after a protocol error is interpreted
  frag_opcode = 0;
  frag.clear();  // a message refused while decompressing gives its memory back now
  frag.release();
  c.mgr->drain(&c);
  c.mgr->emit(&c, EV_ERROR, &err);
}

bool WsDriver::inflate(Connection& c, std::string_view data, bool fin, uint64_t max_msg) {
  const size_t limit = static_cast<size_t>(std::min<uint64_t>(max_msg, SIZE_MAX - 1));
  ws::Inflater::Result r = inflater->feed(data, frag, limit);
  if (r == ws::Inflater::Result::Ok && fin) {
    r = inflater->finish(frag, limit);
    if (peer_no_context_takeover) inflater->reset();  // RFC 7692 §7.1.1: nothing refers back
  }
  if (r == ws::Inflater::Result::Ok) return true;
  inflater->reset();
  if (r == ws::Inflater::Result::TooBig) fail(c, 1009, "MG_MAX_RECV_SIZE");  // RFC 7692 §8.1
  else fail(c, 1007, "WS protocol error: invalid compressed data");
  return false;
}

void WsDriver::on_data(Connection& c) {
  Manager& mgr = *c.mgr;
  const bool server = !c.is_client;
  const uint64_t max_msg = mgr.limits().max_ws_message;
  while (!c.is_closed && !c.is_closing && c.driver.get() == this) {
    char* base = c.rx.data();
    size_t avail = c.rx.size();
    if (avail == 0) break;
    if (c.is_draining) {  // closing handshake done or failed: ignore the rest
      c.rx.clear();
      break;
    }
    ws::FrameHeader h;
    const uint64_t assembled = frag_opcode ? frag.size() : 0;
    const uint64_t room = max_msg > assembled ? max_msg - assembled : 0;
    // A compressed frame may be slightly larger than what it decompresses to (stored
    // blocks: 5 bytes per 64 KiB); the decompressed size is checked while inflating.
    const uint64_t zroom = inflater ? room + (room >> 10) + 64 : room;
    // Control frames (<= 125 bytes, checked by the codec) may interleave a message that
    // already fills max_ws_message; only data frames count against it.
    ws::HeaderResult r = ws::parse_header(std::string_view(base, avail), h, server, std::max<uint64_t>(zroom, 125),
                                          inflater ? ws::kRsv1 : 0);
    const bool compressed = h.opcode == ws::kContinue ? frag_compressed : (h.rsv & ws::kRsv1) != 0;
    if (r.status == ws::Status::Complete && h.opcode < ws::kClose && h.payload_len > (compressed ? zroom : room))
      return fail(c, 1009, "MG_MAX_RECV_SIZE");
    if (r.status == ws::Status::Incomplete) break;
    if (r.status == ws::Status::Error) {
      if (r.error.starts_with("unknown WS op")) {
        std::string text = "unknown WS op " + std::to_string(h.opcode);
        c.rx.clear();
        return mgr.error(&c, text);
      }
      return fail(c, r.close_code, r.error);
    }
    if (avail - h.header_len < h.payload_len) break;  // bounded by `room` above
    char* payload = base + h.header_len;
    if (h.masked) ws::apply_mask(payload, h.payload_len, h.mask, 0);
    std::string_view data(payload, h.payload_len);
    const size_t frame_len = h.header_len + h.payload_len;
    // Consumed before any handler runs; the payload view stays valid (no bytes move).
    c.rx.consume(frame_len);
    switch (h.opcode) {
      case ws::kText:
      case ws::kBinary:
        if (frag_opcode) return fail(c, 1002, "WS protocol error: new data frame inside a fragmented message");
        if (compressed) {
          // RFC 7692 §7.2.2: decompressed as it arrives, into `frag`, never beyond max_ws_message.
          frag.clear();
          if (!inflate(c, data, h.fin, max_msg)) return;
          if (h.fin) {
            std::string_view whole = frag.view();
            if (h.opcode == ws::kText && !ws::valid_utf8(whole)) return fail(c, 1007, "WS protocol error: invalid UTF-8");
            WsMessage m{whole, static_cast<uint8_t>(0x80 | h.opcode)};
            mgr.emit(&c, EV_WS_MSG, &m);
            if (c.is_closed) return;
            frag.clear();
            frag.release();
          } else {
            frag_opcode = h.opcode;
            frag_compressed = true;
          }
          break;
        }
        if (h.fin) {
          if (h.opcode == ws::kText && !ws::valid_utf8(data))
            return fail(c, 1007, "WS protocol error: invalid UTF-8");  // RFC 6455 §8.1
          WsMessage m{data, static_cast<uint8_t>(0x80 | h.opcode)};
          mgr.emit(&c, EV_WS_MSG, &m);
        } else {
          frag_opcode = h.opcode;
          frag_compressed = false;
          frag.clear();
          frag.append(data);
        }
        break;
      case ws::kContinue: {
        if (!frag_opcode) return fail(c, 1002, "WS protocol error: continuation without start");
        if (frag_compressed) {
          if (!inflate(c, data, h.fin, max_msg)) return;
        } else {
          frag.append(data);
        }
        mgr.emit(&c, EV_WS_CTL);
        if (c.is_closed || c.is_closing) return;
        if (h.fin) {
          uint8_t op = frag_opcode;
          frag_opcode = 0;
          std::string_view whole = frag.view();
          if (op == ws::kText && !ws::valid_utf8(whole)) return fail(c, 1007, "WS protocol error: invalid UTF-8");
          WsMessage m{whole, static_cast<uint8_t>(0x80 | op)};
          mgr.emit(&c, EV_WS_MSG, &m);
          if (c.is_closed) return;
          frag.clear();
          frag.release();
        }
        break;
      }
      case ws::kPing:
        write_frame(&c, 0x80 | ws::kPong, data);  // RFC 6455 §5.5.2
        mgr.emit(&c, EV_WS_CTL);
        break;
      case ws::kPong:
        mgr.emit(&c, EV_WS_CTL);
        break;
      case ws::kClose: {
        // RFC 6455 §5.5.1, §7.4: a close body is empty or starts with a valid status code.
        if (!valid_close_payload(data)) return fail(c, 1002, "WS protocol error: invalid close frame");
        WsMessage close_frame{data, static_cast<uint8_t>(0x80 | ws::kClose)};  // the binding keeps its code
        mgr.emit(&c, EV_WS_CTL, &close_frame);
        if (c.is_closed) return;
        if (!close_sent) {
          // RFC 6455 §5.5.1: answer with the peer's status code, then close.
          write_frame(&c, 0x80 | ws::kClose, data.substr(0, std::min<size_t>(data.size(), 2)));
          close_sent = true;
        }
        // Either the answer to our close (no second echo, D27) or our answer: done.
        mgr.drain(&c);
        break;
      }
    }
  }
}

}  // namespace mg::proto

namespace mg::ws {

using proto::WsDriver;

void upgrade(Connection* c, const HttpMessage& req, std::span<const http::Header> extra,
             const DeflateConfig* compression) {
  std::string_view key = proto::find_value(req, "Sec-WebSocket-Key");
  if (key.empty()) {
    static const http::Header kPlain[] = {{"Content-Type", "text/plain"}};
    http::reply(c, 426, kPlain, "WS upgrade expected\n");
    c->mgr->drain(c);
    return;
  }
  std::string accept = ws::accept_key(key);
  std::string head;
  head.reserve(256);
  head.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  head.append("Sec-WebSocket-Accept: ").append(accept).append("\r\n");
  for (const http::Header& h : extra) head.append(h.name).append(": ").append(h.value).append("\r\n");
  std::string_view offered = proto::find_value(req, "Sec-WebSocket-Protocol");
  if (!offered.empty() && !proto::has_header(extra, "Sec-WebSocket-Protocol")) {
    // The first protocol the client offered (D27), unless the application chose one.
    std::string_view first = offered.substr(0, offered.find(','));
    while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    head.append("Sec-WebSocket-Protocol: ").append(first).append("\r\n");
  }
  // permessage-deflate (RFC 7692 §7.1) when enabled, unless the application answered
  // the extension offer itself.
  std::optional<proto::WsCompression> z;
  if (compression && !proto::has_header(extra, "Sec-WebSocket-Extensions")) {
    std::string_view values[16];
    size_t nvalues = 0;
    for (size_t i = 0; i < req.num_headers && nvalues < std::size(values); i++)
      if (http::iequals(req.headers[i].name, "Sec-WebSocket-Extensions")) values[nvalues++] = req.headers[i].value;
    DeflateParams agreed;
    if (negotiate_deflate(std::span(values, nvalues), *compression, agreed)) {
      char answer[kDeflateHeaderMax];
      size_t n = format_deflate_response(agreed, answer);
      head.append("Sec-WebSocket-Extensions: ").append(answer, n).append("\r\n");
      z = proto::ws_compression(agreed, *compression, true);
    }
  }
  head.append("\r\n");
  Manager& mgr = *c->mgr;
  c->tx().append(head);
  mgr.output_queued(c);
  // The response is complete; the connection stays open with a new protocol.
  mgr.replace_driver(c, proto::make_ws_driver(&mgr.pool(), z ? &*z : nullptr));
  c->is_websocket = true;
  c->idle_since = mgr.now();
  mgr.emit(c, EV_WS_OPEN, &req);
}

void send(Connection* c, std::string_view data, int op) {
  WsDriver* d = driver_as<WsDriver>(c->driver.get());
  const int code = op & 0x0f;
  // RFC 7692 §6: data messages are compressed (RSV1 on their frame) once negotiated; an
  // empty one goes out as it is (§6.1 lets any message be sent uncompressed).
  if (d && d->deflater && (code == ws::kText || code == ws::kBinary) && !data.empty()) {
    Buffer z(&c->mgr->pool());
    if (d->deflater->compress(data, z)) {
      proto::write_frame(c, static_cast<uint8_t>(0x80 | 0x40 | code), z.view());
      return;
    }
    // zlib ran out of memory: the stream's state is unknown, so no further message can
    // be compressed against it; fail like any other resource error.
    c->mgr->error(c, "WS compression failed");
    return;
  }
  proto::write_frame(c, static_cast<uint8_t>(0x80 | code), data);
  if ((op & 0x0f) == ws::kClose && d && !d->close_sent) {
    const uint64_t timeout = c->mgr->limits().ws_close_timeout_ms;
    d->close_sent = true;  // wait for the peer's close, at most ws_close_timeout
    d->close_deadline = timeout ? c->mgr->now() + timeout : 0;
    if (!d->close_deadline) c->mgr->drain(c);
  }
}

}  // namespace mg::ws
