// The protocol drivers' public face: opening connections with a driver, and what a
// program does on a connection (reply, stream, upgrade, frame). Every function takes the
// engine lock as held by the caller.
#pragma once
#include <span>
#include <string_view>

#include "mg/http_message.hpp"
#include "mg/http_parser.hpp"
#include "mg/manager.hpp"
#include "mg/mqtt.hpp"
#include "mg/static_files.hpp"
#include "mg/ws_deflate.hpp"

namespace mg::proto {

// Listener whose children speak HTTP/1.1 (http) or are raw TCP; nullptr on failure.
// [ext] Unix-domain and inherited sockets, SO_REUSEPORT and backlog: Manager::listen.
Connection* listen(Manager& m, std::string_view url, bool http, const net::ListenOptions& opts = {});
// Outbound HTTP client (http) or raw TCP connection; nullptr for a bad URL.
Connection* connect(Manager& m, std::string_view url, bool http);
// Outbound WebSocket: an HTTP client that sends the upgrade request (spec §6.7.4);
// with `compression` the request offers permessage-deflate (RFC 7692).
Connection* ws_connect(Manager& m, std::string_view url, const ws::DeflateConfig* compression = nullptr);
// MQTT client: CONNECT queued at once (an empty client id becomes a random one).
Connection* mqtt_connect(Manager& m, std::string_view url, const mqtt::ConnectOpts& opts);
// Listener whose children parse MQTT packets (not a broker, spec §3.1).
Connection* mqtt_listen(Manager& m, std::string_view url);
// SNTP client over UDP whatever the scheme, port 123 by default (spec §3.1, §6.10).
Connection* sntp_connect(Manager& m, std::string_view url);

}  // namespace mg::proto

namespace mg::http {

// Writes a full response (headers validated by the caller) and completes the request.
void reply(Connection* c, int status, std::span<const Header> headers, std::string_view body);
// Queues a static-file response; the request completes once the file is sent.
void serve(Connection* c, FileResponse&& resp);
// [ext] Adapter responses: headers as given, framing ours (RFC 9112 §6). `more` starts a
// streamed response continued by respond_body(); false when the connection is not an
// HTTP server connection or a streamed response is already in progress (respond) / none
// is (respond_body).
bool respond(Connection* c, int status, std::span<const Header> headers, std::string_view body, bool more);
bool respond_body(Connection* c, std::string_view data, bool more);
// [ext] Streams the body of the request whose HTTP_HDRS is being delivered instead of
// buffering it whole: each piece (de-chunked) goes out as an EV_HTTP_BODY event carrying
// an HttpBodyPiece, the last with `last` set, then HTTP_MSG follows with an empty body.
// Memory stays bounded by one read; Manager::set_app_paused() holds the input back (the
// body timeout waits meanwhile). max_body still bounds the whole body. False (nothing
// changes) outside an HTTP_HDRS handler or when the body is already complete.
enum class StreamBody : uint8_t { Streaming, NotNow, NotHttpServer };
StreamBody stream_body(Connection* c);
struct HttpBodyPiece {
  std::string_view data;
  bool last = false;
};
// Chunked transfer (spec §6.2): one chunk; empty data ends the response.
void chunk(Connection* c, std::string_view data);
void sse(Connection* c, std::string_view event_type, std::string_view data);

}  // namespace mg::http

namespace mg::ws {

// Server side: completes the handshake for `req` (spec §6.7.1) and delivers WS_OPEN.
// `extra` must be validated by the caller. No Sec-WebSocket-Key: 426 and drain.
// `compression`: accept a permessage-deflate offer (RFC 7692) within these settings,
// unless `extra` carries Sec-WebSocket-Extensions (the application's own answer).
void upgrade(Connection* c, const HttpMessage& req, std::span<const http::Header> extra,
             const DeflateConfig* compression = nullptr);
// One final frame with opcode `op` (masked on client connections).
void send(Connection* c, std::string_view data, int op);

}  // namespace mg::ws

namespace mg::mqtt {

// MQTT on any connection (spec §3.2): packets are queued, nothing else changes. PUBLISH and
// (UN)SUBSCRIBE take the next per-manager packet id (PUBLISH at QoS 0 none: returns 0).
// Connections encode MQTT 5 when they are v5 clients or children whose CONNECT said 5.
uint16_t publish(Connection* c, std::string_view topic, std::string_view payload, uint8_t qos, bool retain,
                 std::string_view props);
uint16_t subscribe(Connection* c, std::string_view topic, uint8_t qos, bool unsubscribe);
void send_empty(Connection* c, Cmd cmd);  // PINGREQ, PINGRESP, DISCONNECT
// The connection parses MQTT (a client, or a child of an MQTT listener).
bool is_mqtt(const Connection* c);

}  // namespace mg::mqtt

namespace mg::sntp {

// Sends an SNTP request now, or once the host is resolved (spec §3.2 sntp_request).
bool request(Connection* c);

}  // namespace mg::sntp
