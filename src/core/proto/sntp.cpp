// SNTP client (spec §6.10): a request on connect (and on sntp_request()), the first valid
// reply gives MG_EV_SNTP_TIME and closes; no valid reply within 3000 ms closes too.
#include <chrono>

#include "drivers.hpp"
#include "mg/proto.hpp"
#include "mg/sntp.hpp"

namespace mg::proto {

namespace {

constexpr uint64_t kReplyTimeoutMs = 3000;

uint64_t wall_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

class SntpDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  SntpDriver() : Driver(&kTag) {}

  void on_connect(Connection& c) override { request(c); }

  void request(Connection& c) {
    if (c.fd < 0) return;  // still resolving: on_connect sends it
    char msg[sntp::kMessageSize];
    sent_wall_ms = wall_ms();
    sent_mono_ms = c.mgr->now();
    sntp::encode_request(sent_wall_ms, msg);
    c.rx.clear();
    c.mgr->send(&c, msg, sizeof msg);
    deadline_ms = c.mgr->now() + kReplyTimeoutMs;
    c.mgr->output_queued(&c);  // a pass through the loop puts the new deadline in its heap
  }

  void on_data(Connection& c) override {
    std::string_view reply(c.rx.data(), c.rx.size());
    int64_t server_ms = 0;
    bool ok = sntp::parse_reply(reply, server_ms);
    c.rx.clear();  // one datagram at a time
    if (!ok) {
      c.mgr->error(&c, "invalid SNTP reply");
      return;
    }
    // Corrected by half the round trip (spec §6.10).
    uint64_t rtt = c.mgr->now() >= sent_mono_ms ? c.mgr->now() - sent_mono_ms : 0;
    int64_t t = server_ms + static_cast<int64_t>(rtt / 2);
    c.mgr->emit(&c, EV_SNTP_TIME, &t);
    c.mgr->mark_closing(&c);
  }

  uint64_t deadline(const Connection&) const override { return deadline_ms; }
  void on_timeout(Connection& c) override {
    if (deadline_ms && c.mgr->now() >= deadline_ms) c.mgr->mark_closing(&c);  // no reply: close
  }

  uint64_t sent_wall_ms = 0, sent_mono_ms = 0, deadline_ms = 0;
};

Connection* sntp_connect(Manager& m, std::string_view url) {
  auto driver = std::make_unique<SntpDriver>();
  // A resolving connection's 3000 ms start now too (the DNS timeout is also 3000 ms).
  return m.connect(url, false, std::move(driver), true, 123);
}

}  // namespace mg::proto

namespace mg::sntp {

bool request(Connection* c) {
  auto* d = driver_as<proto::SntpDriver>(c->driver.get());
  if (!d) {
    // Any UDP connection may ask: send a bare request (the reply arrives as READ).
    char msg[kMessageSize];
    encode_request(proto::wall_ms(), msg);
    return c->mgr->send(c, msg, sizeof msg);
  }
  d->request(*c);
  return true;
}

}  // namespace mg::sntp
