// multipart/form-data parts (spec §6.8 http_parse_multipart). Pure: views into the body,
// no allocation, never reads past it.
//
// The boundary is the first line of the body ("--<b>\r\n", <b> non-empty; empty lines before
// it are skipped, and offset 0 means the first delimiter). A part starts
// at a delimiter "--<b>\r\n", has header lines up to an empty line, then data up to the next
// "\r\n--<b>". "--<b>--" ends the body. name/filename come from Content-Disposition
// (header name case-insensitive; parameters `name` / `filename`, quoted or token, taken
// literally: browsers percent-encode quotes and line breaks instead of escaping them).
#pragma once
#include <cstddef>
#include <string_view>

namespace mg::http {

struct MultipartPart {
  std::string_view name;      // "" if absent
  std::string_view filename;  // "" if absent
  std::string_view headers;   // the part's header lines (without the empty line)
  std::string_view body;
};

// Parses the part whose delimiter starts at `offset` (0 for the first part). Returns the
// offset of the next delimiter (the "--<b>" that closes this part, always > offset), or 0
// if there is no further part: end delimiter, offset not at a delimiter, empty or
// non-multipart input, or malformed part.
size_t parse_multipart(std::string_view body, size_t offset, MultipartPart& part);

}  // namespace mg::http
