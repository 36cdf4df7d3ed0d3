#include "mg/resolver.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <thread>

namespace mg::net {

std::shared_ptr<Lookup> resolve_async(std::string host, uint16_t port) {
  auto job = std::make_shared<Lookup>();
  job->host = std::move(host);
  job->port = port;
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
  return job;
}

std::string lookup_error(const Lookup& l) {
  if (l.gai_error == EAI_NONAME || l.gai_error == EAI_NODATA || l.gai_error == EAI_FAIL)
    return l.host + " DNS lookup failed";
  return "DNS error";
}

}  // namespace mg::net
