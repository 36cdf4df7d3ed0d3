// Tests for src/core/loop/manager.cpp: the event loop driven directly through its C++ API
// (spec §5 event loop and event order, §6.1/§6.3/§6.5 HTTP server, §8.1 limits).
//
// The test polls the manager on its own thread (prepare_wait/wait/dispatch, bounded waits)
// and talks to it through plain non-blocking POSIX client sockets on 127.0.0.1, so every
// wait is for a condition, never a blind sleep. An EventSink records every event with the
// dispatch iteration it happened in (-1: delivered synchronously outside dispatch).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mg/http_reply.hpp"
#include "mg/manager.hpp"
#include "mg/net.hpp"
#include "mg/resolver.hpp"
#include "mg/proto.hpp"

using mg::Connection;
using mg::HttpMessage;
using mg::Manager;
using mg::http::Header;
using namespace std::string_view_literals;

namespace {

// ---- event recording --------------------------------------------------------------------

struct Ev {
  uint64_t id = 0;
  int ev = -1;
  int iter = -1;
  std::string data;  // ERROR/WAKEUP payload, HTTP body
  std::string method, uri, query, proto, head;
  std::vector<std::pair<std::string, std::string>> headers;
  bool last = false;  // EV_HTTP_BODY: the body's last piece
};

using Hook = std::function<void(Connection*, int, const void*)>;

struct Harness {
  Manager m;
  std::vector<Ev> evs;
  Hook hook;
  int iter = 0;
  bool in_dispatch = false;

  explicit Harness(const mg::Limits& l = {}) : m(l) { m.set_sink(&Harness::sink, this); }

  static void sink(void* ctx, Connection* c, int ev, const void* data) {
    auto* h = static_cast<Harness*>(ctx);
    Ev e;
    e.id = c->id;
    e.ev = ev;
    e.iter = h->in_dispatch ? h->iter : -1;
    if (ev == mg::EV_ERROR || ev == mg::EV_WAKEUP) {
      e.data = std::string(*static_cast<const std::string_view*>(data));
    } else if (ev == mg::EV_HTTP_HDRS || ev == mg::EV_HTTP_MSG) {
      auto* msg = static_cast<const HttpMessage*>(data);
      e.method = msg->method;
      e.uri = msg->uri;
      e.query = msg->query;
      e.proto = msg->proto;
      e.head = msg->head;
      e.data = msg->body;
      for (size_t i = 0; i < msg->num_headers; i++)
        e.headers.emplace_back(msg->headers[i].name, msg->headers[i].value);
    } else if (ev == mg::EV_HTTP_BODY) {
      auto* piece = static_cast<const mg::http::HttpBodyPiece*>(data);
      e.data = piece->data;
      e.last = piece->last;
    } else {
      EXPECT_EQ(data, nullptr) << "event " << ev;
    }
    h->evs.push_back(std::move(e));
    if (h->hook) h->hook(c, ev, data);
  }

  // One poll iteration, waiting at most `max_wait_ms`.
  void step(int max_wait_ms = 20) {
    int w = m.prepare_wait(max_wait_ms);
    if (w < 0 || w > max_wait_ms) w = max_wait_ms;
    m.wait(w);
    iter++;
    in_dispatch = true;
    m.dispatch();
    in_dispatch = false;
  }

  // Polls until `cond` holds; false after `timeout_ms`.
  bool run_until(const std::function<bool()>& cond, int timeout_ms = 1500, int max_wait_ms = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      step(max_wait_ms);
    }
    return true;
  }

  // Polls for `ms` milliseconds (used only to show that something does NOT happen).
  void run_for(int ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) step(5);
  }

  size_t count(uint64_t id, int ev) const {
    size_t n = 0;
    for (auto& e : evs)
      if (e.id == id && e.ev == ev) n++;
    return n;
  }
  size_t count_ev(int ev) const {
    size_t n = 0;
    for (auto& e : evs)
      if (e.ev == ev) n++;
    return n;
  }
  const Ev* last(uint64_t id, int ev) const {
    for (auto it = evs.rbegin(); it != evs.rend(); ++it)
      if (it->id == id && it->ev == ev) return &*it;
    return nullptr;
  }
  // Events of one connection, POLL left out.
  std::vector<int> seq(uint64_t id) const {
    std::vector<int> out;
    for (auto& e : evs)
      if (e.id == id && e.ev != mg::EV_POLL) out.push_back(e.ev);
    return out;
  }
  std::vector<const Ev*> of(uint64_t id, int ev) const {
    std::vector<const Ev*> out;
    for (auto& e : evs)
      if (e.id == id && e.ev == ev) out.push_back(&e);
    return out;
  }
  std::vector<uint64_t> accepted() const {
    std::vector<uint64_t> out;
    for (auto& e : evs)
      if (e.ev == mg::EV_ACCEPT) out.push_back(e.id);
    return out;
  }
};

// R8: in every iteration, a connection's I/O events come after its (single) POLL; CLOSE is
// the last event of the connection and comes once.
void expect_poll_rules(const Harness& h, uint64_t id) {
  std::map<int, std::vector<int>> by_iter;
  for (auto& e : h.evs)
    if (e.id == id && e.iter >= 0) by_iter[e.iter].push_back(e.ev);
  for (auto& [it, list] : by_iter) {
    bool polled = false;
    int polls = 0;
    for (int ev : list) {
      if (ev == mg::EV_POLL) {
        polled = true;
        polls++;
      }
      if (ev == mg::EV_HTTP_HDRS || ev == mg::EV_HTTP_MSG || ev == mg::EV_READ || ev == mg::EV_WRITE) {
        EXPECT_TRUE(polled) << "conn " << id << " iteration " << it << ": event " << ev
                            << " before POLL";
      }
    }
    EXPECT_LE(polls, 1) << "conn " << id << " iteration " << it;
  }
  size_t closes = h.count(id, mg::EV_CLOSE);
  EXPECT_LE(closes, 1u);
  if (closes) {
    int last = -1;
    for (auto& e : h.evs)
      if (e.id == id) last = e.ev;
    EXPECT_EQ(last, mg::EV_CLOSE) << "conn " << id;
  }
}

// ---- client socket ----------------------------------------------------------------------

struct Client {
  int fd = -1;
  std::string in;
  bool eof = false;
  int err = 0;

  explicit Client(uint16_t port, int rcvbuf = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A loopback connect to a listening socket completes in the kernel, before accept().
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  uint16_t local_port() const {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
  }
  // Small writes: the kernel takes them whole.
  void send(std::string_view s) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    ASSERT_EQ(n, static_cast<ssize_t>(s.size())) << strerror(errno);
  }
  // Non-blocking partial write; returns bytes written (0 on EAGAIN, -1 on error).
  ssize_t send_some(std::string_view s) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return n;
  }
  // Reads everything available now.
  void pull() {
    char buf[65536];
    while (!eof && !err) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else if (errno != EINTR) {
        err = errno;
      }
    }
  }
  void shut_wr() { ::shutdown(fd, SHUT_WR); }
};

