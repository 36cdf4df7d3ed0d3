// Body framing of one HTTP message (RFC 9112 §6.3), shared by the server (requests) and
// the client (responses). Pure: works on the bytes after a parsed head, de-chunking in
// place.
#pragma once
#include <cstdint>
#include <string_view>

#include "mg/http_parser.hpp"

namespace mg::http {

struct BodyFraming {
  enum class Kind : uint8_t { None, Length, Chunked, UntilClose };
  Kind kind = Kind::None;
  uint64_t content_length = 0;
  ChunkedDecoder chunk;
  size_t chunk_raw = 0;     // raw chunked bytes consumed, from the start of the body
  uint64_t chunk_body = 0;  // decoded bytes, from the start of the body

  void start(Kind k, uint64_t length) {
    *this = BodyFraming{};
    kind = k;
    content_length = length;
  }
  // The `decoded` body bytes seen so far (BodyStep::body) were handed on and are about to
  // be removed from the buffer: forgets them and returns how many bytes after the head
  // the caller must remove (for chunked bodies the framing consumed with them). The next
  // step_body() then sees the rest of the body right after the head.
  size_t drop_decoded(size_t decoded);
};

struct BodyStep {
  ParseStatus status = ParseStatus::Incomplete;  // Complete: the whole message is here
  std::string_view body;  // the body so far (all of it once Complete)
  size_t msg_len = 0;     // bytes of head + raw body consumed so far
  int http_status = 0;    // on Error: 400/413/431
  std::string_view error; // on Error: the MG_EV_ERROR text
};

// Advances `f` over `avail` bytes at `base`, the first `head_len` of which are the head.
// An UntilClose body is never Complete here (it ends at EOF); above max_body it fails.
BodyStep step_body(BodyFraming& f, char* base, size_t avail, size_t head_len, const Limits& limits,
                   uint64_t max_body);

}  // namespace mg::http
