// libFuzzer target: JSON path access (mg/json.hpp).
//
// Input layout: byte 0 = path length n (mod the input size); the next n bytes are the path
// (a '$' is prepended unless they start with one), the rest is the document, placed in an
// exact-size heap block so ASan sees any overread. Invariants: results are views inside
// the document; a found value is itself a valid document whose root is that same text;
// typed accessors agree with the raw text.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mg/json.hpp"

#include "check.hpp"

namespace json = mg::json;

static void check(std::string_view doc, std::string_view path) {
  auto raw = json::get(doc, path);
  auto str = json::get_string(doc, path);
  auto num = json::get_number(doc, path);
  auto lng = json::get_long(doc, path);
  auto bln = json::get_bool(doc, path);
  if (!raw) {
    CHECK(!str && !num && !lng && !bln);
    return;
  }
  CHECK(raw->data() >= doc.data() && raw->data() + raw->size() <= doc.data() + doc.size());
  CHECK(!raw->empty());
  auto self = json::get(*raw, "$");
  CHECK(self && self->data() == raw->data() && self->size() == raw->size());
  const char c = (*raw)[0];
  if (str) CHECK(c == '"');
  if (bln) CHECK(*raw == (*bln ? "true" : "false"));
  CHECK(num.has_value() == lng.has_value());
  if (num) {
    CHECK(c == '-' || (c >= '0' && c <= '9'));
    if (std::fabs(*num) < 9.0e15) CHECK(*lng == static_cast<int64_t>(std::trunc(*num)));
  }
  if (c == '"') {
    // A string either unescapes or holds an unpaired surrogate escape.
    if (!str) CHECK(raw->find("\\u") != std::string_view::npos);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t n = data[0] % size;
  std::string path(reinterpret_cast<const char*>(data + 1), n);
  if (path.empty() || path[0] != '$') path.insert(path.begin(), '$');
  size_t dlen = size - 1 - n;
  std::unique_ptr<char[]> doc(new char[dlen ? dlen : 1]);
  if (dlen) std::memcpy(doc.get(), data + 1 + n, dlen);
  std::string_view d(doc.get(), dlen);
  check(d, path);
  check(d, "$");
  // The first member / element of the root, whatever the path said.
  check(d, "$[0]");
  check(d, "$[1]");
  return 0;
}