std::string resp200(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + std::string(extra) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string error_resp(int status) {
  std::string reason(mg::http::reason_phrase(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
         std::to_string(reason.size()) + "\r\n\r\n" + reason;
}

std::string get(std::string_view uri, std::string_view extra = "") {
  return "GET " + std::string(uri) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

// A harness with an HTTP listener on 127.0.0.1:0.
struct Server : Harness {
  Connection* lc = nullptr;
  uint16_t port = 0;

  explicit Server(const mg::Limits& l = {}, std::string_view url = "http://127.0.0.1:0",
                  bool http = true, bool wakeup = false)
      : Harness(l) {
    if (wakeup) {
      EXPECT_TRUE(m.enable_wakeup());
    }
    lc = mg::proto::listen(m, url, http);
    EXPECT_NE(lc, nullptr);
    if (lc) port = lc->local.port();
  }
  // Connects a client and polls until the server accepted it; returns the new id.
  uint64_t accept(Client& cl) {
    size_t before = accepted().size();
    EXPECT_TRUE(run_until([&] { return accepted().size() > before; }));
    (void)cl;
    return accepted().empty() ? 0 : accepted().back();
  }
  // Polls (and reads the client) until the client holds at least `n` bytes or EOF.
  bool read_n(Client& cl, size_t n, int timeout_ms = 1500) {
    return run_until([&] { cl.pull(); return cl.in.size() >= n || cl.eof || cl.err; }, timeout_ms);
  }
  bool read_eof(Client& cl, int timeout_ms = 1500) {
    return run_until([&] { cl.pull(); return cl.eof || cl.err; }, timeout_ms);
  }
  // Every HTTP_MSG answered with 200 and the URI as body.
  void echo_uri() {
    hook = [this](Connection* c, int ev, const void* data) {
      if (ev != mg::EV_HTTP_MSG) return;
      auto* msg = static_cast<const HttpMessage*>(data);
      std::string body(msg->uri);
      mg::http::reply(c, 200, {}, body);
    };
  }
};

uint64_t now_ms() { return mg::monotonic_ms(); }

}  // namespace

// =========================================================================================
// Listen and accept

TEST(ManagerListen, OpenIsSynchronous) {
  Harness h;
  Connection* lc = mg::proto::listen(h.m, "http://127.0.0.1:0", true);
  ASSERT_NE(lc, nullptr);
  ASSERT_EQ(h.evs.size(), 1u);
  EXPECT_EQ(h.evs[0].ev, mg::EV_OPEN);
  EXPECT_EQ(h.evs[0].id, lc->id);
  EXPECT_EQ(h.evs[0].iter, -1);  // inside listen(), not in a poll
  EXPECT_EQ(lc->id, 1u);         // ids start at 1 without wakeup
  EXPECT_TRUE(lc->is_listening);
  EXPECT_TRUE(lc->is_http);
  EXPECT_FALSE(lc->is_tls);
  EXPECT_FALSE(lc->is_accepted);
  EXPECT_NE(lc->local.port(), 0);
  EXPECT_EQ(lc->local.ip(), "127.0.0.1");
  EXPECT_EQ(h.m.live_count(), 1u);
  EXPECT_EQ(h.m.find(lc->id), lc);
  EXPECT_EQ(h.m.live_connections(), std::vector<Connection*>{lc});
}

TEST(ManagerListen, FlagsFromArgumentsAndScheme) {
  Harness h;
  Connection* raw = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  Connection* tls = mg::proto::listen(h.m, "https://127.0.0.1:0", true);
  Connection* local = mg::proto::listen(h.m, "http://localhost:0", true);
  ASSERT_TRUE(raw && tls && local);
  EXPECT_FALSE(raw->is_http);
  EXPECT_FALSE(raw->is_tls);
  EXPECT_TRUE(tls->is_tls);
  EXPECT_EQ(local->local.ip(), "127.0.0.1");
  EXPECT_LT(raw->id, tls->id);  // strictly increasing ids
  EXPECT_LT(tls->id, local->id);
  EXPECT_EQ(h.count_ev(mg::EV_OPEN), 3u);
}

TEST(ManagerListen, FailuresReturnNullWithoutEvents) {
  Harness h;
  Connection* lc = mg::proto::listen(h.m, "http://127.0.0.1:0", true);
  ASSERT_NE(lc, nullptr);
  std::string in_use = "http://127.0.0.1:" + std::to_string(lc->local.port());
  h.evs.clear();
  EXPECT_EQ(mg::proto::listen(h.m, "http://example.com:0", true), nullptr);  // names rejected
  EXPECT_EQ(mg::proto::listen(h.m, "http://127.0.0.1:65536", true), nullptr);
  EXPECT_EQ(mg::proto::listen(h.m, "http://127.0.0.1:x", true), nullptr);
  EXPECT_EQ(mg::proto::listen(h.m, in_use, true), nullptr);
  EXPECT_TRUE(h.evs.empty());
  EXPECT_EQ(h.m.live_count(), 1u);
}

TEST(ManagerListen, WakeupTakesIdOne) {
  Harness h;
  EXPECT_EQ(h.m.wakeup_id(), 0u);
  ASSERT_TRUE(h.m.enable_wakeup());
  EXPECT_EQ(h.m.wakeup_id(), 1u);
  Connection* lc = mg::proto::listen(h.m, "http://127.0.0.1:0", true);
  ASSERT_NE(lc, nullptr);
  EXPECT_EQ(lc->id, 2u);
  EXPECT_EQ(h.m.find(1), nullptr);  // internal, never a user connection
  EXPECT_EQ(h.m.live_count(), 1u);
}

TEST(ManagerListen, ListenerGetsOnePollPerIteration) {
  Server s;
  s.step(0);
  s.step(0);
  s.step(0);
  EXPECT_EQ(s.count(s.lc->id, mg::EV_POLL), 3u);
  expect_poll_rules(s, s.lc->id);
}

TEST(ManagerAccept, OpenThenAcceptWithAddresses) {
  Server s;
  Connection* listener_at_open = nullptr;
  bool accepted_flag = false;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_OPEN && c != s.lc) {
      listener_at_open = c->listener;
      accepted_flag = c->is_accepted;
    }
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  ASSERT_NE(id, 0u);
  EXPECT_GT(id, s.lc->id);
  EXPECT_EQ(listener_at_open, s.lc);
  EXPECT_TRUE(accepted_flag);

  auto seq = s.seq(id);
  ASSERT_GE(seq.size(), 2u);
  EXPECT_EQ(seq[0], mg::EV_OPEN);
  EXPECT_EQ(seq[1], mg::EV_ACCEPT);
  EXPECT_EQ(s.of(id, mg::EV_OPEN)[0]->iter, s.of(id, mg::EV_ACCEPT)[0]->iter);

  Connection* c = s.m.find(id);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->is_accepted);
  EXPECT_TRUE(c->is_http);
  EXPECT_EQ(c->listener, nullptr);  // only valid during OPEN/ACCEPT
  EXPECT_EQ(c->remote.ip(), "127.0.0.1");
  EXPECT_EQ(c->remote.port(), cl.local_port());
  EXPECT_EQ(c->local.port(), s.port);
  EXPECT_EQ(s.m.live_count(), 2u);
  expect_poll_rules(s, id);
}

TEST(ManagerAccept, ManyClientsOneIteration) {
  Server s;
  std::vector<std::unique_ptr<Client>> cls;
  for (int i = 0; i < 5; i++) cls.push_back(std::make_unique<Client>(s.port));
  ASSERT_TRUE(s.run_until([&] { return s.accepted().size() == 5; }));
  for (uint64_t id : s.accepted()) {
    auto seq = s.seq(id);
    ASSERT_GE(seq.size(), 2u);
    EXPECT_EQ(seq[0], mg::EV_OPEN);
    EXPECT_EQ(seq[1], mg::EV_ACCEPT);
  }
}

// =========================================================================================
// HTTP server: events and wire format

TEST(ManagerHttp, RequestGivesHdrsMsgReadInOrder) {
  Server s;
  size_t unconsumed_at_read = 99;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_READ) unconsumed_at_read = c->rx.size();
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  const std::string req = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\nX-Two:  v  \r\n\r\n";
  cl.send(req);
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_READ) == 1; }));

  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_HTTP_HDRS,
                                          mg::EV_HTTP_MSG, mg::EV_READ}));
  const Ev* hd = s.last(id, mg::EV_HTTP_HDRS);
  const Ev* msg = s.last(id, mg::EV_HTTP_MSG);
  const Ev* rd = s.last(id, mg::EV_READ);
  EXPECT_EQ(hd->iter, msg->iter);
  EXPECT_EQ(msg->iter, rd->iter);
  for (const Ev* e : {hd, msg}) {
    EXPECT_EQ(e->method, "GET");
    EXPECT_EQ(e->uri, "/a/b");
    EXPECT_EQ(e->query, "x=1&y=2");
    EXPECT_EQ(e->proto, "HTTP/1.1");
    EXPECT_EQ(e->head, req);
    EXPECT_EQ(e->data, "");
    EXPECT_EQ(e->headers, (std::vector<std::pair<std::string, std::string>>{
                              {"Host", "example"}, {"X-Two", "v"}}));
  }
  EXPECT_EQ(unconsumed_at_read, 0u);  // R4: consumed protocol bytes are gone by READ
  expect_poll_rules(s, id);
}

TEST(ManagerHttp, ReplyInsideSinkProducesExactWireBytes) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    const Header hdrs[] = {{"X-Test", "1"}, {"Content-Length", "999"}};
    mg::http::reply(c, 200, hdrs, "hello");
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/"));
  const std::string want =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/plain\r\n"
      "X-Test: 1\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_WRITE) >= 1; }));
  // The reply made in HTTP_MSG goes out in the same iteration.
  EXPECT_EQ(s.last(id, mg::EV_WRITE)->iter, s.last(id, mg::EV_HTTP_MSG)->iter);

  // Keep-alive: the connection serves another request.
  cl.in.clear();
  cl.send(get("/again"));
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 2u);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
  EXPECT_FALSE(cl.eof);
  expect_poll_rules(s, id);
}

// [ext] http::stream_body(): the body leaves as EV_HTTP_BODY pieces, the buffer keeps only
// the head and an undecoded rest, HTTP_MSG follows with an empty body, and the next
// pipelined request is parsed as usual.
TEST(ManagerHttp, StreamedBodyArrivesInPiecesThenMsgWithoutBody) {
  Server s;
  std::vector<mg::http::StreamBody> started;
  size_t max_rx = 0;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_HDRS) started.push_back(mg::http::stream_body(c));
    if (ev == mg::EV_HTTP_BODY) max_rx = std::max(max_rx, c->rx.size());
    if (ev == mg::EV_HTTP_MSG) {
      EXPECT_EQ(mg::http::stream_body(c), mg::http::StreamBody::NotNow);  // only in HTTP_HDRS
      mg::http::reply(c, 200, {}, "ok");
    }
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST /u HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_BODY) == 1; }));
  std::string body;
  for (int i = 0; i < 200; i++) {
    std::string piece(1000, static_cast<char>('a' + i % 26));
    body += piece;
    cl.send((i == 0 ? "lo\r\n" : "\r\n") + std::string("3e8\r\n") + piece);
    ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_BODY) >= static_cast<size_t>(i + 2); }));
  }
  cl.send("\r\n0\r\n\r\n" + get("/next"));
  ASSERT_TRUE(s.read_n(cl, 2 * resp200("ok").size()));
  EXPECT_EQ(cl.in, resp200("ok") + resp200("ok"));
  std::string got;
  int lasts = 0;
  for (const Ev& e : s.evs)
    if (e.id == id && e.ev == mg::EV_HTTP_BODY) got += e.data, lasts += e.last;
  EXPECT_EQ(got, "hello" + body);
  EXPECT_EQ(lasts, 1);
  EXPECT_LT(max_rx, 2000u);  // never the 200 KB body, only the head and a piece
  EXPECT_EQ(started, (std::vector<mg::http::StreamBody>{mg::http::StreamBody::Streaming,
                                                         mg::http::StreamBody::NotNow}));
  const Ev* msg = nullptr;
  for (const Ev& e : s.evs)
    if (e.id == id && e.ev == mg::EV_HTTP_MSG) { msg = &e; break; }
  ASSERT_NE(msg, nullptr);
  EXPECT_EQ(msg->data, "");
  EXPECT_EQ(msg->uri, "/u");  // the head is still there for HTTP_MSG
}

// A response completed in HTTP_HDRS, before the body was read: the body is still read to
// its end and the connection goes on with the next request (it used to stall).
TEST(ManagerHttp, ReplyBeforeTheBodyKeepsTheConnectionGoing) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    auto* msg = static_cast<const HttpMessage*>(data);
    if (ev == mg::EV_HTTP_HDRS && msg->uri == "/early") mg::http::reply(c, 413, {}, "no");
    if (ev == mg::EV_HTTP_MSG && msg->uri != "/early") mg::http::reply(c, 200, {}, "ok");
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
  std::string early = "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno";
  ASSERT_TRUE(s.read_n(cl, early.size()));
  EXPECT_EQ(cl.in, early);
  cl.in.clear();
  cl.send("56789" + get("/next"));
  ASSERT_TRUE(s.read_n(cl, resp200("ok").size()));
  EXPECT_EQ(cl.in, resp200("ok"));
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 2u);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
}

