// HTTP/1.1 request-head parser and chunked body decoder (RFC 9112).
// Pure codecs: they take a byte span, never allocate, never read past the span,
// and report complete / incomplete / error. All string_views point into the input.
#pragma once
#include "mg/strings.hpp"
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mg::http {

struct Header {
  std::string_view name;
  std::string_view value;  // OWS trimmed on both sides
};

enum class ParseStatus : uint8_t { Complete, Incomplete, Error };

enum class BodyKind : uint8_t { None, ContentLength, Chunked };

struct Limits {
  size_t max_request_line = 8192;   // request line, and a chunk-size line
  size_t max_header_bytes = 65536;  // whole head incl. request line; chunked trailers
  size_t max_headers = 100;         // header fields per message
};

// A parsed request head. Views point into the parsed input buffer.
struct Request {
  std::string_view method;
  std::string_view uri;    // request-target up to (not including) '?'
  std::string_view query;  // after '?', empty if none
  std::string_view proto;  // "HTTP/1.1" / "HTTP/1.0" (other 1.x reported as sent)
  int minor_version = 1;   // 0 for HTTP/1.0, else 1
  const Header* headers = nullptr;
  size_t num_headers = 0;
  size_t head_len = 0;     // bytes of the head incl. leading empty lines and the final empty line
  BodyKind body_kind = BodyKind::None;
  uint64_t content_length = 0;  // valid when body_kind == ContentLength
  bool keep_alive = true;       // HTTP/1.1 unless "Connection: close"; 1.0 only with "keep-alive"
  bool expect_continue = false; // "Expect: 100-continue"
};

// Outcome of a parse. On Error, `http_status` is the status the server answers
// (400/414/431/501/505) and `error` the MG_EV_ERROR text of spec §6.3
// (e.g. "HTTP parse error: host", "URI too long", "HTTP header limit exceeded",
// "Invalid Transfer-Encoding", "HTTP parse error: content-length").
struct ParseResult {
  ParseStatus status = ParseStatus::Incomplete;
  int http_status = 0;
  std::string_view error;  // static storage
};

// Returns the offset just past the end of the head (the empty line ending it), or 0
// if the head is not complete in `input`. `scan_from` lets a caller skip bytes it
// already scanned on an earlier, shorter call (pass the previous input size; the
// function backs up a few bytes itself). Accepts CRLF and bare-LF line endings.
size_t find_head_end(std::string_view input, size_t scan_from = 0);

// Parses one request head at the start of `input`. `storage` receives the headers
// (its size should be at least limits.max_headers; more fields -> 431).
// Incomplete input that already violates a limit (request line longer than
// max_request_line with no line end, head longer than max_header_bytes) is an Error.
// The parse is a single left-to-right pass: a malformed byte is reported as soon
// as it arrives, and for any prefix of an input the result is either Incomplete
// or identical to the result for the whole input. Cost is O(head), so a caller
// receiving a head in many small reads should use find_head_end (incremental)
// and call parse_request when it returns non-zero, on the first read (early
// rejection of non-HTTP bytes), and once the buffer exceeds the limits.
// Choices where RFC 9112 leaves room (all strict):
//  - a request-line content of exactly max_request_line bytes is accepted; more -> 414;
//    a head of exactly max_header_bytes (incl. leading empty lines) is accepted.
//  - version: anything but "HTTP/1.<digit>" in the version position -> 505;
//    a missing version or an extra SP -> 400 "request line".
//  - more than one Host -> 400 for HTTP/1.0 too (RFC 9112 §3.2).
//  - Content-Length: every field and every comma-separated element must be 1*DIGIT
//    and all must be numerically equal ("5, 5" ok, "5, 6" / "5," -> 400).
//  - Transfer-Encoding: the value must be exactly one `chunked` token (OWS trimmed);
//    "chunked, chunked", "gzip, chunked", "chunked," -> 501.
// On Error and Incomplete the fields of `out` are unspecified.
ParseResult parse_request(std::string_view input, Request& out, std::span<Header> storage,
                          const Limits& limits);

// Case-insensitive lookup of the first header named `name`; nullptr if absent.
const Header* find_header(const Request& req, std::string_view name);

using mg::iequals;  // util/strings.hpp

// True if `s` is an RFC 9110 token (non-empty, tchar only).
bool is_token(std::string_view s);

// Resumable chunked-body decoder (RFC 9112 §7.1). Decodes in place: the decoded
// bytes are moved down within the buffer so that the body becomes contiguous.
//
// Strictness (RFC 9112 §7.1): every line in the chunked framing must end in CRLF
// (a bare LF is "Invalid chunk", unlike the head); BWS is allowed only between
// the size and ';'; extension bytes may be HTAB, SP, VCHAR or obs-text; trailer
// lines must be `token ":" value` with no CTL and are discarded.
// Errors: malformed framing, size overflow or a size line above
// max_request_line -> "Invalid chunk" (400); declared or decoded body above
// max_body -> "MG_MAX_RECV_SIZE" (413, reported as soon as the size digits exceed
// it); trailer section above max_header_bytes -> "HTTP header limit exceeded" (431).
struct ChunkedDecoder {
  // SizeBws: whitespace after the size digits, ';' must follow.
  // TrailerLf: CR seen at the end of a trailer line.
  enum class State : uint8_t { Size, Ext, SizeLf, Data, DataCr, DataLf, Trailer, Done,
                               SizeBws, TrailerLf };
  State state = State::Size;
  uint64_t chunk_remaining = 0;
  uint64_t body_size = 0;        // decoded bytes so far
  size_t line_len = 0;           // bytes of the current size line / trailer line
  size_t trailer_bytes = 0;
  bool size_has_digit = false;
  bool trailer_line_empty = true;
  bool trailer_in_value = false;  // ':' already seen on the current trailer line
};

struct ChunkedResult {
  ParseStatus status = ParseStatus::Incomplete;  // Complete once the last chunk and trailers are read
  size_t consumed = 0;  // raw bytes read from `raw`
  size_t produced = 0;  // decoded bytes written at `out`
  std::string_view error;  // "Invalid chunk", "MG_MAX_RECV_SIZE" or "HTTP header limit exceeded"
  int http_status = 0;     // on Error: 400, 413 or 431 respectively
};

// Decode from raw[0..raw_len) writing decoded bytes at `out` (out <= raw; memmove
// semantics, so out may alias raw). Bytes raw[consumed..raw_len) are left untouched,
// and out + produced <= raw + consumed always holds, so a caller keeping
// [decoded body][undecoded input] in one buffer moves the unconsumed tail down to
// out + produced and calls again when more input arrives. After Complete, further
// calls return Complete with nothing consumed. Stops after the final chunk's trailers
// (Complete), at the end of the input (Incomplete), or on a malformed chunk / a body
// above max_body (Error). Chunk-size lines (extensions included) are limited by
// limits.max_request_line, trailers by limits.max_header_bytes.
ChunkedResult decode_chunked(ChunkedDecoder& st, char* raw, size_t raw_len, char* out,
                             const Limits& limits, uint64_t max_body);


// A parsed response head (client side, spec §6.4).
enum class ResponseBody : uint8_t { None, ContentLength, Chunked, UntilClose };

struct Response {
  std::string_view proto;        // "HTTP/1.1"
  std::string_view status_text;  // the 3 digits, e.g. "200"
  std::string_view reason;       // may be empty
  int status = 0;
  int minor_version = 1;
  const Header* headers = nullptr;
  size_t num_headers = 0;
  size_t head_len = 0;
  ResponseBody body_kind = ResponseBody::None;
  uint64_t content_length = 0;
  bool keep_alive = true;
};

// Parses one response head at the start of `input` (status line `HTTP/1.x SP 3DIGIT SP
// reason`). Framing (RFC 9112 §6.3): 1xx/204/304 -> None; Transfer-Encoding chunked ->
// Chunked; Content-Length -> ContentLength; otherwise UntilClose. `head_request` true
// means the response to a HEAD (no body). Same limits and rejection rules as requests;
// errors carry the MG_EV_ERROR text (no response is sent for them).
ParseResult parse_response(std::string_view input, Response& out, std::span<Header> storage,
                           const Limits& limits, bool head_request = false);

}  // namespace mg::http
