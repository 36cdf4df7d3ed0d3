// Engine logging (spec §2.3, §4 log_set/log_get). One process-wide level; lines go to
// stderr (never stdout) as `<millis> <LEVEL> <component>: <message>`, one write(2) each.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace mg {

enum LogLevel : int { LL_NONE = 0, LL_ERROR = 1, LL_INFO = 2, LL_DEBUG = 3, LL_VERBOSE = 4 };

namespace detail {
extern std::atomic<int> log_level;
}

// Current level; LL_NONE at start-up: nothing is written unless the program opts in.
inline int log_level() noexcept { return detail::log_level.load(std::memory_order_relaxed); }
// Sets the level; false (level unchanged) outside LL_NONE..LL_VERBOSE.
bool log_set_level(int level) noexcept;
// True if a message of `level` (LL_ERROR..LL_VERBOSE) would be written.
inline bool log_enabled(int level) noexcept { return level > LL_NONE && level <= log_level(); }

// "ERROR", "INFO", "DEBUG", "VERBOSE"; "NONE" for 0, "?" otherwise.
const char* log_level_name(int level) noexcept;

// The line without the trailing newline: "<ms> <LEVEL> <component>: <message>".
std::string log_format_line(uint64_t ms, int level, std::string_view component, std::string_view message);

// Writes one line for an already formatted message if `level` is enabled.
void log_write(int level, std::string_view component, std::string_view message) noexcept;

// printf-style logging. `fmt` must be a literal written in the engine (user text is never
// a format string: pass it as an argument, "%s" / "%.*s"). Arguments are not formatted
// when the level is disabled; prefer MG_LOG, which does not even evaluate them.
void log(int level, std::string_view component, const char* fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));

}  // namespace mg

// MG_LOG(mg::LL_DEBUG, "http", "bad request from %s", addr) — arguments evaluated only
// when the level is enabled.
#define MG_LOG(level, component, ...)                         \
  do {                                                        \
    if (::mg::log_enabled(level)) ::mg::log((level), (component), __VA_ARGS__); \
  } while (0)
