// The event loop: one Manager owns an epoll poller, timers, the wakeup queue and
// all connections. Protocol codecs live elsewhere; this file only knows how to move
// bytes and when to call the event sink.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mg/buffer.hpp"
#include "mg/events.hpp"
#include "mg/http_body.hpp"
#include "mg/http_parser.hpp"
#include "mg/static_files.hpp"
#include "mg/ws_frame.hpp"

namespace mg {

// Engine limits (spec §8.1). Timeouts in milliseconds here; 0 disables.
struct Limits {
  size_t max_request_line = 8192;
  size_t max_header_bytes = 65536;
  size_t max_headers = 100;
  size_t max_body = 3 * 1024 * 1024;
  size_t max_recv = 3 * 1024 * 1024;
  size_t max_ws_message = 3 * 1024 * 1024;
  size_t max_path = 4096;
  uint64_t header_timeout_ms = 30000;
  uint64_t body_timeout_ms = 30000;
  uint64_t keepalive_timeout_ms = 60000;
  uint64_t ws_close_timeout_ms = 5000;
  size_t send_high_water = 4 * 1024 * 1024;
  size_t send_low_water = 1 * 1024 * 1024;
  size_t max_connections = 0;
  uint64_t connect_timeout_ms = 30000;  // [ext] outbound TCP connect
  size_t wakeup_max_payload = 16 * 1024 * 1024;
  size_t wakeup_max_queue = 64 * 1024 * 1024;
};

uint64_t monotonic_ms();

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool is_v6() const { return ss.ss_family == AF_INET6; }
  uint16_t port() const;
  // IPv4 dotted quad, or IPv6 as eight 4-digit lowercase groups (spec §3.2).
  std::string ip() const;
};

// What an HTTP event carries (a request, or a response mapped onto the same fields).
struct HttpMessage {
  std::string_view method, uri, query, proto;
  const http::Header* headers = nullptr;
  size_t num_headers = 0;
  std::string_view head;  // raw head bytes
  std::string_view body;
};

// What MG_EV_WS_MSG carries: a complete (reassembled) message.
struct WsMessage {
  std::string_view data;
  uint8_t flags = 0;  // 0x80 | opcode of the first frame (spec §3.4)
};

class Manager;

// Per-connection HTTP server state (a request is "outstanding" from HTTP_MSG until the
// response completes, spec §6.5).
struct HttpServerState {
  bool outstanding = false;
  bool in_body = false;        // head parsed (HTTP_HDRS delivered), waiting for body bytes
  bool close_after = false;    // request asked to close after the response
  bool is_head = false;        // current request is HEAD: replies omit bodies
  bool continue_sent = false;
  size_t head_len = 0;
  size_t scanned = 0;          // bytes of the pending head already searched for its end
  size_t checked = 0;          // size of the incomplete head last validated
  http::BodyFraming body;
  uint64_t head_start_ms = 0;  // first byte of the current head (header_timeout)
  uint64_t body_seen_ms = 0;   // last body byte (body_timeout)
};

// Client side: parsing responses (spec §6.4) and the WebSocket handshake.
struct HttpClientState {
  bool in_body = false;
  size_t head_len = 0;
  size_t scanned = 0;
  http::BodyFraming body;
  bool ws_handshake = false;  // ws_connect: waiting for the 101
  std::string ws_accept;      // the Sec-WebSocket-Accept we expect
};

struct WsState {
  bool close_sent = false;     // we sent a close frame: the peer's close is not echoed
  uint64_t close_deadline = 0;
  uint8_t frag_opcode = 0;     // first opcode of the fragmented message being assembled
};

struct FileStream {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t remaining = 0;
};

struct Connection {
  Manager* mgr = nullptr;
  uint64_t id = 0;
  int fd = -1;
  Connection* prev = nullptr;
  Connection* next = nullptr;
  Connection* listener = nullptr;  // accepted connections: their listener (valid at OPEN/ACCEPT)
  void* user = nullptr;            // owned by the binding

  bool is_listening = false;
  bool is_client = false;
  bool is_accepted = false;
  bool is_udp = false;
  bool is_tls = false;
  bool is_websocket = false;
  bool is_http = false;
  bool is_closing = false;
  bool is_draining = false;
  bool is_full = false;
  bool is_readable = false;
  bool is_writable = false;
  bool is_closed = false;       // CLOSE delivered; memory reclaimed at end of iteration
  bool is_connecting = false;
  bool eof = false;
  bool linger = false;          // engine error response: lingering close after flush
  bool linger_started = false;
  bool needs_parse = false;     // buffered input may be parseable now
  bool listen_paused = false;
  bool connect_done = false;    // connect() completed at once: CONNECT waits for the next poll
  bool resolving = false;
  bool registered = false;       // added to epoll
  bool rx_paused = false;        // unparsed input reached max_recv: stop reading for now
  bool want_write = false;       // last write hit EAGAIN: wait for EPOLLOUT

  uint32_t ready = 0;           // epoll events from the last wait
  uint32_t interest = 0;        // events registered with epoll
  uint64_t paused_until = 0;    // listener paused after EMFILE
  uint64_t linger_deadline = 0;
  size_t linger_bytes = 0;
  uint64_t idle_since = 0;
  uint64_t connect_deadline = 0;

  Address local, remote;
  Buffer rx, tx;
  size_t rx_off = 0;            // consumed prefix of rx (HTTP, WebSocket)

