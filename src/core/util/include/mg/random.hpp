// Cryptographically secure random bytes from the OS (spec §8.7: WebSocket keys and
// masks, MQTT client ids, random_bytes/random_str).
#pragma once
#include <cstddef>

namespace mg {

// Fills `len` bytes; false if the OS CSPRNG failed.
bool random_fill(void* out, size_t len);

// Fills `len` characters drawn uniformly from [A-Za-z0-9] (rejection sampling, no
// modulo bias); false if the OS CSPRNG failed.
bool random_alnum(char* out, size_t len);

}  // namespace mg
