// [ext] Listener options (src/core/net/socket.cpp, url::endpoint): SO_REUSEPORT, backlog,
// Unix-domain listeners and adopting an inherited listening socket.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "mg/net.hpp"
#include "mg/url.hpp"

using mg::Address;
namespace net = mg::net;
namespace url = mg::url;

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Address loopback(uint16_t port) {
  Address a;
  EXPECT_TRUE(net::parse_listen_host("127.0.0.1", port, a));
  return a;
}

// A fresh directory for socket files, removed with its content.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mg-listen-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

int connect_unix(const Address& a) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST(Endpoint, InetUrlsAreUnchanged) {
  url::Endpoint e = url::endpoint("http://127.0.0.1:8000");
  EXPECT_EQ(e.kind, url::EndpointKind::inet);
  EXPECT_EQ(e.scheme_url, "http://127.0.0.1:8000");
  EXPECT_EQ(url::endpoint("tcp://:0").kind, url::EndpointKind::inet);
  EXPECT_EQ(url::endpoint("no-scheme:80").kind, url::EndpointKind::inet);
}

TEST(Endpoint, UnixAndFdSuffixes) {
  url::Endpoint e = url::endpoint("http+unix:///run/app.sock");
  EXPECT_EQ(e.kind, url::EndpointKind::unix_path);
  EXPECT_EQ(e.target, "/run/app.sock");
  EXPECT_TRUE(url::is_http_scheme(e.scheme_url));
  EXPECT_FALSE(url::is_ssl(e.scheme_url));

  e = url::endpoint("HTTPS+UNIX://@abstract");
  EXPECT_EQ(e.kind, url::EndpointKind::unix_path);
  EXPECT_EQ(e.target, "@abstract");
  EXPECT_TRUE(url::is_ssl(e.scheme_url));

  e = url::endpoint("http+fd://3");
  EXPECT_EQ(e.kind, url::EndpointKind::fd);
  EXPECT_EQ(e.target, "3");
  EXPECT_TRUE(url::is_http_scheme(e.scheme_url));

  e = url::endpoint("unix:///tmp/raw.sock");  // bare: raw
  EXPECT_EQ(e.kind, url::EndpointKind::unix_path);
  EXPECT_FALSE(url::is_http_scheme(e.scheme_url));
  EXPECT_EQ(url::endpoint("fd://4").kind, url::EndpointKind::fd);
}

