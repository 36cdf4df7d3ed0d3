// Variables of an '&'-separated "name=value" list (spec §4 http_var): query strings and
// application/x-www-form-urlencoded bodies. Pure, zero-copy.
#pragma once
#include <optional>
#include <string_view>

namespace mg::http {

// Raw (not URL-decoded) value of the first item whose name equals `name`
// case-insensitively. An item without '=' is a name with an empty value. nullopt when
// absent, when `buf` is empty or when `name` is empty.
std::optional<std::string_view> form_var(std::string_view buf, std::string_view name);

}  // namespace mg::http
