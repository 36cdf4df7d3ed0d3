// The core connection: a socket, its transport, its driver and the loop's bookkeeping.
// It holds no protocol state; drivers do.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mg/address.hpp"
#include "mg/buffer.hpp"
#include "mg/driver.hpp"
#include "mg/tls.hpp"
#include "mg/transport.hpp"

namespace mg {

class Manager;
using DriverFactory = std::unique_ptr<Driver> (*)(Connection& child);

struct Connection {
  Manager* mgr = nullptr;
  uint64_t id = 0;
  int fd = -1;
  Connection* prev = nullptr;  // every live connection, in creation order
  Connection* next = nullptr;
  Connection* next_active = nullptr;  // the loop's list of connections with work to do
  Connection* listener = nullptr;     // accepted connections: their listener (valid at OPEN/ACCEPT)
  void* user = nullptr;               // owned by the binding
  std::unique_ptr<Transport> io;      // every non-listening connection has one
  std::unique_ptr<Driver> driver;
  DriverFactory child_driver = nullptr;  // listeners: the driver of accepted connections
  // Listeners: the TLS certificates accepted connections start with ([ext] tls_init on a
  // listener, spec §3.6); nullptr for none.
  std::shared_ptr<const tls::ServerCerts> tls_certs;
  std::string peer_name;  // outbound: the URL host (TLS server name and host check)

  // The spec's state flags (§3.2).
  bool is_listening = false;
  bool is_client = false;
  bool is_accepted = false;
  bool is_udp = false;
  bool is_tls = false;
  bool tls_scheme = false;      // the URL asked for TLS (https, wss, mqtts, tls, ssl, tcps)
  bool is_websocket = false;
  bool is_http = false;
  bool is_closing = false;
  bool is_draining = false;
  bool is_full = false;
  bool is_readable = false;
  bool is_writable = false;
  bool is_closed = false;       // CLOSE delivered; memory reclaimed at end of iteration
  bool is_connecting = false;

  // Loop bookkeeping.
  bool eof = false;
  bool linger = false;          // after the flush: lingering close (error responses)
  bool linger_started = false;
  bool resume_input = false;    // the driver should look at buffered input again
  bool connect_done = false;    // connect() completed at once: CONNECT waits for the next poll
  bool resolving = false;
  bool registered = false;      // in the epoll set
  bool rx_paused = false;       // the driver wants no input for now
  bool app_paused = false;      // the program wants no input for now ([ext] Connection.paused)
  bool want_write = false;      // last flush blocked: wait for EPOLLOUT
  bool in_active = false;       // on the active list
  bool in_process = false;      // being processed now: after_io() will see its changes
  bool listen_paused = false;

  uint32_t ready = 0;           // epoll events since the last dispatch
  uint32_t interest = 0;        // events registered with epoll
  uint32_t heap_index = UINT32_MAX;  // position in the deadline heap
  uint64_t heap_key = 0;
  uint64_t paused_until = 0;    // listener paused after EMFILE
  uint64_t linger_deadline = 0;
  size_t linger_bytes = 0;
  uint64_t idle_since = 0;      // last input or completed output (keep-alive)
  uint64_t send_stalled_since = 0;  // output blocked without progress since (send_timeout)
  uint64_t connect_deadline = 0;
  uint64_t handshake_deadline = 0;  // TLS handshake must complete by then (0: none)

  Address local, remote;
  std::vector<Address> next_addresses;  // outbound: other resolved addresses, tried in turn
  Buffer rx;

  Buffer& tx() { return io->tx(); }
  const Buffer& tx() const { return io->tx(); }
  bool output_pending() const { return io && io->output_pending(); }
  // A TLS scheme whose transport does not encrypt: it must never talk plaintext (§3.6).
  bool tls_missing() const { return is_tls && !(io && io->is_tls()); }
};

}  // namespace mg
