// libFuzzer target: HTTP request-head parser, find_head_end and the chunked
// decoder on arbitrary bytes. Checks memory safety (ASan/UBSan) and invariants:
// views inside the input, head_len bounds, prefix consistency (a prefix is
// Incomplete or gives the same result), find_head_end agreement.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "mg/http_parser.hpp"

using namespace mg::http;

namespace {

#include "check.hpp"

bool inside(std::string_view v, const char* base, size_t len) {
  return v.empty() || (v.data() >= base && v.data() + v.size() <= base + len);
}

bool no_ctl(std::string_view v) {
  for (unsigned char c : v)
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  return true;
}

struct Outcome {
  ParseResult r;
  Request req;
};

Outcome run_parse(std::string_view in, const Limits& lim, std::vector<Header>& storage) {
  Outcome o;
  o.r = parse_request(in, o.req, storage, lim);
  CHECK(o.r.status == ParseStatus::Complete || o.r.status == ParseStatus::Incomplete ||
        o.r.status == ParseStatus::Error);
  if (o.r.status == ParseStatus::Error) {
    int s = o.r.http_status;
    CHECK(s == 400 || s == 414 || s == 431 || s == 501 || s == 505);
    CHECK(!o.r.error.empty());
  }
  if (o.r.status != ParseStatus::Complete) return o;

  const Request& q = o.req;
  CHECK(q.head_len > 0 && q.head_len <= in.size() && q.head_len <= lim.max_header_bytes);
  CHECK(q.num_headers <= lim.max_headers && q.num_headers <= storage.size());
  CHECK(find_head_end(in) == q.head_len);
  const char* b = in.data();
  CHECK(inside(q.method, b, q.head_len) && inside(q.uri, b, q.head_len) &&
        inside(q.query, b, q.head_len) && inside(q.proto, b, q.head_len));
  CHECK(is_token(q.method));
  CHECK(q.proto.size() == 8 && q.proto.substr(0, 7) == "HTTP/1.");
  CHECK(q.minor_version == 0 || q.minor_version == 1);
  size_t hosts = 0;
  for (size_t i = 0; i < q.num_headers; ++i) {
    const Header& h = q.headers[i];
    CHECK(inside(h.name, b, q.head_len) && inside(h.value, b, q.head_len));
    CHECK(is_token(h.name));
    CHECK(no_ctl(h.value));
    CHECK(h.value.empty() || (h.value.front() != ' ' && h.value.back() != ' ' &&
                              h.value.front() != '\t' && h.value.back() != '\t'));
    if (iequals(h.name, "host")) ++hosts;
  }
  CHECK(hosts <= 1 && (q.minor_version == 0 || hosts == 1));
  if (q.body_kind == BodyKind::Chunked) CHECK(find_header(q, "content-length") == nullptr);
  if (q.body_kind == BodyKind::None) CHECK(find_header(q, "content-length") == nullptr &&
                                           find_header(q, "transfer-encoding") == nullptr);
  return o;
}

void check_prefix_consistency(std::string_view in, size_t cut, const Limits& lim,
                              std::vector<Header>& storage, const Outcome& full) {
  if (cut > in.size()) return;
  // Place the prefix in its own exact-size allocation so ASan catches reads past it.
  std::vector<char> copy(in.begin(), in.begin() + cut);
  std::string_view pre(copy.data(), cut);
  Outcome p = run_parse(pre, lim, storage);
  if (p.r.status == ParseStatus::Incomplete) return;
  CHECK(p.r.status == full.r.status);
  CHECK(p.r.http_status == full.r.http_status);
  CHECK(p.r.error == full.r.error);
  if (p.r.status == ParseStatus::Complete) {
    CHECK(p.req.head_len == full.req.head_len);
    CHECK(p.req.num_headers == full.req.num_headers);
    CHECK(p.req.body_kind == full.req.body_kind);
    CHECK(p.req.content_length == full.req.content_length);
    CHECK(p.req.keep_alive == full.req.keep_alive);
  }
}

void fuzz_parser(std::string_view in, const Limits& lim) {
  std::vector<Header> storage(lim.max_headers);
  Outcome full = run_parse(in, lim, storage);
  if (full.r.status == ParseStatus::Complete) {
    // Re-parsing the exact head gives the same result.
    std::vector<Header> s2(lim.max_headers);
    Outcome again = run_parse(in.substr(0, full.req.head_len), lim, s2);
    CHECK(again.r.status == ParseStatus::Complete && again.req.head_len == full.req.head_len);
  }
  // A few prefixes: Incomplete or the same result.
  std::vector<Header> s3(lim.max_headers);
  check_prefix_consistency(in, in.size() / 2, lim, s3, full);
  check_prefix_consistency(in, in.size() ? in.size() - 1 : 0, lim, s3, full);
  if (in.size() > 3) check_prefix_consistency(in, (size_t(uint8_t(in[0])) * 7 + 3) % in.size(), lim, s3, full);
}

void fuzz_find_head_end(std::string_view in) {
  size_t whole = find_head_end(in);
  CHECK(whole <= in.size());
  // Incremental use with growing inputs must agree with the one-shot answer.
  size_t prev = 0, found = 0;
  size_t step = in.empty() ? 1 : 1 + uint8_t(in[0]) % 13;
  for (size_t k = 0; k <= in.size(); k += step) {
    found = find_head_end(in.substr(0, k), prev);
    if (found) break;
    prev = k;
  }
  if (!found) found = find_head_end(in, prev);
  CHECK(found == whole);
}

void fuzz_chunked(std::string_view in, const Limits& lim, uint64_t max_body) {
  // One-shot, in place.
  std::vector<char> buf(in.begin(), in.end());
  ChunkedDecoder st;
  ChunkedResult r = decode_chunked(st, buf.data(), buf.size(), buf.data(), lim, max_body);
  CHECK(r.consumed <= buf.size() && r.produced <= r.consumed);
  CHECK(st.body_size <= max_body);
  if (r.status == ParseStatus::Error) CHECK(!r.error.empty() && r.http_status != 0);
  // Two pieces, with the engine's memmove of the unconsumed tail: same outcome.
  size_t cut = in.empty() ? 0 : (size_t(uint8_t(in.back())) * 31) % (in.size() + 1);
  std::vector<char> b2(in.begin(), in.end());
  ChunkedDecoder st2;
  ChunkedResult a = decode_chunked(st2, b2.data(), cut, b2.data(), lim, max_body);
  CHECK(a.consumed <= cut && a.produced <= a.consumed);
  size_t produced = a.produced, consumed = a.consumed;
  ChunkedResult last = a;
  if (a.status == ParseStatus::Incomplete) {
    CHECK(a.consumed == cut);  // Incomplete always consumes everything it was given
    ChunkedResult c = decode_chunked(st2, b2.data() + cut, in.size() - cut, b2.data() + produced,
                                     lim, max_body);
    CHECK(c.produced <= c.consumed);
    produced += c.produced;
    consumed += c.consumed;
    last = c;
  }
  CHECK(last.status == r.status);
  CHECK(last.error == r.error);
  if (r.status != ParseStatus::Error) {
    CHECK(consumed == r.consumed && produced == r.produced);
    CHECK(produced == 0 || std::memcmp(b2.data(), buf.data(), produced) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Exact-size copy: libFuzzer's buffer is exact too, but be explicit about it.
  std::vector<char> owned(data, data + size);
  std::string_view in(owned.data(), owned.size());

  fuzz_parser(in, Limits{});
  Limits small;
  small.max_request_line = 40;
  small.max_header_bytes = 160;
  small.max_headers = 4;
  fuzz_parser(in, small);
  fuzz_find_head_end(in);
  fuzz_chunked(in, Limits{}, 3u << 20);
  fuzz_chunked(in, small, 64);
  return 0;
}
