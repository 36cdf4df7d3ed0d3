// multipart/form-data part parser (RFC 7578 / RFC 2046 §5.1.1). Written for this project.
#include "mg/multipart.hpp"

#include "mg/strings.hpp"

namespace mg::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parameters of a Content-Disposition value: `form-data; name="a"; filename="b.txt"`.
void disposition_params(std::string_view v, MultipartPart& part) {
  size_t semi = v.find(';');
  if (semi == std::string_view::npos) return;
  v.remove_prefix(semi + 1);
  while (!v.empty()) {
    v = trim(v);
    size_t eq = v.find_first_of("=;");
    if (eq == std::string_view::npos || v[eq] == ';') {  // a parameter without a value
      if (eq == std::string_view::npos) return;
      v.remove_prefix(eq + 1);
      continue;
    }
    std::string_view key = trim(v.substr(0, eq));
    v = trim(v.substr(eq + 1));
    std::string_view value;
    if (!v.empty() && v.front() == '"') {
      size_t q = v.find('"', 1);
      if (q == std::string_view::npos) q = v.size();  // unterminated: to the end
      value = v.substr(1, q - 1);
      v.remove_prefix(q < v.size() ? q + 1 : v.size());
      size_t next = v.find(';');
      v.remove_prefix(next == std::string_view::npos ? v.size() : next + 1);
    } else {
      size_t next = v.find(';');
      value = trim(v.substr(0, next));
      v.remove_prefix(next == std::string_view::npos ? v.size() : next + 1);
    }
    if (iequals(key, "name")) part.name = value;
    else if (iequals(key, "filename")) part.filename = value;
  }
}

// Header lines "Name: value" separated by CRLF; false if a line has no name or colon.
bool parse_headers(std::string_view headers, MultipartPart& part) {
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers.remove_prefix(eol == std::string_view::npos ? headers.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    if (iequals(trim(line.substr(0, colon)), "Content-Disposition")) disposition_params(line.substr(colon + 1), part);
  }
  return true;
}

}  // namespace

size_t parse_multipart(std::string_view body, size_t offset, MultipartPart& part) {
  part = MultipartPart{};
  // Empty lines before the first delimiter are an empty preamble (RFC 2046 §5.1.1: the CRLF
  // belongs to the delimiter); some encoders emit one.
  size_t start = 0;
  while (body.substr(start, 2) == "\r\n") start += 2;
  size_t first_eol = body.find("\r\n", start);
  if (first_eol == std::string_view::npos || first_eol < start + 3 || body.substr(start, 2) != "--") return 0;
  const std::string_view dash_boundary = body.substr(start, first_eol - start);  // "--<b>"
  if (offset == 0) offset = start;
  if (offset > body.size() || body.substr(offset, dash_boundary.size()) != dash_boundary) return 0;
  size_t pos = offset + dash_boundary.size();
  if (body.substr(pos, 2) != "\r\n") return 0;  // "--" (the end) or garbage
  // The header block ends at the first empty line; pos is at the CRLF of the delimiter
  // line, so a part without headers ("--b\r\n\r\n") is found too.
  size_t hdr_end = body.find("\r\n\r\n", pos);
  if (hdr_end == std::string_view::npos) return 0;
  std::string_view headers = hdr_end == pos ? std::string_view() : body.substr(pos + 2, hdr_end - pos - 2);
  size_t data = hdr_end + 4;
  // The closing delimiter: CRLF "--<b>". Searching from the CRLF that ends the blank line
  // also accepts an empty part whose delimiter lacks its own CRLF (an encoder bug seen in
  // the wild: "...\r\n\r\n--<b>"); the boundary cannot occur in data, so nothing else changes.
  size_t close = hdr_end + 2;
  for (;;) {
    close = body.find("\r\n--", close);
    if (close == std::string_view::npos) return 0;
    if (body.substr(close + 2, dash_boundary.size()) == dash_boundary) break;
    close += 2;
  }
  MultipartPart p;
  if (!parse_headers(headers, p)) return 0;
  p.headers = headers;
  p.body = close < data ? body.substr(data, 0) : body.substr(data, close - data);
  part = p;
  return close + 2;
}

}  // namespace mg::http
