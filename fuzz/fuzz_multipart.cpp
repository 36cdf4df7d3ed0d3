// libFuzzer target: multipart/form-data parts (mg/multipart.hpp).
//
// Input layout: bytes 0-1 = an extra start offset (little endian) tried besides 0; the rest
// is the body, in an exact-size heap block. Invariants: offsets strictly increase and stay
// inside the body; every view is inside the body; the returned offset points at the
// delimiter "--<b>" and is preceded by CRLF; a part body never contains "\r\n--<b>".
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mg/multipart.hpp"

#include "check.hpp"

using mg::http::MultipartPart;

static bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

static void walk(std::string_view body, size_t off) {
  MultipartPart p;
  for (int guard = 0; guard < 100000; ++guard) {
    size_t next = mg::http::parse_multipart(body, off, p);
    if (next == 0) {
      CHECK(p.name.empty() && p.filename.empty() && p.body.empty() && p.headers.empty());
      return;
    }
    CHECK(next > off && next < body.size());
    CHECK(next >= 2 && body.substr(next - 2, 4) == "\r\n--");
    for (std::string_view v : {p.name, p.filename, p.headers, p.body}) CHECK(inside(v, body));
    CHECK(p.body.empty() || p.body.data() + p.body.size() == body.data() + next - 2);
    // The delimiter "--<b>" is the first non-empty line of the body.
    size_t start = 0;
    while (body.substr(start, 2) == "\r\n") start += 2;
    std::string delim = "\r\n" + std::string(body.substr(start, body.find("\r\n", start) - start));
    CHECK(body.substr(next - 2, delim.size()) == delim);
    CHECK(p.body.find(delim) == std::string_view::npos);
    off = next;
  }
  CHECK(false);  // offsets strictly increase, so the walk must end
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t extra = data[0] | (size_t{data[1]} << 8);
  data += 2;
  size -= 2;
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) std::memcpy(buf.get(), data, size);
  std::string_view body(buf.get(), size);
  walk(body, 0);
  walk(body, extra);
  walk(body, extra % (size + 1));
  return 0;
}
