// MQTT 3.1.1 / 5 packet codec. Written for this project from the OASIS specifications.
//
// Every packet: byte 0 = type << 4 | flags, then the Remaining Length as a variable byte
// integer (1-4 bytes, 7 bits each, low group first), then that many bytes. Strings and
// binary data are a big-endian 16-bit length and the bytes; packet ids are 16-bit.
#include "mg/mqtt.hpp"

#include <cstring>

namespace mg::mqtt {

namespace {

struct Reader {
  std::string_view in;
  bool bad = false;

  bool u8(uint8_t& v) {
    if (in.empty()) return fail();
    v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return true;
  }
  bool u16(uint16_t& v) {
    if (in.size() < 2) return fail();
    v = static_cast<uint16_t>(static_cast<uint8_t>(in[0]) << 8 | static_cast<uint8_t>(in[1]));
    in.remove_prefix(2);
    return true;
  }
  bool u32(uint32_t& v) {
    if (in.size() < 4) return fail();
    v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | static_cast<uint8_t>(in[i]);
    in.remove_prefix(4);
    return true;
  }
  bool varint(uint32_t& v) {
    int n = decode_varint(in, v);
    if (n <= 0) return fail();
    in.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool str(std::string_view& s) {  // 16-bit length prefixed
    uint16_t n;
    if (!u16(n) || in.size() < n) return fail();
    s = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  bool bytes(size_t n, std::string_view& s) {
    if (in.size() < n) return fail();
    s = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  bool fail() {
    bad = true;
    return false;
  }
};

char* put_u16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v & 0xFF);
  return p + 2;
}

char* put_str(char* p, std::string_view s) {
  p = put_u16(p, static_cast<uint16_t>(s.size()));
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_bytes(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Fixed header + remaining length; returns where the body starts.
char* put_fixed(char* p, uint8_t first, uint32_t remaining) {
  *p++ = static_cast<char>(first);
  return p + encode_varint(remaining, p);
}

size_t with_fixed(size_t remaining) { return 1 + varint_size(static_cast<uint32_t>(remaining)) + remaining; }

// Properties block as written: its length, then the properties.
size_t props_size(std::string_view props) { return varint_size(static_cast<uint32_t>(props.size())) + props.size(); }
char* put_props(char* p, std::string_view props) {
  p += encode_varint(static_cast<uint32_t>(props.size()), p);
  return put_bytes(p, props);
}

// Reads a properties block (length + body) when `version` is 5.
bool read_props(Reader& r, int version, std::string_view& props) {
  if (version != 5) return true;
  uint32_t n;
  if (!r.varint(n) || !r.bytes(n, props)) return false;
  if (!valid_properties(props)) return r.fail();
  return true;
}

}  // namespace

bool property_type(uint8_t id, PropType& out) {
  switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
      out = kPropByte;
      return true;
    case 0x02: case 0x11: case 0x18: case 0x27:
      out = kPropInt;
      return true;
    case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F:
      out = kPropString;
      return true;
    case 0x09: case 0x16:
      out = kPropBinary;
      return true;
    case 0x0B:
      out = kPropVarInt;
      return true;
    case 0x13: case 0x21: case 0x22: case 0x23:
      out = kPropShort;
      return true;
    case 0x26:
      out = kPropStringPair;
      return true;
    default:
      return false;
  }
}

bool valid_topic_name(std::string_view topic) {
  return !topic.empty() && topic.size() <= kMaxString && topic.find_first_of("+#") == std::string_view::npos &&
         topic.find('\0') == std::string_view::npos;
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > kMaxString || filter.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  for (;;) {
    size_t end = filter.find('/', start);
    std::string_view level = filter.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (level.find_first_of("+#") != std::string_view::npos && level.size() != 1) return false;
    if (level == "#" && end != std::string_view::npos) return false;  // '#' only as the last level
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

size_t varint_size(uint32_t v) { return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4; }

size_t encode_varint(uint32_t v, char* out) {
  size_t n = 0;
  do {
    uint8_t b = v % 128;
    v /= 128;
    if (v) b |= 0x80;
    out[n++] = static_cast<char>(b);
  } while (v && n < 4);
  return n;
}

int decode_varint(std::string_view in, uint32_t& out) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; i++) {
    if (i >= in.size()) return 0;
    uint8_t b = static_cast<uint8_t>(in[i]);
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      out = v;
      return static_cast<int>(i + 1);
    }
  }
  return -1;  // MQTT v5.0 §1.5.5: a fifth byte is malformed
}

bool next_property(std::string_view& block, Property& out, bool& malformed) {
  malformed = false;
  if (block.empty()) return false;
  Reader r{block};
  uint32_t id;
  // Property identifiers are variable byte integers; every defined one fits in one byte.
  if (!r.varint(id) || id > 0xFF || !property_type(static_cast<uint8_t>(id), out.type)) {
    malformed = true;
    return false;
  }
  out = Property{static_cast<uint8_t>(id), out.type, 0, {}, {}};
  bool ok = true;
  switch (out.type) {
    case kPropByte: {
      uint8_t b;
      ok = r.u8(b);
      out.iv = b;
      break;
    }
    case kPropShort: {
      uint16_t s;
      ok = r.u16(s);
      out.iv = s;
      break;
    }
    case kPropInt:
      ok = r.u32(out.iv);
      break;
    case kPropVarInt:
      ok = r.varint(out.iv);
      break;
    case kPropString:
    case kPropBinary:
      ok = r.str(out.val);
      break;
    case kPropStringPair:
      ok = r.str(out.key) && r.str(out.val);
      break;
  }
  if (!ok) {
    malformed = true;
    return false;
  }
  block = r.in;
  return true;
}

bool valid_properties(std::string_view block) {
  Property p;
  bool malformed = false;
  while (next_property(block, p, malformed)) {
  }
  return !malformed;
}

size_t property_size(const Property& p) {
  size_t n = 1;
  switch (p.type) {
    case kPropByte: return n + 1;
    case kPropShort: return n + 2;
    case kPropInt: return n + 4;
    case kPropVarInt: return n + varint_size(p.iv);
    case kPropString:
    case kPropBinary: return n + 2 + p.val.size();
    case kPropStringPair: return n + 4 + p.key.size() + p.val.size();
  }
  return n;
}

size_t encode_property(const Property& p, char* out) {
  char* q = out;
  *q++ = static_cast<char>(p.id);
  switch (p.type) {
    case kPropByte: *q++ = static_cast<char>(p.iv); break;
    case kPropShort: q = put_u16(q, static_cast<uint16_t>(p.iv)); break;
    case kPropInt:
      for (int i = 3; i >= 0; i--) *q++ = static_cast<char>((p.iv >> (8 * i)) & 0xFF);
      break;
    case kPropVarInt: q += encode_varint(p.iv, q); break;
    case kPropString:
    case kPropBinary: q = put_str(q, p.val); break;
    case kPropStringPair:
      q = put_str(q, p.key);
      q = put_str(q, p.val);
      break;
  }
  return static_cast<size_t>(q - out);
}

Status parse(std::string_view in, int version, size_t max_size, Packet& out) {
  out = Packet{};
  if (in.empty()) return Status::Incomplete;
  uint32_t remaining;
  int n = decode_varint(in.substr(1), remaining);
  if (n < 0) return Status::Malformed;
  if (n == 0) return Status::Incomplete;
  const size_t total = 1 + static_cast<size_t>(n) + remaining;
  if (total > max_size) return Status::TooLarge;
  if (in.size() < total) return Status::Incomplete;
  const auto b0 = static_cast<uint8_t>(in[0]);
  out.cmd = b0 >> 4;
  out.flags = b0 & 0x0F;
  out.size = total;
  Reader r{in.substr(1 + static_cast<size_t>(n), remaining)};
  switch (out.cmd) {
    case kPublish: {
      out.qos = (out.flags >> 1) & 3;
      out.retain = out.flags & 1;
      out.dup = out.flags & 8;
      if (out.qos == 3) return Status::Malformed;  // MQTT 3.1.1 §3.3.1.2
      if (!r.str(out.topic)) return Status::Malformed;
      if (out.qos > 0 && (!r.u16(out.id) || out.id == 0)) return Status::Malformed;
      if (!read_props(r, version, out.props)) return Status::Malformed;
      out.payload = r.in;
      return Status::Complete;
    }
    case kConnack: {
      uint8_t session_present;
      if (!r.u8(session_present) || !r.u8(out.ack)) return Status::Malformed;
      if (!r.in.empty() && !read_props(r, version, out.props)) return Status::Malformed;
      out.payload = r.in;
      return Status::Complete;
    }
    case kPuback:
    case kPubrec:
    case kPubrel:
    case kPubcomp: {
      if (out.cmd == kPubrel && out.flags != 2) return Status::Malformed;  // MQTT 3.1.1 §3.6.1
      if (!r.u16(out.id)) return Status::Malformed;
      // MQTT 5 §3.4.2.1: reason code and properties may be left out (reason 0).
      if (version == 5 && !r.in.empty()) {
        if (!r.u8(out.ack)) return Status::Malformed;
        if (!r.in.empty() && !read_props(r, version, out.props)) return Status::Malformed;
      }
      out.payload = r.in;
      return Status::Complete;
    }
    case kSubscribe:
    case kUnsubscribe:
    case kSuback:
    case kUnsuback: {
      if ((out.cmd == kSubscribe || out.cmd == kUnsubscribe) && out.flags != 2) return Status::Malformed;
      if (!r.u16(out.id)) return Status::Malformed;
      if (out.id == 0 && (out.cmd == kSubscribe || out.cmd == kUnsubscribe)) return Status::Malformed;
      if (!read_props(r, version, out.props)) return Status::Malformed;
      out.payload = r.in;  // topic filters (with options) or return codes: the program reads them
      return Status::Complete;
    }
    case kConnect: {
      std::string_view name;
      if (!r.str(name)) return Status::Malformed;
      out.payload = r.in;  // level, flags, keepalive, properties, client id, will, credentials
      if (!r.u8(out.level)) return Status::Malformed;
      return Status::Complete;
    }
    case 0:
      return Status::Malformed;  // type 0 is reserved
    default:  // PINGREQ, PINGRESP, DISCONNECT, AUTH
      out.payload = r.in;
      return Status::Complete;
  }
}

namespace {
size_t connect_body_size(const ConnectOpts& o) {
  size_t n = 2 + 4 + 1 + 1 + 2;  // "MQTT", level, flags, keepalive
  if (o.version == 5) n += props_size(o.props);
  n += 2 + o.client_id.size();
  if (!o.will_topic.empty()) {
    if (o.version == 5) n += 1;  // empty will properties
    n += 2 + o.will_topic.size() + 2 + o.will_message.size();
  }
  if (!o.username.empty()) n += 2 + o.username.size();
  if (!o.password.empty()) n += 2 + o.password.size();
  return n;
}
}  // namespace

size_t connect_size(const ConnectOpts& o) { return with_fixed(connect_body_size(o)); }

size_t encode_connect(const ConnectOpts& o, char* out) {
  char* p = put_fixed(out, kConnect << 4, static_cast<uint32_t>(connect_body_size(o)));
  p = put_str(p, "MQTT");
  *p++ = static_cast<char>(o.version == 5 ? 5 : 4);
  uint8_t flags = 0;
  if (o.clean_session || o.client_id.empty()) flags |= 0x02;
  if (!o.will_topic.empty()) flags |= 0x04 | static_cast<uint8_t>((o.will_qos & 3) << 3) | (o.will_retain ? 0x20 : 0);
  if (!o.password.empty()) flags |= 0x40;
  if (!o.username.empty()) flags |= 0x80;
  *p++ = static_cast<char>(flags);
  p = put_u16(p, o.keepalive);
  if (o.version == 5) p = put_props(p, o.props);
  p = put_str(p, o.client_id);
  if (!o.will_topic.empty()) {
    if (o.version == 5) *p++ = 0;
    p = put_str(p, o.will_topic);
    p = put_str(p, o.will_message);
  }
  if (!o.username.empty()) p = put_str(p, o.username);
  if (!o.password.empty()) p = put_str(p, o.password);
  return static_cast<size_t>(p - out);
}

size_t publish_size(const PublishOpts& o) {
  size_t n = 2 + o.topic.size() + (o.qos > 0 ? 2 : 0) + o.payload.size();
  if (o.version == 5) n += props_size(o.props);
  return with_fixed(n);
}

size_t encode_publish(const PublishOpts& o, char* out) {
  size_t body = 2 + o.topic.size() + (o.qos > 0 ? 2 : 0) + o.payload.size();
  if (o.version == 5) body += props_size(o.props);
  uint8_t first = static_cast<uint8_t>(kPublish << 4 | (o.dup ? 8 : 0) | (o.qos & 3) << 1 | (o.retain ? 1 : 0));
  char* p = put_fixed(out, first, static_cast<uint32_t>(body));
  p = put_str(p, o.topic);
  if (o.qos > 0) p = put_u16(p, o.id);
  if (o.version == 5) p = put_props(p, o.props);
  p = put_bytes(p, o.payload);
  return static_cast<size_t>(p - out);
}

size_t subscribe_size(int version, std::string_view topic, bool unsubscribe) {
  size_t n = 2 + 2 + topic.size() + (unsubscribe ? 0 : 1);
  if (version == 5) n += 1;  // empty properties
  return with_fixed(n);
}

size_t encode_subscribe(int version, uint16_t id, std::string_view topic, uint8_t qos, bool unsubscribe,
                        char* out) {
  size_t body = 2 + 2 + topic.size() + (unsubscribe ? 0 : 1) + (version == 5 ? 1 : 0);
  char* p = put_fixed(out, unsubscribe ? 0xA2 : 0x82, static_cast<uint32_t>(body));
  p = put_u16(p, id);
  if (version == 5) *p++ = 0;
  p = put_str(p, topic);
  if (!unsubscribe) *p++ = static_cast<char>(qos & 3);
  return static_cast<size_t>(p - out);
}

size_t ack_size(int version, uint8_t reason) { return version == 5 && reason != 0 ? 5 : 4; }

size_t encode_ack(Cmd cmd, uint16_t id, int version, uint8_t reason, char* out) {
  const bool with_reason = version == 5 && reason != 0;
  char* p = put_fixed(out, static_cast<uint8_t>(cmd << 4 | (cmd == kPubrel ? 2 : 0)), with_reason ? 3 : 2);
  p = put_u16(p, id);
  if (with_reason) *p++ = static_cast<char>(reason);
  return static_cast<size_t>(p - out);
}

size_t empty_size(Cmd cmd, int version) { return cmd == kDisconnect && version == 5 ? 3 : 2; }

size_t encode_empty(Cmd cmd, int version, char* out) {
  out[0] = static_cast<char>(cmd << 4);
  if (cmd == kDisconnect && version == 5) {
    out[1] = 1;
    out[2] = 0;  // normal disconnection
    return 3;
  }
  out[1] = 0;
  return 2;
}

}  // namespace mg::mqtt
