#include "mg/manager.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mg/datagram.hpp"
#include "mg/net.hpp"
#include "mg/url.hpp"

namespace mg {

namespace {
constexpr int kMaxEvents = 256;
constexpr size_t kMaxReadPerIteration = 64 * 1024;  // fairness between connections (spec §8.5)
constexpr int kMaxAcceptsPerIteration = 64;
constexpr uint64_t kAcceptBackoffMs = 100;           // after EMFILE/ENFILE (spec §8.5)
constexpr uint64_t kLingerMs = 1000;                 // lingering close after an error response
constexpr size_t kLingerMaxBytes = 1024 * 1024;
constexpr int kActiveRounds = 4;  // output queued by handlers for connections already visited
constexpr uint32_t kNotInHeap = UINT32_MAX;

epoll_event* events_of(std::vector<uint8_t>& raw) { return reinterpret_cast<epoll_event*>(raw.data()); }

// Bumped in every child of fork(): a manager created before the fork sees a newer
// generation and knows its epoll set is shared with its parent.
std::atomic<uint64_t> g_fork_generation{0};
void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
const bool g_atfork_registered = pthread_atfork(nullptr, nullptr, on_fork_child) == 0;

}  // namespace

Manager::Manager(const Limits& limits) : limits_(limits) {
  (void)g_atfork_registered;
  fork_generation_ = g_fork_generation.load(std::memory_order_relaxed);
  events_raw_.resize(sizeof(epoll_event) * kMaxEvents);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ >= 0 && evfd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;  // the internal wake channel; connection ids start at 1
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  }
  now_ = monotonic_ms();
}

Manager::~Manager() {
  // No events here: the binding delivers CLOSE through shutdown() when the program
  // closes the manager; a collected manager just releases its sockets.
  for (Connection* c = head_; c;) {
    Connection* next = c->next;
    if (c->fd >= 0) ::close(c->fd);
    delete c;
    c = next;
  }
  if (epfd_ >= 0) ::close(epfd_);
  if (evfd_ >= 0) ::close(evfd_);
}

bool Manager::forked() const { return g_fork_generation.load(std::memory_order_relaxed) != fork_generation_; }

bool Manager::enable_wakeup() {
  if (!ok()) return false;
  wakeup_enabled_ = true;
  if (next_id_ == 1) next_id_ = 2;  // id 1 is the wakeup channel (spec §2.5)
  return true;
}

void Manager::emit(Connection* c, int ev, const void* data) {
  if (sink_) sink_(sink_ctx_, c, ev, data);
}

Connection* Manager::new_connection() {
  auto* c = new Connection;
  c->mgr = this;
  c->id = next_id_++;
  c->io = std::make_unique<PlainStream>(&pool_);
  c->rx.set_pool(&pool_);
  c->prev = tail_;
  if (tail_) tail_->next = c; else head_ = c;
  tail_ = c;
  by_id_[c->id] = c;
  user_conns_++;
  c->idle_since = now_;
  return c;
}

