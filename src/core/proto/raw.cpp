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

std::unique_ptr<Driver> make_raw_driver() { return std::make_unique<RawDriver>(); }

}  // namespace mg::proto
