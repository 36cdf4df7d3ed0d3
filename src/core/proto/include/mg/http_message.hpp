// What HTTP, WebSocket and MQTT events carry (spec §3.3, §3.4, §3.5): views into the receive buffer,
// valid during the event only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mg/http_parser.hpp"

namespace mg {

// A request, or a response mapped onto the same fields (spec §6.4).
struct HttpMessage {
  std::string_view method, uri, query, proto;
  const http::Header* headers = nullptr;
  size_t num_headers = 0;
  std::string_view head;  // raw head bytes
  std::string_view body;
  bool body_pending = false;  // HTTP_HDRS of a request: the rest of its body is still to come
};

// MG_EV_MQTT_CMD / MG_EV_MQTT_MSG: one packet (spec §3.5).
struct MqttMessage {
  std::string_view topic, data;
  std::string_view props;  // MQTT 5 properties block of a PUBLISH
  uint16_t id = 0;
  uint8_t cmd = 0, qos = 0, ack = 0;
  int version = 4;         // the connection's protocol version when the packet arrived
};

// MG_EV_WS_MSG: a complete (reassembled) message.
struct WsMessage {
  std::string_view data;
  uint8_t flags = 0;  // 0x80 | opcode of the first frame (spec §3.4)
};

}  // namespace mg