TEST(ReusePort, TwoListenersShareAPortOnlyWhenBothAsk) {
  Address bound1, bound2, bound3;
  net::ListenOptions reuse;
  reuse.reuse_port = true;
  Fd a(net::open_listener(loopback(0), bound1, reuse));
  ASSERT_GE(a.fd, 0);
  Fd b(net::open_listener(loopback(bound1.port()), bound2, reuse));
  ASSERT_GE(b.fd, 0) << "second SO_REUSEPORT listener on port " << bound1.port();
  EXPECT_EQ(bound2.port(), bound1.port());
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(getsockopt(b.fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
  EXPECT_EQ(on, 1);
  Fd c(net::open_listener(loopback(bound1.port()), bound3));  // without the option
  EXPECT_LT(c.fd, 0);
}

TEST(ReusePort, OffByDefault) {
  Address bound;
  Fd a(net::open_listener(loopback(0), bound));
  ASSERT_GE(a.fd, 0);
  int on = 1;
  socklen_t len = sizeof on;
  ASSERT_EQ(getsockopt(a.fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
  EXPECT_EQ(on, 0);
}

TEST(Backlog, SmallBacklogStillListens) {
  Address bound;
  net::ListenOptions opts;
  opts.backlog = 1;
  Fd a(net::open_listener(loopback(0), bound, opts));
  ASSERT_GE(a.fd, 0);
  int listening = 0;
  socklen_t len = sizeof listening;
  ASSERT_EQ(getsockopt(a.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0);
  EXPECT_EQ(listening, 1);
}

TEST(UnixListener, AcceptsAndNamesBothEnds) {
  TempDir dir;
  std::string path = dir.path + "/app.sock";
  Address addr, bound;
  ASSERT_TRUE(net::unix_address(path, addr));
  Fd l(net::open_listener(addr, bound));
  ASSERT_GE(l.fd, 0) << strerror(errno);
  EXPECT_TRUE(bound.is_unix());
  EXPECT_EQ(bound.ip(), path);
  EXPECT_EQ(bound.port(), 0);
  EXPECT_NE(fcntl(l.fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(l.fd, F_GETFD) & FD_CLOEXEC, 0);

  Fd client(connect_unix(addr));
  ASSERT_GE(client.fd, 0);
  Address remote, local;
  Fd accepted(net::accept_one(l.fd, remote, local));
  ASSERT_GE(accepted.fd, 0) << strerror(errno);
  EXPECT_EQ(remote.ip(), "");  // an unnamed client socket
  EXPECT_EQ(local.ip(), path);
  ASSERT_EQ(::write(client.fd, "x", 1), 1);
  char ch = 0;
  for (int i = 0; i < 1000 && ::read(accepted.fd, &ch, 1) != 1; i++) usleep(1000);
  EXPECT_EQ(ch, 'x');
}

TEST(UnixListener, StaleSocketFileIsReplacedLiveOneIsNot) {
  TempDir dir;
  std::string path = dir.path + "/app.sock";
  Address addr, bound;
  ASSERT_TRUE(net::unix_address(path, addr));
  {
    Fd first(net::open_listener(addr, bound));
    ASSERT_GE(first.fd, 0);
    Fd second(net::open_listener(addr, bound));  // someone listens: left alone
    EXPECT_LT(second.fd, 0);
    EXPECT_GE(connect_unix(addr), 0);
  }  // closed: the file stays, nobody accepts
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  Fd again(net::open_listener(addr, bound));
  EXPECT_GE(again.fd, 0) << "stale socket file not replaced";
}

TEST(UnixListener, RegularFileIsNeverRemoved) {
  TempDir dir;
  std::string path = dir.path + "/data.txt";
  Fd f(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_GE(f.fd, 0);
  Address addr, bound;
  ASSERT_TRUE(net::unix_address(path, addr));
  Fd l(net::open_listener(addr, bound));
  EXPECT_LT(l.fd, 0);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(UnixListener, AbstractNamespace) {
  std::string name = "@mg-test-" + std::to_string(::getpid());
  Address addr, bound;
  ASSERT_TRUE(net::unix_address(name, addr));
  Fd l(net::open_listener(addr, bound));
  ASSERT_GE(l.fd, 0);
  EXPECT_EQ(bound.ip(), name);
  Fd client(connect_unix(addr));
  EXPECT_GE(client.fd, 0);
}

TEST(UnixListener, BadPathsRejected) {
  Address addr;
  EXPECT_FALSE(net::unix_address("", addr));
  EXPECT_FALSE(net::unix_address("@", addr));
  EXPECT_FALSE(net::unix_address(std::string(200, 'a'), addr));
  EXPECT_FALSE(net::unix_address(std::string("a\0b", 3), addr));
}

TEST(AdoptListener, TakesAListeningSocket) {
  int raw = ::socket(AF_INET, SOCK_STREAM, 0);  // blocking, inheritable: as inherited
  ASSERT_GE(raw, 0);
  Fd owner(raw);
  Address a = loopback(0);
  ASSERT_EQ(::bind(raw, reinterpret_cast<const sockaddr*>(&a.ss), a.len), 0);
  ASSERT_EQ(::listen(raw, 16), 0);
  Address bound;
  ASSERT_EQ(net::adopt_listener(raw, bound), raw);
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(bound.ip(), "127.0.0.1");
  EXPECT_NE(fcntl(raw, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(raw, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(AdoptListener, RefusesWhatIsNotAListeningStreamSocket) {
  Address bound;
  Fd unbound(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  errno = 0;
  EXPECT_EQ(net::adopt_listener(unbound.fd, bound), -1);
  EXPECT_EQ(errno, EINVAL);
  Fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(net::adopt_listener(udp.fd, bound), -1);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]), w(p[1]);
  EXPECT_EQ(net::adopt_listener(r.fd, bound), -1);
  EXPECT_EQ(errno, ENOTSOCK);
  EXPECT_EQ(net::adopt_listener(987654, bound), -1);
  EXPECT_EQ(errno, EBADF);
}