Connection* Manager::find(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::vector<Connection*> Manager::live_connections() const {
  std::vector<Connection*> out;
  for (Connection* c = head_; c; c = c->next)
    if (!c->is_closed) out.push_back(c);
  return out;
}

void Manager::activate(Connection* c) {
  // A connection being processed is flushed, closed and re-armed by after_io() anyway.
  if (c->in_active || c->in_process || c->is_closed) return;
  c->in_active = true;
  c->next_active = nullptr;
  if (active_tail_) active_tail_->next_active = c; else active_ = c;
  active_tail_ = c;
}

namespace {

// The descriptor named by "<scheme>+fd://<n>": decimal digits only, no sign, at most
// INT_MAX; -1 otherwise.
int parse_fd(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return -1;
  int v = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

}  // namespace

Connection* Manager::listen(std::string_view url_text, bool http, DriverFactory child,
                            const net::ListenOptions& opts) {
  if (shut_down_ || !ok() || forked()) return nullptr;
  const url::Endpoint ep = url::endpoint(url_text);
  const bool udp = url::scheme_is(ep.scheme_url, "udp");
  Address addr, bound;
  int fd = -1;
  if (ep.kind == url::EndpointKind::fd) {
    if (udp) return nullptr;
    int n = parse_fd(ep.target);
    if (n < 0 || (fd = net::adopt_listener(n, bound)) < 0) return nullptr;
  } else if (ep.kind == url::EndpointKind::unix_path) {
    if (udp || !net::unix_address(ep.target, addr)) return nullptr;
    fd = net::open_listener(addr, bound, opts);
  } else {
    url::Parts parts = url::split(url_text);
    int port = url::port(url_text);
    if (port < 0) return nullptr;
    if (!net::parse_listen_host(parts.host, static_cast<uint16_t>(port), addr)) return nullptr;
    fd = udp ? net::open_udp_listener(addr, bound, opts) : net::open_listener(addr, bound, opts);
  }
  if (fd < 0) return nullptr;
  now_ = monotonic_ms();
  Connection* c = new_connection();
  if (udp) {
    c->io = std::make_unique<DatagramSocket>(&pool_);
    c->is_udp = true;
    c->remote.ss.ss_family = AF_INET;  // ("0.0.0.0", 0) until the first datagram
    http = false;
    child = nullptr;
  }
  c->fd = fd;
  c->io->attach(fd);
  c->is_listening = true;
  c->is_http = http;
  c->is_tls = c->tls_scheme = url::is_ssl(ep.scheme_url);
  c->child_driver = child;
  c->local = bound;
  if (!udp) listeners_.push_back(c);
  update_interest(c);
  emit(c, EV_OPEN);
  return c;
}

void Manager::update_interest(Connection* c) {
  if (c->fd < 0 || c->is_closed) return;
  uint32_t want;
  if (c->is_listening) {
    want = c->listen_paused ? 0u : static_cast<uint32_t>(EPOLLIN);
  } else if (c->is_connecting) {
    want = EPOLLOUT;  // writable = connected (or failed: EPOLLERR/EPOLLHUP)
  } else {
    // After the peer's FIN, EPOLLIN/EPOLLRDHUP stay ready for ever: only writability
    // matters then (a half-closed peer reading a blocked reply slowly must not spin us).
    want = (c->is_full || c->rx_paused || c->app_paused || c->eof) ? 0 : (EPOLLIN | EPOLLRDHUP);
    if (c->want_write) want |= EPOLLOUT;
  }
  if (want == 0) {
    // Out of the set entirely: epoll reports EPOLLHUP/EPOLLERR whatever the mask, so a
    // paused connection whose peer reset would otherwise wake every wait.
    deregister(c);
    return;
  }
  if (c->registered && want == c->interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c->id;  // an id, not a pointer: a stale event finds nothing
  if (epoll_ctl(epfd_, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
    c->registered = true;
    c->interest = want;
  }
}

void Manager::deregister(Connection* c) {
  if (!c->registered) return;
  c->registered = false;
  c->interest = 0;
  // In a forked child the epoll set is the parent's: leave its registrations alone.
  if (!forked()) epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
}

// ---------------------------------------------------------------------------------------
// One iteration

int Manager::prepare_wait(int timeout_ms) {
  now_ = monotonic_ms();
  if (wake_pending_.load(std::memory_order_acquire) || active_) return 0;
  int64_t wait = timeout_ms < 0 ? -1 : timeout_ms;
  auto shorten = [&](uint64_t deadline) {
    int64_t d = deadline > now_ ? static_cast<int64_t>(deadline - now_) : 0;
    if (wait < 0 || d < wait) wait = d;
  };
  if (!timers_.empty()) {
    // Cancelled timers no longer bound the wait (spec §5.5: removals apply first).
    if (timers_.front()->active.load(std::memory_order_relaxed)) {
      shorten(timers_.front()->deadline);
    } else {
      for (auto& t : timers_)
        if (t->active.load(std::memory_order_relaxed)) shorten(t->deadline);
    }
  }
  if (!resolves_.empty()) shorten(now_ + 10);  // lookups finish on other threads: check often
  if (!heap_.empty()) shorten(heap_[0]->heap_key);
  return wait > INT32_MAX ? INT32_MAX : static_cast<int>(wait);
}

int Manager::wait(int timeout_ms) {
  int n = epoll_wait(epfd_, events_of(events_raw_), kMaxEvents, timeout_ms);
  nready_ = n > 0 ? n : 0;
  return n;
}

void Manager::dispatch() {
  if (shut_down_) return;
  now_ = monotonic_ms();
  epoll_event* evs = events_of(events_raw_);
  for (int i = 0; i < nready_; i++) {
    uint64_t id = evs[i].data.u64;
    if (id == 0) {
      uint64_t v;
      while (::read(evfd_, &v, sizeof v) > 0) {
      }
      continue;
    }
    Connection* c = find(id);
    if (!c || c->is_closed) continue;
    c->ready |= evs[i].events;
    activate(c);
  }
  nready_ = 0;

  run_timers();
  if (shut_down_) return;
  run_wakeups();
  if (shut_down_) return;
  if (!resolves_.empty()) run_resolves();
  if (poll_events_) {
    for (Connection* c = head_; c && !shut_down_; c = c->next)
      if (!c->is_closed) emit(c, EV_POLL);
  }
  if (shut_down_) return;
  process_active();
  expire_deadlines();
  process_active();
  retired_.clear();
  reclaim();
}

void Manager::process_active() {
  for (int round = 0; round < kActiveRounds && active_ && !shut_down_; round++) {
    Connection* list = active_;
    active_ = active_tail_ = nullptr;
    // An exception out of a driver or the sink (bad_alloc) must not strand the rest of
    // the list: they stay marked active, so put them back before it propagates.
    struct Requeue {
      Manager& m;
      Connection*& rest;
      Connection* current = nullptr;  // set while process() runs: unfinished if we unwind
      ~Requeue() {
        if (current && !m.shut_down_) m.activate(current);
        while (rest) {
          Connection* c = rest;
          rest = c->next_active;
          c->in_active = false;
          if (!m.shut_down_) m.activate(c);
        }
      }
    } requeue{*this, list};
    while (list && !shut_down_) {
      Connection* c = list;
      list = c->next_active;
      c->next_active = nullptr;
      c->in_active = false;
      if (!c->is_closed) {
        requeue.current = c;
        process(c);
        requeue.current = nullptr;
      }
    }
  }
}

void Manager::process(Connection* c) {
  // Until after_io() the connection needs no re-activation for output its handlers
  // queue: after_io() flushes it. (Cleared before it, so output queued by a WRITE
  // handler inside after_io() is scheduled again.)
  struct InProcess {
    Connection* c;
    ~InProcess() { c->in_process = false; }
  } in_process{c};
  c->in_process = true;
  const uint32_t r = c->ready;
  c->ready = 0;
  c->is_readable = r & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
  c->is_writable = r & EPOLLOUT;
  if (c->is_listening && !c->is_udp) {
    if (c->listen_paused) {
      bool resume = c->paused_until ? now_ >= c->paused_until
                                    : (!limits_.max_connections || user_conns_ < limits_.max_connections);
      if (resume) {
        c->listen_paused = false;
        c->paused_until = 0;
        update_interest(c);
        do_accept(c);
      }
    } else if (r & EPOLLIN) {
      do_accept(c);
    }
    if (!c->is_closed) {
      if (c->is_closing || c->is_draining) finish_close(c);  // a listener has nothing to flush
      else schedule(c);
    }
    c->is_readable = c->is_writable = false;
    return;
  }
  if (c->is_connecting) {
    if (!c->is_closing && (c->connect_done || (r & (EPOLLOUT | EPOLLERR | EPOLLHUP)))) finish_connect(c);
    if (c->is_closed) return;
    if (c->is_connecting && !c->is_closing) {
      schedule(c);
      return;
    }
  }
  // Buffered input first: a parsed request may mean no more input is wanted for now.
  const bool resumed = c->resume_input;
  if (resumed && !c->is_closing) {
    c->resume_input = false;
    if (c->driver) c->driver->on_data(*c);
    if (c->is_closed) return;
  }
  // After a pause the socket is out of the epoll set: look at the kernel now. TLS may
  // hold records it already took from the kernel.
  if (c->is_readable || resumed || c->io->input_pending()) do_read(c);
  c->in_process = false;
  if (!c->is_closed) after_io(c);
}

// Flush, close or linger, give idle buffers back, then re-arm epoll and the deadline.
void Manager::after_io(Connection* c) {
  if (!c->is_closing && !c->is_connecting && c->fd >= 0 && c->output_pending() &&
      (!c->want_write || c->is_writable))
    do_write(c);
  if (c->is_closed) return;
  if (c->is_closing) {
    finish_close(c);
    return;
  }
  if (c->is_draining && !c->output_pending()) {
    if (!c->linger) {
      finish_close(c);
      return;
    }
    if (!c->linger_started) {
      // Lingering close (spec §6.3): stop sending, keep reading briefly so the peer
      // reads our error response instead of a reset.
      c->io->shutdown_write();
      c->linger_started = true;
      c->linger_deadline = now_ + kLingerMs;
    }
    if (c->eof || now_ >= c->linger_deadline || c->linger_bytes > kLingerMaxBytes) {
      finish_close(c);
      return;
    }
  }
  // Input resumed by a handler while this connection was being processed (a reply from
  // its READ handler completes a request; pipelined ones wait in rx): next round.
  if (c->resume_input) activate(c);
  // Records a TLS transport holds are invisible to epoll: read them next round.
  if (c->io->input_pending() && !c->rx_paused && !c->app_paused && !c->is_full) activate(c);
  if (c->rx.empty()) c->rx.release();
  if (!c->output_pending()) c->tx().release();
  c->is_readable = c->is_writable = false;
  update_interest(c);
  schedule(c);
}

// ---------------------------------------------------------------------------------------
// I/O

size_t Manager::accept_pending(Connection* lc) {
  if (!lc || lc->is_closed || lc->is_closing || !lc->is_listening || lc->is_udp || lc->listen_paused) return 0;
  size_t total = 0;
  // Bounded: a flood arriving meanwhile cannot keep this going for ever.
  for (int round = 0; round < 16; round++) {
    int n = do_accept(lc);
    total += static_cast<size_t>(n);
    if (n < kMaxAcceptsPerIteration || lc->is_closed || lc->listen_paused) break;
  }
  return total;
}

int Manager::do_accept(Connection* lc) {
  const size_t max_conns = limits_.max_connections;
  int accepted = 0;
  for (int i = 0; i < kMaxAcceptsPerIteration; i++) {
    if (max_conns && user_conns_ >= max_conns) {
      lc->listen_paused = true;
      lc->paused_until = 0;
      update_interest(lc);
      return accepted;
    }
    Address remote, local;
    int fd = net::accept_one(lc->fd, remote, local);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        lc->listen_paused = true;
        lc->paused_until = now_ + kAcceptBackoffMs;
        update_interest(lc);
      }
      return accepted;
    }
    accepted++;
    Connection* c;
    try {
      c = new_connection();
    } catch (...) {
      ::close(fd);  // out of memory: the peer sees a reset, nothing leaks
      throw;
    }
    c->fd = fd;
    c->io->attach(fd);
    c->is_accepted = true;
    c->is_http = lc->is_http;
    c->is_tls = c->tls_scheme = lc->is_tls;
    c->local = local;
    c->remote = remote;
    c->listener = lc;
    if (lc->child_driver) c->driver = lc->child_driver(*c);
    update_interest(c);
    emit(c, EV_OPEN);
    if (!c->is_closed) emit(c, EV_ACCEPT);
    c->listener = nullptr;
    // Spec §3.6: the listener's certificates, unless the ACCEPT handler started TLS itself.
    if (!c->is_closed && !c->is_closing && !c->io->is_tls() && lc->tls_certs) start_tls_server(c, lc->tls_certs);
    // A TLS-scheme child without TLS options never talks plaintext.
    if (!c->is_closed && c->tls_missing()) error(c, "TLS not initialized");
    if (!c->is_closed) {
      if (c->is_closing || c->is_draining || c->output_pending()) activate(c);
      schedule(c);
    }
    if (lc->is_closed || shut_down_) return accepted;
  }
  return accepted;
}

void Manager::do_read(Connection* c) {
  if (c->is_full || c->rx_paused || c->app_paused) return;  // back-pressure: leave input in the kernel
  if (c->driver && !c->driver->wants_input(*c)) {
    c->rx_paused = true;  // resume_input() lifts it
    return;
  }
  ReadResult rr = c->io->read(c->rx, kMaxReadPerIteration);
  if (c->is_udp && rr.bytes) {
    // A listener answers the last sender; raw UDP buffers are bounded by max_recv.
    if (c->is_listening) c->remote = static_cast<DatagramSocket*>(c->io.get())->last_sender();
    if (!c->driver && c->rx.size() > limits_.max_recv) {
      error(c, "MG_MAX_RECV_SIZE");
      return;
    }
  }
  if (rr.handshake_done) {
    handshake_done(c);
    if (c->is_closed || c->is_closing) return;
  }
  if (rr.oom) {
    error(c, "MG_MAX_RECV_SIZE");
    return;
  }
  if (c->linger_started || (c->linger && c->is_draining)) {
    c->linger_bytes += c->rx.size();
    c->rx.clear();
    if (rr.eof) c->eof = true;
    return;
  }
  if (rr.bytes > 0) {
    c->idle_since = now_;
    if (c->driver) c->driver->on_data(*c);
    if (c->is_closed || c->is_closing) return;
    emit(c, EV_READ);
    if (c->is_closed) return;
  }
  if (!rr.error.empty()) {
    error(c, rr.error);  // TLS: a failed handshake, a bad record or a fatal alert
    return;
  }
  if (rr.eof) {
    c->eof = true;
    if (c->driver) c->driver->on_eof(*c);
    if (c->is_closed) return;
    // Flush what the handler queued (a complete request followed by EOF still gets its
    // answer), then close.
    if (c->output_pending()) c->is_draining = true;
    else c->is_closing = true;
  }
}

void Manager::do_write(Connection* c) {
  FlushResult fr = c->io->flush();
  if (fr.handshake_done) {
    handshake_done(c);
    if (c->is_closed) return;
  }
  if (!fr.error.empty()) {
    error(c, fr.error);
    return;
  }
  if (fr.failed) c->is_closing = true;  // peer gone, or a file shrank under us
  c->want_write = fr.blocked;
  if (fr.blocked) {
    if (fr.bytes || !c->send_stalled_since) c->send_stalled_since = now_;
  } else {
    c->send_stalled_since = 0;
  }
  if (fr.file_finished && !c->is_closing && c->driver) c->driver->on_file_sent(*c);
  if (c->is_closed) return;
  if (!c->output_pending()) {
    // Idle from here (keep-alive): a response completed by another thread while the loop
    // waited stamped idle_since with the now_ of before that wait.
    c->idle_since = now_;
  }
  if (c->is_full && c->io->queued() < limits_.send_low_water) c->is_full = false;
  if (fr.bytes && !c->is_closed) emit(c, EV_WRITE);
}

void Manager::output_queued(Connection* c) {
  if (c->is_closed) return;
  if (!c->is_full && c->io->queued() > limits_.send_high_water && !c->is_listening) c->is_full = true;
  activate(c);
}

bool Manager::send(Connection* c, const void* data, size_t len) {
  if (c->is_closed) return false;
  if (c->is_udp) {
    auto* d = static_cast<DatagramSocket*>(c->io.get());
    if (c->fd < 0) {  // resolving: each datagram is sent on its own once connected
      d->hold(data, len);
      return true;
    }
    if (!d->send(data, len, c->is_listening ? &c->remote : nullptr)) return false;
    emit(c, EV_WRITE);
    return true;
  }
  if (!c->tx().append(data, len)) return false;
  output_queued(c);
  return true;
}

void Manager::set_app_paused(Connection* c, bool paused) {
  if (c->is_closed || c->app_paused == paused) return;
  c->app_paused = paused;
  if (paused) {
    activate(c);  // leaves the epoll set at the end of its next round
  } else {
    resume_input(c);  // input the driver already holds is looked at again
  }
}

void Manager::resume_input(Connection* c) {
  if (c->is_closed) return;
  c->rx_paused = false;
  c->resume_input = true;
  activate(c);
}

void Manager::replace_driver(Connection* c, std::unique_ptr<Driver> d) {
  // The old driver is usually the caller (an upgrade inside its HTTP_MSG handler, maybe
  // twice): it is destroyed only once the dispatch is over.
  retired_.push_back(std::move(c->driver));
  c->driver = std::move(d);
  resume_input(c);  // the old driver may have paused reading; buffered input is the new one's
}

// ---------------------------------------------------------------------------------------
// TLS (spec §3.6)

void Manager::install_transport(Connection* c, std::unique_ptr<Transport> t) {
  c->io->move_output_to(*t);
  t->attach(c->fd);
  c->io = std::move(t);
  c->is_tls = c->io->is_tls();
  arm_handshake_deadline(c);
  activate(c);  // a client sends its hello; a server may already have one waiting
}

void Manager::arm_handshake_deadline(Connection* c) {
  if (c->is_connecting || c->resolving || c->fd < 0 || !c->io->handshaking()) return;
  // An HTTP listener's children get header_timeout for it, as a slow request head would.
  uint64_t t = c->is_accepted && c->is_http ? limits_.header_timeout_ms : limits_.tls_handshake_timeout_ms;
  c->handshake_deadline = t ? now_ + t : 0;
  schedule(c);
}

void Manager::handshake_done(Connection* c) {
  c->handshake_deadline = 0;
  c->idle_since = now_;
  emit(c, EV_TLS_HS);
}

void Manager::start_tls_server(Connection* c, std::shared_ptr<const tls::ServerCerts> certs) {
  if (c->is_closed || c->is_listening) return;
  install_transport(c, tls::TlsStream::server(&pool_, std::move(certs), c->is_http));
}

void Manager::start_tls_client(Connection* c, std::shared_ptr<tls::Context> ctx, std::string_view name) {
  if (c->is_closed || c->is_listening) return;
  if (name.empty()) name = c->peer_name;
  install_transport(c, tls::TlsStream::client(&pool_, std::move(ctx), name, c->is_http));
}

void Manager::stop_tls(Connection* c) {
  if (c->is_closed || !c->io->is_tls()) return;
  auto* t = static_cast<tls::TlsStream*>(c->io.get());
  if (!t->started()) {
    auto plain = std::make_unique<PlainStream>(&pool_);
    c->io->move_output_to(*plain);
    plain->attach(c->fd);
    c->io = std::move(plain);
    c->is_tls = c->tls_scheme;
    c->handshake_deadline = 0;
    return;
  }
  t->close_session();
  drain(c);
}

// ---------------------------------------------------------------------------------------
// Deadlines

uint64_t Manager::deadline_of(const Connection* c) const {
  uint64_t d = 0;
  auto take = [&](uint64_t x) {
    if (x && (!d || x < d)) d = x;
  };
  if (c->is_closed) return 0;
  if (c->is_listening) {
    if (c->listen_paused) take(c->paused_until);
    return d;
  }
  if (c->is_connecting) {
    take(c->connect_deadline);
    return d;
  }
  if (c->handshake_deadline && c->io->handshaking()) {
    take(c->handshake_deadline);  // protocol timeouts start once the session is up
    return d;
  }
  if (c->linger_started) take(c->linger_deadline);
  if (c->want_write && c->send_stalled_since && limits_.send_timeout_ms)
    take(c->send_stalled_since + limits_.send_timeout_ms);
  if (c->driver && !c->is_closing && !c->linger_started) take(c->driver->deadline(*c));
  return d;
}

void Manager::schedule(Connection* c) {
  uint64_t d = deadline_of(c);
  if (!d) return;  // an entry left in the heap is dropped when it comes due
  if (c->heap_index == kNotInHeap) {
    c->heap_key = d;
    c->heap_index = static_cast<uint32_t>(heap_.size());
    heap_.push_back(c);
    heap_up(c->heap_index);
  } else if (d < c->heap_key) {
    c->heap_key = d;
    heap_up(c->heap_index);
  }
}

void Manager::expire_deadlines() {
  while (!heap_.empty() && heap_[0]->heap_key <= now_ && !shut_down_) {
    Connection* c = heap_[0];
    uint64_t d = deadline_of(c);
    if (d == 0) {
      heap_remove(c);
    } else if (d > now_) {
      c->heap_key = d;  // the deadline moved on since it was scheduled
      heap_down(0);
    } else {
      heap_remove(c);
      on_deadline(c);
    }
  }
}

void Manager::on_deadline(Connection* c) {
  if (c->is_listening) {
    activate(c);  // the accept back-off is over
  } else if (c->is_connecting) {
    error(c, "connect timeout");
  } else if (c->handshake_deadline && c->io->handshaking() && now_ >= c->handshake_deadline) {
    c->io->discard_output();
    error(c, "TLS handshake failed: timeout");
  } else if (c->linger_started && now_ >= c->linger_deadline) {
    finish_close(c);  // the peer had its time to read our error response
  } else if (c->want_write && c->send_stalled_since && limits_.send_timeout_ms &&
             now_ >= c->send_stalled_since + limits_.send_timeout_ms) {
    // A peer that stopped reading (slow-read denial of service) loses its connection.
    c->io->discard_output();
    error(c, "send timeout");
  } else if (c->driver) {
    c->driver->on_timeout(*c);
    activate(c);
  }
}

void Manager::heap_swap(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a]->heap_index = static_cast<uint32_t>(a);
  heap_[b]->heap_index = static_cast<uint32_t>(b);
}

void Manager::heap_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->heap_key <= heap_[i]->heap_key) break;
    heap_swap(i, parent);
    i = parent;
  }
}

