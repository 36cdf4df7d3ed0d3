// The event loop: one Manager owns an epoll poller, timers, the wakeup queue and all
// connections. It moves bytes through each connection's transport and hands them to the
// connection's protocol driver; it knows no protocol.
//
// Work per iteration follows the connections that did something: epoll reports ready
// sockets by connection id, output queued outside the loop puts a connection on the
// active list, and every timeout (protocol, connect, send, linger) lives in one deadline
// heap with at most one entry per connection.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mg/buffer.hpp"
#include "mg/clock.hpp"
#include "mg/connection.hpp"
#include "mg/events.hpp"
#include "mg/limits.hpp"
#include "mg/net.hpp"

namespace mg {

namespace net {
struct Lookup;
}

struct TimerRec {
  uint64_t period_ms = 0;
  uint64_t deadline = 0;
  uint64_t seq = 0;
  bool repeat = false;
  std::atomic<bool> active{true};
  std::function<void()> callback;
  void* user = nullptr;  // binding's handle on the callback (for GC traversal)
};

// The binding installs one sink; the engine calls it for every event. `data` is
// nullptr, a std::string_view* (ERROR, WAKEUP) or the protocol's message (HTTP, WS).
using EventSink = void (*)(void* ctx, Connection* c, int ev, const void* data);

// Per-manager state of a protocol module (e.g. the HTTP parsers' header scratch), owned
// by the manager and created on first use.
struct Extension {
  virtual ~Extension() = default;
};

class Manager {
 public:
  static constexpr size_t kExtensionSlots = 4;

  explicit Manager(const Limits& limits = {});
  ~Manager();
  bool ok() const { return epfd_ >= 0 && evfd_ >= 0; }
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  void set_sink(EventSink sink, void* ctx) { sink_ = sink; sink_ctx_ = ctx; }
  const Limits& limits() const { return limits_; }
  // MG_EV_POLL to every connection once per iteration (compat default); off, an
  // iteration costs what the active connections cost.
  void set_poll_events(bool on) { poll_events_ = on; }
  bool poll_events() const { return poll_events_; }
  uint64_t now() const { return now_; }
  BlockPool& pool() { return pool_; }
  std::unique_ptr<Extension>& extension(size_t slot) { return ext_[slot]; }

  // True in a process forked after this manager was created: its epoll set is shared
  // with the parent, so it must not be used (the binding raises).
  bool forked() const;

  // Creates the internal wakeup connection id (1); false on failure.
  bool enable_wakeup();
  uint64_t wakeup_id() const { return wakeup_enabled_ ? 1 : 0; }

  // Listener for "scheme://host:port"; `child` gives accepted connections their driver
  // (nullptr: raw). OPEN delivered sync. nullptr on failure. A udp:// listener is one
  // datagram socket: every datagram is a READ on it, from the sender in `remote`.
  // [ext] "<scheme>+unix://<path>" listens on a Unix-domain socket, "<scheme>+fd://<n>"
  // adopts the inherited listening socket n (see url::endpoint); `opts` sets SO_REUSEPORT
  // and the backlog.
  Connection* listen(std::string_view url, bool http, DriverFactory child, const net::ListenOptions& opts = {});
  // Outbound connection; OPEN (and RESOLVE for literal hosts and localhost) delivered
  // sync; TCP CONNECT from a later poll. nullptr for a bad URL. `udp` (or a udp:// URL)
  // makes it a datagram socket whose CONNECT is sync as well (spec §5.6 R3);
  // `default_port` replaces a missing port.
  Connection* connect(std::string_view url, bool http, std::unique_ptr<Driver> driver, bool udp = false,
                      uint16_t default_port = 0);

  // One poll iteration is split so the binding can drop its interpreter lock around wait():
  //   int ms = prepare_wait(timeout); wait(ms); dispatch();
  int prepare_wait(int timeout_ms);
  // Returns the number of ready events, or -1 with errno (EINTR on a signal).
  int wait(int timeout_ms);
  void dispatch();

  // Closes everything (POLL, CLOSE per connection), drops timers and wakeups.
  void shutdown();
  // Drops every timer callback (GC clear); timers stay scheduled but do nothing.
  void clear_timer_callbacks();
  bool is_shut_down() const { return shut_down_; }

  // Wakeup queue (thread-safe). Returns 0 queued, 1 queue full, 2 payload too large, 3 disabled.
  int wakeup(uint64_t id, const void* data, size_t len);
  // Interrupts a blocking wait (thread-safe).
  void notify();

  std::shared_ptr<TimerRec> add_timer(uint64_t ms, bool repeat, bool run_now, std::function<void()> cb);
  void note_timer_cancelled() { timers_cancelled_.store(true, std::memory_order_relaxed); }

