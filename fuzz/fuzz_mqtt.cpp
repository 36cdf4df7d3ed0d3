// libFuzzer target: the MQTT codec (mg/mqtt.hpp) on a stream of packets.
// Byte 0 picks the protocol version (bit 0: 5 else 3.1.1) and a size limit (bits 1-3);
// the rest is parsed packet after packet. Invariants: views lie inside the input; a
// Complete packet's size is within the input and the limit, and every strict prefix of
// it is Incomplete; TooLarge never happens when the limit is the input's size or more
// and the packet is complete; a PUBLISH re-encoded from its fields parses back to the
// same fields; property blocks of Complete packets walk to their end.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "mg/mqtt.hpp"

#include "check.hpp"

namespace mqtt = mg::mqtt;

static bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int version = (data[0] & 1) ? 5 : 4;
  static const size_t kLimits[] = {2, 5, 16, 64, 256, 4096, 1 << 20, SIZE_MAX};
  const size_t limit = kLimits[(data[0] >> 1) & 7];
  // An exact-size heap copy, so a read past the end is caught by ASan.
  std::unique_ptr<char[]> buf(new char[size - 1 ? size - 1 : 1]);
  if (size > 1) std::memcpy(buf.get(), data + 1, size - 1);
  std::string_view in(buf.get(), size - 1);
  for (int guard = 0; guard < 1000 && !in.empty(); guard++) {
    mqtt::Packet p;
    mqtt::Status st = mqtt::parse(in, version, limit, p);
    if (st != mqtt::Status::Complete) break;
    CHECK(p.size >= 2 && p.size <= in.size() && p.size <= limit);
    std::string_view pkt = in.substr(0, p.size);
    CHECK(inside(p.topic, pkt) && inside(p.payload, pkt) && inside(p.props, pkt));
    for (size_t k = 0; k < p.size && k < 64; k++) {
      mqtt::Packet q;
      CHECK(mqtt::parse(pkt.substr(0, k), version, limit, q) != mqtt::Status::Complete);
    }
    CHECK(mqtt::valid_properties(p.props));
    if (p.cmd == mqtt::kPublish && p.size < 65536) {
      mqtt::PublishOpts o;
      o.version = version;
      o.topic = p.topic;
      o.payload = p.payload;
      o.qos = p.qos;
      o.retain = p.retain;
      o.dup = p.dup;
      o.id = p.id;
      o.props = p.props;
      std::string again(mqtt::publish_size(o), '\0');
      CHECK(mqtt::encode_publish(o, again.data()) == again.size());
      mqtt::Packet r;
      CHECK(mqtt::parse(again, version, SIZE_MAX, r) == mqtt::Status::Complete);
      CHECK(r.topic == p.topic && r.payload == p.payload && r.id == p.id && r.qos == p.qos &&
            r.retain == p.retain && r.props == p.props);
    }
    in.remove_prefix(p.size);
  }
  uint32_t v;
  int n = mqtt::decode_varint(in, v);
  if (n > 0) {
    char enc[4];
    size_t m = mqtt::encode_varint(v, enc);
    CHECK(m <= static_cast<size_t>(n));
    uint32_t back;
    CHECK(mqtt::decode_varint(std::string_view(enc, m), back) == static_cast<int>(m) && back == v);
  }
  return 0;
}
