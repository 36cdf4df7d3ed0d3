// Message digests and HMAC through OpenSSL 3 (never hand-rolled). Raw digests, as hashlib.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mg {

constexpr size_t kMd5Size = 16, kSha1Size = 20, kSha256Size = 32;

// Each returns false only if OpenSSL cannot provide the algorithm (e.g. MD5 in a
// FIPS-only configuration) or fails internally; `out` is then unspecified.
bool md5(std::string_view data, uint8_t (&out)[kMd5Size]) noexcept;
bool sha1(std::string_view data, uint8_t (&out)[kSha1Size]) noexcept;
bool sha256(std::string_view data, uint8_t (&out)[kSha256Size]) noexcept;
// HMAC-SHA256 (RFC 2104); any key length (long keys are hashed first, as the RFC says).
bool hmac_sha256(std::string_view key, std::string_view data, uint8_t (&out)[kSha256Size]) noexcept;

}  // namespace mg
