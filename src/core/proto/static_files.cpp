// Static file responses: serve_file / serve_dir (spec §6.6, §8.4).
//
// Not a hot path: every response here involves at least one open()/fstat(), so plain
// std::string building is fine. What matters is that the decision is correct and safe:
//   * the URI is decoded exactly once and rejected (400) on `..` segments, NUL bytes and
//     malformed escapes before any file system access;
//   * every file or directory we open is re-checked, through the opened descriptor, to lie
//     inside the real path of the mapped root (see `inside_root`);
//   * operator-supplied `extra_headers` are validated so they can never break the framing.
//
// The helpers below deliberately do not call find_header()/iequals() from the parser
// module: this file has no link dependency on the parser, only on the Request struct.
#include "mg/static_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace mg::http {
namespace {

using std::string;
using std::string_view;

// ---------------------------------------------------------------------------------------
// Small string helpers

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ieq(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(string_view s, string_view prefix) {
  return s.size() >= prefix.size() && ieq(s.substr(0, prefix.size()), prefix);
}

string_view trim_ows(string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != string_view::npos;
}

template <typename Int>
void append_int(string& out, Int v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

// Parses an unsigned decimal made of digits only; false on empty input or overflow.
bool parse_u64(string_view s, uint64_t& v) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Calls f(value) for every header named `name` (case-insensitive), in order.
template <typename F>
void for_each_header(const Request& req, string_view name, F&& f) {
  for (size_t i = 0; i < req.num_headers; ++i)
    if (ieq(req.headers[i].name, name)) f(req.headers[i].value);
}

const Header* first_header(const Request& req, string_view name) {
  for (size_t i = 0; i < req.num_headers; ++i)
    if (ieq(req.headers[i].name, name)) return &req.headers[i];
  return nullptr;
}

bool is_head(const Request& req) { return req.method == "HEAD"; }

// Reason phrases of spec §2.6 for the statuses this module produces.
string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 416: return "Requested Range Not Satisfiable";
    default: return "";
  }
}

void status_line(string& out, int status) {
  out += "HTTP/1.1 ";
  append_int(out, status);
  out += ' ';
  out += reason(status);
  out += "\r\n";
}

// ---------------------------------------------------------------------------------------
// extra_headers validation

struct Extras {
  string text;                    // validated lines, each CRLF-terminated
  bool has_content_type = false;  // a Content-Type line is present (any case)
};

// Spec §6.6: a missing final CRLF is added; a blank line, a bare CR or LF, or NUL is an
// error. pymongoose is stricter than the minimum, in the spirit of §6.1/§8.3: every line
// must be `token ":" value` with no control characters in the value except HTAB (so an
// obs-fold continuation line, which starts with whitespace, is rejected too).
// Content-Length and Transfer-Encoding lines are dropped: the framing of these responses
// belongs to the engine, like user Content-Length headers in reply() (D4).
bool parse_extras(string_view in, Extras& ex) {
  ex.text.clear();
  ex.has_content_type = false;
  if (in.empty()) return true;
  string buf;
  if (!(in.size() >= 2 && in.substr(in.size() - 2) == "\r\n")) {
    if (in.back() == '\r' || in.back() == '\n') return false;  // bare CR / LF at the end
    buf.assign(in);
    buf += "\r\n";
    in = buf;
  }
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find("\r\n", pos);  // always found: input ends with CRLF
    string_view line = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) return false;  // blank line would end the head early
    size_t colon = line.find(':');
    if (colon == string_view::npos || colon == 0) return false;
    string_view name = line.substr(0, colon);
    for (char c : name)
      if (!is_tchar(static_cast<unsigned char>(c))) return false;
    for (char c : line.substr(colon + 1)) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return false;  // CR, LF, NUL, other CTLs
    }
    if (ieq(name, "Content-Length") || ieq(name, "Transfer-Encoding")) continue;
    if (ieq(name, "Content-Type")) ex.has_content_type = true;
    ex.text.append(line);
    ex.text += "\r\n";
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Dates (IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in, per RFC 9110 §5.6.7)

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void two_digits(string& out, int v) {
  out += static_cast<char>('0' + v / 10 % 10);
  out += static_cast<char>('0' + v % 10);
}

