// Host name resolution off the loop thread (spec §6.11): lookups run on a small pool of
// worker threads (at most kMaxResolverThreads for the whole process, never one per lookup)
// that share only the Lookup record with the caller, so neither Manager.close() nor
// interpreter exit waits for a blocked getaddrinfo; a late result is simply dropped.
// Idle workers exit after a while, so a process that stopped resolving keeps no threads.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mg/address.hpp"

namespace mg::net {

// Enough that a few lookups stuck in a silent resolver do not starve the rest.
inline constexpr int kMaxResolverThreads = 4;

struct Lookup {
  std::string host;
  uint16_t port = 0;
  std::atomic<bool> done{false};  // results and gai_error are valid once set (acquire)
  std::vector<Address> results;   // every address, in getaddrinfo's (RFC 6724) order
  int gai_error = 0;              // getaddrinfo's code; 0 with `results` on success
};

// Queues a lookup; throws std::system_error when no worker can be started and none runs.
std::shared_ptr<Lookup> resolve_async(std::string host, uint16_t port);

// The spec's error text for a finished lookup that failed.
std::string lookup_error(const Lookup& l);

// Workers alive now (for tests).
int resolver_threads();

}  // namespace mg::net
