// Base64 (RFC 4648 §4, standard alphabet, '=' padding).
#pragma once
#include <string>
#include <string_view>

namespace mg {

// Encodes `in` with the standard alphabet and '=' padding; "" for empty input.
std::string base64_encode(std::string_view in);

// Decodes standard padded base64 into `out` (replaced, not appended).
// Processed in quartets; a trailing incomplete quartet (1-3 characters after the
// last full one) is ignored, but its characters must still be valid.
// Returns false (and leaves `out` empty) on any character outside the alphabet,
// on '=' anywhere but as the padding of the last full quartet ("xx==" / "xxx="),
// or on characters after that padding.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace mg
