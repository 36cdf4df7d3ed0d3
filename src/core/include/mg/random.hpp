// Cryptographically secure random bytes from the OS (spec §8.7: WebSocket keys and
// masks, MQTT client ids, random_bytes/random_str).
#pragma once
#include <cstddef>

namespace mg {

// Fills `len` bytes; false if the OS CSPRNG failed.
bool random_fill(void* out, size_t len);

}  // namespace mg