// [ext] accept_pending(): connections queued in the kernel when a listener is about to
// close are accepted and served instead of reset.
TEST(ManagerHttp, AcceptPendingTakesQueuedClientsBeforeTheListenerCloses) {
  Server s;
  s.echo_uri();
  Client a(s.port), b(s.port), c(s.port);  // queued: nobody polled since they connected
  EXPECT_EQ(s.m.accept_pending(s.lc), 3u);
  EXPECT_EQ(s.accepted().size(), 3u);
  EXPECT_EQ(s.m.accept_pending(s.lc), 0u);  // nothing left
  s.m.mark_closing(s.lc);
  s.lc = nullptr;  // freed by the next iteration
  s.step(0);
  for (Client* cl : {&a, &b, &c}) {
    cl->send(get("/served"));
    ASSERT_TRUE(s.read_n(*cl, resp200("/served").size()));
    EXPECT_EQ(cl->in, resp200("/served"));
    EXPECT_EQ(cl->err, 0);
  }
}

TEST(ManagerHttp, HeadOmitsBodyThenGetHasIt) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, "hello");
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string head_resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, head_resp.size()));
  s.run_for(20);  // a body would have arrived by now
  cl.pull();
  EXPECT_EQ(cl.in, head_resp);
  cl.in.clear();
  cl.send(get("/"));
  ASSERT_TRUE(s.read_n(cl, resp200("hello").size()));
  EXPECT_EQ(cl.in, resp200("hello"));
}

TEST(ManagerHttp, LeadingEmptyLinesIgnored) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("\r\n\n\r\n" + get("/x"));
  ASSERT_TRUE(s.read_n(cl, resp200("/x").size()));
  EXPECT_EQ(cl.in, resp200("/x"));
  EXPECT_EQ(s.count(id, mg::EV_ERROR), 0u);
}

TEST(ManagerHttp, HeadArrivingByteByByteGivesOneHdrs) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  const std::string req = get("/slow", "X-A: 1\r\n");
  for (size_t i = 0; i < req.size(); i++) {
    size_t reads = s.count(id, mg::EV_READ);
    cl.send(req.substr(i, 1));
    ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_READ) > reads; })) << i;
    if (i + 1 < req.size()) {
      EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 0u) << i;
    }
  }
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 1u);
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 1u);
  EXPECT_EQ(s.last(id, mg::EV_HTTP_MSG)->head, req);
  ASSERT_TRUE(s.read_n(cl, resp200("/slow").size()));
  EXPECT_EQ(cl.in, resp200("/slow"));
}

TEST(ManagerHttp, PipelinedRequestsInOneWriteAnsweredInOrder) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/1") + get("/2") + "POST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" +
          get("/4"));
  const std::string want = resp200("/1") + resp200("/2") + resp200("/3") + resp200("/4");
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
  EXPECT_EQ(s.of(id, mg::EV_HTTP_MSG)[2]->data, "abc");
  // Answered synchronously: HDRS, MSG, HDRS, MSG, ..., one READ (spec §5.6).
  auto seq = s.seq(id);
  EXPECT_EQ(seq, (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_HTTP_HDRS, mg::EV_HTTP_MSG,
                                   mg::EV_HTTP_HDRS, mg::EV_HTTP_MSG, mg::EV_HTTP_HDRS,
                                   mg::EV_HTTP_MSG, mg::EV_HTTP_HDRS, mg::EV_HTTP_MSG,
                                   mg::EV_READ, mg::EV_WRITE}));
  expect_poll_rules(s, id);
}

TEST(ManagerHttp, PipelinedRequestWaitsForDeferredResponse) {
  Server s;
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/1") + get("/2"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_READ) == 1; }));
  s.run_for(30);
  // §6.5: the second request is not parsed while the first is outstanding.
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 1u);
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 1u);
  EXPECT_EQ(s.last(id, mg::EV_HTTP_MSG)->uri, "/1");

  // A deferred reply (outside dispatch) lets the next request be parsed in the next poll.
  Connection* c = s.m.find(id);
  ASSERT_NE(c, nullptr);
  mg::http::reply(c, 200, {}, "one");
  EXPECT_EQ(s.m.prepare_wait(1000), 0);
  s.m.wait(0);
  s.m.dispatch();
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 2u);
  EXPECT_EQ(s.last(id, mg::EV_HTTP_MSG)->uri, "/2");
  mg::http::reply(s.m.find(id), 200, {}, "two");
  const std::string want = resp200("one") + resp200("two");
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
}

TEST(ManagerHttp, DeepPipelineBehindDeferredRepliesIsBoundedNotDropped) {
  mg::Limits l;
  l.max_recv = 4096;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  std::string all, want;
  for (int i = 0; i < 4000; i++) {
    std::string uri = "/" + std::to_string(i);
    all += get(uri);
    want += resp200(uri);
  }
  size_t sent = 0, answered = 0, max_rx = 0, msgs = 0;
  std::string last_uri;
  bool paused_seen = false;
  s.hook = [&](Connection*, int ev, const void* data) {
    if (ev != mg::EV_HTTP_MSG) return;
    msgs++;
    last_uri = std::string(static_cast<const HttpMessage*>(data)->uri);
  };
  ASSERT_TRUE(s.run_until([&] {
    if (sent < all.size()) {
      ssize_t n = cl.send_some(std::string_view(all).substr(sent));
      EXPECT_GE(n, 0);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    Connection* c = s.m.find(id);
    if (!c) return true;
    max_rx = std::max(max_rx, c->rx.size());
    paused_seen |= c->rx_paused;
    if (msgs > answered) {
      EXPECT_EQ(msgs, answered + 1);  // one outstanding request at a time
      mg::http::reply(c, 200, {}, last_uri);  // deferred: outside the sink
      answered++;
    }
    cl.pull();
    return cl.in.size() >= want.size() || cl.eof;
  }, 1900, 1));
  EXPECT_TRUE(cl.in == want);
  EXPECT_EQ(answered, 4000u);
  EXPECT_EQ(s.count(id, mg::EV_ERROR), 0u);
  EXPECT_TRUE(paused_seen);
  EXPECT_LE(max_rx, l.max_recv + 64 * 1024);  // one read burst past the limit at most
}

TEST(ManagerHttp, RawSendDoesNotCompleteResponse) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_MSG) {
      std::string r = resp200("raw");
      s.m.send(c, r.data(), r.size());
    }
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/1") + get("/2"));
  ASSERT_TRUE(s.read_n(cl, resp200("raw").size()));
  s.run_for(30);
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 1u);  // compat: send() leaves it outstanding
}

// =========================================================================================
// Keep-alive and close

TEST(ManagerHttp, ConnectionCloseDrainsThenCloses) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/c", "Connection: close\r\n"));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.err, 0);
  EXPECT_EQ(cl.in, resp200("/c"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_HTTP_HDRS,
                                          mg::EV_HTTP_MSG, mg::EV_READ, mg::EV_WRITE,
                                          mg::EV_CLOSE}));
  EXPECT_EQ(s.m.find(id), nullptr);
  EXPECT_EQ(s.m.live_count(), 1u);
  expect_poll_rules(s, id);
}

TEST(ManagerHttp, ConnectionCloseTokenListAnyCase) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  s.accept(cl);
  cl.send(get("/c", "Connection: keep-alive, CLOSE\r\n"));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("/c"));
}

TEST(ManagerHttp, PipelinedAfterCloseIsNeverParsed) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/1", "Connection: close\r\n") + get("/2"));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("/1"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 1u);
}

TEST(ManagerHttp, Http10ClosesByDefault) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("/old"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_HTTP_MSG)->proto, "HTTP/1.0");
}

TEST(ManagerHttp, Http10KeepAliveStaysOpen) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(s.read_n(cl, resp200("/1").size()));
  cl.send("GET /2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_TRUE(s.read_n(cl, resp200("/1").size() + resp200("/2").size()));
  EXPECT_EQ(cl.in, resp200("/1") + resp200("/2"));
  EXPECT_FALSE(cl.eof);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
}

TEST(ManagerHttp, ReplyWithConnectionCloseHeaderCloses) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    const Header hdrs[] = {{"connection", "Close"}};
    mg::http::reply(c, 200, hdrs, "bye");
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/"));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("bye", "connection: Close\r\n"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
}

TEST(ManagerHttp, PeerEofAfterCompleteRequestStillAnswered) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/eof"));
  cl.shut_wr();
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("/eof"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.count(id, mg::EV_ERROR), 0u);  // R7: clean EOF is not an error
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 1u);
  expect_poll_rules(s, id);
}

TEST(ManagerHttp, PeerCloseWithoutDataIsSilent) {
  Server s;
  uint64_t id;
  {
    Client cl(s.port);
    id = s.accept(cl);
  }
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_CLOSE}));
}

// =========================================================================================
// Rejections (spec §6.3)

namespace {

struct BadCase {
  const char* name;
  std::string request;
};

// The status and ERROR text the parser gives for `request`.
std::pair<int, std::string> parser_verdict(std::string_view request) {
  mg::Limits ml;
  mg::http::Limits hl{ml.max_request_line, ml.max_header_bytes, ml.max_headers};
  std::vector<Header> storage(ml.max_headers + 1);
  mg::http::Request req;
  mg::http::ParseResult r = mg::http::parse_request(request, req, storage, hl);
  EXPECT_EQ(r.status, mg::http::ParseStatus::Error) << request;
  return {r.http_status, std::string(r.error)};
}

}  // namespace

TEST(ManagerHttpReject, MalformedRequestsGetErrorResponseAndClose) {
  const BadCase cases[] = {
      {"garbage", "GARBAGE\r\n\r\n"},
      {"no host", "GET / HTTP/1.1\r\n\r\n"},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n"},
      {"cl+te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"bad te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"},
      {"bad cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"},
      {"nul in uri", std::string("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n"sv)},
  };
  for (const BadCase& bc : cases) {
    SCOPED_TRACE(bc.name);
    auto [status, text] = parser_verdict(bc.request);
    ASSERT_GE(status, 400);
    ASSERT_FALSE(text.empty());

    Server s;
    Client cl(s.port);
    uint64_t id = s.accept(cl);
    cl.send(bc.request);
    ASSERT_TRUE(s.read_eof(cl));
    EXPECT_EQ(cl.err, 0) << strerror(cl.err);
    EXPECT_EQ(cl.in, error_resp(status));
    cl.shut_wr();  // ends the server's lingering close
    ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
    ASSERT_EQ(s.count(id, mg::EV_ERROR), 1u);
    EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, text);
    EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
    EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 0u);
    expect_poll_rules(s, id);
  }
}

