// The fuzz targets' invariant check: prints the failed condition and aborts, so libFuzzer
// records the input as a crash (ASan/UBSan findings abort the same way).
#pragma once
#include <cstdlib>

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      __builtin_printf("invariant failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                          \
    }                                                                        \
  } while (0)
