// Base64 codec (RFC 4648 §4). Written for this project.
#include "mg/base64.hpp"

#include <array>
#include <cstdint>

namespace mg {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr uint8_t kInvalid = 0xFF;
constexpr uint8_t kPad = 0xFE;

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  t[static_cast<uint8_t>('=')] = kPad;
  return t;
}

constexpr std::array<uint8_t, 256> kTable = make_table();

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.resize((in.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  const size_t n = in.size();
  const size_t full = n - n % 4;
  out.reserve(full / 4 * 3);
  bool padded = false;  // a quartet with '=' was seen: nothing may follow
  for (size_t i = 0; i < full; i += 4) {
    if (padded) {
      out.clear();
      return false;
    }
    uint8_t c[4];
    for (int k = 0; k < 4; ++k) c[k] = kTable[static_cast<unsigned char>(in[i + k])];
    // Only the last one or two characters of a quartet may be padding, and a
    // padding character may only be followed by padding.
    if (c[0] >= 64 || c[1] >= 64 || c[2] == kInvalid || c[3] == kInvalid ||
        (c[2] == kPad && c[3] != kPad)) {
      out.clear();
      return false;
    }
    uint32_t v = (uint32_t{c[0]} << 18) | (uint32_t{c[1]} << 12);
    out.push_back(static_cast<char>(v >> 16));
    if (c[2] == kPad) {
      padded = true;
      continue;
    }
    v |= uint32_t{c[2]} << 6;
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (c[3] == kPad) {
      padded = true;
      continue;
    }
    v |= c[3];
    out.push_back(static_cast<char>(v & 0xFF));
  }
  // The trailing incomplete quartet is ignored, but its characters are checked.
  for (size_t i = full; i < n; ++i) {
    uint8_t c = kTable[static_cast<unsigned char>(in[i])];
    if (c == kInvalid || (padded && c != kPad)) {
      out.clear();
      return false;
    }
  }
  return true;
}

}  // namespace mg
