// URL splitting for listen/connect and the url_* helpers (spec §3.1, §4).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mg::url {

struct Parts {
  std::string_view scheme;  // without "://", may be empty
  std::string_view user, pass;
  std::string_view host;    // IPv6 keeps its brackets
  std::string_view port_text;
  std::string_view uri;     // from the first '/' after the host; empty if none
};

Parts split(std::string_view url);
// Default port by scheme (spec §2.5): http/ws 80, https/wss 443, mqtt 1883, mqtts 8883.
uint16_t default_port(std::string_view scheme);
// Explicit port or the default; -1 if the port text is not a valid 0-65535 number.
int port(std::string_view url);
bool is_ssl(std::string_view url);
// True if the URL's scheme is `scheme` (case-insensitive), e.g. scheme_is(u, "udp").
bool scheme_is(std::string_view url, std::string_view scheme);
// url_is_ssl() (spec §4): the same prefixes, compared case-sensitively as the spec states.
bool is_ssl_exact(std::string_view url);
// True if the URL scheme implies HTTP parsing (http, https, ws, wss; case-insensitive).
bool is_http_scheme(std::string_view url);

// [ext] A listener URL may name another kind of endpoint with a scheme suffix:
// "http+unix:///run/app.sock" (a Unix-domain socket; "http+unix://@name" is abstract) or
// "http+fd://3" (an inherited listening socket). A bare "unix://" or "fd://" is raw.
enum class EndpointKind { inet, unix_path, fd };
struct Endpoint {
  EndpointKind kind = EndpointKind::inet;
  // For the scheme rules (is_ssl, is_http_scheme): the URL itself for inet, otherwise
  // "<scheme without the suffix>://" ("tcp://" for a bare unix:// or fd://).
  std::string scheme_url;
  std::string_view target;  // unix: the path; fd: the descriptor's digits
};
Endpoint endpoint(std::string_view url);

// The url_* helpers (spec §4), all over split().
std::string_view host(std::string_view url);  // IPv6 keeps its brackets
std::string_view user(std::string_view url);
std::string_view pass(std::string_view url);
std::string_view uri(std::string_view url);   // "/" when the URL has no path
// Percent-encodes every byte except A-Z a-z 0-9 . _ - ~, lowercase hex ("é" -> "%c3%a9").
std::string encode(std::string_view data);

}  // namespace mg::url
