// A protocol driver: what a connection does with its bytes. The loop moves bytes and
// calls the driver; each driver owns its per-connection protocol state. Replacing the
// driver (a WebSocket upgrade) switches the protocol of a connection.
#pragma once
#include <cstdint>
#include <memory>

namespace mg {

struct Connection;

class Driver {
 public:
  // `tag` identifies the concrete driver type (one static object per type), so protocol
  // code can find its own driver on a connection without RTTI.
  explicit Driver(const void* tag) : tag_(tag) {}
  virtual ~Driver() = default;
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;
  const void* tag() const { return tag_; }

  // New input in c.rx, or input the driver asked to look at again (Manager::resume_input).
  virtual void on_data(Connection& c) = 0;
  // The peer ended its stream; c.rx may still hold unparsed input.
  virtual void on_eof(Connection& c) {}
  // An outbound connection is established (after its MG_EV_CONNECT handlers ran).
  virtual void on_connect(Connection& c) {}
  // False leaves further input in the kernel (reading resumes via Manager::resume_input).
  virtual bool wants_input(const Connection& c) const { return true; }
  // A queued file range was sent completely.
  virtual void on_file_sent(Connection& c) {}
  // The earliest protocol deadline (monotonic ms), 0 for none; on_timeout once it passed.
  virtual uint64_t deadline(const Connection& c) const { return 0; }
  virtual void on_timeout(Connection& c) {}

 private:
  const void* tag_;
};

template <class D>
D* driver_as(Driver* d) {
  return d && d->tag() == &D::kTag ? static_cast<D*>(d) : nullptr;
}

}  // namespace mg
