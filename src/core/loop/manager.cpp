#include "mg/manager.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mg/http_reply.hpp"
#include "mg/net.hpp"
#include "mg/url.hpp"

namespace mg {

namespace {
constexpr int kMaxEvents = 256;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxReadPerIteration = 64 * 1024;  // fairness between connections (spec §8.5)
constexpr int kMaxAcceptsPerIteration = 64;
constexpr uint64_t kAcceptBackoffMs = 100;           // after EMFILE/ENFILE (spec §8.5)
constexpr uint64_t kLingerMs = 1000;                 // lingering close after an error response
constexpr size_t kLingerMaxBytes = 1024 * 1024;

epoll_event* events_of(std::vector<uint8_t>& raw) { return reinterpret_cast<epoll_event*>(raw.data()); }

}  // namespace

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

Manager::Manager(const Limits& limits) : limits_(limits) {
  http_limits_.max_request_line = limits.max_request_line;
  http_limits_.max_header_bytes = limits.max_header_bytes;
  http_limits_.max_headers = limits.max_headers;
  header_scratch_.resize(limits.max_headers + 1);
  events_raw_.resize(sizeof(epoll_event) * kMaxEvents);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ >= 0 && evfd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the internal wake channel
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
    if (c->file.fd >= 0) ::close(c->file.fd);
    delete c;
    c = next;
  }
  if (epfd_ >= 0) ::close(epfd_);
  if (evfd_ >= 0) ::close(evfd_);
}

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

