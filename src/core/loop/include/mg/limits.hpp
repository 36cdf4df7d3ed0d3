// Engine limits (spec §8.1). Timeouts in milliseconds here; 0 disables.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mg {

struct Limits {
  size_t max_request_line = 8192;
  size_t max_header_bytes = 65536;
  size_t max_headers = 100;
  size_t max_body = 3 * 1024 * 1024;
  size_t max_recv = 3 * 1024 * 1024;  // raw TCP receive buffers (spec §8.1)
  size_t max_ws_message = 3 * 1024 * 1024;
  size_t max_path = 4096;
  uint64_t header_timeout_ms = 30000;
  uint64_t body_timeout_ms = 30000;
  uint64_t keepalive_timeout_ms = 60000;
  uint64_t ws_close_timeout_ms = 5000;
  uint64_t send_timeout_ms = 60000;  // [ext] no progress writing pending output
  size_t send_high_water = 4 * 1024 * 1024;
  size_t send_low_water = 1 * 1024 * 1024;
  size_t max_connections = 0;
  uint64_t connect_timeout_ms = 30000;  // [ext] outbound TCP connect
  // [ext] TLS handshakes other than on HTTP listeners (those are bounded by header_timeout).
  uint64_t tls_handshake_timeout_ms = 10000;
  size_t wakeup_max_payload = 16 * 1024 * 1024;
  size_t wakeup_max_queue = 64 * 1024 * 1024;
};

}  // namespace mg
