// MQTT 3.1.1 and 5 packet codec (OASIS MQTT v3.1.1 §2-3, MQTT v5.0 §1.5, §2-3). Pure:
// parses one packet from a byte span into views of it, and encodes packets into a caller's
// buffer of the exact size the matching *_size() function gives. Never allocates, never
// reads past its input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mg::mqtt {

// Control packet types (the high nibble of byte 0).
enum Cmd : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// MQTT 5 property value types, with the numbers of spec §2.4 (MQTT_PROP_TYPE_*).
enum PropType : uint8_t {
  kPropByte = 0,
  kPropString = 1,
  kPropStringPair = 2,
  kPropBinary = 3,
  kPropVarInt = 4,
  kPropInt = 5,
  kPropShort = 6,
};

// The value type of property `id` (MQTT v5.0 §2.2.2.2); false for an unknown id.
bool property_type(uint8_t id, PropType& out);

enum class Status : uint8_t { Complete, Incomplete, Malformed, TooLarge };

struct Packet {
  uint8_t cmd = 0;    // Cmd
  uint8_t flags = 0;  // low nibble of byte 0
  uint8_t qos = 0;    // PUBLISH QoS (flags bits 1-2)
  bool retain = false;
  bool dup = false;
  uint16_t id = 0;    // packet identifier: PUBLISH (QoS > 0), acks, (UN)SUBSCRIBE, (UN)SUBACK
  uint8_t ack = 0;    // CONNACK return code (3.1.1) or reason code (5)
  uint8_t level = 0;  // CONNECT: protocol level (4 = 3.1.1, 5 = 5)
  std::string_view topic;    // PUBLISH topic
  std::string_view payload;  // PUBLISH payload; CONNECT: from the protocol level on; others:
                             // what follows the packet id and properties
  std::string_view props;    // MQTT 5 properties block, without its length (PUBLISH, CONNACK, acks)
  size_t size = 0;           // bytes of the whole packet (fixed header included)
};

// Parses the packet at the start of `in`; `version` 5 reads the property blocks of MQTT 5.
//   Incomplete: more bytes are needed (the fixed header says how many once it is whole).
//   TooLarge:   the packet announces more than `max_size` bytes (decided from the fixed
//               header alone, before its body is buffered).
//   Malformed:  a remaining length of more than 4 bytes, a field running past the packet,
//               PUBLISH with QoS 3 or an empty topic, a packet id of 0 where one is required,
//               wrong fixed flags on PUBREL/SUBSCRIBE/UNSUBSCRIBE, a bad property block.
Status parse(std::string_view in, int version, size_t max_size, Packet& out);

// MQTT 3.1.1 §4.7: a topic name (PUBLISH) is 1-65535 bytes without wildcards; a topic
// filter (SUBSCRIBE) is 1-65535 bytes where '+' fills a whole level and '#' is the last one.
bool valid_topic_name(std::string_view topic);
bool valid_topic_filter(std::string_view filter);
// Strings and binary fields carry a 16-bit length (MQTT 3.1.1 §1.5.3).
constexpr size_t kMaxString = 65535;

// Variable byte integers (MQTT v5.0 §1.5.5): at most 4 bytes, values below 268,435,456.
constexpr uint32_t kMaxVarInt = 268435455;
size_t varint_size(uint32_t v);
size_t encode_varint(uint32_t v, char* out);
// Bytes used (1-4), 0 when `in` ends inside the integer, -1 when a 5th byte would follow.
int decode_varint(std::string_view in, uint32_t& out);

struct Property {
  uint8_t id = 0;
  PropType type = kPropByte;
  uint32_t iv = 0;        // byte, short, int and variable-int values
  std::string_view key;   // string pair: name
  std::string_view val;   // strings, binary data, string pair: value
};

// Walks a properties block: fills `out` with the next property and advances `block`.
// Returns false at the end of the block or on malformed input (then `malformed` is set).
bool next_property(std::string_view& block, Property& out, bool& malformed);
bool valid_properties(std::string_view block);
// Encoded size of one property (identifier + value), and the encoder.
size_t property_size(const Property& p);
size_t encode_property(const Property& p, char* out);

struct ConnectOpts {
  int version = 4;                 // 4 (3.1.1) or 5
  std::string_view client_id;      // empty forces a clean session (MQTT 3.1.1 §3.1.3.1)
  std::string_view username, password;
  bool clean_session = true;
  uint16_t keepalive = 60;         // seconds
  std::string_view will_topic;     // empty: no will message
  std::string_view will_message;
  uint8_t will_qos = 0;
  bool will_retain = false;
  std::string_view props;          // MQTT 5: CONNECT properties block (encoded)
};
size_t connect_size(const ConnectOpts& o);
size_t encode_connect(const ConnectOpts& o, char* out);

struct PublishOpts {
  int version = 4;
  std::string_view topic, payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t id = 0;         // written when qos > 0
  std::string_view props;  // MQTT 5 properties block (encoded)
};
size_t publish_size(const PublishOpts& o);
size_t encode_publish(const PublishOpts& o, char* out);

// SUBSCRIBE of one topic with its requested QoS (`unsubscribe` false), or UNSUBSCRIBE.
size_t subscribe_size(int version, std::string_view topic, bool unsubscribe);
size_t encode_subscribe(int version, uint16_t id, std::string_view topic, uint8_t qos, bool unsubscribe,
                        char* out);

// PUBACK, PUBREC, PUBREL (flags 0x2) and PUBCOMP: 4 bytes (MQTT 5 with a non-zero reason: 5).
size_t ack_size(int version, uint8_t reason);
size_t encode_ack(Cmd cmd, uint16_t id, int version, uint8_t reason, char* out);

// PINGREQ, PINGRESP, DISCONNECT (MQTT 5 DISCONNECT carries a reason code: E0 01 00).
size_t empty_size(Cmd cmd, int version);
size_t encode_empty(Cmd cmd, int version, char* out);

}  // namespace mg::mqtt
