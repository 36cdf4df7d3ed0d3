// HTTP/1.1 on server connections: feeds the request parser, delivers HTTP_HDRS and
// HTTP_MSG, writes replies and static files, and decides keep-alive (spec §6.3, §6.5).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "mg/http_reply.hpp"
#include "mg/manager.hpp"

namespace mg {

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

void Manager::http_process(Connection* c) {
  HttpServerState& st = c->http;
  std::span<http::Header> scratch(header_scratch_);
  while (!c->is_closed && !c->is_closing && !c->is_draining && !st.outstanding && c->file.fd < 0 &&
         !c->is_websocket) {
    char* base = c->rx.data() + c->rx_off;
    size_t avail = c->rx.size() - c->rx_off;
    if (!st.in_body) {
      // RFC 9112 §2.2: ignore empty lines before a request line.
      while (avail > 0 && (base[0] == '\n' || (base[0] == '\r' && avail > 1 && base[1] == '\n'))) {
        size_t skip = base[0] == '\n' ? 1 : 2;
        base += skip;
        avail -= skip;
        c->rx_off += skip;
      }
    }
    if (avail == 0) break;
    std::string_view in(base, avail);
    http::Request req;
    bool fresh = false;
    if (!st.in_body) {
      if (st.head_start_ms == 0) st.head_start_ms = now_;
      size_t end = http::find_head_end(in, st.scanned);
      if (end == 0) {
        // Validate an incomplete head early (garbage gets its 400 at once), but only when
        // it has doubled or crossed the size limit, so a byte-at-a-time client costs O(n).
        if (st.checked == 0 || avail >= 2 * st.checked || avail > http_limits_.max_header_bytes) {
          http::ParseResult r = http::parse_request(in, req, scratch, http_limits_);
          if (r.status == http::ParseStatus::Error) return http_reject(c, r.http_status, r.error);
          st.checked = avail;
        }
        st.scanned = avail;
        break;
      }
      http::ParseResult r = http::parse_request(in.substr(0, end), req, scratch, http_limits_);
      if (r.status != http::ParseStatus::Complete) {
        if (r.status == http::ParseStatus::Error) return http_reject(c, r.http_status, r.error);
        return http_reject(c, 400, "HTTP parse error: head");
      }
      if (req.body_kind == http::BodyKind::ContentLength && req.content_length > limits_.max_body)
        return http_reject(c, 413, "MG_MAX_RECV_SIZE");
      st.head_len = req.head_len;
      st.body.start(req.body_kind == http::BodyKind::Chunked         ? http::BodyFraming::Kind::Chunked
                    : req.body_kind == http::BodyKind::ContentLength ? http::BodyFraming::Kind::Length
                                                                     : http::BodyFraming::Kind::None,
                    req.content_length);
      st.close_after = !req.keep_alive;
      st.is_head = req.method == "HEAD";
      st.continue_sent = false;
      st.in_body = true;
      st.body_seen_ms = now_;
      fresh = true;
    }

    // Body framing, RFC 9112 §6.3.
    http::BodyStep step = http::step_body(st.body, base, avail, st.head_len, http_limits_, limits_.max_body);
    if (step.status == http::ParseStatus::Error) return http_reject(c, step.http_status, step.error);
    const bool complete = step.status == http::ParseStatus::Complete;
    const std::string_view body = step.body;
    const size_t msg_len = step.msg_len;
    if (avail > st.head_len) st.body_seen_ms = now_;

    if (fresh) {
      size_t tx_before = c->tx.size();
      HttpMessage m = make_message(req, in, body);
      emit(c, EV_HTTP_HDRS, &m);
      if (c->is_closed || c->is_closing || c->is_draining) break;
      // RFC 9110 §10.1.1: ask for the body unless the handler already answered; an
      // HTTP/1.0 request's expectation is ignored (1.0 clients do not know 1xx).
      if (!complete && req.expect_continue && req.minor_version >= 1 &&
          c->tx.size() == tx_before && !st.continue_sent) {
        c->tx.append("HTTP/1.1 100 Continue\r\n\r\n");
        st.continue_sent = true;
      }
    }
    if (!complete) break;
    if (!fresh) {
      http::ParseResult r = http::parse_request(in.substr(0, st.head_len), req, scratch, http_limits_);
      if (r.status != http::ParseStatus::Complete) return http_reject(c, 400, "HTTP parse error: head");
    }
    st.in_body = false;
    st.scanned = 0;
    st.checked = 0;
    st.head_start_ms = 0;
    st.outstanding = true;
    HttpMessage m = make_message(req, in, body);
    emit(c, EV_HTTP_MSG, &m);
    if (c->is_closed) return;
    c->rx_off += msg_len;
  }
  if (c->is_closed) return;
  if (c->is_websocket) return ws_process(c);  // frames may follow the upgrade request
  c->compact_rx();
  if (c->rx_paused && c->rx.size() < limits_.max_recv) {
    c->rx_paused = false;
    update_interest(c);
  }
}

void Manager::http_reject(Connection* c, int status, std::string_view err) {
  HttpServerState& st = c->http;
  std::string_view text = err;
  emit(c, EV_ERROR, &text);
  st.in_body = false;
  st.outstanding = false;
  c->rx.clear();
  c->rx_off = 0;
  if (c->is_closed || c->is_closing) return;
  http::write_error_response(c->tx, status);
  c->linger = true;
  c->is_draining = true;
}

void Manager::response_complete(Connection* c, bool close_requested) {
  HttpServerState& st = c->http;
  bool was_outstanding = st.outstanding;
  st.outstanding = false;
  c->idle_since = now_;
  if (close_requested || (was_outstanding && st.close_after)) {
    c->is_draining = true;
  } else if (was_outstanding && c->rx.size() > c->rx_off) {
    c->needs_parse = true;  // a pipelined request waits in the buffer
  }
}

void Manager::http_reply(Connection* c, int status, std::span<const http::Header> headers,
                         std::string_view body) {
  bool close_requested = false;
  for (const http::Header& h : headers)
    if (h.name.size() == 10 && http::iequals(h.name, "Connection") && http::has_token(h.value, "close"))
      close_requested = true;
  http::write_response(c->tx, status, headers, body, c->http.is_head);
  after_output(c);
  response_complete(c, close_requested);
}

void Manager::http_serve(Connection* c, http::FileResponse&& resp) {
  c->tx.append(resp.head);
  c->tx.append(resp.body);
  if (resp.fd >= 0 && resp.file_length > 0 && resp.file_length <= kInlineFileBytes) {
    size_t len = static_cast<size_t>(resp.file_length);
    char* p = c->tx.tail(len);
    ssize_t n = p ? ::pread(resp.fd, p, len, static_cast<off_t>(resp.file_offset)) : -1;
    ::close(resp.fd);
    if (n != static_cast<ssize_t>(len)) {
      c->is_closing = true;  // the file changed under us; the framing cannot be kept
      return;
    }
    c->tx.commit(len);
  } else if (resp.fd >= 0 && resp.file_length > 0) {
    if (c->file.fd >= 0) ::close(c->file.fd);
    c->file = FileStream{resp.fd, resp.file_offset, resp.file_length};
    c->http.outstanding = true;  // completes once the file is sent (do_write)
    after_output(c);
    return;
  } else if (resp.fd >= 0) {
    ::close(resp.fd);
  }
  after_output(c);
  response_complete(c, false);
}

// Chunked transfer coding, RFC 9112 §7.1 (spec §6.2).
void Manager::http_chunk(Connection* c, std::string_view data) {
  if (data.empty()) {
    c->tx.append("0\r\n\r\n");  // last chunk, no trailers: the response is complete
    after_output(c);
    response_complete(c, false);
    return;
  }
  char size[24];
  char* end = std::to_chars(size, size + sizeof size, data.size(), 16).ptr;
  c->tx.append(size, static_cast<size_t>(end - size));
  c->tx.append("\r\n");
  c->tx.append(data);
  c->tx.append("\r\n");
  after_output(c);
}

// One Server-Sent Event per chunk, one data: line per line of data (D25).
void Manager::http_sse(Connection* c, std::string_view event_type, std::string_view data) {
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
  http_chunk(c, payload);
}

}  // namespace mg