void Manager::heap_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_.size() && heap_[l]->heap_key < heap_[m]->heap_key) m = l;
    if (r < heap_.size() && heap_[r]->heap_key < heap_[m]->heap_key) m = r;
    if (m == i) return;
    heap_swap(i, m);
    i = m;
  }
}

void Manager::heap_remove(Connection* c) {
  size_t i = c->heap_index;
  if (i == kNotInHeap) return;
  size_t last = heap_.size() - 1;
  if (i != last) heap_swap(i, last);
  heap_.pop_back();
  c->heap_index = kNotInHeap;
  if (i < heap_.size()) {
    heap_up(i);
    heap_down(i);
  }
}

// ---------------------------------------------------------------------------------------
// Closing

void Manager::close_now(Connection* c) {
  if (c->is_closed) return;
  c->io->discard_output();
  finish_close(c);
}

void Manager::drain(Connection* c) {
  if (c->is_closed) return;
  c->is_draining = true;
  activate(c);
}

void Manager::drain_lingering(Connection* c) {
  if (c->is_closed) return;
  c->linger = true;
  drain(c);
}

void Manager::mark_closing(Connection* c) {
  if (c->is_closed) return;
  c->is_closing = true;
  activate(c);
}

void Manager::error(Connection* c, std::string_view text) {
  if (c->is_closed) return;
  mark_closing(c);
  emit(c, EV_ERROR, &text);
}