Connection* Manager::listen(std::string_view url_text, bool http) {
  if (shut_down_ || !ok()) return nullptr;
  url::Parts parts = url::split(url_text);
  int port = url::port(url_text);
  if (port < 0) return nullptr;
  Address addr, bound;
  if (!net::parse_listen_host(parts.host, static_cast<uint16_t>(port), addr)) return nullptr;
  int fd = net::open_listener(addr, bound);
  if (fd < 0) return nullptr;
  now_ = monotonic_ms();
  Connection* c = new_connection();
  c->fd = fd;
  c->is_listening = true;
  c->is_http = http;
  c->is_tls = url::is_ssl(url_text);
  c->local = bound;
  listeners_++;
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
    want = (c->is_full || c->rx_paused) ? 0 : (EPOLLIN | EPOLLRDHUP);
    if (c->want_write) want |= EPOLLOUT;
  }
  if (c->registered && want == c->interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = c;
  if (epoll_ctl(epfd_, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
    c->registered = true;
    c->interest = want;
  }
}

// ---------------------------------------------------------------------------------------
// One iteration

int Manager::prepare_wait(int timeout_ms) {
  now_ = monotonic_ms();
  if (wake_pending_.load(std::memory_order_acquire)) return 0;
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
  const size_t active = user_conns_;  // listeners count too (spec §8.1: live user connections)
  for (Connection* c = head_; c && wait != 0; c = c->next) {
    if (c->is_closed) continue;
    if (c->is_closing || c->needs_parse || c->connect_done) return 0;
    if (c->is_connecting) {
      if (c->connect_deadline) shorten(c->connect_deadline);
      continue;
    }
    if (c->ws.close_sent && c->ws.close_deadline) shorten(c->ws.close_deadline);
    bool pending_out = !c->tx.empty() || c->file.fd >= 0;
    if (c->is_draining && !pending_out && !c->linger_started) return 0;
    if (pending_out && !c->want_write && !c->is_listening && c->fd >= 0) return 0;
    if (c->listen_paused) {
      if (c->paused_until) shorten(c->paused_until);
      else if (!limits_.max_connections || active < limits_.max_connections) return 0;
    }
    uint64_t deadline;
    if (timeout_of(c, deadline) != Timeout::None) shorten(deadline);
  }
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
    auto* c = static_cast<Connection*>(evs[i].data.ptr);
    if (!c) {
      uint64_t v;
      while (::read(evfd_, &v, sizeof v) > 0) {
      }
      continue;
    }
    c->ready |= evs[i].events;
  }
  nready_ = 0;

  run_timers();
  if (shut_down_) return;
  run_wakeups();
  if (shut_down_) return;
  if (!resolves_.empty()) run_resolves();

  const size_t max_conns = limits_.max_connections;
  for (Connection* c = head_; c; c = c->next) {
    if (c->is_closed) continue;
    emit(c, EV_POLL);
    if (c->is_closed || shut_down_) continue;
    uint32_t r = c->ready;
    c->ready = 0;
    c->is_readable = r & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    c->is_writable = r & EPOLLOUT;
    if (c->is_listening) {
      if (c->listen_paused) {
        bool resume = c->paused_until ? now_ >= c->paused_until
                                      : (!max_conns || user_conns_ < max_conns);
        if (resume) {
          c->listen_paused = false;
          c->paused_until = 0;
          update_interest(c);
          do_accept(c);
        }
      } else if (r & EPOLLIN) {
        do_accept(c);
      }
      continue;
    }
    if (c->is_connecting) {
      if (c->connect_done || (r & (EPOLLOUT | EPOLLERR | EPOLLHUP))) finish_connect(c);
      if (c->is_closed || c->is_connecting) {
        if (!c->is_closed) check_timeouts(c);
        continue;
      }
    }
    if (c->is_readable) {
      do_read(c);
    } else if (c->needs_parse) {
      c->needs_parse = false;
      if (c->is_http) http_process(c);
    }
    if (c->is_closed) continue;
    check_timeouts(c);
    // Answer this connection now rather than after the whole batch: one send per
    // connection either way, but the first peers of a batch are not kept waiting.
    if (!c->is_closing && !c->is_connecting && (!c->tx.empty() || c->file.fd >= 0) && !c->want_write)
      do_write(c);
  }

  // Output queued for connections already visited (timers, wakeups, other handlers).
  for (Connection* c = head_; c; c = c->next) {
    if (c->is_closed || c->is_closing || c->fd < 0 || c->is_connecting) continue;
    if (c->tx.empty() && c->file.fd < 0) continue;
    if (c->want_write && !c->is_writable) continue;
    do_write(c);
  }

  for (Connection* c = head_; c; c = c->next) {
    if (c->is_closed) continue;
    if (c->is_closing) {
      finish_close(c);
      continue;
    }
    if (c->is_draining && c->tx.empty() && c->file.fd < 0) {
      if (!c->linger) {
        finish_close(c);
      } else if (!c->linger_started) {
        // Lingering close (spec §6.3): stop sending, keep reading briefly so the peer
        // reads our error response instead of a reset.
        ::shutdown(c->fd, SHUT_WR);
        c->linger_started = true;
        c->linger_deadline = now_ + kLingerMs;
        if (c->eof) finish_close(c);
      } else if (c->eof || now_ >= c->linger_deadline || c->linger_bytes > kLingerMaxBytes) {
        finish_close(c);
      }
    }
  }
  reclaim();
}

// ---------------------------------------------------------------------------------------
// I/O

void Manager::do_accept(Connection* lc) {
  const size_t max_conns = limits_.max_connections;
  for (int i = 0; i < kMaxAcceptsPerIteration; i++) {
    if (max_conns && user_conns_ >= max_conns) {
      lc->listen_paused = true;
      lc->paused_until = 0;
      update_interest(lc);
      return;
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
      return;
    }
    Connection* c = new_connection();
    c->fd = fd;
    c->is_accepted = true;
    c->is_http = lc->is_http;
    c->is_tls = lc->is_tls;
    c->local = local;
    c->remote = remote;
    c->listener = lc;
    update_interest(c);
    emit(c, EV_OPEN);
    if (!c->is_closed) emit(c, EV_ACCEPT);
    c->listener = nullptr;
    if (lc->is_closed || shut_down_) return;
  }
}

