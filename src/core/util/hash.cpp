// Digests and HMAC via OpenSSL 3 EVP (spec §4 md5/sha1/sha256/hmac_sha256).
#include "mg/hash.hpp"

#include <openssl/evp.h>

namespace mg {
namespace {

// OpenSSL wants a valid pointer even for empty input.
const unsigned char kEmpty[1] = {0};

const unsigned char* bytes(std::string_view s) {
  return s.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

bool digest(const EVP_MD* md, std::string_view data, uint8_t* out, size_t want) {
  if (md == nullptr) return false;
  unsigned int len = 0;
  if (EVP_Digest(bytes(data), data.size(), out, &len, md, nullptr) != 1) return false;
  return len == want;
}

}  // namespace

bool md5(std::string_view data, uint8_t (&out)[kMd5Size]) noexcept { return digest(EVP_md5(), data, out, kMd5Size); }
bool sha1(std::string_view data, uint8_t (&out)[kSha1Size]) noexcept { return digest(EVP_sha1(), data, out, kSha1Size); }
bool sha256(std::string_view data, uint8_t (&out)[kSha256Size]) noexcept {
  return digest(EVP_sha256(), data, out, kSha256Size);
}

bool hmac_sha256(std::string_view key, std::string_view data, uint8_t (&out)[kSha256Size]) noexcept {
  size_t len = 0;
  unsigned char* r = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, bytes(key), key.size(), bytes(data),
                               data.size(), out, kSha256Size, &len);
  return r != nullptr && len == kSha256Size;
}

}  // namespace mg