void Manager::finish_close(Connection* c) {
  if (c->is_closed) return;
  c->is_closed = true;  // makes close() inside the CLOSE handler a no-op
  c->is_closing = true;
  if (c->fd >= 0) {
    if (!c->is_listening) c->io->on_close();  // TLS: close_notify, best effort
    deregister(c);  // before close: a forked child's copy of the fd must not keep it in our set
    ::close(c->fd);
    c->fd = -1;
    c->io->attach(-1);
  }
  c->io->discard_output();
  heap_remove(c);
  user_conns_--;
  if (c->is_listening) std::erase(listeners_, c);
  by_id_.erase(c->id);
  closed_.push_back(c);
  emit(c, EV_CLOSE);
  resume_listeners();
}

// A listener paused at max_connections accepts again once a connection closed.
void Manager::resume_listeners() {
  for (Connection* l : listeners_)
    if (l->listen_paused && !l->paused_until) activate(l);
}

// Frees what closed in this iteration: a list of its own, so an iteration costs what its
// closed connections cost, not a walk over every connection.
void Manager::reclaim() {
  if (closed_.empty()) return;
  std::vector<Connection*> later;
  for (Connection* c : closed_) {
    if (c->in_active) {
      later.push_back(c);  // still linked on the active list: reclaimed next time
      continue;
    }
    if (c->prev) c->prev->next = c->next; else head_ = c->next;
    if (c->next) c->next->prev = c->prev; else tail_ = c->prev;
    delete c;
  }
  closed_.swap(later);
}

