// libFuzzer target: HTTP response-head parser (client side) on arbitrary bytes,
// with default and tiny limits, as a response to GET and to HEAD. Checks memory
// safety (ASan/UBSan) and invariants: views inside the head, head_len bounds,
// find_head_end agreement, the framing rules of RFC 9112 §6.3, and prefix
// consistency (a prefix is Incomplete or gives the same result as the whole).
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

const Header* find(const Response& r, std::string_view name) {
  for (size_t i = 0; i < r.num_headers; ++i)
    if (iequals(r.headers[i].name, name)) return &r.headers[i];
  return nullptr;
}

struct Outcome {
  ParseResult r;
  Response resp;
};

Outcome run_parse(std::string_view in, const Limits& lim, bool head, std::vector<Header>& storage) {
  Outcome o;
  o.r = parse_response(in, o.resp, storage, lim, head);
  if (o.r.status == ParseStatus::Error) {
    int s = o.r.http_status;
    CHECK(s == 400 || s == 431 || s == 501 || s == 505);
    CHECK(!o.r.error.empty());
  }
  if (o.r.status != ParseStatus::Complete) return o;

  const Response& q = o.resp;
  CHECK(q.head_len > 0 && q.head_len <= in.size() && q.head_len <= lim.max_header_bytes);
  CHECK(q.num_headers <= lim.max_headers && q.num_headers <= storage.size());
  CHECK(find_head_end(in) == q.head_len);
  const char* b = in.data();
  CHECK(inside(q.proto, b, q.head_len) && inside(q.status_text, b, q.head_len) &&
        inside(q.reason, b, q.head_len));
  CHECK(q.proto.size() == 8 && q.proto.substr(0, 7) == "HTTP/1.");
  CHECK(q.minor_version == (q.proto[7] == '0' ? 0 : 1));
  CHECK(q.status >= 100 && q.status <= 999 && q.status_text.size() == 3);
  CHECK((q.status_text[0] - '0') * 100 + (q.status_text[1] - '0') * 10 + (q.status_text[2] - '0') ==
        q.status);
  CHECK(no_ctl(q.reason));
  for (size_t i = 0; i < q.num_headers; ++i) {
    const Header& h = q.headers[i];
    CHECK(inside(h.name, b, q.head_len) && inside(h.value, b, q.head_len));
    CHECK(is_token(h.name));
    CHECK(no_ctl(h.value));
    CHECK(h.value.empty() || (h.value.front() != ' ' && h.value.back() != ' ' &&
                              h.value.front() != '\t' && h.value.back() != '\t'));
  }
  const bool no_body = head || q.status < 200 || q.status == 204 || q.status == 304;
  const Header* cl = find(q, "content-length");
  const Header* te = find(q, "transfer-encoding");
  switch (q.body_kind) {
    case ResponseBody::None:
      CHECK(no_body && q.content_length == 0);
      break;
    case ResponseBody::Chunked:
      CHECK(!no_body && cl == nullptr && te != nullptr && iequals(te->value, "chunked"));
      CHECK(q.minor_version == 1);
      break;
    case ResponseBody::ContentLength:
      CHECK(!no_body && cl != nullptr && te == nullptr);
      break;
    case ResponseBody::UntilClose:
      CHECK(!no_body && cl == nullptr && te == nullptr && !q.keep_alive);
      break;
  }
  return o;
}

void check_prefix(std::string_view in, size_t cut, const Limits& lim, bool head,
                  std::vector<Header>& storage, const Outcome& full) {
  if (cut > in.size()) return;
  std::vector<char> copy(in.begin(), in.begin() + cut);  // exact size: ASan sees overreads
  Outcome p = run_parse(std::string_view(copy.data(), cut), lim, head, storage);
  if (p.r.status == ParseStatus::Incomplete) return;
  CHECK(p.r.status == full.r.status);
  CHECK(p.r.http_status == full.r.http_status);
  CHECK(p.r.error == full.r.error);
  if (p.r.status == ParseStatus::Complete) {
    CHECK(p.resp.head_len == full.resp.head_len);
    CHECK(p.resp.num_headers == full.resp.num_headers);
    CHECK(p.resp.status == full.resp.status);
    CHECK(p.resp.reason == full.resp.reason.substr(0, p.resp.reason.size()) &&
          p.resp.reason.size() == full.resp.reason.size());
    CHECK(p.resp.body_kind == full.resp.body_kind);
    CHECK(p.resp.content_length == full.resp.content_length);
    CHECK(p.resp.keep_alive == full.resp.keep_alive);
  }
}

void fuzz_parser(std::string_view in, const Limits& lim, bool head) {
  std::vector<Header> storage(lim.max_headers);
  Outcome full = run_parse(in, lim, head, storage);
  if (full.r.status == ParseStatus::Complete) {
    std::vector<Header> s2(lim.max_headers);
    Outcome again = run_parse(in.substr(0, full.resp.head_len), lim, head, s2);
    CHECK(again.r.status == ParseStatus::Complete && again.resp.head_len == full.resp.head_len);
  }
  std::vector<Header> s3(lim.max_headers);
  check_prefix(in, in.size() / 2, lim, head, s3, full);
  check_prefix(in, in.size() ? in.size() - 1 : 0, lim, head, s3, full);
  if (in.size() > 3)
    check_prefix(in, (size_t(uint8_t(in[0])) * 7 + 3) % in.size(), lim, head, s3, full);
  if (in.size() > 5)
    check_prefix(in, (size_t(uint8_t(in[in.size() - 1])) * 13 + 5) % in.size(), lim, head, s3, full);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> owned(data, data + size);
  std::string_view in(owned.data(), owned.size());

  Limits small;
  small.max_request_line = 8;
  small.max_header_bytes = 160;
  small.max_headers = 4;
  for (bool head : {false, true}) {
    fuzz_parser(in, Limits{}, head);
    fuzz_parser(in, small, head);
  }
  return 0;
}
