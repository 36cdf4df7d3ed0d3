// HTTP/1.1 on server connections: feeds the request parser, delivers HTTP_HDRS and
// HTTP_MSG, writes replies and static files, and decides keep-alive (spec §6.3, §6.5).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "drivers.hpp"
#include "mg/http_body.hpp"
#include "mg/http_reply.hpp"
#include "mg/proto.hpp"

namespace mg::proto {

namespace {

constexpr size_t kInlineFileBytes = 64 * 1024;  // smaller files are copied into the send buffer

HttpMessage make_message(const http::Request& req, std::string_view in, std::string_view body) {
  HttpMessage m;
  m.method = req.method;
  m.uri = req.uri;
  m.query = req.query;
  m.proto = req.proto;
  m.headers = req.headers;
  m.num_headers = req.num_headers;
  m.head = in.substr(0, req.head_len);
  m.body = body;
  return m;
}

}  // namespace

// A request is "outstanding" from HTTP_MSG until its response completes (spec §6.5).
class HttpServerDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  HttpServerDriver() : Driver(&kTag) {}

  void on_data(Connection& c) override;
  bool wants_input(const Connection& c) const override {
    // Pipelined input piling up behind a deferred response stays in the kernel; a
    // request in progress is bounded by max_header_bytes and max_body instead.
    return !(outstanding && c.rx.size() >= c.mgr->limits().max_recv);
  }
  void on_file_sent(Connection& c) override { complete(c, false); }
  uint64_t deadline(const Connection& c) const override {
    uint64_t at = 0;
    pending_timeout(c, at);
    return at;
  }
  void on_timeout(Connection& c) override;

  enum class Wait : uint8_t { None, Head, Body, KeepAlive };
  // Which timeout applies now and when it expires (0: disabled or none).
  Wait pending_timeout(const Connection& c, uint64_t& at) const;
  void complete(Connection& c, bool close_requested);
  void reject(Connection& c, int status, std::string_view err);

  bool outstanding = false;
  bool in_body = false;        // head parsed (HTTP_HDRS delivered), waiting for body bytes
  bool close_after = false;    // request asked to close after the response
  bool is_head = false;        // current request is HEAD: replies omit bodies
  bool continue_sent = false;
  bool awaiting_file = false;  // the response is a file still being sent
  bool http10 = false;         // current request is HTTP/1.0: no chunked responses
  bool in_hdrs = false;        // HTTP_HDRS of a request whose body is incomplete is running
  bool body_stream = false;    // [ext] the body goes out as EV_HTTP_BODY pieces (stream_body)
  bool responded_early = false;  // the response completed before the body was read
  // Framing of a response streamed with http::respond(..., more=true).
  enum class Stream : uint8_t { None, Chunked, Identity, UntilClose } stream = Stream::None;
  uint64_t stream_left = 0;    // Identity: body bytes the program's Content-Length still announces
  bool parsing = false;        // inside on_data's loop, which goes on by itself
  size_t head_len = 0;
  size_t scanned = 0;          // bytes of the pending head already searched for its end
  size_t checked = 0;          // size of the incomplete head last validated
  http::BodyFraming body;
  uint64_t head_start_ms = 0;  // first byte of the current head (header_timeout)
  uint64_t body_seen_ms = 0;   // last body byte (body_timeout)
};

namespace {
HttpServerDriver* server_of(Connection* c) { return driver_as<HttpServerDriver>(c->driver.get()); }
}  // namespace

std::unique_ptr<Driver> make_http_server_driver() { return std::make_unique<HttpServerDriver>(); }

HttpShared& http_shared(Manager& m) {
  auto& slot = m.extension(kHttpExtension);
  if (!slot) {
    auto s = std::make_unique<HttpShared>();
    const Limits& l = m.limits();
    s->limits.max_request_line = l.max_request_line;
    s->limits.max_header_bytes = l.max_header_bytes;
    s->limits.max_headers = l.max_headers;
    s->headers.resize(l.max_headers + 1);
    slot = std::move(s);
  }
  return static_cast<HttpShared&>(*slot);
}

