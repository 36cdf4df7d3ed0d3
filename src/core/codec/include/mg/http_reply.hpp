// HTTP/1.1 response writer (spec §6.1): formats straight into a send buffer.
#pragma once
#include <cstddef>
#include <span>
#include <string_view>

#include "mg/buffer.hpp"
#include "mg/http_parser.hpp"

namespace mg::http {

// Reason phrase for a status code (spec §2.6); "" for unknown codes.
std::string_view reason_phrase(int status);

enum class HeaderFault : unsigned char {
  None,
  NameCrLfNul,       // CR, LF or NUL in a name
  NameNotToken,      // other non-token character (RFC 9110 §5.1)
  ValueCrLfNul,      // CR, LF or NUL in a value
  ValueControl,      // other control character (RFC 9110 §5.5)
  TransferEncoding,  // reply() does not frame with Transfer-Encoding
};

struct HeaderCheck {
  HeaderFault fault = HeaderFault::None;
  size_t index = 0;  // offending header
};

// Validates names and values before anything is written (spec §8.3). CR/LF/NUL are
// reported before other faults of the same field.
HeaderCheck validate_headers(std::span<const Header> headers, bool reject_transfer_encoding);

// True if the comma-separated token list `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token);

// Appends a complete response. User Content-Length headers are skipped (we always
// generate one); Content-Type: text/plain is added first if absent. `omit_body` for
// HEAD; 1xx/204/304 carry neither body nor Content-Length.
bool write_response(Buffer& out, int status, std::span<const Header> headers,
                    std::string_view body, bool omit_body);

// Engine-generated error response: text/plain, Connection: close, reason as body.
bool write_error_response(Buffer& out, int status);

}  // namespace mg::http