  // Drops the consumed prefix once a batch has been parsed (one memmove per batch, not
  // per message) and frees a large buffer that became empty.
  void compact_rx() {
    if (rx_off) {
      rx.consume(rx_off);
      rx_off = 0;
    }
    rx.shrink_if_idle();
  }
  HttpServerState http;
  HttpClientState client;
  WsState ws;
  Buffer ws_frag;               // fragments of a message being reassembled
  FileStream file;
};

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
// nullptr, a std::string_view* (ERROR, WAKEUP) or an HttpMessage* (HTTP events).
using EventSink = void (*)(void* ctx, Connection* c, int ev, const void* data);

class Manager {
 public:
  explicit Manager(const Limits& limits = {});
  ~Manager();
  bool ok() const { return epfd_ >= 0 && evfd_ >= 0; }
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  void set_sink(EventSink sink, void* ctx) { sink_ = sink; sink_ctx_ = ctx; }
  const Limits& limits() const { return limits_; }

  // Creates the internal wakeup connection id (1); false on failure.
  bool enable_wakeup();
  uint64_t wakeup_id() const { return wakeup_enabled_ ? 1 : 0; }

  // Listener for "scheme://host:port"; OPEN delivered sync. nullptr on failure.
  Connection* listen(std::string_view url, bool http);

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

  // Connection operations (caller holds the engine lock).
  bool send(Connection* c, const void* data, size_t len);
  void close_now(Connection* c);     // CLOSE delivered sync
  void drain(Connection* c);
  void error(Connection* c, std::string_view text);  // ERROR sync, close at end of iteration
  void response_complete(Connection* c, bool close_requested);
  // Writes a full HTTP response (validated headers) and completes the current response.
  void http_reply(Connection* c, int status, std::span<const http::Header> headers,
                  std::string_view body);
  // Queues a static-file response and completes the current response once the file is sent.
  void http_serve(Connection* c, http::FileResponse&& resp);

  // Outbound connection for "scheme://host:port"; OPEN (and RESOLVE for literal hosts
  // and localhost) delivered sync; CONNECT from a later poll. nullptr for a bad URL.
  Connection* connect(std::string_view url, bool http);
  // Queues a WebSocket upgrade request on an outbound connection (spec §6.7.4).
  void ws_client_handshake(Connection* c, std::string_view url);
  // Server side: completes the handshake for `req` (spec §6.7.1) and delivers WS_OPEN.
  // `extra` must be validated by the caller. No Sec-WebSocket-Key: 426 and drain.
  void ws_upgrade(Connection* c, const HttpMessage& req, std::span<const http::Header> extra);
  // One final frame with opcode `op` (masked on client connections).
  void ws_send(Connection* c, std::string_view data, int op);
  // Chunked transfer (spec §6.2): one chunk; empty data ends the response.
  void http_chunk(Connection* c, std::string_view data);
  void http_sse(Connection* c, std::string_view event_type, std::string_view data);

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
  void emit(Connection* c, int ev, const void* data = nullptr);
  void update_interest(Connection* c);
  void do_accept(Connection* lc);
  void do_read(Connection* c);
  void do_write(Connection* c);
  void http_process(Connection* c);
  void http_client_process(Connection* c);
  bool http_client_eof(Connection* c);
  void ws_process(Connection* c);
  void ws_fail(Connection* c, uint16_t code, std::string_view err);
  void ws_write_frame(Connection* c, uint8_t first_byte, std::string_view payload);
  void start_connect(Connection* c);
  void finish_connect(Connection* c);
  void run_resolves();
  bool http_deliver_message(Connection* c, std::string_view avail, const http::Request& req,
                            std::string_view body, size_t msg_len);
  void http_reject(Connection* c, int status, std::string_view err);
  void check_timeouts(Connection* c);
  void finish_close(Connection* c);
  void reclaim();
  void run_timers();
  void run_wakeups();
  enum class Timeout : uint8_t { None, Header, Body, Keepalive, Linger };
  Timeout timeout_of(const Connection* c, uint64_t& deadline) const;
  void after_output(Connection* c);

  Limits limits_;
  http::Limits http_limits_;
  EventSink sink_ = nullptr;
  void* sink_ctx_ = nullptr;
  int epfd_ = -1;
  int evfd_ = -1;
  bool wakeup_enabled_ = false;
  std::atomic<bool> shut_down_{false};
  uint64_t next_id_ = 1;
  uint64_t now_ = 0;
  Connection* head_ = nullptr;
  Connection* tail_ = nullptr;
  size_t user_conns_ = 0;
  size_t listeners_ = 0;
  bool has_closed_ = false;
  std::unordered_map<uint64_t, Connection*> by_id_;
  std::vector<http::Header> header_scratch_;
  std::vector<uint8_t> events_raw_;  // epoll_event array storage
  int nready_ = 0;

  std::vector<std::shared_ptr<TimerRec>> timers_;  // min-heap on (deadline, seq)
  uint64_t timer_seq_ = 0;
  std::atomic<bool> timers_cancelled_{false};

  struct ResolveJob;
  std::vector<std::shared_ptr<ResolveJob>> resolves_;

  std::mutex wake_mu_;
  std::deque<std::pair<uint64_t, std::string>> wake_q_;
  size_t wake_bytes_ = 0;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace mg
