// libFuzzer target: sntp::parse_reply (mg/sntp.hpp) on arbitrary datagrams.
// Invariants: a reply is valid only at 48 bytes or more with mode 4/5, stratum != 0 and
// version 3/4; the time of a valid reply does not depend on bytes other than 0, 1 and
// 40-47 (checked by zeroing the rest); a request we encode is never a valid reply.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "mg/sntp.hpp"

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  for (size_t i = 0; i < size; i++) buf[i] = static_cast<char>(data[i]);
  std::string_view in(buf.get(), size);
  int64_t ms = 0;
  bool ok = mg::sntp::parse_reply(in, ms);
  if (size < 48) CHECK(!ok);
  if (ok) {
    const int mode = data[0] & 7, version = (data[0] >> 3) & 7;
    CHECK((mode == 4 || mode == 5) && data[1] != 0 && (version == 3 || version == 4));
    std::string only(48, '\0');
    only[0] = in[0];
    only[1] = in[1];
    for (int i = 40; i < 48; i++) only[i] = in[i];
    int64_t again = 0;
    CHECK(mg::sntp::parse_reply(only, again) && again == ms);
  }
  char req[mg::sntp::kMessageSize];
  mg::sntp::encode_request(static_cast<uint64_t>(ms < 0 ? -ms : ms) % 4102444800000ULL, req);
  int64_t dummy;
  CHECK(!mg::sntp::parse_reply(std::string_view(req, sizeof req), dummy));
  return 0;
}