void Manager::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& t : timers_) {
    t->active.store(false);
    t->callback = nullptr;
  }
  timers_.clear();
  {
    std::lock_guard<std::mutex> g(wake_mu_);
    wake_q_.clear();
    wake_bytes_ = 0;
  }
  for (Connection* c = head_; c; c = c->next) {
    if (c->is_closed) continue;
    if (poll_events_) emit(c, EV_POLL);
    c->io->discard_output();
    finish_close(c);
  }
  for (Connection* c = active_; c;) {
    Connection* n = c->next_active;
    c->next_active = nullptr;
    c->in_active = false;
    c = n;
  }
  active_ = active_tail_ = nullptr;
  reclaim();
}

// ---------------------------------------------------------------------------------------
// Timers (spec §5.9): a min-heap on (deadline, creation order).

namespace {
bool later(const std::shared_ptr<TimerRec>& a, const std::shared_ptr<TimerRec>& b) {
  return a->deadline != b->deadline ? a->deadline > b->deadline : a->seq > b->seq;
}
}  // namespace

std::shared_ptr<TimerRec> Manager::add_timer(uint64_t ms, bool repeat, bool run_now,
                                             std::function<void()> cb) {
  auto t = std::make_shared<TimerRec>();
  uint64_t now = monotonic_ms();
  t->period_ms = ms;
  t->repeat = repeat;
  t->deadline = run_now ? now : now + ms;
  t->seq = timer_seq_++;
  t->callback = std::move(cb);
  timers_.push_back(t);
  std::push_heap(timers_.begin(), timers_.end(), later);
  return t;
}

