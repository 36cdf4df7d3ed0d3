// Outbound TCP connections: name resolution (spec §6.11) and non-blocking connect
// (spec §5.6 R3).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "mg/manager.hpp"
#include "mg/net.hpp"
#include "mg/url.hpp"

namespace mg {

namespace {
constexpr uint64_t kDnsTimeoutMs = 3000;

// Literal IPv4, bracketed or bare IPv6, or "localhost"; false for names needing DNS.
bool literal_address(std::string_view host, uint16_t port, Address& out) {
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  out = Address{};
  auto& a6 = reinterpret_cast<sockaddr_in6&>(out.ss);
  if (inet_pton(AF_INET6, h.c_str(), &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(port);
    out.len = sizeof(sockaddr_in6);
    return true;
  }
  auto& a4 = reinterpret_cast<sockaddr_in&>(out.ss);
  if (inet_pton(AF_INET, h.c_str(), &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    out.len = sizeof(sockaddr_in);
    return true;
  }
  return false;
}
}  // namespace

// A lookup runs on a detached thread that shares only this record with the manager, so
// neither close() nor interpreter exit waits for a blocked getaddrinfo; late results are
// simply dropped (spec §6.11).
struct Manager::ResolveJob {
  std::string host;
  uint16_t port = 0;
  uint64_t conn_id = 0;
  uint64_t deadline = 0;
  std::atomic<bool> done{false};
  Address result;
  int gai_error = 0;
};

Connection* Manager::connect(std::string_view url_text, bool http) {
  if (shut_down_ || !ok()) return nullptr;
  url::Parts parts = url::split(url_text);
  int port = url::port(url_text);
  if (parts.host.empty() || port < 0) return nullptr;
  now_ = monotonic_ms();
  Connection* c = new_connection();
  c->is_client = true;
  c->is_http = http;
  c->is_tls = url::is_ssl(url_text);
  c->local.ss.ss_family = AF_INET;  // ("0.0.0.0", 0) until connected
  emit(c, EV_OPEN);
  if (c->is_closed || c->is_closing) return c;
  Address addr;
  if (literal_address(parts.host, static_cast<uint16_t>(port), addr)) {
    c->remote = addr;
    emit(c, EV_RESOLVE);
    if (!c->is_closed && !c->is_closing) start_connect(c);
    return c;
  }
  auto job = std::make_shared<ResolveJob>();
  job->host = std::string(parts.host);
  job->port = static_cast<uint16_t>(port);
  job->conn_id = c->id;
  job->deadline = now_ + kDnsTimeoutMs;
  c->resolving = true;
  resolves_.push_back(job);
  try {
    std::thread([job] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int rc = getaddrinfo(job->host.c_str(), nullptr, &hints, &res);
      if (rc == 0 && res) {
        std::memcpy(&job->result.ss, res->ai_addr, res->ai_addrlen);
        job->result.len = res->ai_addrlen;
        if (res->ai_family == AF_INET)
          reinterpret_cast<sockaddr_in&>(job->result.ss).sin_port = htons(job->port);
        else
          reinterpret_cast<sockaddr_in6&>(job->result.ss).sin6_port = htons(job->port);
      }
      job->gai_error = rc == 0 && !res ? EAI_NONAME : rc;
      if (res) freeaddrinfo(res);
      job->done.store(true, std::memory_order_release);
    }).detach();
  } catch (...) {
    error(c, "DNS error");
  }
  return c;
}

void Manager::run_resolves() {
  for (size_t i = 0; i < resolves_.size();) {
    std::shared_ptr<ResolveJob> job = resolves_[i];
    bool done = job->done.load(std::memory_order_acquire);
    if (!done && now_ < job->deadline) {
      i++;
      continue;
    }
    resolves_.erase(resolves_.begin() + static_cast<long>(i));
    Connection* c = find(job->conn_id);
    if (!c || c->is_closed || c->is_closing || !c->resolving) continue;
    c->resolving = false;
    if (!done) {
      error(c, "DNS timeout");
    } else if (job->gai_error == EAI_NONAME || job->gai_error == EAI_NODATA || job->gai_error == EAI_FAIL) {
      error(c, job->host + " DNS lookup failed");
    } else if (job->gai_error != 0) {
      error(c, "DNS error");
    } else {
      c->remote = job->result;
      emit(c, EV_RESOLVE);
      if (!c->is_closed && !c->is_closing) start_connect(c);
    }
  }
}

void Manager::start_connect(Connection* c) {
  int fd = ::socket(c->remote.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error(c, "socket error");
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&c->remote.ss), c->remote.len);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    error(c, "socket error");
    return;
  }
  c->fd = fd;
  c->is_connecting = true;
  c->connect_done = rc == 0;  // still reported from the next poll (R3)
  c->connect_deadline = limits_.connect_timeout_ms ? now_ + limits_.connect_timeout_ms : 0;
  update_interest(c);
}

// Called when the socket of a connecting connection became writable (or failed).
void Manager::finish_connect(Connection* c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    error(c, "socket error");
    return;
  }
  c->is_connecting = false;
  c->connect_done = false;
  c->local = Address{};
  c->local.len = sizeof c->local.ss;
  getsockname(c->fd, reinterpret_cast<sockaddr*>(&c->local.ss), &c->local.len);
  c->idle_since = now_;
  update_interest(c);
  emit(c, EV_CONNECT);
}

}  // namespace mg
