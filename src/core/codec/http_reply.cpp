#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "mg/http_reply.hpp"

namespace mg::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 444: return "Connection Closed Without Response";
    case 451: return "Unavailable For Legal Reasons";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    case 599: return "Network Connect Timeout Error";
    default: return "";
  }
}

namespace {

// Character classes for header validation, one table lookup per byte.
enum : uint8_t { kToken = 1, kCrLfNul = 2, kControl = 4 };

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  // RFC 9110 §5.6.2: tchar = "!#$%&'*+-.^_`|~" / DIGIT / ALPHA
  for (int ch = '0'; ch <= '9'; ch++) t[ch] |= kToken;
  for (int ch = 'a'; ch <= 'z'; ch++) t[ch] |= kToken;
  for (int ch = 'A'; ch <= 'Z'; ch++) t[ch] |= kToken;
  for (char ch : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(ch)] |= kToken;
  // RFC 9110 §5.5: field values exclude CTLs other than HTAB.
  for (int ch = 0; ch < 0x20; ch++)
    if (ch != '\t') t[ch] |= kControl;
  t[0x7f] |= kControl;
  t['\r'] |= kCrLfNul;
  t['\n'] |= kCrLfNul;
  t[0] |= kCrLfNul;
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = make_classes();

// OR of the classes of every byte, and AND of the token bit.
struct Scan {
  uint8_t any = 0;
  bool all_token = true;
};
Scan scan(std::string_view s) {
  Scan r;
  for (unsigned char ch : s) {
    uint8_t c = kClasses[ch];
    r.any |= c;
    r.all_token &= (c & kToken) != 0;
  }
  return r;
}

char* put(char* p, std::string_view s) {
  if (s.empty()) return p;  // a default view has data() == nullptr: memcpy(p, nullptr, 0) is UB
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

HeaderCheck validate_headers(std::span<const Header> headers, bool reject_transfer_encoding) {
  for (size_t i = 0; i < headers.size(); i++) {
    const Header& h = headers[i];
    Scan name = scan(h.name);
    if (name.any & kCrLfNul) return {HeaderFault::NameCrLfNul, i};
    if (!name.all_token || h.name.empty()) return {HeaderFault::NameNotToken, i};
    Scan value = scan(h.value);
    if (value.any & kCrLfNul) return {HeaderFault::ValueCrLfNul, i};
    if (value.any & kControl) return {HeaderFault::ValueControl, i};
    if (reject_transfer_encoding && h.name.size() == 17 && iequals(h.name, "Transfer-Encoding"))
      return {HeaderFault::TransferEncoding, i};
  }
  return {};
}

bool has_token(std::string_view value, std::string_view token) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = value.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    pos = comma + 1;
  }
  return false;
}

bool write_response(Buffer& out, int status, std::span<const Header> headers,
                    std::string_view body, bool omit_body) {
  // RFC 9110 §15.2, §15.3.5, §15.4.5: 1xx, 204 and 304 have no content.
  const bool no_content = status < 200 || status == 204 || status == 304;
  bool has_type = false;
  // Fixed parts at their widest: "HTTP/1.1 " (9) + status (11, a negative int) + " " +
  // CRLF + "Content-Type: text/plain\r\n" (26) + "Content-Length: " (16) + 20 digits +
  // CRLF + CRLF = 89 bytes. Reserving less lets size() pass capacity() (e.g. a 1982-byte
  // body with status 200), after which the next reserve_extra() underflows.
  size_t need = 96 + body.size();
  for (const Header& h : headers) {
    need += h.name.size() + h.value.size() + 4;
    if (!has_type && h.name.size() == 12 && iequals(h.name, "Content-Type")) has_type = true;
  }
  std::string_view reason = reason_phrase(status);
  need += reason.size();
  char* start = out.tail(need);
  if (!start) return false;
  char* p = start;
  p = put(p, "HTTP/1.1 ");
  p = std::to_chars(p, p + 12, status).ptr;
  *p++ = ' ';
  p = put(p, reason);
  p = put(p, "\r\n");
  if (!has_type) p = put(p, "Content-Type: text/plain\r\n");
  for (const Header& h : headers) {
    if (h.name.size() == 14 && iequals(h.name, "Content-Length")) continue;  // we frame the body ourselves
    p = put(p, h.name);
    p = put(p, ": ");
    p = put(p, h.value);
    p = put(p, "\r\n");
  }
  if (!no_content) {
    p = put(p, "Content-Length: ");
    p = std::to_chars(p, p + 24, body.size()).ptr;
    p = put(p, "\r\n");
  }
  p = put(p, "\r\n");
  if (!no_content && !omit_body) p = put(p, body);
  out.commit(static_cast<size_t>(p - start));
  return true;
}

bool write_error_response(Buffer& out, int status) {
  static const Header kClose[] = {{"Content-Type", "text/plain"}, {"Connection", "close"}};
  return write_response(out, status, kClose, reason_phrase(status), false);
}

}  // namespace mg::http
