// Socket addresses (IPv4 and IPv6) as the engine stores them.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace mg {

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool is_v6() const { return ss.ss_family == AF_INET6; }
  uint16_t port() const;
  bool is_unix() const { return ss.ss_family == AF_UNIX; }
  // IPv4 dotted quad, or IPv6 as eight 4-digit lowercase groups (spec §3.2); [ext] a
  // Unix-domain socket's path ("@name" when abstract, "" when unnamed, as peers are).
  std::string ip() const;
};

}  // namespace mg