string http_date(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (gmtime_r(&tt, &tm) == nullptr) return {};
  string s;
  s += kDays[tm.tm_wday % 7];
  s += ", ";
  two_digits(s, tm.tm_mday);
  s += ' ';
  s += kMonths[tm.tm_mon % 12];
  s += ' ';
  append_int(s, tm.tm_year + 1900);
  s += ' ';
  two_digits(s, tm.tm_hour);
  s += ':';
  two_digits(s, tm.tm_min);
  s += ':';
  two_digits(s, tm.tm_sec);
  s += " GMT";
  return s;
}

// Reads exactly `n` digits at `p`, advancing it.
bool take_digits(string_view s, size_t& p, size_t n, int& v) {
  if (p + n > s.size()) return false;
  v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[p + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  p += n;
  return true;
}

bool take_lit(string_view s, size_t& p, string_view lit) {
  if (p > s.size() || s.substr(p, lit.size()) != lit) return false;
  p += lit.size();
  return true;
}

bool take_month(string_view s, size_t& p, int& mon) {
  if (p > s.size()) return false;
  for (int i = 0; i < 12; ++i)
    if (s.substr(p, 3) == kMonths[i]) {
      mon = i + 1;
      p += 3;
      return true;
    }
  return false;
}

bool take_time(string_view s, size_t& p, int& h, int& mi, int& se) {
  return take_digits(s, p, 2, h) && take_lit(s, p, ":") && take_digits(s, p, 2, mi) &&
         take_lit(s, p, ":") && take_digits(s, p, 2, se);
}

bool parse_http_date(string_view s, int64_t& out) {
  s = trim_ows(s);
  int day = 0, mon = 0, year = 0, h = 0, mi = 0, se = 0;
  size_t p = 0;
  size_t comma = s.find(',');
  if (comma == 3) {  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    p = 4;
    if (!(take_lit(s, p, " ") && take_digits(s, p, 2, day) && take_lit(s, p, " ") &&
          take_month(s, p, mon) && take_lit(s, p, " ") && take_digits(s, p, 4, year) &&
          take_lit(s, p, " ") && take_time(s, p, h, mi, se) && take_lit(s, p, " GMT")))
      return false;
  } else if (comma != string_view::npos) {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    p = comma + 1;
    if (!(take_lit(s, p, " ") && take_digits(s, p, 2, day) && take_lit(s, p, "-") &&
          take_month(s, p, mon) && take_lit(s, p, "-") && take_digits(s, p, 2, year) &&
          take_lit(s, p, " ") && take_time(s, p, h, mi, se) && take_lit(s, p, " GMT")))
      return false;
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    year += (year < 70) ? 2000 : 1900;
  } else {  // asctime: "Sun Nov  6 08:49:37 1994"
    if (s.size() < 3) return false;
    p = 3;
    if (!(take_lit(s, p, " ") && take_month(s, p, mon) && take_lit(s, p, " "))) return false;
    if (p < s.size() && s[p] == ' ') {
      ++p;
      if (!take_digits(s, p, 1, day)) return false;
    } else if (!take_digits(s, p, 2, day)) {
      return false;
    }
    if (!(take_lit(s, p, " ") && take_time(s, p, h, mi, se) && take_lit(s, p, " ") &&
          take_digits(s, p, 4, year)))
      return false;
  }
  if (p != s.size()) return false;
  if (day < 1 || day > 31 || h > 23 || mi > 59 || se > 60) return false;
  out = days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) * 86400 +
        h * 3600 + mi * 60 + se;
  return true;
}

// ---------------------------------------------------------------------------------------
// Request header interpretation

// Accept-Encoding lists gzip (or x-gzip) with a non-zero q. A bare `*` is not taken as
// consent: the .gz variant is an optimisation, never worth a misunderstanding.
bool accepts_gzip(const Request& req) {
  bool ok = false;
  for_each_header(req, "Accept-Encoding", [&](string_view v) {
    while (!v.empty()) {
      size_t comma = v.find(',');
      string_view item = v.substr(0, comma);
      v = comma == string_view::npos ? string_view() : v.substr(comma + 1);
      size_t semi = item.find(';');
      string_view coding = trim_ows(item.substr(0, semi));
      if (!ieq(coding, "gzip") && !ieq(coding, "x-gzip")) continue;
      bool zero = false;
      if (semi != string_view::npos) {
        string_view param = trim_ows(item.substr(semi + 1));
        if (param.size() >= 2 && lower(param[0]) == 'q' && param[1] == '=') {
          string_view q = trim_ows(param.substr(2));
          // q=0, q=0., q=0.0, q=0.00, q=0.000 mean "not acceptable"
          zero = !q.empty() && q[0] == '0' &&
                 q.find_first_not_of("0.", 0) == string_view::npos;
        }
      }
      if (!zero) ok = true;
    }
  });
  return ok;
}

