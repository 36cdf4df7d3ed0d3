// HTTP/1.1 on outbound connections: response parsing (spec §6.4) and the client side
// of the WebSocket handshake (spec §6.7.4).
#include <algorithm>

#include "mg/base64.hpp"
#include "mg/random.hpp"
#include "mg/manager.hpp"
#include "mg/url.hpp"

namespace mg {

namespace {

// compat: a parsed response maps protocol/code/reason onto method/uri/proto (spec §6.4).
HttpMessage response_message(const http::Response& r, std::string_view in, std::string_view body) {
  HttpMessage m;
  m.method = r.proto;
  m.uri = r.status_text;
  m.proto = r.reason;
  m.headers = r.headers;
  m.num_headers = r.num_headers;
  m.head = in.substr(0, r.head_len);
  m.body = body;
  return m;
}

std::string_view header_value(const http::Response& r, std::string_view name) {
  for (size_t i = 0; i < r.num_headers; i++)
    if (http::iequals(r.headers[i].name, name)) return r.headers[i].value;
  return {};
}

}  // namespace

void Manager::ws_client_handshake(Connection* c, std::string_view url_text) {
  url::Parts parts = url::split(url_text);
  uint8_t nonce[16];
  random_fill(nonce, sizeof nonce);
  std::string key = base64_encode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  c->client.ws_handshake = true;
  c->client.ws_accept = ws::accept_key(key);
  std::string req;
  req.reserve(256);
  req.append("GET ").append(parts.uri.empty() ? std::string_view("/") : parts.uri).append(" HTTP/1.1\r\n");
  req.append("Upgrade: websocket\r\nHost: ").append(parts.host);
  if (!parts.port_text.empty()) req.append(":").append(parts.port_text);
  req.append("\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
  req.append(key).append("\r\n\r\n");
  send(c, req.data(), req.size());
}

void Manager::http_client_process(Connection* c) {
  HttpClientState& st = c->client;
  std::span<http::Header> scratch(header_scratch_);
  while (!c->is_closed && !c->is_closing && !c->is_websocket) {
    char* base = c->rx.data() + c->rx_off;
    size_t avail = c->rx.size() - c->rx_off;
    if (avail == 0) break;
    std::string_view in(base, avail);
    http::Response resp;
    bool fresh = false;
    if (!st.in_body) {
      size_t end = http::find_head_end(in, st.scanned);
      if (end == 0) {
        if (avail > http_limits_.max_header_bytes) {
          http::ParseResult r = http::parse_response(in, resp, scratch, http_limits_);
          return error(c, r.status == http::ParseStatus::Error ? r.error : "HTTP header limit exceeded");
        }
        st.scanned = avail;
        break;
      }
      http::ParseResult r = http::parse_response(in.substr(0, end), resp, scratch, http_limits_);
      if (r.status != http::ParseStatus::Complete)
        return error(c, r.status == http::ParseStatus::Error ? r.error : "HTTP parse error: head");
      if (st.ws_handshake) {
        // RFC 6455 §4.1: only a 101 with the matching accept key completes the upgrade.
        if (resp.status != 101 || header_value(resp, "Sec-WebSocket-Accept") != st.ws_accept)
          return error(c, "ws handshake error");
        st.ws_handshake = false;
        st.scanned = 0;
        c->is_websocket = true;
        HttpMessage m = response_message(resp, in, {});
        emit(c, EV_WS_OPEN, &m);
        if (c->is_closed) return;
        c->rx_off += resp.head_len;
        break;
      }
      if (resp.body_kind == http::ResponseBody::ContentLength && resp.content_length > limits_.max_body)
        return error(c, "MG_MAX_RECV_SIZE");
      st.head_len = resp.head_len;
      using Kind = http::BodyFraming::Kind;
      switch (resp.body_kind) {
        case http::ResponseBody::None: st.body.start(Kind::None, 0); break;
        case http::ResponseBody::ContentLength: st.body.start(Kind::Length, resp.content_length); break;
        case http::ResponseBody::Chunked: st.body.start(Kind::Chunked, 0); break;
        case http::ResponseBody::UntilClose: st.body.start(Kind::UntilClose, 0); break;
      }
      st.in_body = true;
      fresh = true;
    }

    http::BodyStep step = http::step_body(st.body, base, avail, st.head_len, http_limits_, limits_.max_body);
    if (step.status == http::ParseStatus::Error) return error(c, step.error);
    const bool complete = step.status == http::ParseStatus::Complete;
    const std::string_view body = step.body;
    const size_t msg_len = step.msg_len;
    if (fresh) {
      HttpMessage m = response_message(resp, in, body);
      emit(c, EV_HTTP_HDRS, &m);
      if (c->is_closed || c->is_closing) return;
    }
    if (!complete) break;
    if (!fresh) http::parse_response(in.substr(0, st.head_len), resp, scratch, http_limits_);
    st.in_body = false;
    st.scanned = 0;
    HttpMessage m = response_message(resp, in, body);
    emit(c, EV_HTTP_MSG, &m);
    if (c->is_closed) return;
    c->rx_off += msg_len;
  }
  if (c->is_closed) return;
  if (c->is_websocket && c->rx.size() > c->rx_off) return ws_process(c);
  c->compact_rx();
}

bool Manager::http_client_eof(Connection* c) {
  HttpClientState& st = c->client;
  if (!st.in_body || st.body.kind != http::BodyFraming::Kind::UntilClose) return !c->is_closed;
  std::string_view in(c->rx.data() + c->rx_off, c->rx.size() - c->rx_off);
  http::Response resp;
  http::parse_response(in.substr(0, st.head_len), resp, std::span<http::Header>(header_scratch_), http_limits_);
  st.in_body = false;
  HttpMessage m = response_message(resp, in, in.substr(st.head_len));
  emit(c, EV_HTTP_MSG, &m);
  c->rx.clear();
  c->rx_off = 0;
  return !c->is_closed;
}

}  // namespace mg
