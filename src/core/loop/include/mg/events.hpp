// Event codes delivered to the event sink (spec §2.1). Values are part of the
// Python API contract.
#pragma once

namespace mg {

enum Event : int {
  EV_ERROR = 0,
  EV_OPEN = 1,
  EV_POLL = 2,
  EV_RESOLVE = 3,
  EV_CONNECT = 4,
  EV_ACCEPT = 5,
  EV_TLS_HS = 6,
  EV_READ = 7,
  EV_WRITE = 8,
  EV_CLOSE = 9,
  EV_HTTP_HDRS = 10,
  EV_HTTP_MSG = 11,
  EV_WS_OPEN = 12,
  EV_WS_MSG = 13,
  EV_WS_CTL = 14,
  EV_MQTT_CMD = 15,
  EV_MQTT_MSG = 16,
  EV_MQTT_OPEN = 17,
  EV_SNTP_TIME = 18,
  EV_WAKEUP = 19,
  // Engine-internal, never a handler event (spec: 20 is reserved and not exported): one
  // piece of a request body streamed with http::stream_body(); data is an HttpBodyPiece.
  EV_HTTP_BODY = 20,
  EV_USER = 22,
};

}  // namespace mg
