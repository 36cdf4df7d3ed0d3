// WebSocket on a connection (RFC 6455): server handshake, frame reassembly, control
// frames, close handshake and limits (spec §6.7).
#include <algorithm>
#include <charconv>
#include <string>

#include "mg/http_reply.hpp"
#include "mg/manager.hpp"
#include "mg/random.hpp"

namespace mg {

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

void Manager::ws_upgrade(Connection* c, const HttpMessage& req, std::span<const http::Header> extra) {
  std::string_view key = find_value(req, "Sec-WebSocket-Key");
  if (key.empty()) {
    static const http::Header kPlain[] = {{"Content-Type", "text/plain"}};
    http::write_response(c->tx, 426, kPlain, "WS upgrade expected\n", false);
    after_output(c);
    response_complete(c, true);
    return;
  }
  std::string accept = ws::accept_key(key);
  std::string head;
  head.reserve(256);
  head.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  head.append("Sec-WebSocket-Accept: ").append(accept).append("\r\n");
  for (const http::Header& h : extra) head.append(h.name).append(": ").append(h.value).append("\r\n");
  std::string_view offered = find_value(req, "Sec-WebSocket-Protocol");
  if (!offered.empty() && !has_header(extra, "Sec-WebSocket-Protocol")) {
    // The first protocol the client offered (D27), unless the application chose one.
    std::string_view first = offered.substr(0, offered.find(','));
    while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    head.append("Sec-WebSocket-Protocol: ").append(first).append("\r\n");
  }
  head.append("\r\n");
  c->tx.append(head);
  after_output(c);
  c->http.outstanding = false;  // the response is complete; the connection stays open
  c->is_websocket = true;
  c->idle_since = now_;
  emit(c, EV_WS_OPEN, &req);
}

void Manager::ws_write_frame(Connection* c, uint8_t first_byte, std::string_view payload) {
  char hdr[14];
  uint8_t mask[4];
  const bool masked = c->is_client;  // RFC 6455 §5.3: clients mask, servers never do
  if (masked) fresh_mask(mask);
  size_t n = ws::encode_header(hdr, first_byte, payload.size(), masked ? mask : nullptr);
  c->tx.append(hdr, n);
  if (!payload.empty()) {
    size_t at = c->tx.size();
    c->tx.append(payload);
    if (masked) ws::apply_mask(c->tx.data() + at, payload.size(), mask, 0);
  }
  after_output(c);
}

void Manager::ws_send(Connection* c, std::string_view data, int op) {
  ws_write_frame(c, static_cast<uint8_t>(0x80 | (op & 0x0f)), data);
  if ((op & 0x0f) == ws::kClose && !c->ws.close_sent) {
    c->ws.close_sent = true;  // wait for the peer's close, at most ws_close_timeout
    c->ws.close_deadline = limits_.ws_close_timeout_ms ? now_ + limits_.ws_close_timeout_ms : 0;
    if (!c->ws.close_deadline) c->is_draining = true;
  }
}

void Manager::ws_fail(Connection* c, uint16_t code, std::string_view err) {
  char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  ws_write_frame(c, 0x80 | ws::kClose, std::string_view(payload, 2));
  c->ws.close_sent = true;
  c->rx_off = c->rx.size();  // nothing after a protocol error is interpreted
  c->is_draining = true;
  emit(c, EV_ERROR, &err);
}

void Manager::ws_process(Connection* c) {
  const bool server = !c->is_client;
  while (!c->is_closed && !c->is_closing) {
    char* base = c->rx.data() + c->rx_off;
    size_t avail = c->rx.size() - c->rx_off;
    if (avail == 0) break;
    if (c->is_draining) {  // closing handshake done or failed: ignore the rest
      c->rx_off = c->rx.size();
      break;
    }
    ws::FrameHeader h;
    const uint64_t assembled = c->ws.frag_opcode ? c->ws_frag.size() : 0;
    const uint64_t room = limits_.max_ws_message > assembled ? limits_.max_ws_message - assembled : 0;
    // Control frames (<= 125 bytes, checked by the codec) may interleave a message that
    // already fills max_ws_message; only data frames count against it.
    ws::HeaderResult r = ws::parse_header(std::string_view(base, avail), h, server, std::max<uint64_t>(room, 125));
    if (r.status == ws::Status::Complete && h.opcode < ws::kClose && h.payload_len > room)
      return ws_fail(c, 1009, "MG_MAX_RECV_SIZE");
    if (r.status == ws::Status::Incomplete) break;
    if (r.status == ws::Status::Error) {
      if (r.error.starts_with("unknown WS op")) {
        std::string text = "unknown WS op " + std::to_string(h.opcode);
        c->rx_off = c->rx.size();
        return error(c, text);
      }
      return ws_fail(c, r.close_code, r.error);
    }
    if (avail - h.header_len < h.payload_len) break;  // bounded by `room` above
    char* payload = base + h.header_len;
    if (h.masked) ws::apply_mask(payload, h.payload_len, h.mask, 0);
    std::string_view data(payload, h.payload_len);
    const size_t frame_len = h.header_len + h.payload_len;
    switch (h.opcode) {
      case ws::kText:
      case ws::kBinary:
        if (c->ws.frag_opcode)
          return ws_fail(c, 1002, "WS protocol error: new data frame inside a fragmented message");
        if (h.fin) {
          if (h.opcode == ws::kText && !ws::valid_utf8(data))
            return ws_fail(c, 1007, "WS protocol error: invalid UTF-8");  // RFC 6455 §8.1
          WsMessage m{data, static_cast<uint8_t>(0x80 | h.opcode)};
          emit(c, EV_WS_MSG, &m);
        } else {
          c->ws.frag_opcode = h.opcode;
          c->ws_frag.clear();
          c->ws_frag.append(data);
        }
        break;
      case ws::kContinue: {
        if (!c->ws.frag_opcode) return ws_fail(c, 1002, "WS protocol error: continuation without start");
        c->ws_frag.append(data);
        emit(c, EV_WS_CTL);
        if (c->is_closed || c->is_closing) return;
        if (h.fin) {
          uint8_t op = c->ws.frag_opcode;
          c->ws.frag_opcode = 0;
          std::string_view whole = c->ws_frag.view();
          if (op == ws::kText && !ws::valid_utf8(whole))
            return ws_fail(c, 1007, "WS protocol error: invalid UTF-8");
          WsMessage m{whole, static_cast<uint8_t>(0x80 | op)};
          emit(c, EV_WS_MSG, &m);
          if (c->is_closed) return;
          c->ws_frag.clear();
          c->ws_frag.shrink_if_idle();
        }
        break;
      }
      case ws::kPing:
        ws_write_frame(c, 0x80 | ws::kPong, data);  // RFC 6455 §5.5.2
        emit(c, EV_WS_CTL);
        break;
      case ws::kPong:
        emit(c, EV_WS_CTL);
        break;
      case ws::kClose: {
        // RFC 6455 §5.5.1, §7.4: a close body is empty or starts with a valid status code.
        if (!valid_close_payload(data)) return ws_fail(c, 1002, "WS protocol error: invalid close frame");
        emit(c, EV_WS_CTL);
        if (c->is_closed) return;
        c->rx_off += frame_len;
        if (c->ws.close_sent) {
          c->is_draining = true;  // the answer to our close: done (no second echo, D27)
        } else {
          // RFC 6455 §5.5.1: answer with the peer's status code, then close.
          ws_write_frame(c, 0x80 | ws::kClose, data.substr(0, std::min<size_t>(data.size(), 2)));
          c->ws.close_sent = true;
          c->is_draining = true;
        }
        continue;
      }
    }
    if (c->is_closed) return;
    c->rx_off += frame_len;
  }
  if (c->is_closed) return;
  c->compact_rx();
}

}  // namespace mg