// If-None-Match: `*`, or a comma list of (optionally weak) entity tags compared with the
// current ETag case-insensitively (weak comparison, RFC 9110 §13.1.2).
bool none_match_hits(const Request& req, string_view etag, bool& present) {
  bool hit = false;
  present = false;
  for_each_header(req, "If-None-Match", [&](string_view v) {
    present = true;
    size_t p = 0;
    while (p < v.size() && !hit) {
      while (p < v.size() && (v[p] == ' ' || v[p] == '\t' || v[p] == ',')) ++p;
      if (p >= v.size()) break;
      if (v[p] == '*') {
        hit = true;
        break;
      }
      if (v.substr(p, 2) == "W/" || v.substr(p, 2) == "w/") p += 2;
      if (p >= v.size() || v[p] != '"') break;  // malformed: stop, no match
      size_t close = v.find('"', p + 1);
      if (close == string_view::npos) break;
      if (ieq(v.substr(p, close + 1 - p), etag)) hit = true;
      p = close + 1;
    }
  });
  return hit;
}

enum class RangeKind { None, Satisfiable, Unsatisfiable };

// A single byte range (RFC 9110 §14.1.2). Anything else (other units, multiple ranges,
// syntax errors, last < first) is ignored and the whole file is sent.
RangeKind parse_range(string_view v, uint64_t size, uint64_t& first, uint64_t& last) {
  v = trim_ows(v);
  if (!istarts_with(v, "bytes=")) return RangeKind::None;
  v = trim_ows(v.substr(6));
  if (v.find(',') != string_view::npos) return RangeKind::None;
  size_t dash = v.find('-');
  if (dash == string_view::npos) return RangeKind::None;
  string_view a = v.substr(0, dash), b = v.substr(dash + 1);
  uint64_t x = 0, y = 0;
  if (a.empty()) {  // suffix: last n bytes
    if (!parse_u64(b, y)) return RangeKind::None;
    if (y == 0 || size == 0) return RangeKind::Unsatisfiable;
    first = size > y ? size - y : 0;
    last = size - 1;
    return RangeKind::Satisfiable;
  }
  if (!parse_u64(a, x)) return RangeKind::None;
  if (b.empty()) {
    y = UINT64_MAX;
  } else if (!parse_u64(b, y) || y < x) {
    return RangeKind::None;
  }
  if (x >= size) return RangeKind::Unsatisfiable;
  first = x;
  last = std::min(y, size - 1);
  return RangeKind::Satisfiable;
}

// If-Range (RFC 9110 §13.1.5): the range applies only if the validator still matches:
// a strong ETag equal to ours, or a date equal to the file's modification time.
bool if_range_allows(const Request& req, string_view etag, int64_t mtime) {
  const Header* h = first_header(req, "If-Range");
  if (h == nullptr) return true;
  string_view v = trim_ows(h->value);
  if (!v.empty() && (v[0] == '"' || v.substr(0, 2) == "W/")) return v == etag;  // strong only
  int64_t t = 0;
  return parse_http_date(v, t) && t == mtime;
}

// ---------------------------------------------------------------------------------------
// File system helpers

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// Canonical path of an open descriptor (race-free: it names what we actually opened).
bool fd_real_path(int fd, const string& opened_as, string& out) {
#if defined(__linux__)
  char link[64];
  char buf[PATH_MAX + 1];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, PATH_MAX);
  if (n > 0 && buf[0] == '/') {
    out.assign(buf, static_cast<size_t>(n));
    return true;
  }
#elif defined(F_GETPATH)
  char buf[PATH_MAX + 1];
  if (::fcntl(fd, F_GETPATH, buf) == 0) {
    out = buf;
    return true;
  }
#endif
  char* rp = ::realpath(opened_as.c_str(), nullptr);  // fallback (/proc not mounted, ...)
  if (rp == nullptr) return false;
  out = rp;
  std::free(rp);
  return true;
}