TEST(ManagerHttpReject, HeadLimitsComeFromManagerLimits) {
  struct LimitCase {
    const char* name;
    mg::Limits limits;
    std::string request;
    int status;
    const char* text;
  };
  mg::Limits line, count, bytes;
  line.max_request_line = 32;
  count.max_headers = 2;
  bytes.max_header_bytes = 100;
  const LimitCase cases[] = {
      {"request line", line, get("/" + std::string(40, 'a')), 414, "URI too long"},
      {"header count", count, get("/", "A: 1\r\nB: 2\r\n"), 431, "HTTP header limit exceeded"},
      {"header bytes", bytes, get("/", "X: " + std::string(100, 'x') + "\r\n"), 431,
       "HTTP header limit exceeded"},
      // A head that never ends is rejected once it passes the limit, not at the timeout.
      {"unterminated head", bytes, "GET / HTTP/1.1\r\nX: " + std::string(200, 'x'), 431,
       "HTTP header limit exceeded"},
  };
  for (const LimitCase& lc : cases) {
    SCOPED_TRACE(lc.name);
    Server s(lc.limits);
    s.echo_uri();
    Client cl(s.port);
    uint64_t id = s.accept(cl);
    cl.send(lc.request);
    ASSERT_TRUE(s.read_eof(cl));
    EXPECT_EQ(cl.in, error_resp(lc.status));
    ASSERT_EQ(s.count(id, mg::EV_ERROR), 1u);
    EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, lc.text);
    EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
  }
  // At the limits: accepted.
  Server s(count);
  s.echo_uri();
  Client cl(s.port);
  s.accept(cl);
  cl.send(get("/ok", "A: 1\r\n"));  // Host + A = 2 fields
  ASSERT_TRUE(s.read_n(cl, resp200("/ok").size()));
  EXPECT_EQ(cl.in, resp200("/ok"));
}

TEST(ManagerHttpReject, BytesAfterRejectedRequestAreNotParsed) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("GET / HTTP/1.1\r\n\r\n" + get("/smuggled"));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, error_resp(400));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
}

TEST(ManagerHttpReject, OtherConnectionsUnaffected) {
  Server s;
  s.echo_uri();
  Client bad(s.port);
  uint64_t bad_id = s.accept(bad);
  Client good(s.port);
  uint64_t good_id = s.accept(good);
  bad.send("\x16\x03\x01\x02\x00garbage\r\n\r\n");
  good.send(get("/ok"));
  ASSERT_TRUE(s.read_eof(bad));
  ASSERT_TRUE(s.read_n(good, resp200("/ok").size()));
  EXPECT_EQ(good.in, resp200("/ok"));
  EXPECT_EQ(s.count(good_id, mg::EV_ERROR), 0u);
  EXPECT_EQ(s.count(bad_id, mg::EV_ERROR), 1u);
}

TEST(ManagerHttpReject, ContentLengthOverMaxBodyIs413BeforeBody) {
  mg::Limits l;
  l.max_body = 1000;
  Server s(l);
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");  // no body sent
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, error_resp(413));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "MG_MAX_RECV_SIZE");
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
}

TEST(ManagerHttpReject, ContentLengthAtMaxBodyAccepted) {
  mg::Limits l;
  l.max_body = 1000;
  Server s(l);
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG)
      mg::http::reply(c, 200, {}, std::to_string(static_cast<const HttpMessage*>(data)->body.size()));
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'));
  ASSERT_TRUE(s.read_n(cl, resp200("1000").size()));
  EXPECT_EQ(cl.in, resp200("1000"));
}

TEST(ManagerHttpReject, ChunkedOverMaxBodyIs413) {
  mg::Limits l;
  l.max_body = 1000;
  Server s(l);
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n");  // 1001
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, error_resp(413));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "MG_MAX_RECV_SIZE");
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
}

// §6.3: after an error response the write side is shut down and input is read and
// discarded, so a client still sending its oversized body reads the response and a clean
// EOF instead of a connection reset.
TEST(ManagerHttpReject, LingeringCloseLetsClientReadResponse) {
  mg::Limits l;
  l.max_body = 1000;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  const size_t body_len = 600 * 1024;
  cl.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body_len) + "\r\n\r\n");
  std::string chunk(16 * 1024, 'u');
  size_t sent = 0;
  ASSERT_TRUE(s.run_until([&] {
    while (sent < body_len) {
      ssize_t n = cl.send_some(std::string_view(chunk).substr(0, std::min(chunk.size(), body_len - sent)));
      if (n <= 0) {
        EXPECT_EQ(n, 0) << "send failed: " << strerror(errno);
        return n < 0;
      }
      sent += static_cast<size_t>(n);
    }
    return true;
  }));
  EXPECT_EQ(sent, body_len);  // the server kept draining our input
  uint64_t t0 = now_ms();
  cl.shut_wr();
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.err, 0) << strerror(cl.err);
  EXPECT_EQ(cl.in, error_resp(413));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_LT(now_ms() - t0, 900u);  // closed on our EOF, not at the 1 s linger limit
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "MG_MAX_RECV_SIZE");
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
}

// =========================================================================================
// Request bodies

TEST(ManagerHttpBody, ContentLengthBodyAcrossReads) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_HDRS) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_HTTP_HDRS)->data, "0123");  // partial body at HDRS
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
  cl.send("456789");
  ASSERT_TRUE(s.read_n(cl, resp200("0123456789").size()));
  EXPECT_EQ(cl.in, resp200("0123456789"));
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 1u);
  EXPECT_EQ(s.last(id, mg::EV_HTTP_MSG)->data, "0123456789");
}

TEST(ManagerHttpBody, ChunkedBodyIsDechunked) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  const std::string head = "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  cl.send(head + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n" + get("/next"));
  const std::string want = resp200("hello world") + resp200("");
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
  auto msgs = s.of(id, mg::EV_HTTP_MSG);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0]->data, "hello world");
  EXPECT_EQ(msgs[0]->head, head);
  EXPECT_EQ(msgs[1]->uri, "/next");  // the pipelined request after the chunked body is intact
}

TEST(ManagerHttpBody, ChunkedBodyAcrossReads) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_HDRS) == 1; }));
  const std::string parts[] = {"lo\r\n", "1", "0\r\n0123456789abcdef\r", "\n0\r\n", "\r\n"};
  for (const std::string& p : parts) {
    EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
    size_t reads = s.count(id, mg::EV_READ);
    cl.send(p);
    ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_READ) > reads; }));
  }
  ASSERT_TRUE(s.read_n(cl, resp200("hello0123456789abcdef").size()));
  EXPECT_EQ(cl.in, resp200("hello0123456789abcdef"));
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 1u);
}

TEST(ManagerHttpBody, InvalidChunkRejected) {
  Server s;
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, error_resp(400));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "Invalid chunk");
}

TEST(ManagerHttpBody, ExpectContinueGetsInterimResponse) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, interim.size()));
  EXPECT_EQ(cl.in, interim);
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 1u);
  cl.send("hello");
  ASSERT_TRUE(s.read_n(cl, interim.size() + resp200("hello").size()));
  EXPECT_EQ(cl.in, interim + resp200("hello"));
}

TEST(ManagerHttpBody, ExpectContinueNotSentWhenHandlerAnswersHeaders) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_HDRS) return;
    const Header hdrs[] = {{"Connection", "close"}};
    mg::http::reply(c, 417, hdrs, "no");
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in,
            "HTTP/1.1 417 Expectation Failed\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            "Content-Length: 2\r\n\r\nno");
}

TEST(ManagerHttpBody, ExpectContinueNotSentWhenBodyAlreadyHere) {
  Server s;
  s.echo_uri();
  Client cl(s.port);
  s.accept(cl);
  cl.send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
  ASSERT_TRUE(s.read_n(cl, resp200("/b").size()));
  EXPECT_EQ(cl.in, resp200("/b"));
}

TEST(ManagerHttpBody, ExpectContinueIgnoredForHttp10) {
  // RFC 9110 §10.1.1: a server that receives 100-continue in an HTTP/1.0 request MUST
  // ignore that expectation (1.0 clients do not understand 1xx responses).
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_HDRS) == 1; }));
  s.run_for(20);
  cl.pull();
  EXPECT_EQ(cl.in, "");
  cl.send("hello");
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, resp200("hello"));
}

TEST(ManagerHttp, LargeReplyWithCloseIsFullyFlushedBeforeClose) {
  Server s;
  const std::string big(8 * 1024 * 1024 + 3, 'L');
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    const Header hdrs[] = {{"Connection", "close"}};
    mg::http::reply(c, 200, hdrs, big);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/big"));
  const std::string want = resp200(big, "Connection: close\r\n");
  ASSERT_TRUE(s.run_until([&] { cl.pull(); return cl.eof || cl.err; }, 1900, 0));
  EXPECT_EQ(cl.err, 0);
  ASSERT_EQ(cl.in.size(), want.size());
  EXPECT_TRUE(cl.in == want);
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_GE(s.count(id, mg::EV_WRITE), 2u);  // flushed over several iterations
  expect_poll_rules(s, id);
}

// =========================================================================================
// Timeouts (spec §8.1)

TEST(ManagerTimeout, HeaderTimeout408) {
  mg::Limits l;
  l.header_timeout_ms = 50;
  l.keepalive_timeout_ms = 10000;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  uint64_t t0 = now_ms();
  cl.send("GET / HTTP/1.1\r\nHost:");
  ASSERT_TRUE(s.read_eof(cl));
  uint64_t elapsed = now_ms() - t0;
  EXPECT_GE(elapsed, 45u);
  EXPECT_LT(elapsed, 1000u);
  EXPECT_EQ(cl.in, error_resp(408));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "HTTP request timeout");
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 0u);
}

TEST(ManagerTimeout, HeaderTimeoutCountsFromFirstByteNotLastByte) {
  mg::Limits l;
  l.header_timeout_ms = 150;
  l.keepalive_timeout_ms = 10000;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  uint64_t t0 = now_ms();
  // A slow-loris head: one byte every ~30 ms keeps the connection busy but not alive.
  const std::string drip = "GET / HTTP/1.1\r\nX-A: aaaaaaaaaaaaaaaaaaaa";
  size_t i = 0;
  ASSERT_TRUE(s.run_until([&] {
    cl.pull();
    if (cl.eof) return true;
    if (i < drip.size() && now_ms() - t0 >= 30 * i) cl.send(drip.substr(i++, 1));
    return false;
  }));
  uint64_t elapsed = now_ms() - t0;
  EXPECT_GE(elapsed, 145u);
  EXPECT_LT(elapsed, 600u);
  EXPECT_EQ(cl.in, error_resp(408));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "HTTP request timeout");
}

