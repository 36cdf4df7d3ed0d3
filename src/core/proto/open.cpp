// Opening connections with their protocol driver (mg/proto.hpp).
#include <string>

#include "drivers.hpp"
#include "mg/proto.hpp"

namespace mg::proto {

Connection* listen(Manager& m, std::string_view url, bool http, const net::ListenOptions& opts) {
  DriverFactory child = http ? DriverFactory([](Connection&) { return make_http_server_driver(); })
                             : DriverFactory([](Connection&) { return make_raw_driver(); });
  return m.listen(url, http, child, opts);
}

Connection* connect(Manager& m, std::string_view url, bool http) {
  return m.connect(url, http, http ? make_http_client_driver({}) : make_raw_driver());
}

Connection* ws_connect(Manager& m, std::string_view url, const ws::DeflateConfig* compression) {
  std::string accept;
  std::string req = ws_client_request(url, accept, compression);
  std::optional<ws::DeflateConfig> offered;
  if (compression) offered = *compression;
  Connection* c = m.connect(url, true, make_http_client_driver(std::move(accept), offered));
  if (c && !c->is_closed) m.send(c, req.data(), req.size());
  return c;
}

}  // namespace mg::proto
