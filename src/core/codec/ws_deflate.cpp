// permessage-deflate negotiation (RFC 7692 §7.1). Written for this project.
//
// Sec-WebSocket-Extensions (RFC 6455 §9.1):
//   extension-list = 1#extension
//   extension      = token *( ";" extension-param )
//   extension-param = token [ "=" ( token / quoted-string ) ]
// Several header fields form one list, in order. Empty list elements are skipped
// (RFC 9110 §5.6.1); anything else that does not fit the grammar makes the whole
// value unusable: a server then declines, a client fails the handshake.
#include "mg/ws_deflate.hpp"

#include <algorithm>
#include <cstring>

namespace mg::ws {
namespace {

constexpr std::string_view kName = "permessage-deflate";

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// Splits `s` at the first `sep` outside a quoted-string. Returns false when a quoted
// string is unterminated. `head` gets the part before, `s` keeps the rest (after sep);
// `found` tells whether a separator was seen.
bool split_outside_quotes(std::string_view& s, char sep, std::string_view& head, bool& found) {
  bool quoted = false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        if (++i == s.size()) return false;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      head = s.substr(0, i);
      s.remove_prefix(i + 1);
      found = true;
      return true;
    }
  }
  if (quoted) return false;
  head = s;
  s = {};
  found = false;
  return true;
}

// A window size: "8".."15" as a token or a quoted-string holding one, no leading zero.
bool parse_bits(std::string_view v, uint8_t& out) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2 || v[0] == '0') return false;
  unsigned n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n < 8 || n > 15) return false;
  out = static_cast<uint8_t>(n);
  return true;
}

// Walks the elements of several header values: each call yields the next non-empty
// element (name and the raw parameter text after it). Returns 1 for an element, 0 at the
// end, -1 for a syntax error.
struct ElementCursor {
  std::span<const std::string_view> values;
  size_t index = 0;
  std::string_view rest;
  bool started = false;

  int next(std::string_view& name, std::string_view& params) {
    for (;;) {
      if (!started) {
        if (index >= values.size()) return 0;
        rest = values[index++];
        started = true;
      }
      if (rest.empty()) {
        started = false;
        continue;
      }
      std::string_view elem;
      bool found = false;
      if (!split_outside_quotes(rest, ',', elem, found)) return -1;
      if (!found) started = false;
      elem = trim(elem);
      if (elem.empty()) continue;  // empty list element
      size_t semi = elem.find(';');
      name = trim(elem.substr(0, semi));
      params = semi == std::string_view::npos ? std::string_view() : elem.substr(semi);
      if (!is_token(name)) return -1;
      return 1;
    }
  }
};

}  // namespace

bool parse_deflate_params(std::string_view params, DeflateOffer& out) {
  out = DeflateOffer{};
  bool seen_snct = false, seen_cnct = false, seen_smwb = false;
  params = trim(params);
  if (params.empty()) return true;
  if (params.front() != ';') return false;
  params.remove_prefix(1);
  for (;;) {
    std::string_view item;
    bool found = false;
    if (!split_outside_quotes(params, ';', item, found)) return false;
    item = trim(item);
    size_t eq = item.find('=');
    std::string_view key = trim(item.substr(0, eq));
    const bool has_value = eq != std::string_view::npos;
    std::string_view value = has_value ? trim(item.substr(eq + 1)) : std::string_view();
    if (!is_token(key)) return false;
    if (iequals(key, "server_no_context_takeover")) {
      if (seen_snct || has_value) return false;
      seen_snct = out.server_no_context_takeover = true;
    } else if (iequals(key, "client_no_context_takeover")) {
      if (seen_cnct || has_value) return false;
      seen_cnct = out.client_no_context_takeover = true;
    } else if (iequals(key, "server_max_window_bits")) {
      // RFC 7692 §7.1.2.1: a value is required.
      if (seen_smwb || !has_value || !parse_bits(value, out.server_max_window_bits)) return false;
      seen_smwb = true;
    } else if (iequals(key, "client_max_window_bits")) {
      // RFC 7692 §7.1.2.2: the value is optional in an offer.
      if (out.client_max_window_bits) return false;
      out.client_max_window_bits = true;
      if (has_value && !parse_bits(value, out.client_max_window_bits_value)) return false;
    } else {
      return false;  // RFC 7692 §7.1: an unknown parameter declines the offer
    }
    if (!found) return true;
  }
}

