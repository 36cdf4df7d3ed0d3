#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "mg/net.hpp"

#include <cerrno>

namespace mg {

uint16_t Address::port() const {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return 0;
}

std::string Address::ip() const {
  char buf[64];
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    std::snprintf(buf, sizeof buf, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
                  a.s6_addr[0], a.s6_addr[1], a.s6_addr[2], a.s6_addr[3], a.s6_addr[4], a.s6_addr[5],
                  a.s6_addr[6], a.s6_addr[7], a.s6_addr[8], a.s6_addr[9], a.s6_addr[10], a.s6_addr[11],
                  a.s6_addr[12], a.s6_addr[13], a.s6_addr[14], a.s6_addr[15]);
    return buf;
  }
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
  }
  return "0.0.0.0";
}

namespace net {

namespace {

// One address family from its text form (no brackets); false if `text` is not one.
bool fill_v6(const std::string& text, uint16_t port, Address& out) {
  out = Address{};
  auto& a6 = reinterpret_cast<sockaddr_in6&>(out.ss);
  if (inet_pton(AF_INET6, text.c_str(), &a6.sin6_addr) != 1) return false;
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(port);
  out.len = sizeof(sockaddr_in6);
  return true;
}

bool fill_v4(const std::string& text, uint16_t port, Address& out) {
  out = Address{};
  auto& a4 = reinterpret_cast<sockaddr_in&>(out.ss);
  if (inet_pton(AF_INET, text.c_str(), &a4.sin_addr) != 1) return false;
  a4.sin_family = AF_INET;
  a4.sin_port = htons(port);
  out.len = sizeof(sockaddr_in);
  return true;
}

}  // namespace

bool parse_listen_host(std::string_view host, uint16_t port, Address& out) {
  out = Address{};
  std::string h(host);
  if (h.empty()) h = "0.0.0.0";
  if (h == "localhost") h = "127.0.0.1";
  if (h.front() == '[') {  // IPv6 must be bracketed in a listening URL
    if (h.size() < 3 || h.back() != ']') return false;
    return fill_v6(h.substr(1, h.size() - 2), port, out);
  }
  return fill_v4(h, port, out);
}

namespace {

// A non-blocking, close-on-exec socket of `type` bound to `addr` (SO_REUSEADDR, IPv6-only
// for IPv6); listening when it is a stream. -1 on error.
int bound_socket(const Address& addr, int type, Address& bound) {
  int fd = ::socket(addr.ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.is_v6()) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, SOMAXCONN) != 0)) {
    ::close(fd);
    return -1;
  }
  bound = Address{};
  bound.len = sizeof bound.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound.ss), &bound.len);
  return fd;
}

}  // namespace

int open_listener(const Address& addr, Address& bound) { return bound_socket(addr, SOCK_STREAM, bound); }

int accept_one(int lfd, Address& remote, Address& local) {
  remote = Address{};
  remote.len = sizeof remote.ss;
  int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&remote.ss), &remote.len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  local = Address{};
  local.len = sizeof local.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local.ss), &local.len);
  return fd;
}

bool literal_address(std::string_view host, uint16_t port, Address& out) {
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return fill_v6(h, port, out) || fill_v4(h, port, out);
}

int start_connect(const Address& remote, bool& done) {
  done = false;
  int fd = ::socket(remote.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&remote.ss), remote.len);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  done = rc == 0;
  return fd;
}

int finish_connect(int fd, Address& local) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return err;
  local = Address{};
  local.len = sizeof local.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local.ss), &local.len);
  return 0;
}

int open_udp_listener(const Address& addr, Address& bound) { return bound_socket(addr, SOCK_DGRAM, bound); }

int udp_connect(const Address& remote, Address& local) {
  int fd = ::socket(remote.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&remote.ss), remote.len) != 0) {
    ::close(fd);
    return -1;
  }
  local = Address{};
  local.len = sizeof local.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local.ss), &local.len);
  return fd;
}

}  // namespace net
}  // namespace mg