  // ---- for drivers and the binding (caller holds the engine lock) ----
  void emit(Connection* c, int ev, const void* data = nullptr);
  // TCP: queues. UDP: sends one datagram now (to the last sender on a listener) and
  // delivers WRITE sync (spec §3.2). False when the connection is closed or sending failed.
  bool send(Connection* c, const void* data, size_t len);
  // Call after queueing output in c->tx(): back-pressure, and a flush this iteration.
  void output_queued(Connection* c);
  // The driver wants to look at buffered input again (e.g. a pipelined request once the
  // response before it completed): on_data runs in this or the next iteration.
  void resume_input(Connection* c);
  // The program stops (true) or resumes reading from `c`: input stays in the kernel, so
  // the peer's window closes ([ext] flow control for adapters that queue messages).
  void set_app_paused(Connection* c, bool paused);
  // [ext] Accepts the connections waiting in a TCP listener's kernel queue now (each gets
  // OPEN and ACCEPT as usual); how many. Called right before closing a listener in a
  // graceful stop, so that queued clients are served instead of reset.
  size_t accept_pending(Connection* lc);
  // The poller's descriptor: readable whenever poll() has work (another event loop can
  // watch it and call poll(0)).
  int fileno() const { return epfd_; }
  // Swaps the driver; the old one is destroyed at the end of the dispatch.
  void replace_driver(Connection* c, std::unique_ptr<Driver> d);
  void close_now(Connection* c);     // CLOSE delivered sync
  void drain(Connection* c);         // flush, then close
  void drain_lingering(Connection* c);  // flush, half-close, read briefly, close (error answers)
  void error(Connection* c, std::string_view text);  // ERROR sync, close at end of iteration
  void mark_closing(Connection* c);  // close at end of iteration, no event

  // TLS (spec §3.6). An accepted connection becomes the server side of a session with
  // `certs`; an outbound one the client side with `ctx`, checking `name` (empty: the URL
  // host). Output already queued is sent once the handshake completes.
  void start_tls_server(Connection* c, std::shared_ptr<const tls::ServerCerts> certs);
  void start_tls_client(Connection* c, std::shared_ptr<tls::Context> ctx, std::string_view name);
  // Ends TLS on a connection: before the handshake began it goes back to plaintext (a
  // TLS-scheme connection then fails as "TLS not initialized"); a running session sends
  // close_notify and the connection drains, never continuing in plaintext.
  void stop_tls(Connection* c);

  std::vector<Connection*> live_connections() const;
  const std::vector<std::shared_ptr<TimerRec>>& timers() const { return timers_; }
  Connection* first() const { return head_; }
  Connection* find(uint64_t id) const;
  size_t live_count() const { return user_conns_; }  // live user connections, listeners included

  // The engine lock (spec §5.10): the polling thread holds it while dispatching.
  std::mutex lock;
  std::atomic<std::thread::id> lock_owner{};
  // Set by the polling thread (under the lock) just before it waits, so a caller that
  // takes the lock afterwards knows it must interrupt the wait.
  std::atomic<bool> in_wait{false};
  // The manager whose lock this manager's lock holder is blocked on (deadlock detection
  // between managers, spec §5.10).
  std::atomic<Manager*> waiting_for{nullptr};

 private:
  Connection* new_connection();
  void activate(Connection* c);
  void update_interest(Connection* c);
  void deregister(Connection* c);
  void process(Connection* c);
  void process_active();
  int do_accept(Connection* lc);  // connections accepted (at most kMaxAcceptsPerIteration)
  void do_read(Connection* c);
  void do_write(Connection* c);
  void after_io(Connection* c);
  void on_deadline(Connection* c);
  void install_transport(Connection* c, std::unique_ptr<Transport> t);
  void arm_handshake_deadline(Connection* c);
  void handshake_done(Connection* c);
  void start_connect(Connection* c);
  void connected(Connection* c);  // CONNECT, then the driver's on_connect
  void finish_connect(Connection* c);
  void run_resolves();
  void finish_close(Connection* c);
  void reclaim();
  void run_timers();
  void run_wakeups();
  void resume_listeners();

  // Deadline heap: at most one entry per connection, keyed by the earliest deadline it
  // had when scheduled. Later deadlines are not pushed (the entry fires early and is
  // re-keyed), so a busy keep-alive connection touches the heap about once a timeout.
  uint64_t deadline_of(const Connection* c) const;
  void schedule(Connection* c);
  void expire_deadlines();
  void heap_remove(Connection* c);
  void heap_up(size_t i);
  void heap_down(size_t i);
  void heap_swap(size_t a, size_t b);

  Limits limits_;
  EventSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  bool poll_events_ = true;
  int epfd_ = -1;
  int evfd_ = -1;
  uint64_t fork_generation_ = 0;  // the process generation this manager was created in
  bool wakeup_enabled_ = false;
  std::atomic<bool> shut_down_{false};
  uint64_t next_id_ = 1;
  uint64_t now_ = 0;
  BlockPool pool_;  // declared before anything that holds buffers
  std::unique_ptr<Extension> ext_[kExtensionSlots];
  Connection* head_ = nullptr;
  Connection* tail_ = nullptr;
  Connection* active_ = nullptr;  // FIFO of connections with work to do
  Connection* active_tail_ = nullptr;
  size_t user_conns_ = 0;
  std::vector<Connection*> closed_;  // closed this iteration, freed by reclaim()
  std::vector<std::unique_ptr<Driver>> retired_;  // replaced drivers, freed after dispatch
  std::unordered_map<uint64_t, Connection*> by_id_;
  std::vector<Connection*> listeners_;
  std::vector<Connection*> heap_;
  std::vector<uint8_t> events_raw_;  // epoll_event array storage
  int nready_ = 0;

  std::vector<std::shared_ptr<TimerRec>> timers_;  // min-heap on (deadline, seq)
  uint64_t timer_seq_ = 0;
  std::atomic<bool> timers_cancelled_{false};

  std::vector<std::pair<uint64_t, std::shared_ptr<net::Lookup>>> resolves_;  // (conn id, lookup)

  std::mutex wake_mu_;
  std::deque<std::pair<uint64_t, std::string>> wake_q_;
  size_t wake_bytes_ = 0;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace mg
