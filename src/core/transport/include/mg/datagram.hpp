// UDP as a transport (spec §3.1 URL rules, §3.2 send): one datagram per read, and datagrams
// sent at once rather than queued, so no stream assumption leaks (no coalescing, no partial
// writes). A listener's socket is unconnected: it learns each sender and answers the last.
#pragma once
#include <string>
#include <vector>

#include "mg/address.hpp"
#include "mg/transport.hpp"

namespace mg {

class DatagramSocket final : public Transport {
 public:
  using Transport::Transport;
  // Appends one datagram (at most 64 KiB) to `rx` and remembers its sender.
  ReadResult read(Buffer& rx, size_t max) override;
  // Datagrams never wait in tx(): nothing to flush.
  FlushResult flush() override;
  void shutdown_write() override {}
  bool input_pending() const override { return more_; }
  // Sends `data` as one datagram: to `to` when given (an unconnected listener), else to the
  // connected peer. False on failure (errno set); EAGAIN drops the datagram, as UDP may.
  bool send(const void* data, size_t len, const Address* to);
  const Address& last_sender() const { return sender_; }
  // Datagrams sent while the host is still resolving: kept apart, sent on connect.
  void hold(const void* data, size_t len) { held_.emplace_back(static_cast<const char*>(data), len); }
  std::vector<std::string> take_held() { return std::move(held_); }

 private:
  std::vector<std::string> held_;
  Address sender_;
  bool more_ = false;  // the last read got a datagram: there may be another behind it
};

}  // namespace mg
