// libFuzzer target: base64 codec (mg/base64.hpp).
// The whole input is both the bytes to encode and the text to decode. Invariants:
// decode(encode(x)) == x; encode output sizes and alphabet; decoded size <= 3/4 of the
// input; failed decodes leave the output empty; canonical inputs re-encode to themselves
// (up to padding bits); decoding never reads past its input (exact-size heap copy).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mg/base64.hpp"

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) std::memcpy(buf.get(), data, size);
  std::string_view in(buf.get(), size);

  std::string enc = mg::base64_encode(in);
  CHECK(enc.size() == (size + 2) / 3 * 4);
  for (char c : enc)
    CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=');
  std::string dec;
  CHECK(mg::base64_decode(enc, dec));
  CHECK(dec == in);

  std::string out;
  if (mg::base64_decode(in, out)) {
    CHECK(out.size() <= size / 4 * 3);
    // Canonical inputs re-encode to themselves: the re-encoding of the full quartets may
    // differ only in the last data character (non-zero padding bits, e.g. "Zh==").
    std::string re = mg::base64_encode(out);
    std::string_view full = in.substr(0, size / 4 * 4);
    CHECK(re.size() == full.size());
    size_t last = full.find_last_not_of('=');
    for (size_t i = 0; i < re.size(); ++i)
      if (i != last) CHECK(re[i] == full[i]);
    std::string again;
    CHECK(mg::base64_decode(mg::base64_encode(out), again));
    CHECK(again == out);
  } else {
    CHECK(out.empty());
  }
  return 0;
}
