// Host name resolution off the loop thread (spec §6.11): a lookup runs on a detached
// thread that shares only its Lookup record with the caller, so neither Manager.close()
// nor interpreter exit waits for a blocked getaddrinfo; a late result is simply dropped.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "mg/address.hpp"

namespace mg::net {

struct Lookup {
  std::string host;
  uint16_t port = 0;
  std::atomic<bool> done{false};  // result and gai_error are valid once set (acquire)
  Address result;
  int gai_error = 0;              // getaddrinfo's code; 0 with `result` on success
};

// Starts a lookup; throws std::system_error when no thread can be started.
std::shared_ptr<Lookup> resolve_async(std::string host, uint16_t port);

// The spec's error text for a finished lookup that failed.
std::string lookup_error(const Lookup& l);

}  // namespace mg::net
