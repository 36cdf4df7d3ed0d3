#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstddef>
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
  if (ss.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(ss);
    const size_t off = offsetof(sockaddr_un, sun_path);
    if (len <= off) return "";  // unnamed (a connecting peer)
    size_t n = len - off;
    if (un.sun_path[0] == '\0') return "@" + std::string(un.sun_path + 1, n - 1);  // abstract
    return std::string(un.sun_path, strnlen(un.sun_path, n));
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

// A path-named Unix socket left behind by a server that is gone (connecting is refused)
// is removed so the bind can succeed; a live one, or any other kind of file, is kept.
void remove_stale_unix_socket(const Address& addr) {
  const auto& un = reinterpret_cast<const sockaddr_un&>(addr.ss);
  if (un.sun_path[0] == '\0') return;  // abstract: vanishes with its last socket
  struct stat st;
  if (::lstat(un.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return;
  bool stale = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0 &&
               errno == ECONNREFUSED;
  ::close(probe);
  if (stale) ::unlink(un.sun_path);
}

// A non-blocking, close-on-exec socket of `type` bound to `addr` (SO_REUSEADDR, IPv6-only
// for IPv6, SO_REUSEPORT if asked); listening when it is a stream. -1 on error.
int bound_socket(const Address& addr, int type, Address& bound, const ListenOptions& opts) {
  int fd = ::socket(addr.ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (addr.is_unix()) {
    remove_stale_unix_socket(addr);
  } else {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ::close(fd);
      return -1;
    }
  }
  if (addr.is_v6()) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int backlog = opts.backlog > 0 ? opts.backlog : SOMAXCONN;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, backlog) != 0)) {
    ::close(fd);
    return -1;
  }
  bound = Address{};
  bound.len = sizeof bound.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound.ss), &bound.len);
  return fd;
}

}  // namespace

int open_listener(const Address& addr, Address& bound, const ListenOptions& opts) {
  return bound_socket(addr, SOCK_STREAM, bound, opts);
}

bool unix_address(std::string_view path, Address& out) {
  out = Address{};
  auto& un = reinterpret_cast<sockaddr_un&>(out.ss);
  if (path.empty() || path.size() >= sizeof un.sun_path || path.find('\0') != std::string_view::npos) return false;
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  size_t n = path.size();
  if (path.front() == '@') {
    if (n == 1) return false;
    un.sun_path[0] = '\0';  // abstract name: no terminating NUL, the length says where it ends
  } else {
    un.sun_path[n++] = '\0';
  }
  out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  return true;
}

int adopt_listener(int fd, Address& bound) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -1;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return -1;
  if (type != SOCK_STREAM || !listening) {
    errno = EINVAL;
    return -1;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
  bound = Address{};
  bound.len = sizeof bound.ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound.ss), &bound.len);
  return fd;
}

int accept_one(int lfd, Address& remote, Address& local) {
  remote = Address{};
  remote.len = sizeof remote.ss;
  int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&remote.ss), &remote.len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return -1;
  int one = 1;
  if (remote.ss.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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

int open_udp_listener(const Address& addr, Address& bound, const ListenOptions& opts) {
  return bound_socket(addr, SOCK_DGRAM, bound, opts);
}

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
