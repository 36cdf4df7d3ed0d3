// Outbound stream connections: name resolution (spec §6.11) and non-blocking connect
// (spec §5.6 R3).
#include <sys/epoll.h>
#include <unistd.h>

#include "mg/datagram.hpp"
#include "mg/manager.hpp"
#include "mg/net.hpp"
#include "mg/resolver.hpp"
#include "mg/url.hpp"

namespace mg {

namespace {
constexpr uint64_t kDnsTimeoutMs = 3000;
}  // namespace

Connection* Manager::connect(std::string_view url_text, bool http, std::unique_ptr<Driver> driver, bool udp,
                             uint16_t default_port) {
  if (shut_down_ || !ok() || forked()) return nullptr;
  udp = udp || url::scheme_is(url_text, "udp");
  url::Parts parts = url::split(url_text);
  int port = url::port(url_text);
  if (parts.host.empty() || port < 0) return nullptr;
  if (port == 0 && default_port) port = default_port;
  now_ = monotonic_ms();
  Connection* c = new_connection();
  if (udp) {
    c->io = std::make_unique<DatagramSocket>(&pool_);
    c->is_udp = true;
    http = false;
  }
  c->is_client = true;
  c->is_http = http;
  c->is_tls = c->tls_scheme = url::is_ssl(url_text);
  c->peer_name = std::string(parts.host);
  c->driver = std::move(driver);
  c->local.ss.ss_family = AF_INET;  // ("0.0.0.0", 0) until connected
  emit(c, EV_OPEN);
  if (c->is_closed || c->is_closing) return c;
  Address addr;
  if (net::literal_address(parts.host, static_cast<uint16_t>(port), addr)) {
    c->remote = addr;
    emit(c, EV_RESOLVE);
    if (!c->is_closed && !c->is_closing) start_connect(c);
    return c;
  }
  try {
    resolves_.emplace_back(c->id, net::resolve_async(std::string(parts.host), static_cast<uint16_t>(port)));
    c->resolving = true;
    c->connect_deadline = now_ + kDnsTimeoutMs;
  } catch (...) {
    error(c, "DNS error");
  }
  return c;
}

void Manager::run_resolves() {
  for (size_t i = 0; i < resolves_.size();) {
    auto [id, job] = resolves_[i];
    bool done = job->done.load(std::memory_order_acquire);
    Connection* c = find(id);
    if (!done && c && !c->is_closed && now_ < c->connect_deadline) {
      i++;
      continue;
    }
    resolves_.erase(resolves_.begin() + static_cast<long>(i));
    if (!c || c->is_closed || c->is_closing || !c->resolving) continue;
    c->resolving = false;
    c->connect_deadline = 0;
    if (!done) {
      error(c, "DNS timeout");
    } else if (job->gai_error != 0) {
      error(c, net::lookup_error(*job));
    } else {
      // Every address in order: a refused one falls back to the next (spec §6.11).
      c->remote = job->results.front();
      c->next_addresses.assign(job->results.begin() + 1, job->results.end());
      emit(c, EV_RESOLVE);
      if (!c->is_closed && !c->is_closing) start_connect(c);
    }
  }
}

void Manager::start_connect(Connection* c) {
  if (c->is_udp) {
    // UDP "connects" at once: the kernel only records the peer (spec §5.6 R3).
    int fd = net::udp_connect(c->remote, c->local);
    if (fd < 0) {
      error(c, "socket error");
      return;
    }
    c->fd = fd;
    c->io->attach(fd);
    c->idle_since = now_;
    update_interest(c);
    schedule(c);
    connected(c);
    // Datagrams sent while the host was resolving, one by one.
    for (const std::string& d : static_cast<DatagramSocket*>(c->io.get())->take_held())
      if (!c->is_closed) send(c, d.data(), d.size());
    return;
  }
  bool done = false;
  int fd = net::start_connect(c->remote, done);
  while (fd < 0 && !c->next_addresses.empty()) {  // e.g. no IPv6 here: the next family
    c->remote = c->next_addresses.front();
    c->next_addresses.erase(c->next_addresses.begin());
    fd = net::start_connect(c->remote, done);
  }
  if (fd < 0) {
    error(c, "socket error");
    return;
  }
  c->fd = fd;
  c->io->attach(fd);
  c->is_connecting = true;
  c->connect_done = done;  // still reported from the next poll (R3)
  c->connect_deadline = limits_.connect_timeout_ms ? now_ + limits_.connect_timeout_ms : 0;
  update_interest(c);
  if (done) activate(c);
  schedule(c);
}

// Called when the socket of a connecting connection became writable (or failed).
void Manager::finish_connect(Connection* c) {
  if (net::finish_connect(c->fd, c->local) != 0) {
    if (!c->next_addresses.empty()) {
      // Next address of the name (another family, another host): a fresh socket.
      deregister(c);
      ::close(c->fd);
      c->fd = -1;
      c->io->attach(-1);
      c->is_connecting = false;
      c->remote = c->next_addresses.front();
      c->next_addresses.erase(c->next_addresses.begin());
      start_connect(c);
      return;
    }
    error(c, "socket error");
    return;
  }
  c->next_addresses.clear();
  c->is_connecting = false;
  c->connect_done = false;
  c->connect_deadline = 0;
  c->idle_since = now_;
  update_interest(c);
  arm_handshake_deadline(c);  // tls_init before CONNECT: the handshake starts now
  connected(c);
}

void Manager::connected(Connection* c) {
  emit(c, EV_CONNECT);
  // Spec §3.6: a TLS-scheme client that did not call tls_init in CONNECT starts TLS with
  // the defaults (system trust store, host name checked), never plaintext.
  if (!c->is_closed && !c->is_closing && c->tls_missing() && !c->is_udp)
    start_tls_client(c, tls::Context::get(tls::Role::Client, {}), "");
  if (!c->is_closed && !c->is_closing && c->driver) c->driver->on_connect(*c);
}

}  // namespace mg
