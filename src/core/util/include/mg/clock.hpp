// The engine's clock: monotonic milliseconds (CLOCK_MONOTONIC).
#pragma once
#include <cstdint>

namespace mg {

uint64_t monotonic_ms();

}  // namespace mg
