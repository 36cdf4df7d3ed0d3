// HTTP/1.1 on outbound connections: response parsing (spec §6.4) and the client side
// of the WebSocket handshake (spec §6.7.4).
#include <algorithm>
#include <string>

#include "drivers.hpp"
#include "mg/http_body.hpp"
#include "mg/proto.hpp"

namespace mg::proto {

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
    if (iequals(r.headers[i].name, name)) return r.headers[i].value;
  return {};
}

class HttpClientDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  HttpClientDriver(std::string accept, std::optional<ws::DeflateConfig> z)
      : Driver(&kTag), ws_accept(std::move(accept)), ws_offer(z) {
    ws_handshake = !ws_accept.empty();
  }
  void on_data(Connection& c) override;
  void on_eof(Connection& c) override;

  bool in_body = false;
  bool ws_handshake = false;  // ws_connect: waiting for the 101
  size_t head_len = 0;
  size_t scanned = 0;
  http::BodyFraming body;
  std::string ws_accept;      // the Sec-WebSocket-Accept we expect
  std::optional<ws::DeflateConfig> ws_offer;  // permessage-deflate offered with the upgrade
};

void HttpClientDriver::on_data(Connection& c) {
  Manager& mgr = *c.mgr;
  HttpShared& shared = http_shared(mgr);
  const http::Limits& hl = shared.limits;
  const uint64_t max_body = mgr.limits().max_body;
  while (!c.is_closed && !c.is_closing && c.driver.get() == this) {
    char* base = c.rx.data();
    size_t avail = c.rx.size();
    if (avail == 0) break;
    std::string_view in(base, avail);
    http::Response resp;
    bool fresh = false;
    if (!in_body) {
      size_t end = http::find_head_end(in, scanned);
      if (end == 0) {
        if (avail > hl.max_header_bytes) {
          http::ParseResult r = http::parse_response(in, resp, shared.scratch(), hl);
          return mgr.error(&c, r.status == http::ParseStatus::Error ? r.error : "HTTP header limit exceeded");
        }
        scanned = avail;
        break;
      }
      http::ParseResult r = http::parse_response(in.substr(0, end), resp, shared.scratch(), hl);
      if (r.status != http::ParseStatus::Complete)
        return mgr.error(&c, r.status == http::ParseStatus::Error ? r.error : "HTTP parse error: head");
      if (ws_handshake) {
        // RFC 6455 §4.1: only a 101 with the matching accept key completes the upgrade.
        if (resp.status != 101 || header_value(resp, "Sec-WebSocket-Accept") != ws_accept)
          return mgr.error(&c, "ws handshake error");
        // RFC 6455 §4.1, RFC 7692 §7.1: an extension answer we did not ask for, or one
        // outside our offer, fails the connection.
        std::string_view values[16];
        size_t nvalues = 0;
        for (size_t i = 0; i < resp.num_headers; i++) {
          if (!iequals(resp.headers[i].name, "Sec-WebSocket-Extensions")) continue;
          if (nvalues == std::size(values)) return mgr.error(&c, "ws handshake error");
          values[nvalues++] = resp.headers[i].value;
        }
        ws::DeflateParams agreed;
        ws::DeflateAnswer answer =
            ws::check_deflate_response(std::span(values, nvalues), ws_offer ? &*ws_offer : nullptr, agreed);
        if (answer == ws::DeflateAnswer::Invalid) return mgr.error(&c, "ws handshake error");
        std::optional<WsCompression> z;
        if (answer == ws::DeflateAnswer::Accepted) z = ws_compression(agreed, *ws_offer, false);
        c.rx.consume(resp.head_len);
        c.is_websocket = true;
        mgr.replace_driver(&c, make_ws_driver(&mgr.pool(), z ? &*z : nullptr));
        HttpMessage m = response_message(resp, in, {});
        mgr.emit(&c, EV_WS_OPEN, &m);
        if (c.is_closed) return;
        if (!c.rx.empty() && c.driver) c.driver->on_data(c);  // frames right after the 101
        return;
      }
      if (resp.body_kind == http::ResponseBody::ContentLength && resp.content_length > max_body)
        return mgr.error(&c, "MG_MAX_RECV_SIZE");
      head_len = resp.head_len;
      using Kind = http::BodyFraming::Kind;
      switch (resp.body_kind) {
        case http::ResponseBody::None: body.start(Kind::None, 0); break;
        case http::ResponseBody::ContentLength: body.start(Kind::Length, resp.content_length); break;
        case http::ResponseBody::Chunked: body.start(Kind::Chunked, 0); break;
        case http::ResponseBody::UntilClose: body.start(Kind::UntilClose, 0); break;
      }
      in_body = true;
      fresh = true;
    }

    http::BodyStep step = http::step_body(body, base, avail, head_len, hl, max_body);
    if (step.status == http::ParseStatus::Error) return mgr.error(&c, step.error);
    const bool complete = step.status == http::ParseStatus::Complete;
    if (fresh) {
      HttpMessage m = response_message(resp, in, step.body);
      mgr.emit(&c, EV_HTTP_HDRS, &m);
      if (c.is_closed || c.is_closing) return;
    }
    if (!complete) break;
    if (!fresh) http::parse_response(in.substr(0, head_len), resp, shared.scratch(), hl);
    in_body = false;
    scanned = 0;
    c.rx.consume(step.msg_len);  // views stay valid: consume moves no bytes
    HttpMessage m = response_message(resp, in, step.body);
    mgr.emit(&c, EV_HTTP_MSG, &m);
  }
}

// A body delimited by the end of the connection (RFC 9112 §6.3 rule 8) is complete now.
void HttpClientDriver::on_eof(Connection& c) {
  if (!in_body || body.kind != http::BodyFraming::Kind::UntilClose) return;
  HttpShared& shared = http_shared(*c.mgr);
  std::string_view in = c.rx.view();
  http::Response resp;
  http::parse_response(in.substr(0, head_len), resp, shared.scratch(), shared.limits);
  in_body = false;
  HttpMessage m = response_message(resp, in, in.substr(head_len));
  c.mgr->emit(&c, EV_HTTP_MSG, &m);
  if (!c.is_closed) c.rx.clear();
}

}  // namespace

std::unique_ptr<Driver> make_http_client_driver(std::string ws_accept, std::optional<ws::DeflateConfig> compression) {
  return std::make_unique<HttpClientDriver>(std::move(ws_accept), compression);
}

}  // namespace mg::proto
