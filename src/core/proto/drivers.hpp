// Private to the proto layer: how its drivers reach each other and their shared state.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mg/http_parser.hpp"
#include "mg/manager.hpp"

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
std::unique_ptr<Driver> make_http_client_driver(std::string ws_accept);
std::unique_ptr<Driver> make_ws_driver(BlockPool* pool);
// MQTT clients (`client`) and the children of MQTT listeners; `version` 4 or 5.
std::unique_ptr<Driver> make_mqtt_driver(bool client, int version);
// The client's upgrade request for `url`; sets `accept` to the key the 101 must carry.
std::string ws_client_request(std::string_view url, std::string& accept);

}  // namespace mg::proto
