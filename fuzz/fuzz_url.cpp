// libFuzzer target: URL splitting and the url_* helpers (mg/url.hpp).
// Invariants: every part is a view inside the input; port is -1 or 0-65535; uri is empty
// or starts with '/'; url_encode output uses only its alphabet and decodes back.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mg/url.hpp"

#include "check.hpp"

namespace url = mg::url;

static bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) std::memcpy(buf.get(), data, size);
  std::string_view u(buf.get(), size);

  url::Parts p = url::split(u);
  for (std::string_view part : {p.scheme, p.user, p.pass, p.host, p.port_text, p.uri}) CHECK(inside(part, u));
  CHECK(p.uri.empty() || p.uri[0] == '/');
  int port = url::port(u);
  CHECK(port >= -1 && port <= 65535);
  if (p.port_text.empty()) CHECK(port == url::default_port(p.scheme));
  CHECK(url::host(u) == p.host && url::user(u) == p.user && url::pass(u) == p.pass);
  std::string_view uri = url::uri(u);
  CHECK(!uri.empty() && uri[0] == '/');
  if (url::is_ssl_exact(u)) CHECK(url::is_ssl(u));
  (void)url::is_http_scheme(u);

  std::string enc = url::encode(u);
  std::string back;
  for (size_t i = 0; i < enc.size(); ++i) {
    char c = enc[i];
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-' || c == '~';
    if (plain) {
      back += c;
      continue;
    }
    CHECK(c == '%' && i + 2 < enc.size());
    char h = enc[i + 1], l = enc[i + 2];
    CHECK(((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')) && ((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f')));
    back += static_cast<char>(hexval(h) * 16 + hexval(l));
    i += 2;
  }
  CHECK(back == u);
  return 0;
}
