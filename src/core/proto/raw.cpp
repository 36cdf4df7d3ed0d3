// Raw TCP: bytes stay in the receive buffer for the program (MG_EV_READ, recv_data,
// recv_consume), bounded by max_recv (spec §8.1).
#include "drivers.hpp"

namespace mg::proto {

namespace {

class RawDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  RawDriver() : Driver(&kTag) {}
  void on_data(Connection& c) override {
    if (c.rx.size() > c.mgr->limits().max_recv) c.mgr->error(&c, "MG_MAX_RECV_SIZE");
  }
};

}  // namespace

std::unique_ptr<Driver> make_raw_driver(Connection&) { return std::make_unique<RawDriver>(); }

HttpShared& http_shared(Manager& m) {
  auto& slot = m.extension(0);
  if (!slot) {
    auto s = std::make_unique<HttpShared>();
    const Limits& l = m.limits();
    s->limits.max_request_line = l.max_request_line;
    s->limits.max_header_bytes = l.max_header_bytes;
    s->limits.max_headers = l.max_headers;
    s->headers.resize(l.max_headers + 1);
    slot = std::move(s);
  }
  return static_cast<HttpShared&>(*slot);
}

Connection* listen(Manager& m, std::string_view url, bool http) {
  return m.listen(url, http, http ? make_http_server_driver : make_raw_driver);
}

Connection* connect(Manager& m, std::string_view url, bool http) {
  return m.connect(url, http, http ? make_http_client_driver({}) : std::make_unique<RawDriver>());
}

Connection* ws_connect(Manager& m, std::string_view url) {
  std::string accept;
  std::string req = ws_client_request(url, accept);
  Connection* c = m.connect(url, true, make_http_client_driver(std::move(accept)));
  if (c && !c->is_closed) m.send(c, req.data(), req.size());
  return c;
}

}  // namespace mg::proto
