// Whole-string glob matching with captures (spec §4 `match`).
//
// `?` matches any one character, `*` any run of characters without '/', `#` any run
// including '/'; every other character is literal and case-sensitive. Characters are UTF-8
// sequences; a byte that does not start a valid sequence counts as one character (exactly
// as Python decodes with surrogateescape), so `?` matches one Python character.
//
// When several assignments match, the earliest wildcard takes the shortest run that still
// lets the rest match, then the next one, and so on ("*.*" on "a.b.c" gives "a", "b.c").
// Each wildcard yields one capture, in pattern order.
//
// Cost: O(|pattern| x |s|) time, and (number of '*'/'#' + 1) x (|s| + 1) bits of memory.
#pragma once
#include <string_view>
#include <vector>

namespace mg {

// True if `s` matches `pattern` as a whole. When `captures` is given it is replaced by one
// view into `s` per wildcard on success, and cleared on failure.
bool glob_match(std::string_view s, std::string_view pattern, std::vector<std::string_view>* captures = nullptr);

// Length of the character starting at p[0] (1-4); 1 for a byte that does not start a valid
// UTF-8 sequence (strict: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_char_len(const unsigned char* p, size_t avail) noexcept;

}  // namespace mg
