// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zlib.crc32.
#pragma once
#include <cstdint>
#include <string_view>

namespace mg {

// Continues the checksum `crc` (0 to start) over `data`; crc32(crc32(0, a), b) == crc32(0, a + b).
uint32_t crc32(uint32_t crc, std::string_view data) noexcept;

}  // namespace mg