void Manager::clear_timer_callbacks() {
  for (auto& t : timers_) {
    t->active.store(false);
    t->callback = nullptr;
  }
}

void Manager::run_timers() {
  if (timers_cancelled_.exchange(false)) {
    for (auto& t : timers_)
      if (!t->active.load()) t->callback = nullptr;
    std::erase_if(timers_, [](const std::shared_ptr<TimerRec>& t) { return !t->active.load(); });
    std::make_heap(timers_.begin(), timers_.end(), later);
  }
  if (timers_.empty() || timers_.front()->deadline > now_) return;
  // Collect what is due first, so timers added by callbacks wait for the next poll().
  std::vector<std::shared_ptr<TimerRec>> due;
  while (!timers_.empty() && timers_.front()->deadline <= now_) {
    std::pop_heap(timers_.begin(), timers_.end(), later);
    due.push_back(std::move(timers_.back()));
    timers_.pop_back();
  }
  for (auto& t : due) {
    if (!t->active.load()) {
      t->callback = nullptr;
      continue;
    }
    if (t->repeat) {
      t->deadline += t->period_ms;
      if (t->deadline <= now_) t->deadline = now_ + t->period_ms;  // missed periods: no burst
      timers_.push_back(t);
      std::push_heap(timers_.begin(), timers_.end(), later);
    } else {
      t->active.store(false);
    }
  }
  for (auto& t : due) {
    if (shut_down_) break;
    if (!t->callback) continue;
    if (!t->repeat || t->active.load()) {
      auto cb = t->callback;  // the callback may cancel (and so release) itself
      cb();
    }
    if (!t->repeat) t->callback = nullptr;
  }
}

