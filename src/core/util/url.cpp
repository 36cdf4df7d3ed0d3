#include "mg/url.hpp"

#include "mg/strings.hpp"

namespace mg::url {

Parts split(std::string_view url) {
  Parts p;
  std::string_view rest = url;
  if (size_t s = rest.find("://"); s != std::string_view::npos) {
    p.scheme = rest.substr(0, s);
    rest.remove_prefix(s + 3);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) p.uri = rest.substr(slash);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    p.user = userinfo.substr(0, colon);
    if (colon != std::string_view::npos) p.pass = userinfo.substr(colon + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      p.host = authority;
      return p;
    }
    p.host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() == ':') p.port_text = after.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    p.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) p.port_text = authority.substr(colon + 1);
  }
  return p;
}

uint16_t default_port(std::string_view scheme) {
  if (iequals(scheme, "http") || iequals(scheme, "ws")) return 80;
  if (iequals(scheme, "https") || iequals(scheme, "wss")) return 443;
  if (iequals(scheme, "mqtt")) return 1883;
  if (iequals(scheme, "mqtts")) return 8883;
  return 0;
}

int port(std::string_view url) {
  Parts p = split(url);
  if (p.port_text.empty()) return default_port(p.scheme);
  if (p.port_text.size() > 5) return -1;
  int v = 0;
  for (char ch : p.port_text) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v > 65535 ? -1 : v;
}

bool is_ssl(std::string_view url) {
  // Schemes are case-insensitive (RFC 3986 §3.1), as in is_http_scheme().
  for (std::string_view s : {"https:", "wss:", "mqtts:", "ssl:", "tls:", "tcps:"})
    if (url.size() >= s.size() && iequals(url.substr(0, s.size()), s)) return true;
  return false;
}

bool scheme_is(std::string_view url, std::string_view scheme) {
  return url.size() > scheme.size() && url[scheme.size()] == ':' && iequals(url.substr(0, scheme.size()), scheme);
}

bool is_ssl_exact(std::string_view url) {
  for (std::string_view s : {"https:", "wss:", "mqtts:", "ssl:", "tls:", "tcps:"})
    if (url.substr(0, s.size()) == s) return true;
  return false;
}

std::string_view host(std::string_view url) { return split(url).host; }
std::string_view user(std::string_view url) { return split(url).user; }
std::string_view pass(std::string_view url) { return split(url).pass; }

std::string_view uri(std::string_view url) {
  std::string_view u = split(url).uri;
  return u.empty() ? std::string_view("/") : u;
}

std::string encode(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size());
  for (unsigned char ch : data) {
    bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '_' || ch == '-' || ch == '~';
    if (plain) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

bool is_http_scheme(std::string_view url) {
  for (std::string_view s : {"http://", "https://", "ws://", "wss://"})
    if (url.size() >= s.size() && iequals(url.substr(0, s.size()), s)) return true;
  return false;
}

Endpoint endpoint(std::string_view url) {
  Endpoint e;
  size_t sep = url.find("://");
  if (sep != std::string_view::npos) {
    std::string_view scheme = url.substr(0, sep);
    size_t plus = scheme.rfind('+');
    std::string_view base = plus == std::string_view::npos ? std::string_view() : scheme.substr(0, plus);
    std::string_view kind = plus == std::string_view::npos ? scheme : scheme.substr(plus + 1);
    if (iequals(kind, "unix")) e.kind = EndpointKind::unix_path;
    else if (iequals(kind, "fd")) e.kind = EndpointKind::fd;
    if (e.kind != EndpointKind::inet) {
      e.scheme_url = std::string(base.empty() ? std::string_view("tcp") : base) + "://";
      e.target = url.substr(sep + 3);
      return e;
    }
  }
  e.scheme_url = std::string(url);
  return e;
}

}  // namespace mg::url