TEST(ManagerTimeout, BodyTimeout408) {
  mg::Limits l;
  l.body_timeout_ms = 50;
  l.header_timeout_ms = 10000;
  l.keepalive_timeout_ms = 10000;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_HDRS) == 1; }));
  uint64_t t0 = now_ms();
  ASSERT_TRUE(s.read_eof(cl));
  uint64_t elapsed = now_ms() - t0;
  EXPECT_GE(elapsed, 40u);
  EXPECT_LT(elapsed, 1000u);
  EXPECT_EQ(cl.in, error_resp(408));
  cl.shut_wr();
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "HTTP request timeout");
  EXPECT_EQ(s.count(id, mg::EV_HTTP_MSG), 0u);
}

TEST(ManagerTimeout, BodyTimeoutRestartsOnEachBodyByte) {
  mg::Limits l;
  l.body_timeout_ms = 250;
  l.header_timeout_ms = 10000;
  l.keepalive_timeout_ms = 10000;
  Server s(l);
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev == mg::EV_HTTP_MSG) mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->body);
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n");
  const std::string body = "abcdefgh";
  uint64_t t0 = now_ms();
  size_t i = 0;
  // 8 bytes at 50 ms intervals: 400 ms in total, more than the body timeout.
  ASSERT_TRUE(s.run_until([&] {
    cl.pull();
    if (cl.eof || cl.in.size() >= resp200(body).size()) return true;
    if (i < body.size() && now_ms() - t0 >= 50 * (i + 1)) cl.send(body.substr(i++, 1));
    return false;
  }));
  EXPECT_GE(now_ms() - t0, 395u);
  EXPECT_EQ(cl.in, resp200(body));
  EXPECT_EQ(s.count(id, mg::EV_ERROR), 0u);
}

TEST(ManagerTimeout, KeepaliveAfterAcceptIsSilentClose) {
  mg::Limits l;
  l.keepalive_timeout_ms = 50;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  uint64_t t0 = now_ms();
  ASSERT_TRUE(s.read_eof(cl));
  uint64_t elapsed = now_ms() - t0;
  EXPECT_GE(elapsed, 40u);
  EXPECT_LT(elapsed, 1000u);
  EXPECT_EQ(cl.in, "");
  EXPECT_EQ(cl.err, 0);
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_CLOSE}));
}

TEST(ManagerTimeout, KeepaliveAfterResponse) {
  mg::Limits l;
  l.keepalive_timeout_ms = 50;
  Server s(l);
  s.echo_uri();
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/k"));
  ASSERT_TRUE(s.read_n(cl, resp200("/k").size()));
  uint64_t t0 = now_ms();
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_GE(now_ms() - t0, 30u);
  EXPECT_EQ(cl.in, resp200("/k"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(s.count(id, mg::EV_ERROR), 0u);
}

TEST(ManagerTimeout, NoKeepaliveCloseWhileRequestOutstanding) {
  mg::Limits l;
  l.keepalive_timeout_ms = 50;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/wait"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_MSG) == 1; }));
  s.run_for(150);  // three keep-alive periods with the handler still "working"
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
  mg::http::reply(s.m.find(id), 200, {}, "late");
  ASSERT_TRUE(s.read_eof(cl));  // then the idle timer starts
  EXPECT_EQ(cl.in, resp200("late"));
}

TEST(ManagerTimeout, KeepaliveCountsFromReplyMadeDuringALongWait) {
  // A reply made by another thread while the loop is blocked in wait() (the binding takes
  // the engine lock between prepare_wait and dispatch) must start the idle period at the
  // reply, not at the start of that wait.
  mg::Limits l;
  l.keepalive_timeout_ms = 200;
  Server s(l);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/slow-handler"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_HTTP_MSG) == 1; }));
  s.m.prepare_wait(1000);  // the loop is about to block (nothing else to do)
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // ... for a while
  mg::http::reply(s.m.find(id), 200, {}, "done");                 // "foreign thread" reply
  s.m.notify();
  uint64_t t0 = now_ms();
  ASSERT_TRUE(s.read_n(cl, resp200("done").size()));
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_GE(now_ms() - t0, 150u) << "keep-alive period started before the reply";
  EXPECT_EQ(cl.in, resp200("done"));
}

TEST(ManagerTimeout, RawConnectionsHaveNoTimeouts) {
  mg::Limits l;
  l.keepalive_timeout_ms = 20;
  l.header_timeout_ms = 20;
  Server s(l, "tcp://127.0.0.1:0", false);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send("GET / HTTP/1.1\r\n");
  s.run_for(100);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
  EXPECT_EQ(s.count(id, mg::EV_READ), 1u);
  EXPECT_EQ(s.m.find(id)->rx.view(), "GET / HTTP/1.1\r\n");  // raw: buffer accumulates
  EXPECT_EQ(s.count(id, mg::EV_HTTP_HDRS), 0u);
}

// =========================================================================================
// max_connections

TEST(ManagerLimits, MaxConnectionsPausesAccepting) {
  mg::Limits l;
  l.max_connections = 2;  // live user connections, the listener included (spec §8.1, §3.1)
  Server s(l);
  auto first = std::make_unique<Client>(s.port);
  uint64_t id1 = s.accept(*first);
  Client second(s.port);  // completes in the kernel backlog
  s.run_for(60);
  EXPECT_EQ(s.accepted().size(), 1u);
  EXPECT_TRUE(s.lc->listen_paused);
  EXPECT_GT(s.m.prepare_wait(1000), 0);  // paused at the limit: no busy loop

  first.reset();  // the server sees EOF, closes, and resumes accepting
  ASSERT_TRUE(s.run_until([&] { return s.accepted().size() == 2; }));
  EXPECT_EQ(s.count(id1, mg::EV_CLOSE), 1u);
  EXPECT_EQ(s.m.live_count(), 2u);  // listener + second
}

// =========================================================================================
// Timers (spec §5.9)

TEST(ManagerTimer, OneShotFiresOnceAfterDelay) {
  Harness h;
  int fired = 0;
  uint64_t t0 = now_ms();
  uint64_t at = 0;
  auto t = h.m.add_timer(30, false, false, [&] {
    fired++;
    at = now_ms();
  });
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(t->active.load());
  h.step(0);
  EXPECT_EQ(fired, 0);
  // Long waits: the timer deadline must shorten them.
  ASSERT_TRUE(h.run_until([&] { return fired == 1; }, 1500, 1000));
  EXPECT_GE(at - t0, 29u);
  EXPECT_LT(at - t0, 500u);
  EXPECT_FALSE(t->active.load());
  h.run_for(50);
  EXPECT_EQ(fired, 1);
}

TEST(ManagerTimer, PrepareWaitShortenedToNextDeadline) {
  Harness h;
  EXPECT_EQ(h.m.prepare_wait(-1), -1);
  EXPECT_EQ(h.m.prepare_wait(0), 0);
  EXPECT_EQ(h.m.prepare_wait(5000), 5000);
  auto t = h.m.add_timer(40, false, false, [] {});
  int w = h.m.prepare_wait(5000);
  EXPECT_LE(w, 40);
  EXPECT_GE(w, 30);
  w = h.m.prepare_wait(-1);
  EXPECT_LE(w, 40);
  EXPECT_GE(w, 30);
  EXPECT_EQ(h.m.prepare_wait(10), 10);
  auto t2 = h.m.add_timer(5, false, false, [] {});
  EXPECT_LE(h.m.prepare_wait(5000), 5);
}

TEST(ManagerTimer, RunNowFiresOnNextDispatchNotSynchronously) {
  Harness h;
  int fired = 0;
  auto t = h.m.add_timer(1000, false, true, [&] { fired++; });
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(h.m.prepare_wait(5000), 0);
  h.m.wait(0);
  h.m.dispatch();
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t->active.load());
}

TEST(ManagerTimer, ZeroDelayFiresOnNextDispatch) {
  Harness h;
  int fired = 0;
  auto t = h.m.add_timer(0, false, false, [&] { fired++; });
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(h.m.prepare_wait(5000), 0);
  h.step(0);
  EXPECT_EQ(fired, 1);
}

TEST(ManagerTimer, RepeatingRunNowThenPeriod) {
  Harness h;
  std::vector<uint64_t> at;
  uint64_t t0 = now_ms();
  auto t = h.m.add_timer(40, true, true, [&] { at.push_back(now_ms()); });
  h.step(0);
  ASSERT_EQ(at.size(), 1u);
  ASSERT_TRUE(h.run_until([&] { return at.size() == 3; }, 1500, 1000));
  EXPECT_GE(at[1] - t0, 39u);
  EXPECT_GE(at[2] - t0, 79u);
  EXPECT_TRUE(t->active.load());
}

TEST(ManagerTimer, RepeatingKeepsItsCadence) {
  Harness h;
  std::vector<uint64_t> deadlines;
  mg::TimerRec* rec = nullptr;
  auto t = h.m.add_timer(20, true, false, [&] { deadlines.push_back(rec->deadline); });
  rec = t.get();
  uint64_t first = t->deadline;
  ASSERT_TRUE(h.run_until([&] { return deadlines.size() == 4; }, 1500, 1000));
  // Inside the callback the timer is already re-armed: every deadline is a whole number of
  // periods after the first one (missed periods are skipped, never fired in a burst).
  uint64_t prev = first;
  for (uint64_t d : deadlines) {
    EXPECT_GT(d, prev);
    EXPECT_EQ((d - first) % 20, 0u) << d - first;
    prev = d;
  }
}

TEST(ManagerTimer, RearmsFromPreviousDeadline) {
  Harness h;
  int fired = 0;
  auto t = h.m.add_timer(50, true, false, [&] { fired++; });
  uint64_t old = now_ms() - 10;  // 10 ms late, less than a period
  t->deadline = old;             // (a single timer: the heap stays valid)
  h.step(0);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(t->deadline, old + 50);
}

TEST(ManagerTimer, NoBurstAfterLongStall) {
  Harness h;
  int fired = 0;
  auto t = h.m.add_timer(50, true, false, [&] { fired++; });
  t->deadline = now_ms() - 1000;  // twenty periods missed
  uint64_t before = now_ms();
  h.step(0);
  uint64_t after = now_ms();
  EXPECT_EQ(fired, 1);
  EXPECT_GE(t->deadline, before + 50);  // re-armed from now
  EXPECT_LE(t->deadline, after + 50);
  h.step(0);
  h.step(0);
  EXPECT_EQ(fired, 1);
}

TEST(ManagerTimer, CancelViaActiveFlag) {
  Harness h;
  int fired = 0;
  auto token = std::make_shared<int>(7);
  auto t = h.m.add_timer(30, false, false, [&fired, token] { fired++; });
  EXPECT_EQ(token.use_count(), 2);
  t->active.store(false);
  h.m.note_timer_cancelled();
  // §5.5: pending cancellations are applied before the wait time is computed, so the
  // cancelled deadline no longer shortens the wait.
  EXPECT_EQ(h.m.prepare_wait(5000), 5000);
  h.step(0);
  EXPECT_EQ(token.use_count(), 1);  // the callback (and what it holds) is released
  h.run_for(60);
  EXPECT_EQ(fired, 0);
}

TEST(ManagerTimer, CancelRepeatingFromItsOwnCallback) {
  Harness h;
  int fired = 0;
  mg::TimerRec* rec = nullptr;
  auto t = h.m.add_timer(10, true, true, [&] {
    if (++fired == 2) {
      rec->active.store(false);
      h.m.note_timer_cancelled();
    }
  });
  rec = t.get();
  ASSERT_TRUE(h.run_until([&] { return fired == 2; }));
  h.run_for(50);
  EXPECT_EQ(fired, 2);
  EXPECT_FALSE(t->active.load());
}

TEST(ManagerTimer, AddedInsideCallbackWaitsForNextDispatch) {
  Harness h;
  int inner = 0, outer = 0;
  std::vector<std::shared_ptr<mg::TimerRec>> keep;
  auto t = h.m.add_timer(0, false, false, [&] {
    outer++;
    keep.push_back(h.m.add_timer(0, false, false, [&] { inner++; }));
    keep.push_back(h.m.add_timer(100, false, true, [&] { inner++; }));
  });
  h.step(0);
  EXPECT_EQ(outer, 1);
  EXPECT_EQ(inner, 0);
  EXPECT_EQ(h.m.prepare_wait(1000), 0);
  h.step(0);
  EXPECT_EQ(inner, 2);
}

TEST(ManagerTimer, DueTimersFireInDeadlineOrder) {
  Harness h;
  std::string order;
  auto a = h.m.add_timer(30, false, false, [&] { order += 'a'; });
  auto b = h.m.add_timer(10, false, false, [&] { order += 'b'; });
  auto c = h.m.add_timer(20, false, false, [&] { order += 'c'; });
  auto d = h.m.add_timer(20, false, false, [&] { order += 'd'; });
  uint64_t base = now_ms();
  // All due in the same dispatch: deadline order, creation order on ties.
  a->deadline = base - 1;
  b->deadline = base - 3;
  c->deadline = base - 2;
  d->deadline = base - 2;
  // (Deadlines changed by hand: rebuild the heap by adding and cancelling a dummy timer.)
  auto dummy = h.m.add_timer(0, false, false, [] {});
  dummy->active.store(false);
  h.m.note_timer_cancelled();
  h.step(0);
  EXPECT_EQ(order, "bcda");
}

TEST(ManagerTimer, CallbacksAfterShutdownNeverRun) {
  Harness h;
  int fired = 0;
  auto token = std::make_shared<int>(1);
  h.m.add_timer(0, false, false, [&fired, token] { fired++; });
  h.m.add_timer(10, true, true, [&fired, token] { fired++; });
  EXPECT_EQ(token.use_count(), 3);
  h.m.shutdown();
  EXPECT_EQ(token.use_count(), 1);  // the manager dropped its references
  h.step(0);
  EXPECT_EQ(fired, 0);
}

// =========================================================================================
// Wakeup (spec §5.8)

TEST(ManagerWakeup, DisabledReturns3) {
  Harness h;
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  ASSERT_NE(lc, nullptr);
  EXPECT_EQ(h.m.wakeup(lc->id, "x", 1), 3);
  h.step(0);
  EXPECT_EQ(h.count_ev(mg::EV_WAKEUP), 0u);
}

TEST(ManagerWakeup, PayloadTooLargeReturns2) {
  mg::Limits l;
  l.wakeup_max_payload = 4;
  Harness h(l);
  ASSERT_TRUE(h.m.enable_wakeup());
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  EXPECT_EQ(h.m.wakeup(lc->id, "12345", 5), 2);
  EXPECT_EQ(h.m.wakeup(lc->id, "1234", 4), 0);
  h.step(0);
  ASSERT_EQ(h.count(lc->id, mg::EV_WAKEUP), 1u);
  EXPECT_EQ(h.last(lc->id, mg::EV_WAKEUP)->data, "1234");
}

TEST(ManagerWakeup, QueueFullReturns1UntilDrained) {
  mg::Limits l;
  l.wakeup_max_queue = 10;
  Harness h(l);
  ASSERT_TRUE(h.m.enable_wakeup());
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  EXPECT_EQ(h.m.wakeup(lc->id, "aaaaa", 5), 0);
  EXPECT_EQ(h.m.wakeup(lc->id, "bbbbb", 5), 0);
  EXPECT_EQ(h.m.wakeup(lc->id, "c", 1), 1);
  EXPECT_EQ(h.m.wakeup(lc->id, "", 0), 0);  // an empty payload still fits
  h.step(0);
  EXPECT_EQ(h.count(lc->id, mg::EV_WAKEUP), 3u);
  EXPECT_EQ(h.m.wakeup(lc->id, "c", 1), 0);  // room again
}

TEST(ManagerWakeup, FifoExactBytesToLiveIds) {
  Server s(mg::Limits{}, "http://127.0.0.1:0", true, true);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  uint64_t lid = s.lc->id;
  const std::string bin("a\0b\xff", 4);
  EXPECT_EQ(s.m.wakeup(lid, "1", 1), 0);
  EXPECT_EQ(s.m.wakeup(id, "2", 1), 0);
  EXPECT_EQ(s.m.wakeup(lid, "", 0), 0);
  EXPECT_EQ(s.m.wakeup(id, bin.data(), bin.size()), 0);
  EXPECT_EQ(s.m.wakeup(lid, "3", 1), 0);
  EXPECT_EQ(s.m.prepare_wait(1000), 0);  // queued wakeups: no waiting
  s.step(0);
  std::vector<std::pair<uint64_t, std::string>> got;
  int iter = -1;
  for (auto& e : s.evs)
    if (e.ev == mg::EV_WAKEUP) {
      got.emplace_back(e.id, e.data);
      iter = e.iter;
    }
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, std::string>>{
                     {lid, "1"}, {id, "2"}, {lid, ""}, {id, bin}, {lid, "3"}}));
  // Step 7 before step 8: wakeups precede the POLLs of the iteration.
  bool seen_poll = false;
  for (auto& e : s.evs) {
    if (e.iter != iter) continue;
    if (e.ev == mg::EV_POLL) seen_poll = true;
    if (e.ev == mg::EV_WAKEUP) {
      EXPECT_FALSE(seen_poll);
    }
  }
  s.step(0);
  EXPECT_EQ(s.count_ev(mg::EV_WAKEUP), 5u);  // delivered once
}

