#include "mg/form.hpp"

#include "mg/strings.hpp"

namespace mg::http {

std::optional<std::string_view> form_var(std::string_view buf, std::string_view name) {
  if (buf.empty() || name.empty()) return std::nullopt;
  while (true) {
    size_t amp = buf.find('&');
    std::string_view item = buf.substr(0, amp);
    size_t eq = item.find('=');
    if (iequals(item.substr(0, eq), name))
      return eq == std::string_view::npos ? item.substr(item.size()) : item.substr(eq + 1);
    if (amp == std::string_view::npos) return std::nullopt;
    buf.remove_prefix(amp + 1);
  }
}

}  // namespace mg::http
