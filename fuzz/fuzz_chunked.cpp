// libFuzzer target: chunked decoder fed in many pieces, the way the engine does
// it (one buffer holding [decoded body][undecoded input], in-place decoding and
// a memmove of the unconsumed tail), compared with a one-shot decode; and the
// streamed-body path (step_body, then drop_decoded removing each decoded piece
// from the buffer, as http_stream_body does), compared with it too.
//
// Input layout: byte 0 selects limits and max_body, byte 1 the piece size
// pattern; the rest is the chunked body.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mg/http_body.hpp"
#include "mg/http_parser.hpp"

using namespace mg::http;

#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t cfg = data[0], pieces = data[1];
  data += 2;
  size -= 2;

  Limits lim;
  uint64_t max_body = UINT64_MAX;
  if (cfg & 1) {
    lim.max_request_line = 4 + (cfg >> 4);
    lim.max_header_bytes = 8 + (cfg >> 2) * 2;
  }
  if (cfg & 2) max_body = (cfg >> 2) * 5;

  // One shot, in an exact-size buffer.
  std::vector<char> one(data, data + size);
  ChunkedDecoder st1;
  ChunkedResult r1 = decode_chunked(st1, one.data(), one.size(), one.data(), lim, max_body);
  CHECK(r1.consumed <= size && r1.produced <= r1.consumed);
  CHECK(st1.body_size <= max_body);
  if (r1.status == ParseStatus::Error) {
    CHECK(r1.error == "Invalid chunk" || r1.error == "MG_MAX_RECV_SIZE" ||
          r1.error == "HTTP header limit exceeded");
    CHECK(r1.http_status == 400 || r1.http_status == 413 || r1.http_status == 431);
  }

  // Many pieces through an engine-like buffer. Each call gets a fresh
  // exact-size allocation so a read past the pending bytes is caught.
  std::vector<char> decoded;
  std::vector<char> pending;
  ChunkedDecoder st;
  ChunkedResult last{};
  size_t fed = 0, consumed_total = 0;
  unsigned step_seed = pieces;
  while (true) {
    size_t step = 1 + (step_seed % 17);
    step_seed = step_seed * 33 + 7;
    size_t take = std::min(step, size - fed);
    pending.insert(pending.end(), data + fed, data + fed + take);
    fed += take;
    // Buffer = [decoded][pending]; decode pending in place right after `decoded`.
    std::vector<char> buf(decoded.size() + pending.size());
    if (!decoded.empty()) std::memcpy(buf.data(), decoded.data(), decoded.size());
    if (!pending.empty()) std::memcpy(buf.data() + decoded.size(), pending.data(), pending.size());
    char* raw = buf.data() + decoded.size();
    last = decode_chunked(st, raw, pending.size(), raw, lim, max_body);
    CHECK(last.consumed <= pending.size() && last.produced <= last.consumed);
    // Unconsumed bytes are untouched.
    if (pending.size() > last.consumed)
      CHECK(std::memcmp(raw + last.consumed, pending.data() + last.consumed,
                        pending.size() - last.consumed) == 0);
    decoded.insert(decoded.end(), raw, raw + last.produced);
    pending.erase(pending.begin(), pending.begin() + last.consumed);
    consumed_total += last.consumed;
    if (last.status != ParseStatus::Incomplete) break;
    CHECK(pending.empty());
    if (fed == size) break;
  }
  CHECK(last.status == r1.status);
  CHECK(last.error == r1.error);
  if (r1.status != ParseStatus::Error) {
    CHECK(consumed_total == r1.consumed);
    CHECK(decoded.size() == r1.produced);
    CHECK(decoded.empty() || std::memcmp(decoded.data(), one.data(), decoded.size()) == 0);
    CHECK(st.body_size == st1.body_size);
  }

  // Streamed: BodyFraming over a buffer holding only what is not handed on yet; each
  // step's decoded bytes are handed on and dropped (drop_decoded + erase).
  std::vector<char> held;
  std::vector<char> streamed;
  BodyFraming f;
  f.start(BodyFraming::Kind::Chunked, 0);
  BodyStep bs{};
  size_t dropped = 0;
  fed = 0;
  step_seed = pieces ^ 0x5a;
  while (true) {
    size_t step = 1 + (step_seed % 23);
    step_seed = step_seed * 33 + 7;
    size_t take = std::min(step, size - fed);
    held.insert(held.end(), data + fed, data + fed + take);
    fed += take;
    std::vector<char> buf(held.begin(), held.end());  // exact size: overreads are caught
    bs = step_body(f, buf.data(), buf.size(), 0, lim, max_body);
    if (bs.status == ParseStatus::Error) break;
    CHECK(bs.msg_len <= buf.size() && bs.body.size() <= bs.msg_len);
    streamed.insert(streamed.end(), bs.body.begin(), bs.body.end());
    size_t removed = f.drop_decoded(bs.body.size());
    CHECK(removed <= bs.msg_len);
    held.assign(buf.begin() + static_cast<long>(removed), buf.end());
    dropped += removed;
    if (bs.status == ParseStatus::Complete) {
      CHECK(dropped + (bs.msg_len - removed) == r1.consumed);
      break;
    }
    if (fed == size) break;
  }
  if (r1.status == ParseStatus::Complete) CHECK(bs.status == ParseStatus::Complete);
  if (r1.status == ParseStatus::Error) CHECK(bs.status == ParseStatus::Error && bs.error == r1.error);
  if (r1.status != ParseStatus::Error) {
    CHECK(streamed.size() == r1.produced);
    CHECK(streamed.empty() || std::memcmp(streamed.data(), one.data(), streamed.size()) == 0);
  }
  return 0;
}