void HttpServerDriver::on_data(Connection& c) {
  Manager& mgr = *c.mgr;
  if (c.is_draining) {
    c.rx.clear();  // the connection is closing: later requests are never parsed
    return;
  }
  HttpShared& shared = http_shared(mgr);
  const http::Limits& hl = shared.limits;
  const Limits& limits = mgr.limits();
  const uint64_t now = mgr.now();
  struct Parsing {
    bool& flag;
    explicit Parsing(bool& f) : flag(f) { flag = true; }
    ~Parsing() { flag = false; }
  } parsing_scope(parsing);
  while (!c.is_closed && !c.is_closing && !c.is_draining && !outstanding && !awaiting_file &&
         c.driver.get() == this) {
    if (!in_body) {
      // RFC 9112 §2.2: ignore empty lines before a request line.
      const char* p = c.rx.data();
      size_t n = c.rx.size(), skip = 0;
      while (skip < n && (p[skip] == '\n' || (p[skip] == '\r' && skip + 1 < n && p[skip + 1] == '\n')))
        skip += p[skip] == '\n' ? 1 : 2;
      if (skip) c.rx.consume(skip);
    }
    char* base = c.rx.data();
    const size_t avail = c.rx.size();
    if (avail == 0) break;
    std::string_view in(base, avail);
    http::Request req;
    bool fresh = false;
    if (!in_body) {
      if (head_start_ms == 0) head_start_ms = now;
      size_t end = http::find_head_end(in, scanned);
      if (end == 0) {
        // Validate an incomplete head early (garbage gets its 400 at once), but only when
        // it has doubled or crossed the size limit, so a byte-at-a-time client costs O(n).
        if (checked == 0 || avail >= 2 * checked || avail > hl.max_header_bytes) {
          http::ParseResult r = http::parse_request(in, req, shared.scratch(), hl);
          if (r.status == http::ParseStatus::Error) return reject(c, r.http_status, r.error);
          checked = avail;
        }
        scanned = avail;
        break;
      }
      http::ParseResult r = http::parse_request(in.substr(0, end), req, shared.scratch(), hl);
      if (r.status != http::ParseStatus::Complete) {
        if (r.status == http::ParseStatus::Error) return reject(c, r.http_status, r.error);
        return reject(c, 400, "HTTP parse error: head");
      }
      if (req.body_kind == http::BodyKind::ContentLength && req.content_length > limits.max_body)
        return reject(c, 413, "MG_MAX_RECV_SIZE");
      head_len = req.head_len;
      body.start(req.body_kind == http::BodyKind::Chunked         ? http::BodyFraming::Kind::Chunked
                 : req.body_kind == http::BodyKind::ContentLength ? http::BodyFraming::Kind::Length
                                                                  : http::BodyFraming::Kind::None,
                 req.content_length);
      close_after = !req.keep_alive;
      is_head = req.method == "HEAD";
      http10 = req.minor_version == 0;
      stream = Stream::None;
      body_stream = false;
      responded_early = false;
      continue_sent = false;
      in_body = true;
      body_seen_ms = now;
      fresh = true;
    }

    // Body framing, RFC 9112 §6.3.
    http::BodyStep step = http::step_body(body, base, avail, head_len, hl, limits.max_body);
    if (step.status == http::ParseStatus::Error) return reject(c, step.http_status, step.error);
    const bool complete_msg = step.status == http::ParseStatus::Complete;
    if (avail > head_len) body_seen_ms = now;

    if (fresh) {
      size_t tx_before = c.tx().size();
      HttpMessage m = make_message(req, in, step.body);
      m.body_pending = !complete_msg;
      in_hdrs = !complete_msg;
      mgr.emit(&c, EV_HTTP_HDRS, &m);
      in_hdrs = false;
      if (c.is_closed || c.is_closing || c.is_draining || c.driver.get() != this) break;
      // RFC 9110 §10.1.1: ask for the body unless the handler already answered; an
      // HTTP/1.0 request's expectation is ignored (1.0 clients do not know 1xx).
      if (!complete_msg && req.expect_continue && req.minor_version >= 1 && c.tx().size() == tx_before &&
          !continue_sent) {
        c.tx().append("HTTP/1.1 100 Continue\r\n\r\n");
        continue_sent = true;
        mgr.output_queued(&c);
      }
    }
    if (body_stream) {
      // Hand the decoded bytes on and remove them, so only the head and an undecoded
      // remainder stay buffered.
      const size_t piece_len = step.body.size();
      if (piece_len || complete_msg) {
        http::HttpBodyPiece piece{step.body, complete_msg};
        mgr.emit(&c, EV_HTTP_BODY, &piece);
        if (c.is_closed || c.is_closing || c.driver.get() != this) break;
      }
      const size_t removed = body.drop_decoded(piece_len);
      c.rx.erase(head_len, removed);
      step.msg_len -= removed;
      step.body = {};
      base = c.rx.data();
      in = std::string_view(base, c.rx.size());
      if (c.is_draining) break;
    }
    if (!complete_msg) break;
    if (!fresh) {
      http::ParseResult r = http::parse_request(in.substr(0, head_len), req, shared.scratch(), hl);
      if (r.status != http::ParseStatus::Complete) return reject(c, 400, "HTTP parse error: head");
    }
    in_body = false;
    scanned = 0;
    checked = 0;
    head_start_ms = 0;
    // A response completed while the body was still arriving leaves nothing outstanding.
    outstanding = !responded_early;
    body_stream = false;
    // Consumed before the handler runs: the views stay valid (consume moves no bytes),
    // and a reply given inside the handler sees no stale input.
    c.rx.consume(step.msg_len);
    HttpMessage m = make_message(req, in, step.body);
    mgr.emit(&c, EV_HTTP_MSG, &m);
    if (responded_early) {
      responded_early = false;
      if (close_after && !c.is_closed) mgr.drain(&c);
    }
  }
  if (c.is_closed || c.driver.get() == this) return;
  // Upgraded inside a handler: frames may follow the upgrade request.
  if (!c.rx.empty() && c.driver) c.driver->on_data(c);
}

