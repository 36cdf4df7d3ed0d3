#include "mg/strings.hpp"

namespace mg {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;  // the common case: same spelling
    // Otherwise equal only if they are the two cases of one ASCII letter.
    const unsigned char folded = x | 0x20;
    if ((x ^ y) != 0x20 || folded < 'a' || folded > 'z') return false;
  }
  return true;
}

}  // namespace mg