TEST(ManagerWakeup, UnknownAndClosedIdsDropped) {
  Server s(mg::Limits{}, "http://127.0.0.1:0", true, true);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  s.m.close_now(s.m.find(id));
  EXPECT_EQ(s.m.wakeup(id, "x", 1), 0);      // accepted, dropped at delivery
  EXPECT_EQ(s.m.wakeup(9999, "y", 1), 0);
  EXPECT_EQ(s.m.wakeup(s.lc->id, "z", 1), 0);
  s.step(0);
  EXPECT_EQ(s.count_ev(mg::EV_WAKEUP), 1u);
  EXPECT_EQ(s.last(s.lc->id, mg::EV_WAKEUP)->data, "z");
}

TEST(ManagerWakeup, IdOneOnlyInterrupts) {
  Server s(mg::Limits{}, "http://127.0.0.1:0", true, true);
  EXPECT_EQ(s.m.wakeup(1, "zz", 2), 0);
  EXPECT_EQ(s.m.prepare_wait(1000), 0);
  s.step(0);
  EXPECT_EQ(s.count_ev(mg::EV_WAKEUP), 0u);
  EXPECT_EQ(s.m.find(1), nullptr);
}

TEST(ManagerWakeup, NotifyFromAnotherThreadInterruptsBlockingWait) {
  Harness h;
  ASSERT_EQ(h.m.prepare_wait(5000), 5000);
  std::atomic<bool> started{false};
  std::thread th([&] {
    while (!started.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the main thread block
    h.m.notify();
  });
  auto t0 = std::chrono::steady_clock::now();
  started.store(true);
  int n = h.m.wait(5000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  th.join();
  EXPECT_EQ(n, 1);
  EXPECT_LT(ms, 1000);
  h.m.dispatch();  // drains the wake channel
  EXPECT_EQ(h.m.prepare_wait(0), 0);
  EXPECT_EQ(h.m.wait(0), 0);  // nothing left pending
}

TEST(ManagerWakeup, WakeupFromAnotherThreadDelivered) {
  Harness h;
  ASSERT_TRUE(h.m.enable_wakeup());
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  uint64_t lid = lc->id;
  std::thread th([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    h.m.wakeup(lid, "from thread", 11);
  });
  auto t0 = std::chrono::steady_clock::now();
  int w = h.m.prepare_wait(5000);
  h.m.wait(w);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  th.join();
  EXPECT_LT(ms, 1000);
  h.m.dispatch();
  ASSERT_EQ(h.count(lid, mg::EV_WAKEUP), 1u);
  EXPECT_EQ(h.last(lid, mg::EV_WAKEUP)->data, "from thread");
}

TEST(ManagerWakeup, ManyThreadsEachInOrder) {
  Harness h;
  ASSERT_TRUE(h.m.enable_wakeup());
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  uint64_t lid = lc->id;
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> ths;
  for (int t = 0; t < kThreads; t++)
    ths.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++) {
        std::string p = std::to_string(t) + ":" + std::to_string(i);
        while (h.m.wakeup(lid, p.data(), p.size()) == 1) std::this_thread::yield();
      }
    });
  ASSERT_TRUE(h.run_until([&] { return h.count(lid, mg::EV_WAKEUP) == kThreads * kEach; }, 1800));
  for (auto& th : ths) th.join();
  std::vector<int> next(kThreads, 0);
  for (auto& e : h.evs) {
    if (e.ev != mg::EV_WAKEUP) continue;
    int t = std::stoi(e.data.substr(0, e.data.find(':')));
    int i = std::stoi(e.data.substr(e.data.find(':') + 1));
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
  }
}

