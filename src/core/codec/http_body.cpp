#include "mg/http_body.hpp"

#include <algorithm>

namespace mg::http {

size_t BodyFraming::drop_decoded(size_t decoded) {
  switch (kind) {
    case Kind::Length:
      content_length -= std::min<uint64_t>(decoded, content_length);
      return decoded;
    case Kind::Chunked: {
      // Everything before chunk_raw is decoded output or spent framing; what follows is
      // raw input not decoded yet.
      const size_t raw = chunk_raw;
      chunk_raw = 0;
      chunk_body = 0;
      return raw;
    }
    case Kind::UntilClose:
      return decoded;
    case Kind::None:
      break;
  }
  return 0;
}

BodyStep step_body(BodyFraming& f, char* base, size_t avail, size_t head_len, const Limits& limits,
                   uint64_t max_body) {
  BodyStep s;
  const size_t after_head = avail - head_len;
  char* body_start = base + head_len;
  switch (f.kind) {
    case BodyFraming::Kind::None:
      s.status = ParseStatus::Complete;
      s.msg_len = head_len;
      break;
    case BodyFraming::Kind::Length: {
      size_t have = static_cast<size_t>(std::min<uint64_t>(after_head, f.content_length));
      s.body = std::string_view(body_start, have);
      s.msg_len = head_len + have;
      if (after_head >= f.content_length) s.status = ParseStatus::Complete;
      break;
    }
    case BodyFraming::Kind::Chunked: {
      ChunkedResult r = decode_chunked(f.chunk, body_start + f.chunk_raw, after_head - f.chunk_raw,
                                       body_start + f.chunk_body, limits, max_body);
      f.chunk_raw += r.consumed;
      f.chunk_body += r.produced;
      s.body = std::string_view(body_start, f.chunk_body);
      s.msg_len = head_len + f.chunk_raw;
      s.status = r.status;
      s.http_status = r.http_status;
      s.error = r.error;
      break;
    }
    case BodyFraming::Kind::UntilClose:
      // RFC 9112 §6.3 item 8: the body is whatever arrives until the server closes.
      s.body = std::string_view(body_start, after_head);
      s.msg_len = avail;
      if (after_head > max_body) {
        s.status = ParseStatus::Error;
        s.http_status = 413;
        s.error = "MG_MAX_RECV_SIZE";
      }
      break;
  }
  return s;
}

}  // namespace mg::http
