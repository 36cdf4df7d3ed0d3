// Socket setup: address parsing and non-blocking listen/accept/connect (spec §3.1 URL rules).
#pragma once
#include <string_view>

#include "mg/address.hpp"

namespace mg::net {

// Literal IPv4, bracketed IPv6, empty (0.0.0.0) or "localhost" (127.0.0.1).
bool parse_listen_host(std::string_view host, uint16_t port, Address& out);
// Literal IPv4, bracketed or bare IPv6, or "localhost"; false for names needing DNS.
bool literal_address(std::string_view host, uint16_t port, Address& out);
// [ext] Listener options: SO_REUSEPORT (several processes share the port; the kernel
// spreads connections over their sockets) and the accept backlog (0: SOMAXCONN).
struct ListenOptions {
  bool reuse_port = false;
  int backlog = 0;
};
// Non-blocking, close-on-exec, SO_REUSEADDR listener (TCP or Unix-domain); -1 on error.
// A Unix-domain path left by a dead server (a socket nobody accepts on) is replaced.
int open_listener(const Address& addr, Address& bound, const ListenOptions& opts = {});
// Unix-domain address from a path; "@name" is Linux's abstract namespace. False if the
// path is empty or longer than sun_path.
bool unix_address(std::string_view path, Address& out);
// Takes over an inherited listening stream socket (systemd socket activation, a
// supervisor's socket): checks it listens, makes it non-blocking and close-on-exec and
// fills `bound`. The caller owns `fd` from then on. -1 (errno EBADF/ENOTSOCK/EINVAL) if it
// is not a listening stream socket.
int adopt_listener(int fd, Address& bound);
// Accepts one connection (non-blocking, close-on-exec, TCP_NODELAY); -1 with errno.
int accept_one(int lfd, Address& remote, Address& local);
// Non-blocking TCP connect (TCP_NODELAY). Returns the socket or -1; `done` is true when
// the connection completed at once.
int start_connect(const Address& remote, bool& done);
// Pending error of a connecting socket (0: connected); fills `local` on success.
int finish_connect(int fd, Address& local);
// Non-blocking, close-on-exec UDP socket bound to `addr` (a listener); -1 on error.
int open_udp_listener(const Address& addr, Address& bound, const ListenOptions& opts = {});
// Non-blocking UDP socket connected to `remote` (the kernel filters other senders);
// fills `local`; -1 on error.
int udp_connect(const Address& remote, Address& local);

}  // namespace mg::net