void HttpServerDriver::reject(Connection& c, int status, std::string_view err) {
  Manager& mgr = *c.mgr;
  mgr.emit(&c, EV_ERROR, &err);
  in_body = false;
  outstanding = false;
  c.rx.clear();
  if (c.is_closed || c.is_closing) return;
  http::write_error_response(c.tx(), status);
  mgr.output_queued(&c);
  mgr.drain_lingering(&c);
}

void HttpServerDriver::complete(Connection& c, bool close_requested) {
  if (in_body && !outstanding) {
    // Answered before the body was read (an early 413, or a streamed request): the body
    // is still read to its end; HTTP_MSG then finishes the exchange (spec §6.5).
    responded_early = true;
    awaiting_file = false;
    if (close_requested) c.mgr->drain(&c);
    else if (!parsing) c.mgr->resume_input(&c);  // the rest of the body may be buffered
    return;
  }
  const bool was_outstanding = outstanding || awaiting_file;
  outstanding = false;
  awaiting_file = false;
  c.idle_since = c.mgr->now();
  if (close_requested || (was_outstanding && close_after)) {
    c.mgr->drain(&c);
  } else if (was_outstanding && (c.rx_paused || (!c.rx.empty() && !parsing))) {
    c.mgr->resume_input(&c);  // a pipelined request waits in the kernel or the buffer
  }
}

// Spec §8.1: these apply to connections of HTTP listeners until upgraded.
HttpServerDriver::Wait HttpServerDriver::pending_timeout(const Connection& c, uint64_t& at) const {
  const Limits& l = c.mgr->limits();
  at = 0;
  if (!c.is_accepted || c.is_draining) return Wait::None;
  Wait w = Wait::None;
  uint64_t since = 0, timeout = 0;
  if (in_body) {
    // While the program holds the input back, the body's silence is its own doing.
    if (c.app_paused) return Wait::None;
    w = Wait::Body, since = body_seen_ms, timeout = l.body_timeout_ms;
  } else if (head_start_ms && !c.rx.empty() && !outstanding) {
    w = Wait::Head, since = head_start_ms, timeout = l.header_timeout_ms;
  } else if (!outstanding && !awaiting_file && !c.output_pending() && c.rx.empty()) {
    w = Wait::KeepAlive, since = c.idle_since, timeout = l.keepalive_timeout_ms;
  }
  if (timeout) at = since + timeout;
  return w;
}

void HttpServerDriver::on_timeout(Connection& c) {
  uint64_t at = 0;
  Wait w = pending_timeout(c, at);
  if (!at || c.mgr->now() < at) return;
  if (w == Wait::KeepAlive) c.mgr->mark_closing(&c);  // silent close
  else reject(c, 408, "HTTP request timeout");
}

}  // namespace mg::proto

