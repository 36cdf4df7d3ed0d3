// Tests for src/core/net/socket.cpp: listen host parsing (spec §3.1), listener setup,
// accept, and Address formatting (spec §3.2).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "mg/net.hpp"

using mg::Address;
namespace net = mg::net;

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Address v4(const char* ip, uint16_t port) {
  Address a;
  auto& s = reinterpret_cast<sockaddr_in&>(a.ss);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  inet_pton(AF_INET, ip, &s.sin_addr);
  a.len = sizeof(sockaddr_in);
  return a;
}

Address v6(const char* ip, uint16_t port) {
  Address a;
  auto& s = reinterpret_cast<sockaddr_in6&>(a.ss);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, ip, &s.sin6_addr), 1) << ip;
  a.len = sizeof(sockaddr_in6);
  return a;
}

bool ipv6_loopback_available() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  Address a = v6("::1", 0);
  bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) == 0;
  ::close(fd);
  return ok;
}

// Blocking client connected to `to`, with 2 s timeouts.
int connect_to(const Address& to) {
  int fd = ::socket(to.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to.ss), to.len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Accepts with a bounded wait for readiness of the listening socket.
int accept_ready(int lfd, Address& remote, Address& local) {
  pollfd p{lfd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return -1;
  return net::accept_one(lfd, remote, local);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

}  // namespace

// ---- parse_listen_host --------------------------------------------------------------------

TEST(ParseListenHost, Ipv4Literal) {
  Address a;
  ASSERT_TRUE(net::parse_listen_host("127.0.0.1", 8000, a));
  EXPECT_EQ(a.ss.ss_family, AF_INET);
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.len, sizeof(sockaddr_in));
  EXPECT_EQ(a.port(), 8000);
  EXPECT_EQ(a.ip(), "127.0.0.1");

  ASSERT_TRUE(net::parse_listen_host("10.1.2.3", 0, a));
  EXPECT_EQ(a.ip(), "10.1.2.3");
  EXPECT_EQ(a.port(), 0);
}

TEST(ParseListenHost, BracketedIpv6) {
  Address a;
  ASSERT_TRUE(net::parse_listen_host("[::1]", 65535, a));
  EXPECT_TRUE(a.is_v6());
  EXPECT_EQ(a.len, sizeof(sockaddr_in6));
  EXPECT_EQ(a.port(), 65535);
  EXPECT_EQ(a.ip(), "0000:0000:0000:0000:0000:0000:0000:0001");

  ASSERT_TRUE(net::parse_listen_host("[::]", 1, a));
  EXPECT_EQ(a.ip(), "0000:0000:0000:0000:0000:0000:0000:0000");
  ASSERT_TRUE(net::parse_listen_host("[::ffff:1.2.3.4]", 1, a));
  EXPECT_TRUE(a.is_v6());
  EXPECT_EQ(a.ip(), "0000:0000:0000:0000:0000:ffff:0102:0304");
}

TEST(ParseListenHost, EmptyIsAnyAddress) {
  Address a;
  ASSERT_TRUE(net::parse_listen_host("", 80, a));
  EXPECT_EQ(a.ss.ss_family, AF_INET);
  EXPECT_EQ(a.ip(), "0.0.0.0");
  EXPECT_EQ(a.port(), 80);
}

TEST(ParseListenHost, LocalhostIsLoopback) {
  Address a;
  ASSERT_TRUE(net::parse_listen_host("localhost", 1234, a));
  EXPECT_EQ(a.ss.ss_family, AF_INET);
  EXPECT_EQ(a.ip(), "127.0.0.1");
  EXPECT_EQ(a.port(), 1234);
}

TEST(ParseListenHost, NamesAndMalformedRejected) {
  for (const char* h : {"example.com", "localhost.localdomain", "my-host", "::1", "[::1",
                        "::1]", "[]", "[1.2.3.4]", "[::1]x", "1.2.3", "256.1.1.1",
                        "1.2.3.4.5", "127.0.0.1 ", " 127.0.0.1", "[::g]", "0x7f.1", "*"}) {
    Address a;
    EXPECT_FALSE(net::parse_listen_host(h, 80, a)) << h;
  }
}

// ---- open_listener ------------------------------------------------------------------------

TEST(OpenListener, PortZeroGivesRealPort) {
  Address bound;
  Fd l(net::open_listener(v4("127.0.0.1", 0), bound));
  ASSERT_GE(l.fd, 0);
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(bound.port(), local_port(l.fd));
  EXPECT_EQ(bound.ip(), "127.0.0.1");
  EXPECT_EQ(bound.ss.ss_family, AF_INET);
}

TEST(OpenListener, SocketOptions) {
  Address bound;
  Fd l(net::open_listener(v4("127.0.0.1", 0), bound));
  ASSERT_GE(l.fd, 0);
  EXPECT_TRUE(fcntl(l.fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &v, &len), 0);
  EXPECT_NE(v, 0);
  v = 0;
  len = sizeof v;
  ASSERT_EQ(getsockopt(l.fd, SOL_SOCKET, SO_REUSEPORT, &v, &len), 0);
  EXPECT_EQ(v, 0);  // SO_REUSEADDR, not SO_REUSEPORT (spec §3.1)
  v = 0;
  len = sizeof v;
  ASSERT_EQ(getsockopt(l.fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
  EXPECT_NE(v, 0);
}

TEST(OpenListener, PortInUseFails) {
  Address bound, bound2;
  Fd l(net::open_listener(v4("127.0.0.1", 0), bound));
  ASSERT_GE(l.fd, 0);
  int fd2 = net::open_listener(v4("127.0.0.1", bound.port()), bound2);
  EXPECT_EQ(fd2, -1);
  if (fd2 >= 0) ::close(fd2);
}

TEST(OpenListener, Ipv6Loopback) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  Address a, bound;
  ASSERT_TRUE(net::parse_listen_host("[::1]", 0, a));
  Fd l(net::open_listener(a, bound));
  ASSERT_GE(l.fd, 0);
  EXPECT_TRUE(bound.is_v6());
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(bound.ip(), "0000:0000:0000:0000:0000:0000:0000:0001");
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt(l.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), 0);
  EXPECT_NE(v, 0);

  Fd cl(connect_to(bound));
  ASSERT_GE(cl.fd, 0);
  Address remote, local;
  Fd s(accept_ready(l.fd, remote, local));
  ASSERT_GE(s.fd, 0);
  EXPECT_TRUE(remote.is_v6());
  EXPECT_EQ(remote.ip(), "0000:0000:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(remote.port(), local_port(cl.fd));
  EXPECT_EQ(local.port(), bound.port());
}

// ---- accept_one -----------------------------------------------------------------------------

TEST(AcceptOne, NothingPendingIsEagain) {
  Address bound, remote, local;
  Fd l(net::open_listener(v4("127.0.0.1", 0), bound));
  ASSERT_GE(l.fd, 0);
  errno = 0;
  EXPECT_EQ(net::accept_one(l.fd, remote, local), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
}

TEST(AcceptOne, SetsNodelayNonblockCloexecAndAddresses) {
  Address bound, remote, local;
  Fd l(net::open_listener(v4("127.0.0.1", 0), bound));
  ASSERT_GE(l.fd, 0);
  Fd cl(connect_to(bound));
  ASSERT_GE(cl.fd, 0);
  Fd s(accept_ready(l.fd, remote, local));
  ASSERT_GE(s.fd, 0);

  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  EXPECT_NE(v, 0);
  EXPECT_TRUE(fcntl(s.fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);

  EXPECT_EQ(remote.ss.ss_family, AF_INET);
  EXPECT_EQ(remote.len, sizeof(sockaddr_in));
  EXPECT_EQ(remote.ip(), "127.0.0.1");
  EXPECT_EQ(remote.port(), local_port(cl.fd));
  EXPECT_EQ(local.ip(), "127.0.0.1");
  EXPECT_EQ(local.port(), bound.port());

  // The accepted socket really is the peer of the client.
  ASSERT_EQ(::send(cl.fd, "ping", 4, 0), 4);
  pollfd p{s.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char buf[8];
  EXPECT_EQ(::recv(s.fd, buf, sizeof buf, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST(AcceptOne, AnyAddressListenerReportsConcreteLocalAddress) {
  Address a, bound, remote, local;
  ASSERT_TRUE(net::parse_listen_host("", 0, a));
  Fd l(net::open_listener(a, bound));
  ASSERT_GE(l.fd, 0);
  EXPECT_EQ(bound.ip(), "0.0.0.0");
  Fd cl(connect_to(v4("127.0.0.1", bound.port())));
  ASSERT_GE(cl.fd, 0);
  Fd s(accept_ready(l.fd, remote, local));
  ASSERT_GE(s.fd, 0);
  EXPECT_EQ(local.ip(), "127.0.0.1");
  EXPECT_EQ(local.port(), bound.port());
}

// ---- Address --------------------------------------------------------------------------------

TEST(AddressFormat, Ipv6EightFourDigitLowercaseGroups) {
  EXPECT_EQ(v6("::1", 0).ip(), "0000:0000:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(v6("2001:db8::ff00:42:8329", 0).ip(), "2001:0db8:0000:0000:0000:ff00:0042:8329");
  EXPECT_EQ(v6("FE80::ABCD:EF01", 0).ip(), "fe80:0000:0000:0000:0000:0000:abcd:ef01");
  EXPECT_EQ(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0).ip(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  EXPECT_EQ(v6("1:2:3:4:5:6:7:8", 0).ip(), "0001:0002:0003:0004:0005:0006:0007:0008");
  EXPECT_EQ(v6("::ffff:127.0.0.1", 0).ip(), "0000:0000:0000:0000:0000:ffff:7f00:0001");
  EXPECT_EQ(v6("::1", 0).ip().size(), 39u);
}

TEST(AddressFormat, Ipv4DottedQuad) {
  EXPECT_EQ(v4("0.0.0.0", 0).ip(), "0.0.0.0");
  EXPECT_EQ(v4("255.255.255.255", 0).ip(), "255.255.255.255");
}

TEST(AddressFormat, Ports) {
  EXPECT_EQ(v4("1.2.3.4", 0).port(), 0);
  EXPECT_EQ(v4("1.2.3.4", 80).port(), 80);
  EXPECT_EQ(v4("1.2.3.4", 65535).port(), 65535);
  EXPECT_EQ(v6("::1", 443).port(), 443);
  EXPECT_EQ(v6("::1", 65535).port(), 65535);
}

TEST(AddressFormat, UnsetAddress) {
  Address a;
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.ip(), "0.0.0.0");
}