TEST(ManagerWakeup, AfterShutdownReturns3) {
  Harness h;
  ASSERT_TRUE(h.m.enable_wakeup());
  Connection* lc = mg::proto::listen(h.m, "tcp://127.0.0.1:0", false);
  uint64_t lid = lc->id;
  EXPECT_EQ(h.m.wakeup(lid, "queued", 6), 0);
  h.m.shutdown();
  EXPECT_EQ(h.m.wakeup(lid, "late", 4), 3);
  h.step(0);
  EXPECT_EQ(h.count_ev(mg::EV_WAKEUP), 0u);  // the queued one was dropped too
}

// =========================================================================================
// send(), back-pressure

TEST(ManagerSend, QueuesUntilDispatchThenWrites) {
  Server s(mg::Limits{}, "tcp://127.0.0.1:0", false);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  Connection* c = s.m.find(id);
  const std::string data("raw\0bytes", 9);
  EXPECT_TRUE(s.m.send(c, data.data(), data.size()));
  EXPECT_TRUE(s.m.send(c, "!", 1));
  EXPECT_EQ(c->tx().view(), data + "!");
  EXPECT_EQ(s.m.prepare_wait(1000), 0);  // pending output: no waiting
  ASSERT_TRUE(s.read_n(cl, data.size() + 1));
  EXPECT_EQ(cl.in, data + "!");
  EXPECT_TRUE(c->tx().empty());
  EXPECT_GE(s.count(id, mg::EV_WRITE), 1u);
  expect_poll_rules(s, id);
}

TEST(ManagerSend, IsFullAboveHighWaterPausesReading) {
  mg::Limits l;
  l.send_high_water = 64 * 1024;
  l.send_low_water = 16 * 1024;
  Server s(l, "tcp://127.0.0.1:0", false);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  Connection* c = s.m.find(id);
  // More than the kernel absorbs while the client does not read (4 MiB send buffer at
  // most here, plus a receive buffer that does not autotune without reads).
  const size_t total = 16 * 1024 * 1024;
  std::string big(total, 'x');
  EXPECT_TRUE(s.m.send(c, big.data(), 1000));
  EXPECT_FALSE(c->is_full);
  EXPECT_TRUE(s.m.send(c, big.data() + 1000, total - 1000));
  EXPECT_TRUE(c->is_full);
  for (int i = 0; i < 5; i++) s.step(5);
  ASSERT_TRUE(c->is_full);
  EXPECT_GT(c->tx().size(), l.send_high_water);
  // While full, input stays in the kernel.
  cl.send("ping");
  size_t reads = s.count(id, mg::EV_READ);
  for (int i = 0; i < 5; i++) s.step(5);
  EXPECT_EQ(s.count(id, mg::EV_READ), reads);
  // The client drains: below low water reading resumes and the ping arrives.
  ASSERT_TRUE(s.run_until([&] {
    cl.pull();
    return cl.in.size() == total && s.count(id, mg::EV_READ) > reads;
  }, 1900, 0));
  EXPECT_FALSE(c->is_full);
  EXPECT_EQ(c->rx.view(), "ping");
}

// =========================================================================================
// close_now, error, drain, shutdown

TEST(ManagerClose, CloseNowDeliversCloseSynchronously) {
  Server s;
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  Connection* c = s.m.find(id);
  ASSERT_TRUE(s.m.send(c, "unsent", 6));
  size_t before = s.evs.size();
  s.m.close_now(c);
  ASSERT_EQ(s.evs.size(), before + 1);
  EXPECT_EQ(s.evs.back().ev, mg::EV_CLOSE);
  EXPECT_EQ(s.evs.back().id, id);
  EXPECT_EQ(s.evs.back().iter, -1);
  EXPECT_TRUE(c->is_closed);
  EXPECT_EQ(s.m.find(id), nullptr);
  EXPECT_EQ(s.m.live_count(), 1u);
  EXPECT_EQ(s.m.live_connections(), std::vector<Connection*>{s.lc});
  EXPECT_FALSE(s.m.send(c, "x", 1));  // still valid memory until the next dispatch
  s.m.close_now(c);                   // idempotent
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 1u);
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, "");  // unsent output discarded
  size_t n = s.evs.size();
  s.step(0);
  for (size_t i = n; i < s.evs.size(); i++) EXPECT_NE(s.evs[i].id, id);
}

TEST(ManagerClose, CloseNowInsideHandler) {
  Server s;
  int close_handler_calls = 0;
  std::string seen_in_close;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_HDRS) {
      s.m.close_now(c);
      EXPECT_TRUE(c->is_closed);  // still readable inside this handler
      seen_in_close += "after:" + std::to_string(c->id);
    }
    if (ev == mg::EV_CLOSE) {
      close_handler_calls++;
      s.m.close_now(c);  // a no-op inside CLOSE
    }
  };
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  cl.send(get("/"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(close_handler_calls, 1);
  EXPECT_EQ(seen_in_close, "after:" + std::to_string(id));
  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_HTTP_HDRS, mg::EV_CLOSE}));
  EXPECT_EQ(s.last(id, mg::EV_CLOSE)->iter, s.last(id, mg::EV_HTTP_HDRS)->iter);
  s.run_for(20);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 1u);
  ASSERT_TRUE(s.read_eof(cl));
}

TEST(ManagerClose, ErrorInsideHandlerClosesAtEndOfIteration) {
  Server s;
  size_t closes_right_after_error = 99;
  uint64_t id = 0;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_MSG) {
      s.m.error(c, "boom");
      closes_right_after_error = s.count(c->id, mg::EV_CLOSE);
      EXPECT_FALSE(c->is_closed);
    }
  };
  Client cl(s.port);
  id = s.accept(cl);
  cl.send(get("/"));
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  EXPECT_EQ(closes_right_after_error, 0u);  // CLOSE is not synchronous
  EXPECT_EQ(s.seq(id), (std::vector<int>{mg::EV_OPEN, mg::EV_ACCEPT, mg::EV_HTTP_HDRS,
                                          mg::EV_HTTP_MSG, mg::EV_ERROR, mg::EV_CLOSE}));
  EXPECT_EQ(s.last(id, mg::EV_ERROR)->data, "boom");
  EXPECT_EQ(s.last(id, mg::EV_CLOSE)->iter, s.last(id, mg::EV_ERROR)->iter);
  ASSERT_TRUE(s.read_eof(cl));
  expect_poll_rules(s, id);
}

TEST(ManagerClose, ErrorOutsideDispatchClosesInNextIteration) {
  Server s;
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  Connection* c = s.m.find(id);
  const std::string text("verbatim\0text", 13);
  s.m.error(c, text);
  ASSERT_EQ(s.evs.back().ev, mg::EV_ERROR);
  EXPECT_EQ(s.evs.back().iter, -1);  // sync
  EXPECT_EQ(s.evs.back().data, text);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
  EXPECT_FALSE(c->is_closed);
  s.m.error(c, "second");  // not closed yet: reported as well
  EXPECT_EQ(s.m.prepare_wait(1000), 0);  // closing connection: no waiting
  s.step(0);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 1u);
  EXPECT_EQ(s.last(id, mg::EV_CLOSE)->iter, s.iter);
  ASSERT_TRUE(s.read_eof(cl));
  expect_poll_rules(s, id);
}

TEST(ManagerClose, DrainFlushesThenCloses) {
  Server s(mg::Limits{}, "tcp://127.0.0.1:0", false);
  Client cl(s.port);
  uint64_t id = s.accept(cl);
  Connection* c = s.m.find(id);
  ASSERT_TRUE(s.m.send(c, "last words", 10));
  s.m.drain(c);
  EXPECT_EQ(s.count(id, mg::EV_CLOSE), 0u);
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, "last words");
  ASSERT_TRUE(s.run_until([&] { return s.count(id, mg::EV_CLOSE) == 1; }));
  auto seq = s.seq(id);
  ASSERT_GE(seq.size(), 2u);
  EXPECT_EQ(seq[seq.size() - 2], mg::EV_WRITE);
  EXPECT_EQ(seq.back(), mg::EV_CLOSE);
}

TEST(ManagerClose, ShutdownGivesPollThenCloseForEveryConnection) {
  Server s;
  Connection* raw = mg::proto::listen(s.m, "tcp://127.0.0.1:0", false);
  ASSERT_NE(raw, nullptr);
  Client c1(s.port);
  uint64_t a = s.accept(c1);
  Client c2(s.port);
  uint64_t b = s.accept(c2);
  std::vector<uint64_t> ids = {s.lc->id, raw->id, a, b};
  size_t from = s.evs.size();
  s.m.shutdown();
  EXPECT_TRUE(s.m.is_shut_down());
  std::vector<std::pair<uint64_t, int>> got;
  for (size_t i = from; i < s.evs.size(); i++) {
    got.emplace_back(s.evs[i].id, s.evs[i].ev);
    EXPECT_EQ(s.evs[i].iter, -1);
  }
  std::vector<std::pair<uint64_t, int>> want;
  for (uint64_t id : ids) {
    want.emplace_back(id, mg::EV_POLL);
    want.emplace_back(id, mg::EV_CLOSE);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.m.live_count(), 0u);
  EXPECT_TRUE(s.m.live_connections().empty());
  EXPECT_EQ(mg::proto::listen(s.m, "http://127.0.0.1:0", true), nullptr);
  ASSERT_TRUE(s.read_eof(c1));
  ASSERT_TRUE(s.read_eof(c2));
  size_t n = s.evs.size();
  s.step(0);
  EXPECT_EQ(s.evs.size(), n);  // nothing after shutdown
  s.m.shutdown();              // idempotent
  EXPECT_EQ(s.evs.size(), n);
}

// =========================================================================================
// Exceptions out of dispatch (a bad_alloc in a handler path) leave the loop usable