namespace mg::http {

using proto::HttpServerDriver;

void reply(Connection* c, int status, std::span<const Header> headers, std::string_view body) {
  bool close_requested = false;
  for (const Header& h : headers)
    if (h.name.size() == 10 && iequals(h.name, "Connection") && has_token(h.value, "close")) close_requested = true;
  HttpServerDriver* d = proto::server_of(c);
  write_response(c->tx(), status, headers, body, d && d->is_head);
  c->mgr->output_queued(c);
  if (d) d->complete(*c, close_requested);
  else if (close_requested) c->mgr->drain(c);
}

void serve(Connection* c, FileResponse&& resp) {
  Manager& mgr = *c->mgr;
  HttpServerDriver* d = proto::server_of(c);
  Buffer& tx = c->tx();
  tx.append(resp.head);
  tx.append(resp.body);
  if (resp.fd >= 0 && resp.file_length > 0 && resp.file_length <= proto::kInlineFileBytes) {
    size_t len = static_cast<size_t>(resp.file_length);
    char* p = tx.tail(len);
    ssize_t n = p ? ::pread(resp.fd, p, len, static_cast<off_t>(resp.file_offset)) : -1;
    ::close(resp.fd);
    if (n != static_cast<ssize_t>(len)) {
      mgr.mark_closing(c);  // the file changed under us; the framing cannot be kept
      return;
    }
    tx.commit(len);
  } else if (resp.fd >= 0 && resp.file_length > 0) {
    c->io->queue_file(resp.fd, resp.file_offset, resp.file_length);
    if (d) d->awaiting_file = true;  // completes once the file is sent (on_file_sent)
    mgr.output_queued(c);
    return;
  } else if (resp.fd >= 0) {
    ::close(resp.fd);
  }
  mgr.output_queued(c);
  if (d) d->complete(*c, false);
}

namespace {

void put_chunk(Buffer& tx, std::string_view data) {
  char size[24];
  char* end = std::to_chars(size, size + sizeof size, data.size(), 16).ptr;
  tx.append(size, static_cast<size_t>(end - size));
  tx.append("\r\n");
  tx.append(data);
  tx.append("\r\n");
}

}  // namespace

// [ext] Adapter responses (ASGI/WSGI): the program's headers go out as given, with no
// Content-Type added; the framing follows RFC 9112 §6. A complete body gets its real
// Content-Length (the program's is replaced); a streamed one keeps the program's
// Content-Length, else is chunked (§7.1), or delimited by the close for HTTP/1.0 (§6.3).
bool respond(Connection* c, int status, std::span<const Header> headers, std::string_view body, bool more) {
  using Stream = HttpServerDriver::Stream;
  HttpServerDriver* d = proto::server_of(c);
  if (!d || d->stream != Stream::None) return false;
  bool close_requested = false;
  const Header* length = nullptr;
  const Header* te = nullptr;
  for (const Header& h : headers) {
    if (h.name.size() == 10 && iequals(h.name, "Connection") && has_token(h.value, "close")) close_requested = true;
    else if (h.name.size() == 14 && iequals(h.name, "Content-Length")) length = &h;
    else if (h.name.size() == 17 && iequals(h.name, "Transfer-Encoding")) te = &h;
  }
  uint64_t announced = 0;
  if (length) {
    std::string_view v = length->value;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), announced);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) length = nullptr;  // not a length: ours
  }
  const bool no_content = status < 200 || status == 204 || status == 304;  // RFC 9110 §15
  // The framing of a streamed response (RFC 9112 §6.1, §6.3): the program's length; else
  // the program's Transfer-Encoding (HTTP/1.1 only); else chunked; HTTP/1.0: the close.
  Stream mode = Stream::Identity;
  bool keep_length = false, keep_te = false;
  if (more && !no_content) {
    if (te && !d->http10) {
      mode = has_token(te->value, "chunked") ? Stream::Chunked : Stream::UntilClose;
      keep_te = true;
    } else if (length) {
      mode = Stream::Identity;
      keep_length = true;
    } else {
      mode = d->http10 ? Stream::UntilClose : Stream::Chunked;
    }
  }
  Buffer& tx = c->tx();
  char num[24];
  char* p = std::to_chars(num, num + sizeof num, status).ptr;
  tx.append("HTTP/1.1 ");
  tx.append(num, static_cast<size_t>(p - num));
  tx.append(" ");
  tx.append(reason_phrase(status));
  tx.append("\r\n");
  // RFC 9110 §8.6, §9.3.2: a HEAD response may carry the length a GET would have had.
  if (!more && d->is_head && length && body.empty()) keep_length = true;
  for (const Header& h : headers) {
    if ((&h == length && !keep_length) || (&h == te && !keep_te)) continue;  // the framing is ours
    if (h.name.size() == 14 && &h != length && iequals(h.name, "Content-Length")) continue;
    if (h.name.size() == 17 && &h != te && iequals(h.name, "Transfer-Encoding")) continue;
    tx.append(h.name);
    tx.append(": ");
    tx.append(h.value);
    tx.append("\r\n");
  }
  if (!more) {
    // HEAD: the program's length, else the body's (what GET would send); an empty body
    // says nothing about GET's, so no length is invented.
    if (!no_content && !keep_length && !(d->is_head && body.empty())) {
      p = std::to_chars(num, num + sizeof num, body.size()).ptr;
      tx.append("Content-Length: ");
      tx.append(num, static_cast<size_t>(p - num));
      tx.append("\r\n");
    }
    tx.append("\r\n");
    if (!no_content && !d->is_head) tx.append(body);
    c->mgr->output_queued(c);
    d->complete(*c, close_requested);
    return true;
  }
  if (mode == Stream::UntilClose && !close_requested) tx.append("Connection: close\r\n");
  if (mode == Stream::UntilClose) close_requested = true;
  if (mode == Stream::Chunked && !keep_te) tx.append("Transfer-Encoding: chunked\r\n");
  tx.append("\r\n");
  d->stream = mode;
  d->stream_left = announced;
  if (close_requested) d->close_after = true;
  if (no_content) {
    c->mgr->output_queued(c);
    return true;
  }
  return respond_body(c, body, true);
}

