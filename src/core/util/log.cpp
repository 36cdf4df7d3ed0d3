// Engine logging: process-wide level, one write(2) per line to stderr (spec §2.3, §4).
#include "mg/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "mg/clock.hpp"

namespace mg {

namespace detail {
std::atomic<int> log_level{LL_NONE};
}

bool log_set_level(int level) noexcept {
  if (level < LL_NONE || level > LL_VERBOSE) return false;
  detail::log_level.store(level, std::memory_order_relaxed);
  return true;
}

const char* log_level_name(int level) noexcept {
  switch (level) {
    case LL_NONE: return "NONE";
    case LL_ERROR: return "ERROR";
    case LL_INFO: return "INFO";
    case LL_DEBUG: return "DEBUG";
    case LL_VERBOSE: return "VERBOSE";
    default: return "?";
  }
}

std::string log_format_line(uint64_t ms, int level, std::string_view component, std::string_view message) {
  std::string line = std::to_string(ms);
  line += ' ';
  line += log_level_name(level);
  line += ' ';
  line.append(component);
  line += ": ";
  line.append(message);
  return line;
}

void log_write(int level, std::string_view component, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  try {
    std::string line = log_format_line(monotonic_ms(), level, component, message);
    line += '\n';
    const char* p = line.data();
    size_t n = line.size();
    while (n > 0) {  // one write normally; loop only for short writes to a pipe
      ssize_t w = ::write(STDERR_FILENO, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return;  // nowhere to report a failing stderr
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  } catch (...) {
    // Out of memory while logging: drop the line rather than fail the caller.
  }
}

void log(int level, std::string_view component, const char* fmt, ...) noexcept {
  if (!log_enabled(level)) return;
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof small) {
    log_write(level, component, std::string_view(small, static_cast<size_t>(n)));
    return;
  }
  try {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    va_start(ap, fmt);
    std::vsnprintf(big.data(), big.size(), fmt, ap);
    va_end(ap);
    big.resize(static_cast<size_t>(n));
    log_write(level, component, big);
  } catch (...) {
  }
}

}  // namespace mg
