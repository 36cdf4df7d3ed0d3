// Private to the proto layer: how its drivers reach each other and their shared state.
#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mg/http_parser.hpp"
#include "mg/manager.hpp"
#include "mg/ws_deflate.hpp"

namespace mg::proto {

// Manager extension slots used by the proto layer.
inline constexpr size_t kHttpExtension = 0;
inline constexpr size_t kMqttExtension = 1;

// Per-manager HTTP state: one header array for every parse, and the parser's limits.
struct HttpShared final : Extension {
  std::vector<http::Header> headers;
  http::Limits limits;
  std::span<http::Header> scratch() { return headers; }
};
HttpShared& http_shared(Manager& m);

std::unique_ptr<Driver> make_raw_driver();
std::unique_ptr<Driver> make_http_server_driver();
// ws_connect: `ws_accept` is the key the 101 must carry, `compression` what we offered.
std::unique_ptr<Driver> make_http_client_driver(std::string ws_accept,
                                                std::optional<ws::DeflateConfig> compression = std::nullopt);
// How a WebSocket connection compresses once permessage-deflate is agreed (RFC 7692).
struct WsCompression {
  int window_bits = 15;              // our compressor's window
  bool no_context_takeover = false;  // our compressor resets per message
  bool peer_no_context_takeover = false;
  int level = -1;
  int mem_level = 8;
};
WsCompression ws_compression(const ws::DeflateParams& agreed, const ws::DeflateConfig& cfg, bool server);
// `z` nullptr: no extension.
std::unique_ptr<Driver> make_ws_driver(BlockPool* pool, const WsCompression* z = nullptr);
// MQTT clients (`client`) and the children of MQTT listeners; `version` 4 or 5.
std::unique_ptr<Driver> make_mqtt_driver(bool client, int version);
// The client's upgrade request for `url`; sets `accept` to the key the 101 must carry.
// With `compression`, it offers permessage-deflate.
std::string ws_client_request(std::string_view url, std::string& accept, const ws::DeflateConfig* compression);

}  // namespace mg::proto
