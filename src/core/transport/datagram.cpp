#include "mg/datagram.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace mg {

namespace {
constexpr size_t kMaxDatagram = 65536;
}  // namespace

ReadResult DatagramSocket::read(Buffer& rx, size_t) {
  ReadResult r;
  more_ = false;
  char* p = rx.tail(kMaxDatagram);
  if (!p) {
    r.oom = true;
    return r;
  }
  for (;;) {
    Address from;
    from.len = sizeof from.ss;
    ssize_t n = ::recvfrom(fd_, p, kMaxDatagram, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from.ss), &from.len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return r;  // EAGAIN, or a queued ICMP error (ECONNREFUSED): no datagram, no EOF
    size_t got = static_cast<size_t>(n) > kMaxDatagram ? kMaxDatagram : static_cast<size_t>(n);
    rx.commit(got);
    r.bytes = got;
    sender_ = from;
    more_ = true;
    // An empty datagram is a datagram too: the loop sees it through input_pending.
    return r;
  }
}

FlushResult DatagramSocket::flush() {
  tx_.clear();  // a send() on a UDP connection never queues
  return FlushResult{};
}

bool DatagramSocket::send(const void* data, size_t len, const Address* to) {
  for (;;) {
    ssize_t n = to ? ::sendto(fd_, data, len, MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to->ss), to->len)
                   : ::send(fd_, data, len, MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;  // a full socket buffer loses the datagram
  }
}

}  // namespace mg