bool negotiate_deflate(std::span<const std::string_view> values, const DeflateConfig& cfg, DeflateParams& out) {
  ElementCursor cur;
  cur.values = values;
  std::string_view name, params;
  for (;;) {
    int r = cur.next(name, params);
    if (r <= 0) return false;  // end of the list, or a value we cannot parse: decline all
    if (!iequals(name, kName)) continue;
    DeflateOffer offer;
    if (!parse_deflate_params(params, offer)) continue;  // declined, try the next offer
    DeflateParams p;
    // §7.1.1.1: granted when asked for, or when we want it anyway.
    p.server_no_context_takeover = offer.server_no_context_takeover || cfg.server_no_context_takeover;
    // §7.1.1.2: the server may ask for it whether or not it was offered.
    p.client_no_context_takeover = offer.client_no_context_takeover || cfg.client_no_context_takeover;
    // §7.1.2.1: our window is at most what the client asked for; a response carries a
    // window no larger than the offer's. zlib cannot compress with 8 bits: decline.
    uint8_t sbits = cfg.server_max_window_bits;
    if (offer.server_max_window_bits) sbits = std::min(sbits, offer.server_max_window_bits);
    if (sbits < 9) continue;
    p.server_max_window_bits = sbits;
    p.server_bits_in_response = offer.server_max_window_bits != 0 || sbits < 15;
    // §7.1.2.2: we may limit the client's window only when it offered the parameter;
    // without it the client compresses with up to 15 bits (our inflater takes any).
    if (offer.client_max_window_bits) {
      uint8_t cbits = cfg.client_max_window_bits;
      if (offer.client_max_window_bits_value) cbits = std::min(cbits, offer.client_max_window_bits_value);
      p.client_max_window_bits = cbits;
      p.client_bits_in_response = offer.client_max_window_bits_value != 0 || cbits < 15;
    }
    out = p;
    return true;
  }
}

DeflateAnswer check_deflate_response(std::span<const std::string_view> values, const DeflateConfig* cfg,
                                     DeflateParams& out) {
  ElementCursor cur;
  cur.values = values;
  std::string_view name, params;
  bool accepted = false;
  DeflateParams p;
  for (;;) {
    int r = cur.next(name, params);
    if (r < 0) return DeflateAnswer::Invalid;
    if (r == 0) break;
    // RFC 6455 §4.1: an extension not offered fails the connection; RFC 7692 §7.1: so
    // does a second permessage-deflate element (we offered one).
    if (!cfg || accepted || !iequals(name, kName)) return DeflateAnswer::Invalid;
    DeflateOffer ans;
    if (!parse_deflate_params(params, ans)) return DeflateAnswer::Invalid;
    // §7.1.1.1: asked for server_no_context_takeover and the server did not grant it.
    if (cfg->server_no_context_takeover && !ans.server_no_context_takeover) return DeflateAnswer::Invalid;
    p.server_no_context_takeover = ans.server_no_context_takeover;
    p.client_no_context_takeover = ans.client_no_context_takeover || cfg->client_no_context_takeover;
    // §7.1.2.1: a server window larger than we asked for fails the connection.
    if (ans.server_max_window_bits) {
      if (cfg->server_max_window_bits < 15 && ans.server_max_window_bits > cfg->server_max_window_bits)
        return DeflateAnswer::Invalid;
      p.server_max_window_bits = ans.server_max_window_bits;
    } else {
      // Asked for a smaller server window: the server accepts only by answering with one.
      if (cfg->server_max_window_bits < 15) return DeflateAnswer::Invalid;
      p.server_max_window_bits = 15;
    }
    // §7.1.2.2: in a response client_max_window_bits has a value, no larger than ours;
    // we cannot compress with 8 bits (zlib), so that answer fails too.
    uint8_t cbits = cfg->client_max_window_bits;
    if (ans.client_max_window_bits) {
      const uint8_t v = ans.client_max_window_bits_value;
      if (v == 0 || v < 9 || v > cbits) return DeflateAnswer::Invalid;
      cbits = v;
    }
    p.client_max_window_bits = cbits;
    accepted = true;
  }
  if (!accepted) return DeflateAnswer::None;
  out = p;
  return DeflateAnswer::Accepted;
}

namespace {

size_t put(char* out, size_t at, std::string_view s) {
  std::memcpy(out + at, s.data(), s.size());
  return at + s.size();
}

size_t put_bits(char* out, size_t at, std::string_view key, uint8_t bits) {
  at = put(out, at, "; ");
  at = put(out, at, key);
  out[at++] = '=';
  if (bits >= 10) out[at++] = '1';
  out[at++] = static_cast<char>('0' + bits % 10);
  return at;
}

}  // namespace

size_t format_deflate_offer(const DeflateConfig& cfg, char* out) {
  size_t n = put(out, 0, kName);
  if (cfg.server_no_context_takeover) n = put(out, n, "; server_no_context_takeover");
  if (cfg.client_no_context_takeover) n = put(out, n, "; client_no_context_takeover");
  if (cfg.server_max_window_bits < 15) n = put_bits(out, n, "server_max_window_bits", cfg.server_max_window_bits);
  // Always offered, so the server may limit our window (§7.1.2.2); a value only when we
  // limit it ourselves.
  if (cfg.client_max_window_bits < 15)
    n = put_bits(out, n, "client_max_window_bits", cfg.client_max_window_bits);
  else
    n = put(out, n, "; client_max_window_bits");
  return n;
}

size_t format_deflate_response(const DeflateParams& p, char* out) {
  size_t n = put(out, 0, kName);
  if (p.server_no_context_takeover) n = put(out, n, "; server_no_context_takeover");
  if (p.client_no_context_takeover) n = put(out, n, "; client_no_context_takeover");
  if (p.server_bits_in_response) n = put_bits(out, n, "server_max_window_bits", p.server_max_window_bits);
  if (p.client_bits_in_response) n = put_bits(out, n, "client_max_window_bits", p.client_max_window_bits);
  return n;
}

}  // namespace mg::ws
