// Resumable, in-place chunked transfer-coding decoder (RFC 9112 §7.1).
//
// chunked-body = *chunk last-chunk trailer-section CRLF
// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
// The decoder is a byte-level state machine kept in ChunkedDecoder, so input
// may be split at any byte. Data is moved down with memmove, which is safe
// because the write position never passes the read position.
#include <cstring>
#include <limits>

#include "mg/http_parser.hpp"

namespace mg::http {
namespace {

constexpr std::string_view kInvalid = "Invalid chunk";
constexpr std::string_view kTooLarge = "MG_MAX_RECV_SIZE";
constexpr std::string_view kTrailerLimit = "HTTP header limit exceeded";

inline int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Field-value / extension content: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
inline bool is_text(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

}  // namespace

ChunkedResult decode_chunked(ChunkedDecoder& st, char* raw, size_t raw_len, char* out,
                             const Limits& limits, uint64_t max_body) {
  using S = ChunkedDecoder::State;
  size_t i = 0;  // read position in raw
  size_t o = 0;  // write position in out
  auto error = [&](std::string_view msg, int status) {
    return ChunkedResult{ParseStatus::Error, i, o, msg, status};
  };
  // Size-line bytes (extensions included, CRLF excluded) are bounded by
  // max_request_line (spec §8.2).
  auto size_line_byte = [&]() { return ++st.line_len <= limits.max_request_line; };

  while (st.state != S::Done && i < raw_len) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    switch (st.state) {
      case S::Size: {
        int h = hex_value(c);
        if (h >= 0) {
          if (st.chunk_remaining > (std::numeric_limits<uint64_t>::max() >> 4))
            return error(kInvalid, 400);  // size overflow
          st.chunk_remaining = (st.chunk_remaining << 4) | unsigned(h);
          st.size_has_digit = true;
        } else if (!st.size_has_digit) {
          return error(kInvalid, 400);
        } else if (st.chunk_remaining > max_body - st.body_size) {
          // Checked once the size is complete, so an overflowing size stays a 400
          // (spec §6.3) and a merely large one is a 413. body_size <= max_body holds
          // throughout, so the subtraction cannot wrap.
          return error(kTooLarge, 413);
        } else if (c == '\r') {
          st.state = S::SizeLf;
          ++i;
          continue;
        } else if (c == ';') {
          st.state = S::Ext;
        } else if (c == ' ' || c == '\t') {
          st.state = S::SizeBws;
        } else {
          return error(kInvalid, 400);  // includes a bare LF
        }
        if (!size_line_byte()) return error(kInvalid, 400);
        ++i;
        break;
      }
      case S::SizeBws:
        // BWS is only allowed before ';' (chunk-ext = *( BWS ";" ... )).
        if (c == ';') {
          st.state = S::Ext;
        } else if (c != ' ' && c != '\t') {
          return error(kInvalid, 400);
        }
        if (!size_line_byte()) return error(kInvalid, 400);
        ++i;
        break;
      case S::Ext:
        // Extensions are ignored (RFC 9112 §7.1.1) but must not hide control bytes.
        if (c == '\r') {
          st.state = S::SizeLf;
          ++i;
          continue;
        }
        if (!is_text(c) || !size_line_byte()) return error(kInvalid, 400);
        ++i;
        break;
      case S::SizeLf:
        if (c != '\n') return error(kInvalid, 400);
        ++i;
        st.line_len = 0;
        st.size_has_digit = false;
        if (st.chunk_remaining == 0) {
          st.state = S::Trailer;  // last-chunk
          st.trailer_line_empty = true;
          st.trailer_in_value = false;
        } else {
          st.state = S::Data;
        }
        break;
      case S::Data: {
        size_t avail = raw_len - i;
        size_t n = st.chunk_remaining < avail ? size_t(st.chunk_remaining) : avail;
        if (out + o != raw + i) std::memmove(out + o, raw + i, n);
        o += n;
        i += n;
        st.chunk_remaining -= n;
        st.body_size += n;
        if (st.chunk_remaining == 0) st.state = S::DataCr;
        break;
      }
      case S::DataCr:
        if (c != '\r') return error(kInvalid, 400);
        st.state = S::DataLf;
        ++i;
        break;
      case S::DataLf:
        if (c != '\n') return error(kInvalid, 400);
        st.state = S::Size;
        ++i;
        break;
      case S::Trailer:
        // Trailer fields are read and discarded, bounded by max_header_bytes.
        if (++st.trailer_bytes > limits.max_header_bytes) return error(kTrailerLimit, 431);
        if (c == '\r') {
          // A field line needs a name and ':' before it may end.
          if (!st.trailer_line_empty && !st.trailer_in_value) return error(kInvalid, 400);
          st.state = S::TrailerLf;
        } else if (st.trailer_in_value) {
          if (!is_text(c)) return error(kInvalid, 400);
        } else if (c == ':') {
          if (st.trailer_line_empty) return error(kInvalid, 400);
          st.trailer_in_value = true;
        } else if (is_tchar(c)) {
          st.trailer_line_empty = false;
        } else {
          return error(kInvalid, 400);  // obs-fold, whitespace before ':', CTL, bare LF
        }
        ++i;
        break;
      case S::TrailerLf:
        if (++st.trailer_bytes > limits.max_header_bytes) return error(kTrailerLimit, 431);
        if (c != '\n') return error(kInvalid, 400);
        ++i;
        if (st.trailer_line_empty) {
          st.state = S::Done;
        } else {
          st.state = S::Trailer;
          st.trailer_line_empty = true;
          st.trailer_in_value = false;
        }
        break;
      case S::Done:
        break;
    }
  }
  return ChunkedResult{st.state == S::Done ? ParseStatus::Complete : ParseStatus::Incomplete, i,
                       o, {}, 0};
}

}  // namespace mg::http