TEST(ManagerRobustness, ExceptionOutOfDispatchStrandsNoConnection) {
  Server s;
  Client a(s.port);
  uint64_t ia = s.accept(a);
  Client b(s.port);
  uint64_t ib = s.accept(b);
  bool thrown = false;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev != mg::EV_HTTP_MSG) return;
    if (!thrown) {
      thrown = true;
      throw std::bad_alloc();  // before any reply: both connections were ready together
    }
    mg::http::reply(c, 200, {}, static_cast<const HttpMessage*>(data)->uri);
  };
  a.send(get("/a"));
  b.send(get("/b"));
  // Both requests arrive; the first HTTP_MSG throws out of dispatch.
  bool caught = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!caught && std::chrono::steady_clock::now() < deadline) {
    try {
      s.step(20);
    } catch (const std::bad_alloc&) {
      caught = true;
    }
  }
  ASSERT_TRUE(caught);
  s.in_dispatch = false;
  // The connection whose handler threw keeps its request outstanding (the program never
  // answered it); the other one is still served by the next iterations.
  Client& other = s.count(ia, mg::EV_HTTP_MSG) ? b : a;
  uint64_t other_id = s.count(ia, mg::EV_HTTP_MSG) ? ib : ia;
  ASSERT_TRUE(s.run_until([&] { return s.count(other_id, mg::EV_HTTP_MSG) == 1; }));
  const std::string want = resp200(&other == &a ? "/a" : "/b");
  ASSERT_TRUE(s.read_n(other, want.size()));
  EXPECT_EQ(other.in, want);
  // And a fresh connection is accepted and answered.
  Client c(s.port);
  s.accept(c);
  c.send(get("/c"));
  ASSERT_TRUE(s.read_n(c, resp200("/c").size()));
  EXPECT_EQ(c.in, resp200("/c"));
}

namespace {

// A TCP listener made with plain sockets (the peer of a client test); returns its port.
int plain_listener(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

TEST(ManagerConnect, RefusedAddressFallsBackToTheNextOneOfTheName) {
  // A name resolving to several addresses keeps the others: a refused one is followed by
  // the next (spec §6.11), silently; only the last failure is an ERROR.
  int open_fd;
  int open_port = plain_listener(open_fd);
  int closed_fd;
  int closed_port = plain_listener(closed_fd);
  ::close(closed_fd);  // nobody listens there now: refused
  Harness h;
  Connection* c = h.m.connect("tcp://127.0.0.1:" + std::to_string(closed_port), false, nullptr);
  ASSERT_NE(c, nullptr);
  mg::Address next;
  ASSERT_TRUE(mg::net::literal_address("127.0.0.1", static_cast<uint16_t>(open_port), next));
  c->next_addresses.push_back(next);
  uint64_t id = c->id;
  ASSERT_TRUE(h.run_until([&] { return h.count(id, mg::EV_CONNECT) + h.count(id, mg::EV_ERROR) > 0; }));
  EXPECT_EQ(h.count(id, mg::EV_ERROR), 0u);
  EXPECT_EQ(h.count(id, mg::EV_CONNECT), 1u);
  EXPECT_EQ(c->remote.port(), open_port);
  h.m.shutdown();
  ::close(open_fd);
}

TEST(ManagerConnect, EveryAddressRefusedIsOneSocketError) {
  int fds[2];
  int ports[2] = {plain_listener(fds[0]), plain_listener(fds[1])};
  ::close(fds[0]);
  ::close(fds[1]);
  Harness h;
  Connection* c = h.m.connect("tcp://127.0.0.1:" + std::to_string(ports[0]), false, nullptr);
  ASSERT_NE(c, nullptr);
  mg::Address next;
  ASSERT_TRUE(mg::net::literal_address("127.0.0.1", static_cast<uint16_t>(ports[1]), next));
  c->next_addresses.push_back(next);
  uint64_t id = c->id;
  ASSERT_TRUE(h.run_until([&] { return h.count(id, mg::EV_CLOSE) > 0; }));
  ASSERT_EQ(h.count(id, mg::EV_ERROR), 1u);
  EXPECT_EQ(h.last(id, mg::EV_ERROR)->data, "socket error");
  EXPECT_EQ(h.count(id, mg::EV_CONNECT), 0u);
}

TEST(Resolver, ManyLookupsUseAtMostTheBoundedPool) {
  std::vector<std::shared_ptr<mg::net::Lookup>> jobs;
  for (int i = 0; i < 40; i++) jobs.push_back(mg::net::resolve_async("localhost", 80));
  EXPECT_LE(mg::net::resolver_threads(), mg::net::kMaxResolverThreads);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& j : jobs) {
    while (!j->done.load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(j->done.load());
    ASSERT_EQ(j->gai_error, 0);
    ASSERT_FALSE(j->results.empty());
  }
  EXPECT_LE(mg::net::resolver_threads(), mg::net::kMaxResolverThreads);
}

// ---- [ext] adapter responses: mg::http::respond / respond_body (RFC 9112 §6) ----

TEST(ManagerHttpRespond, CompleteResponseKeepsHeadersAddsOnlyItsLength) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    const Header hdrs[] = {{"x-a", "1"}, {"content-length", "999"}, {"transfer-encoding", "chunked"}};
    EXPECT_TRUE(mg::http::respond(c, 201, hdrs, "hello", false));
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send(get("/"));
  const std::string want = "HTTP/1.1 201 Created\r\nx-a: 1\r\nContent-Length: 5\r\n\r\nhello";
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);  // no Content-Type invented, the program's framing headers replaced
  cl.in.clear();
  cl.send(get("/again"));  // keep-alive: the request was completed
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
}

TEST(ManagerHttpRespond, StreamedWithoutLengthIsChunkedAndCompletes) {
  Server s;
  uint64_t id = 0;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    id = c->id;
    EXPECT_TRUE(mg::http::respond(c, 200, {}, "ab", true));
    EXPECT_FALSE(mg::http::respond(c, 200, {}, "x", false));  // one response at a time
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send(get("/"));
  ASSERT_TRUE(s.run_until([&] { return id != 0; }));
  Connection* c = s.m.find(id);
  EXPECT_TRUE(mg::http::respond_body(c, "cde", true));
  EXPECT_TRUE(mg::http::respond_body(c, "", false));
  EXPECT_FALSE(mg::http::respond_body(c, "late", true));  // nothing in progress any more
  const std::string want = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, want.size()));
  EXPECT_EQ(cl.in, want);
  cl.in.clear();
  cl.send(get("/2"));  // the next request is parsed: the streamed one completed
  ASSERT_TRUE(s.read_n(cl, 10));
}

TEST(ManagerHttpRespond, StreamedWithProgramLengthIsIdentity) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    const Header hdrs[] = {{"Content-Length", "6"}};
    mg::http::respond(c, 200, hdrs, "abc", true);
    mg::http::respond_body(c, "def", false);
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send(get("/"));
  const std::string want = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef";
  ASSERT_TRUE(s.read_n(cl, want.size()));
  s.run_for(20);
  cl.pull();
  EXPECT_EQ(cl.in, want);
  EXPECT_FALSE(cl.eof);
}

TEST(ManagerHttpRespond, LengthMismatchTruncatesAndCloses) {
  for (const char* second : {"defgh", ""}) {  // longer than announced, then shorter
    Server s;
    s.hook = [&](Connection* c, int ev, const void*) {
      if (ev != mg::EV_HTTP_MSG) return;
      const Header hdrs[] = {{"Content-Length", "6"}};
      mg::http::respond(c, 200, hdrs, "abc", true);
      mg::http::respond_body(c, second, false);
    };
    Client cl(s.port);
    s.accept(cl);
    cl.send(get("/"));
    ASSERT_TRUE(s.read_eof(cl));  // RFC 9112 §6.3: only a close ends a wrong length honestly
    std::string body = cl.in.substr(cl.in.find("\r\n\r\n") + 4);
    EXPECT_EQ(body, *second ? "abcdef" : "abc") << second;
  }
}

TEST(ManagerHttpRespond, Http10StreamEndsWithClose) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev != mg::EV_HTTP_MSG) return;
    mg::http::respond(c, 200, {}, "ab", true);
    mg::http::respond_body(c, "cd", false);
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(s.read_eof(cl));
  EXPECT_EQ(cl.in, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcd");
}

TEST(ManagerHttpRespond, HeadAndNoContentSendNoBody) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev != mg::EV_HTTP_MSG) return;
    const auto* m = static_cast<const HttpMessage*>(data);
    if (m->uri == "/204") {
      mg::http::respond(c, 204, {}, "ignored", false);
    } else {
      mg::http::respond(c, 200, {}, "ab", true);  // streamed HEAD: headers only
      mg::http::respond_body(c, "cd", false);
    }
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, head.size()));
  cl.in.clear();
  cl.send(get("/204"));
  const std::string none = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, none.size()));
  s.run_for(20);
  cl.pull();
  EXPECT_EQ(cl.in, none);
}

TEST(ManagerAppPause, PausedConnectionReadsNothingUntilResumed) {
  Server s;
  uint64_t id = 0;
  s.hook = [&](Connection* c, int ev, const void*) {
    if (ev == mg::EV_HTTP_MSG) {
      id = c->id;
      mg::http::reply(c, 200, {}, "ok");
    }
  };
  Client cl(s.port);
  uint64_t cid = s.accept(cl);
  s.m.set_app_paused(s.m.find(cid), true);
  s.run_for(10);
  cl.send(get("/"));
  s.run_for(50);
  EXPECT_EQ(s.count(cid, mg::EV_HTTP_MSG), 0u);  // the request waits in the kernel
  s.m.set_app_paused(s.m.find(cid), false);
  ASSERT_TRUE(s.read_n(cl, resp200("ok").size()));
  EXPECT_EQ(id, cid);
}

TEST(ManagerHttpRespond, HeadKeepsTheProgramsLengthAndInventsNone) {
  Server s;
  s.hook = [&](Connection* c, int ev, const void* data) {
    if (ev != mg::EV_HTTP_MSG) return;
    const auto* m = static_cast<const HttpMessage*>(data);
    const Header hdrs[] = {{"Content-Length", "16"}};
    if (m->uri == "/given") mg::http::respond(c, 200, hdrs, "", false);  // RFC 9110 §8.6: GET's length
    else mg::http::respond(c, 200, {}, "", false);                        // unknown: no length at all
  };
  Client cl(s.port);
  s.accept(cl);
  cl.send("HEAD /given HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string given = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, given.size()));
  EXPECT_EQ(cl.in, given);
  cl.in.clear();
  cl.send("HEAD /none HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string none = "HTTP/1.1 200 OK\r\n\r\n";
  ASSERT_TRUE(s.read_n(cl, none.size()));
  s.run_for(20);
  cl.pull();
  EXPECT_EQ(cl.in, none);
}
