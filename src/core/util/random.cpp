#include "mg/random.hpp"

#include <sys/random.h>

#include <cerrno>

namespace mg {

bool random_fill(void* out, size_t len) {
  auto* p = static_cast<unsigned char*>(out);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool random_alnum(char* out, size_t len) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr unsigned kN = sizeof kChars - 1;          // 62
  constexpr unsigned kLimit = 256 / kN * kN;           // 248: bytes below it map uniformly
  unsigned char pool[256];
  size_t have = 0, used = 0;
  for (size_t i = 0; i < len;) {
    if (used == have) {
      // About 3% of bytes are rejected; ask for a little more than what is left.
      size_t want = len - i + (len - i) / 16 + 8;
      have = want < sizeof pool ? want : sizeof pool;
      used = 0;
      if (!random_fill(pool, have)) return false;
    }
    unsigned char b = pool[used++];
    if (b < kLimit) out[i++] = kChars[b % kN];
  }
  return true;
}

}  // namespace mg