bool real_path(const string& p, string& out) {
  char* rp = ::realpath(p.c_str(), nullptr);
  if (rp == nullptr) return false;
  out = rp;
  std::free(rp);
  return true;
}

bool path_within(string_view p, string_view root) {
  if (root == "/") return true;
  return p == root || (p.size() > root.size() && p.substr(0, root.size()) == root &&
                       p[root.size()] == '/');
}

// When serving through serve_dir, every descriptor we opened must resolve inside
// realpath(root). Spec §8.4 says symlinks inside the root are followed; the project issue
// additionally requires "no symlinks out of the root". Decision: symlinks are followed as
// long as their target stays inside the mapped root; a target outside it is treated as
// missing (404, or page404), so its existence is not revealed.
bool inside_root(int fd, const string& opened_as, const string* root_real) {
  if (root_real == nullptr) return true;
  string rp;
  return fd_real_path(fd, opened_as, rp) && path_within(rp, *root_real);
}

// Opens a regular file for streaming: O_CLOEXEC, and O_NONBLOCK so a FIFO planted in the
// tree can never block the loop (cleared again for the regular file we keep).
int open_regular(const string& path, const string* root_real, struct stat& st) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (f.fd < 0) return -1;
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  if (!inside_root(f.fd, path, root_real)) return -1;
  int fl = ::fcntl(f.fd, F_GETFL);
  if (fl >= 0) ::fcntl(f.fd, F_SETFL, fl & ~O_NONBLOCK);
  return f.release();
}

// ---------------------------------------------------------------------------------------
// Response builders

void finish_memory(const Request& req, int status, string_view content_type, const Extras& ex,
                   string body, FileResponse& out, string_view location = {}) {
  out = FileResponse{};
  out.status = status;
  status_line(out.head, status);
  if (!location.empty()) {
    out.head += "Location: ";
    out.head += location;
    out.head += "\r\n";
  }
  if (!content_type.empty() && !ex.has_content_type) {
    out.head += "Content-Type: ";
    out.head += content_type;
    out.head += "\r\n";
  }
  out.head += ex.text;
  out.head += "Content-Length: ";
  append_int(out.head, body.size());
  out.head += "\r\n\r\n";
  if (!is_head(req)) out.body = std::move(body);
}

void not_found(const Request& req, const Extras& ex, FileResponse& out) {
  finish_memory(req, 404, "text/plain", ex, "Not found\n", out);
}

void bad_request(const Request& req, const Extras& ex, string_view text, FileResponse& out) {
  finish_memory(req, 400, "text/plain", ex, string(text), out);
}