// ---------------------------------------------------------------------------------------
// Wakeup (spec §5.8)

int Manager::wakeup(uint64_t id, const void* data, size_t len) {
  if (!wakeup_enabled_) return 3;
  if (len > limits_.wakeup_max_payload) return 2;
  {
    std::lock_guard<std::mutex> g(wake_mu_);
    if (shut_down_) return 3;
    if (wake_bytes_ + len > limits_.wakeup_max_queue) return 1;
    wake_q_.emplace_back(id, std::string(static_cast<const char*>(data), len));
    wake_bytes_ += len;
    wake_pending_.store(true, std::memory_order_release);
  }
  notify();
  return 0;
}

void Manager::notify() {
  uint64_t one = 1;
  ssize_t n = ::write(evfd_, &one, sizeof one);
  (void)n;
}

void Manager::run_wakeups() {
  if (!wake_pending_.load(std::memory_order_acquire)) return;
  std::deque<std::pair<uint64_t, std::string>> q;
  {
    std::lock_guard<std::mutex> g(wake_mu_);
    q.swap(wake_q_);
    wake_bytes_ = 0;
    wake_pending_.store(false, std::memory_order_release);
  }
  for (auto& [id, payload] : q) {
    if (shut_down_) return;
    if (id == 1 && wakeup_enabled_) continue;  // waking the wakeup channel only interrupts
    Connection* c = find(id);
    if (!c || c->is_closed) continue;
    std::string_view v(payload);
    emit(c, EV_WAKEUP, &v);
  }
}

}  // namespace mg
