// JSON path access (spec §4 json_get*). A validating tokenizer walks the document from the
// start to the value named by the path; it never allocates while scanning, never recurses
// (nesting is tracked in a fixed bit stack) and never reads past the input.
//
// Paths: "$" (the whole document), then any sequence of ".key" (one or more bytes, none of
// them '.' or '[') and "[index]" (decimal digits): "$.a.b", "$.a[0].b", "$[2][0]". Keys
// are compared with the object's member names after unescaping; the first member with that
// name wins. Anything else is an invalid path (no value).
//
// A value is found only if the document is valid JSON (RFC 8259) from its first byte up to
// the end of that value, and the value is followed by a byte that may legally follow it
// (after optional whitespace: ',' or the closing bracket of its container; the end of the
// input for "$"). Bytes after that are not examined. Bytes >= 0x80 inside strings are taken
// as they are (not checked as UTF-8).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mg::json {

// Deepest nesting of arrays/objects accepted; deeper documents are invalid.
constexpr size_t kMaxDepth = 4096;

// Raw text of the value at `path`, exactly as in `doc` (strings keep their quotes).
std::optional<std::string_view> get(std::string_view doc, std::string_view path);

// Typed access; nullopt when the value is missing or not of that type.
std::optional<double> get_number(std::string_view doc, std::string_view path);
std::optional<bool> get_bool(std::string_view doc, std::string_view path);
// Integer tokens exactly within int64; other numbers truncated toward zero; both saturate
// at INT64_MIN / INT64_MAX when out of range.
std::optional<int64_t> get_long(std::string_view doc, std::string_view path);
// Unescaped string value (UTF-8); nullopt if missing, not a string, or badly escaped
// (including an unpaired UTF-16 surrogate in a \u escape).
std::optional<std::string> get_string(std::string_view doc, std::string_view path);

// Helpers on a raw value (as returned by get()).
// Number token -> double, correctly rounded; overflow gives +-inf, underflow +-0 (as
// Python's float()). nullopt if `raw` is not a JSON number token.
std::optional<double> number_value(std::string_view raw);
std::optional<int64_t> long_value(std::string_view raw);
// `raw` including its quotes.
std::optional<std::string> string_value(std::string_view raw);

}  // namespace mg::json