StreamBody stream_body(Connection* c) {
  HttpServerDriver* d = proto::server_of(c);
  if (!d) return StreamBody::NotHttpServer;
  if (!d->in_hdrs || !d->in_body) return StreamBody::NotNow;
  d->body_stream = true;
  return StreamBody::Streaming;
}

bool respond_body(Connection* c, std::string_view data, bool more) {
  using Stream = HttpServerDriver::Stream;
  HttpServerDriver* d = proto::server_of(c);
  if (!d || d->stream == Stream::None) return false;
  Buffer& tx = c->tx();
  bool broken = false;  // the program's Content-Length does not match what it sent
  if (d->stream == Stream::Identity) {
    if (data.size() > d->stream_left) {
      data = data.substr(0, static_cast<size_t>(d->stream_left));
      broken = true;
    }
    d->stream_left -= data.size();
    if (!more && d->stream_left) broken = true;
  }
  if (!d->is_head && !data.empty()) {
    if (d->stream == Stream::Chunked) put_chunk(tx, data);
    else tx.append(data);
  }
  if (broken) {
    // RFC 9112 §6.3: the peer would misread what follows; only a close ends it honestly.
    d->stream = Stream::None;
    c->mgr->output_queued(c);
    c->mgr->drain(c);
    return true;
  }
  if (!more) {
    if (d->stream == Stream::Chunked && !d->is_head) tx.append("0\r\n\r\n");
    const bool until_close = d->stream == Stream::UntilClose;
    d->stream = Stream::None;
    c->mgr->output_queued(c);
    d->complete(*c, until_close);
    return true;
  }
  c->mgr->output_queued(c);
  return true;
}

// Chunked transfer coding, RFC 9112 §7.1 (spec §6.2).
void chunk(Connection* c, std::string_view data) {
  Buffer& tx = c->tx();
  if (data.empty()) {
    tx.append("0\r\n\r\n");  // last chunk, no trailers: the response is complete
    c->mgr->output_queued(c);
    if (HttpServerDriver* d = proto::server_of(c)) d->complete(*c, false);
    return;
  }
  put_chunk(tx, data);
  c->mgr->output_queued(c);
}

// One Server-Sent Event per chunk, one data: line per line of data (D25).
void sse(Connection* c, std::string_view event_type, std::string_view data) {
  std::string payload;
  payload.reserve(event_type.size() + data.size() + 32);
  payload.append("event: ").append(event_type).append("\n");
  for (;;) {
    size_t nl = data.find('\n');
    payload.append("data: ").append(data.substr(0, nl)).append("\n");
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  payload.append("\n");
  chunk(c, payload);
}

}  // namespace mg::http