void Manager::do_read(Connection* c) {
  if (c->is_full) return;  // back-pressure: leave input in the kernel
  if (c->is_http && c->rx.size() - c->rx_off >= limits_.max_recv) {
    // Pipelined input piles up behind a deferred response: leave the rest in the kernel.
    c->rx_paused = true;
    update_interest(c);
    return;
  }
  size_t total = 0;
  bool eof = false;
  while (total < kMaxReadPerIteration) {
    char* p = c->rx.tail(kReadChunk);
    if (!p) {
      error(c, "MG_MAX_RECV_SIZE");
      return;
    }
    ssize_t n = ::recv(c->fd, p, kReadChunk, 0);
    if (n > 0) {
      c->rx.commit(static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    eof = true;  // orderly EOF or reset: no ERROR event (spec §5.6 R7)
    break;
  }
  if (c->linger_started || (c->linger && c->is_draining)) {
    c->linger_bytes += c->rx.size() - c->rx_off;
    c->rx.clear();
    c->rx_off = 0;
    if (eof) c->eof = true;
    return;
  }
  if (total > 0) {
    c->idle_since = now_;
    if (c->is_draining && c->is_http && !c->is_client && !c->is_websocket) {
      c->rx.clear();  // the connection is closing: later requests are never parsed
      c->rx_off = 0;
    } else if (c->is_websocket) {
      ws_process(c);
    } else if (c->is_http) {
      if (c->is_client) http_client_process(c);
      else http_process(c);
    } else if (c->rx.size() > limits_.max_recv) {
      error(c, "MG_MAX_RECV_SIZE");
      return;
    }
    if (c->is_closed || c->is_closing) return;
    emit(c, EV_READ);
    if (c->is_closed) return;
  }
  if (eof) {
    c->eof = true;
    if (c->is_client && c->is_http && !c->is_websocket && !http_client_eof(c)) return;
    // Flush what the handler queued (a complete request followed by EOF still gets
    // its answer), then close.
    if (c->tx.empty() && c->file.fd < 0) c->is_closing = true;
    else c->is_draining = true;
  }
}

void Manager::do_write(Connection* c) {
  bool wrote = false;
  while (!c->tx.empty()) {
    ssize_t n = ::send(c->fd, c->tx.data(), c->tx.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c->tx.consume(static_cast<size_t>(n));
      wrote = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->want_write = true;
      break;
    }
    c->is_closing = true;  // peer gone
    c->tx.clear();
    break;
  }
  if (c->tx.empty() && c->file.fd >= 0 && !c->is_closing) {
    while (c->file.remaining > 0) {
      off_t off = static_cast<off_t>(c->file.offset);
      size_t want = std::min<uint64_t>(c->file.remaining, 1u << 20);
      ssize_t n = ::sendfile(c->fd, c->file.fd, &off, want);
      if (n > 0) {
        c->file.offset += static_cast<uint64_t>(n);
        c->file.remaining -= static_cast<uint64_t>(n);
        wrote = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->want_write = true;
        break;
      }
      c->is_closing = true;  // file shrank or socket failed: the framing is broken
      break;
    }
    if (c->file.remaining == 0 || c->is_closing) {
      ::close(c->file.fd);
      c->file = FileStream{};
      if (!c->is_closing) response_complete(c, false);
    }
  }
  if (c->tx.empty() && c->file.fd < 0) {
    c->want_write = false;
    // Idle from here (keep-alive): a response completed by another thread while the loop
    // waited stamped idle_since with the now_ of before that wait.
    c->idle_since = now_;
    c->tx.shrink_if_idle();
  }
  if (c->is_full && c->tx.size() < limits_.send_low_water) c->is_full = false;
  update_interest(c);
  if (wrote && !c->is_closed) emit(c, EV_WRITE);
}

void Manager::after_output(Connection* c) {
  if (!c->is_full && c->tx.size() > limits_.send_high_water && !c->is_listening) {
    c->is_full = true;
    update_interest(c);
  }
}

bool Manager::send(Connection* c, const void* data, size_t len) {
  if (c->is_closed) return false;
  if (!c->tx.append(data, len)) return false;
  after_output(c);
  return true;
}

// ---------------------------------------------------------------------------------------
// Timeouts (spec §8.1): apply to connections of HTTP listeners until upgraded.

Manager::Timeout Manager::timeout_of(const Connection* c, uint64_t& deadline) const {
  if (c->linger_started) {
    deadline = c->linger_deadline;
    return Timeout::Linger;
  }
  if (!c->is_accepted || !c->is_http || c->is_websocket || c->is_closing || c->is_draining)
    return Timeout::None;
  const HttpServerState& st = c->http;
  if (st.in_body) {
    if (!limits_.body_timeout_ms) return Timeout::None;
    deadline = st.body_seen_ms + limits_.body_timeout_ms;
    return Timeout::Body;
  }
  if (st.head_start_ms && c->rx.size() > c->rx_off && !st.outstanding) {
    if (!limits_.header_timeout_ms) return Timeout::None;
    deadline = st.head_start_ms + limits_.header_timeout_ms;
    return Timeout::Header;
  }
  if (!st.outstanding && c->tx.empty() && c->file.fd < 0 && c->rx.size() == c->rx_off) {
    if (!limits_.keepalive_timeout_ms) return Timeout::None;
    deadline = c->idle_since + limits_.keepalive_timeout_ms;
    return Timeout::Keepalive;
  }
  return Timeout::None;
}

void Manager::check_timeouts(Connection* c) {
  if (c->is_connecting) {
    if (c->connect_deadline && now_ >= c->connect_deadline) error(c, "connect timeout");
    return;
  }
  if (c->ws.close_sent && c->ws.close_deadline && now_ >= c->ws.close_deadline) {
    c->is_closing = true;  // the peer never answered our close frame
    return;
  }
  uint64_t deadline = 0;
  Timeout kind = timeout_of(c, deadline);
  if (kind == Timeout::None || kind == Timeout::Linger || now_ < deadline) return;
  if (kind == Timeout::Keepalive) {
    c->is_closing = true;  // silent close
  } else {
    http_reject(c, 408, "HTTP request timeout");
  }
}

// ---------------------------------------------------------------------------------------
// Closing

void Manager::close_now(Connection* c) {
  if (c->is_closed) return;
  c->tx.clear();
  finish_close(c);
}

void Manager::drain(Connection* c) {
  if (!c->is_closed) c->is_draining = true;
}

void Manager::error(Connection* c, std::string_view text) {
  if (c->is_closed) return;
  c->is_closing = true;
  emit(c, EV_ERROR, &text);
}

void Manager::finish_close(Connection* c) {
  if (c->is_closed) return;
  c->is_closed = true;  // makes close() inside the CLOSE handler a no-op
  c->is_closing = true;
  if (c->fd >= 0) {
    ::close(c->fd);  // also removes it from epoll
    c->fd = -1;
  }
  if (c->file.fd >= 0) {
    ::close(c->file.fd);
    c->file = FileStream{};
  }
  user_conns_--;
  if (c->is_listening) listeners_--;
  by_id_.erase(c->id);
  has_closed_ = true;
  emit(c, EV_CLOSE);
}

void Manager::reclaim() {
  if (!has_closed_) return;
  has_closed_ = false;
  for (Connection* c = head_; c;) {
    Connection* next = c->next;
    if (c->is_closed) {
      if (c->prev) c->prev->next = c->next; else head_ = c->next;
      if (c->next) c->next->prev = c->prev; else tail_ = c->prev;
      delete c;
    }
    c = next;
  }
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
    emit(c, EV_POLL);
    c->tx.clear();
    finish_close(c);
  }
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
