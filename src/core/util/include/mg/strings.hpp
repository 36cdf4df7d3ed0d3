// Small string helpers shared by every layer.
#pragma once
#include <string_view>

namespace mg {

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

}  // namespace mg