// Serves `path` as a file. `mime_name` gives the MIME type; `force_gzip` means `path` is
// itself the gzip encoding of `mime_name` (index.html.gz). Returns false (and produces
// nothing) if there is no such regular file (within the root, when `root_real` is set).
bool serve_file_impl(const Request& req, const string& path, string_view mime_name,
                     bool force_gzip, const string* root_real, const Extras& ex,
                     string_view mime_types, FileResponse& out) {
  struct stat st {};
  bool gzip = force_gzip;
  Fd f;
  if (!force_gzip && accepts_gzip(req)) {
    f.fd = open_regular(path + ".gz", root_real, st);
    gzip = f.fd >= 0;
  }
  if (f.fd < 0) f.fd = open_regular(path, root_real, st);
  if (f.fd < 0) return false;

  const auto size = static_cast<uint64_t>(st.st_size);
  const auto mtime = static_cast<int64_t>(st.st_mtime);
  string etag = "\"";
  append_int(etag, mtime);
  etag += '.';
  append_int(etag, size);
  etag += '"';

  out = FileResponse{};

  // Conditional requests. If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2);
  // If-Modified-Since only applies to GET and HEAD (RFC 9110 §13.1.3).
  bool inm_present = false;
  bool not_modified = none_match_hits(req, etag, inm_present);
  if (!inm_present && (req.method == "GET" || req.method == "HEAD")) {
    const Header* ims = first_header(req, "If-Modified-Since");
    int64_t t = 0;
    if (ims != nullptr && parse_http_date(ims->value, t) && mtime <= t) not_modified = true;
  }
  if (not_modified) {
    out.status = 304;
    status_line(out.head, 304);
    out.head += "Etag: ";
    out.head += etag;
    out.head += "\r\n";
    out.head += ex.text;
    out.head += "\r\n";
    return true;  // f closes the file
  }

  int status = 200;
  uint64_t first = 0, last = size ? size - 1 : 0, length = size;
  RangeKind rk = RangeKind::None;
  if (const Header* r = first_header(req, "Range")) {
    rk = parse_range(r->value, size, first, last);
    if (rk != RangeKind::None && !if_range_allows(req, etag, mtime)) rk = RangeKind::None;
  }
  if (rk == RangeKind::Satisfiable) {
    status = 206;
    length = last - first + 1;
  } else if (rk == RangeKind::Unsatisfiable) {
    status = 416;
    first = 0;
    length = 0;
  }

  out.status = status;
  string& h = out.head;
  status_line(h, status);
  if (!ex.has_content_type) {  // a Content-Type in extra_headers replaces ours
    h += "Content-Type: ";
    h += mime_type_for(mime_name, mime_types);
    h += "\r\n";
  }
  h += "Etag: ";
  h += etag;
  h += "\r\n";
  // pymongoose addition (not in spec §6.6): Last-Modified, so that caches can revalidate
  // with If-Modified-Since as well as with If-None-Match.
  string lm = http_date(mtime);
  if (!lm.empty()) {
    h += "Last-Modified: ";
    h += lm;
    h += "\r\n";
  }
  h += "Content-Length: ";
  append_int(h, length);
  h += "\r\n";
  if (gzip) h += "Content-Encoding: gzip\r\n";
  if (status == 206) {
    h += "Content-Range: bytes ";
    append_int(h, first);
    h += '-';
    append_int(h, last);
    h += '/';
    append_int(h, size);
    h += "\r\n";
  } else if (status == 416) {
    h += "Content-Range: bytes */";
    append_int(h, size);
    h += "\r\n";
  }
  h += ex.text;
  h += "\r\n";

  if (!is_head(req) && length > 0) {
    out.fd = f.release();
    out.file_offset = first;
    out.file_length = length;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// serve_dir helpers

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes once ('+' stays '+': this is a path). False on a malformed escape.
bool pct_decode(string_view in, string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (in.size() - i < 3) return false;
    int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// True if a `..` segment appears, with '/' or '\' as separators.
bool has_dotdot_segment(string_view p) {
  size_t start = 0;
  for (size_t i = 0; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/' || p[i] == '\\') {
      if (p.substr(start, i - start) == "..") return true;
      start = i + 1;
    }
  }
  return false;
}

void html_escape(string& out, string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

// Percent-encodes everything except RFC 3986 unreserved characters, so that a name is a
// safe relative reference (no scheme, no '?', '#', '/', '%' surprises).
void url_encode(string& out, string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
        u == '-' || u == '.' || u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
}

void listing_time(string& out, int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (gmtime_r(&tt, &tm) == nullptr) return;
  append_int(out, tm.tm_year + 1900);
  out += '-';
  two_digits(out, tm.tm_mon + 1);
  out += '-';
  two_digits(out, tm.tm_mday);
  out += ' ';
  two_digits(out, tm.tm_hour);
  out += ':';
  two_digits(out, tm.tm_min);
  out += ':';
  two_digits(out, tm.tm_sec);
  out += " UTC";
}

struct Entry {
  string name;
  bool is_dir = false;
  bool has_stat = false;
  uint64_t size = 0;
  int64_t mtime = 0;
};

// Builds the listing of the open directory `dirfd` (consumed). `shown_uri` is the decoded
// request URI for the title.
string listing_html(int dirfd, string_view shown_uri) {
  std::vector<Entry> entries;
  if (DIR* d = ::fdopendir(dirfd)) {
    while (struct dirent* de = ::readdir(d)) {
      string_view n = de->d_name;
      if (n == "." || n == "..") continue;
      Entry e;
      e.name.assign(n);
      struct stat st {};
      if (::fstatat(dirfd, de->d_name, &st, 0) == 0 ||
          ::fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        e.has_stat = true;
        e.is_dir = S_ISDIR(st.st_mode);
        e.size = static_cast<uint64_t>(st.st_size);
        e.mtime = static_cast<int64_t>(st.st_mtime);
      }
      entries.push_back(std::move(e));
    }
    ::closedir(d);  // closes dirfd
  } else {
    ::close(dirfd);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });

  string h;
  h += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ";
  html_escape(h, shown_uri);
  h += "</title>\n<style>body{font-family:sans-serif}td,th{padding:2px 12px;text-align:left}"
       "td.s{text-align:right}</style></head>\n<body><h1>Index of ";
  html_escape(h, shown_uri);
  h += "</h1>\n<table>\n<tr><th>Name</th><th>Modified</th><th>Size</th></tr>\n";
  h += "<tr><td><a href=\"../\">..</a></td><td></td><td class=\"s\">-</td></tr>\n";
  for (const Entry& e : entries) {
    h += "<tr><td><a href=\"";
    url_encode(h, e.name);
    if (e.is_dir) h += '/';
    h += "\">";
    html_escape(h, e.name);
    if (e.is_dir) h += '/';
    h += "</a></td><td>";
    if (e.has_stat) listing_time(h, e.mtime);
    h += "</td><td class=\"s\">";
    if (e.is_dir || !e.has_stat)
      h += '-';
    else
      append_int(h, e.size);
    h += "</td></tr>\n";
  }
  h += "</table>\n</body></html>\n";
  return h;
}

struct Mapping {
  string_view prefix;  // no trailing '/' except for "/" itself
  string_view dir;
};

bool prefix_matches(string_view uri, string_view prefix) {
  if (prefix == "/") return !uri.empty() && uri[0] == '/';
  return uri.size() >= prefix.size() && uri.substr(0, prefix.size()) == prefix &&
         (uri.size() == prefix.size() || uri[prefix.size()] == '/');
}

// root_spec: "dir" or "prefix=dir,prefix2=dir2,dir3" (an entry without '=' maps "/").
// The longest prefix matching at a segment boundary wins; among equal prefixes, the first.
bool pick_mapping(string_view spec, string_view uri, Mapping& best) {
  bool found = false;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    string_view entry = spec.substr(0, comma);
    spec = comma == string_view::npos ? string_view() : spec.substr(comma + 1);
    Mapping m;
    size_t eq = entry.find('=');
    if (eq == string_view::npos) {
      m.prefix = "/";
      m.dir = entry;
    } else {
      m.prefix = entry.substr(0, eq);
      m.dir = entry.substr(eq + 1);
    }
    while (m.prefix.size() > 1 && m.prefix.back() == '/') m.prefix.remove_suffix(1);
    if (m.prefix.empty()) m.prefix = "/";
    if (m.dir.empty() || m.prefix[0] != '/') continue;
    if (!prefix_matches(uri, m.prefix)) continue;
    if (!found || m.prefix.size() > best.prefix.size()) {
      best = m;
      found = true;
    }
  }
  return found;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public API

std::string_view mime_type_for(std::string_view filename, std::string_view overrides) {
  string_view base = filename;
  if (size_t slash = base.find_last_of('/'); slash != string_view::npos)
    base = base.substr(slash + 1);
  size_t dot = base.rfind('.');
  string_view ext = dot == string_view::npos ? string_view() : base.substr(dot + 1);

  // Overrides: first entry whose key equals the extension (case-sensitive) or is `*`.
  // Entries whose type would be unsafe in a header (control characters) are skipped.
  string_view ov = overrides;
  while (!ov.empty()) {
    size_t comma = ov.find(',');
    string_view entry = ov.substr(0, comma);
    ov = comma == string_view::npos ? string_view() : ov.substr(comma + 1);
    size_t eq = entry.find('=');
    if (eq == string_view::npos) continue;
    string_view key = trim_ows(entry.substr(0, eq));
    string_view type = trim_ows(entry.substr(eq + 1));
    if (type.empty() || !(key == "*" || (!ext.empty() && key == ext))) continue;
    bool safe = true;
    for (char c : type) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) safe = false;
    }
    if (safe) return type;
  }

  struct M {
    string_view ext, type;
  };
  static constexpr M kTable[] = {
      {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
      {"shtml", "text/html; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},  {"json", "application/json"},
      {"gif", "image/gif"},                  {"png", "image/png"},
      {"jpg", "image/jpeg"},                 {"jpeg", "image/jpeg"},
      {"svg", "image/svg+xml"},              {"ico", "image/x-icon"},
      {"webp", "image/webp"},                {"woff", "font/woff"},
      {"ttf", "font/ttf"},                   {"pdf", "application/pdf"},
      {"zip", "application/zip"},            {"gz", "application/gzip"},
      {"tgz", "application/tar-gz"},         {"csv", "text/csv"},
      {"doc", "application/msword"},         {"exe", "application/octet-stream"},
      {"mp3", "audio/mpeg"},                 {"wav", "audio/wav"},
      {"mp4", "video/mp4"},                  {"mpeg", "video/mpeg"},
      {"mov", "video/quicktime"},            {"avi", "video/x-msvideo"},
      {"3gp", "video/3gpp"},
  };
  if (!ext.empty())
    for (const M& m : kTable)
      if (m.ext == ext) return m.type;
  return "text/plain; charset=utf-8";
}

ServeError serve_file(const Request& req, std::string_view path, std::string_view extra_headers,
                      std::string_view mime_types, FileResponse& out) {
  out = FileResponse{};
  Extras ex;
  if (!parse_extras(extra_headers, ex)) return ServeError::BadExtraHeaders;
  string p(path);
  if (p.empty() || p.find('\0') != string::npos ||
      !serve_file_impl(req, p, p, false, nullptr, ex, mime_types, out))
    not_found(req, ex, out);
  return ServeError::None;
}

ServeError serve_dir(const Request& req, std::string_view root_spec, std::string_view extra_headers,
                     std::string_view mime_types, std::string_view page404, size_t max_path,
                     FileResponse& out) {
  out = FileResponse{};
  Extras ex;
  if (!parse_extras(extra_headers, ex)) return ServeError::BadExtraHeaders;

  auto missing = [&]() {
    string p(page404);
    if (!p.empty() && p.find('\0') == string::npos &&
        serve_file_impl(req, p, p, false, nullptr, ex, mime_types, out))
      return;  // page404 is served with its normal status (200): compat, spec §7.2
    not_found(req, ex, out);
  };

  const string_view uri = req.uri;
  // The raw URI ends up in Location; the parser never lets control bytes through, but this
  // module does not rely on it.
  for (char c : uri) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      bad_request(req, ex, "Invalid path", out);
      return ServeError::None;
    }
  }

  Mapping m;
  if (!pick_mapping(root_spec, uri, m)) {
    missing();
    return ServeError::None;
  }
  string_view rest = m.prefix == "/" ? uri : uri.substr(m.prefix.size());

  // Decode once, then validate, all before touching the file system (§8.4).
  string decoded;
  if (!pct_decode(rest, decoded) || decoded.find('\0') != string::npos ||
      has_dotdot_segment(decoded)) {
    bad_request(req, ex, "Invalid path", out);
    return ServeError::None;
  }
  string dir(m.dir);
  if (dir.find('\0') != string::npos) {
    missing();
    return ServeError::None;
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  string path = dir;
  if (!decoded.empty()) {
    if (path.back() == '/' && decoded.front() == '/') path.pop_back();  // dir == "/"
    if (decoded.front() != '/') path += '/';
    path += decoded;
  }
  if (path.size() > max_path) {
    bad_request(req, ex, "Exceeded path size", out);
    return ServeError::None;
  }

  string root_real;
  if (!real_path(dir, root_real)) {
    missing();
    return ServeError::None;
  }

  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    missing();
    return ServeError::None;
  }

  if (S_ISDIR(st.st_mode)) {
    Fd d(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.fd < 0 || !inside_root(d.fd, path, &root_real)) {
      missing();
      return ServeError::None;
    }
    if (uri.empty() || uri.back() != '/') {
      string loc(uri);
      loc += '/';
      finish_memory(req, 301, {}, ex, {}, out, loc);
      return ServeError::None;
    }
    string base = path;
    if (base.back() != '/') base += '/';
    if (serve_file_impl(req, base + "index.html", "index.html", false, &root_real, ex,
                        mime_types, out) ||
        serve_file_impl(req, base + "index.shtml", "index.shtml", false, &root_real, ex,
                        mime_types, out) ||
        serve_file_impl(req, base + "index.html.gz", "index.html", true, &root_real, ex,
                        mime_types, out))
      return ServeError::None;

    string shown;
    if (!pct_decode(uri, shown)) shown.assign(uri);
    string html = listing_html(d.release(), shown);
    finish_memory(req, 200, "text/html; charset=utf-8", ex, std::move(html), out);
    return ServeError::None;
  }

  if (!serve_file_impl(req, path, path, false, &root_real, ex, mime_types, out)) missing();
  return ServeError::None;
}

}  // namespace mg::http
