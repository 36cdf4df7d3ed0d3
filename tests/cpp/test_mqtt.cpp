// Tests for src/core/codec/mqtt.cpp: the wire bytes of spec §6.9 for every packet we
// send, parsing of every packet type at every split point, variable byte integers at
// their edges, MQTT 5 properties of every type, and the malformed and oversized inputs of
// spec §8.6 (a 5-byte remaining length, lengths past the packet, QoS 3).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mg/mqtt.hpp"

namespace mqtt = mg::mqtt;
using namespace std::string_literals;

namespace {

template <class SizeFn, class EncodeFn>
std::string encode(SizeFn size, EncodeFn enc) {
  std::string out(size(), '\0');
  size_t n = enc(out.data());
  EXPECT_EQ(n, out.size());
  return out;
}

std::string connect_bytes(const mqtt::ConnectOpts& o) {
  return encode([&] { return mqtt::connect_size(o); }, [&](char* p) { return mqtt::encode_connect(o, p); });
}

std::string publish_bytes(const mqtt::PublishOpts& o) {
  return encode([&] { return mqtt::publish_size(o); }, [&](char* p) { return mqtt::encode_publish(o, p); });
}

// Every strict prefix is Incomplete and the whole packet parses the same way.
mqtt::Packet parse_all_splits(const std::string& wire, int version) {
  mqtt::Packet p;
  for (size_t k = 0; k < wire.size(); k++)
    EXPECT_EQ(mqtt::parse(std::string_view(wire).substr(0, k), version, 1 << 20, p), mqtt::Status::Incomplete)
        << "prefix " << k;
  // The packet's views point into the input: keep it for the test's lifetime.
  static std::vector<std::unique_ptr<std::string>> inputs;
  inputs.push_back(std::make_unique<std::string>(wire + "trailing"));
  EXPECT_EQ(mqtt::parse(*inputs.back(), version, 1 << 20, p), mqtt::Status::Complete);
  EXPECT_EQ(p.size, wire.size());
  return p;
}

TEST(MqttVarint, EdgesEncodeAndDecode) {
  struct Case {
    uint32_t v;
    std::string bytes;
  } cases[] = {{0, "\x00"s},
               {127, "\x7f"s},
               {128, "\x80\x01"s},
               {16383, "\xff\x7f"s},
               {16384, "\x80\x80\x01"s},
               {2097151, "\xff\xff\x7f"s},
               {2097152, "\x80\x80\x80\x01"s},
               {mqtt::kMaxVarInt, "\xff\xff\xff\x7f"s}};
  for (const Case& c : cases) {
    char buf[4];
    ASSERT_EQ(mqtt::varint_size(c.v), c.bytes.size());
    ASSERT_EQ(mqtt::encode_varint(c.v, buf), c.bytes.size());
    EXPECT_EQ(std::string(buf, c.bytes.size()), c.bytes);
    uint32_t back = 1;
    EXPECT_EQ(mqtt::decode_varint(c.bytes, back), static_cast<int>(c.bytes.size()));
    EXPECT_EQ(back, c.v);
    for (size_t k = 0; k < c.bytes.size(); k++)
      EXPECT_EQ(mqtt::decode_varint(std::string_view(c.bytes).substr(0, k), back), 0);
  }
  uint32_t v;
  EXPECT_EQ(mqtt::decode_varint("\xff\xff\xff\xff\x01"s, v), -1) << "a fifth byte is malformed";
  EXPECT_EQ(mqtt::decode_varint("\x80\x80\x80\x80"s, v), -1);
}

TEST(MqttEncode, ConnectBytesOfSpec69) {
  mqtt::ConnectOpts o;
  o.client_id = "abc";
  o.keepalive = 60;
  EXPECT_EQ(connect_bytes(o), "\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03" "abc"s);
  o.username = "u";
  o.password = "pw";
  o.clean_session = false;
  EXPECT_EQ(connect_bytes(o), "\x10\x16\x00\x04MQTT\x04\xc0\x00\x3c\x00\x03" "abc\x00\x01u\x00\x02pw"s);
  mqtt::ConnectOpts anon;  // empty client id forces a clean session
  anon.clean_session = false;
  anon.keepalive = 0;
  EXPECT_EQ(connect_bytes(anon), "\x10\x0c\x00\x04MQTT\x04\x02\x00\x00\x00\x00"s);
  mqtt::ConnectOpts v5;
  v5.version = 5;
  v5.client_id = "c";
  EXPECT_EQ(connect_bytes(v5), "\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01" "c"s);
  mqtt::ConnectOpts will;
  will.client_id = "c";
  will.will_topic = "t";
  will.will_message = "bye";
  will.will_qos = 1;
  will.will_retain = true;
  EXPECT_EQ(connect_bytes(will), "\x10\x15\x00\x04MQTT\x04\x2e\x00\x3c\x00\x01" "c\x00\x01t\x00\x03" "bye"s);
  mqtt::Packet p = parse_all_splits(connect_bytes(will), 4);
  EXPECT_EQ(p.cmd, mqtt::kConnect);
  EXPECT_EQ(p.level, 4);
}

TEST(MqttEncode, PublishSubscribeAcksAndEmptyPackets) {
  mqtt::PublishOpts pub;
  pub.topic = "a/b";
  pub.payload = "hi";
  EXPECT_EQ(publish_bytes(pub), "\x30\x07\x00\x03" "a/bhi"s);
  pub.qos = 1;
  pub.id = 0x1234;
  pub.retain = true;
  EXPECT_EQ(publish_bytes(pub), "\x33\x09\x00\x03" "a/b\x12\x34hi"s);
  pub.version = 5;
  EXPECT_EQ(publish_bytes(pub), "\x33\x0a\x00\x03" "a/b\x12\x34\x00hi"s);

  std::string sub(mqtt::subscribe_size(4, "x/#", false), '\0');
  mqtt::encode_subscribe(4, 7, "x/#", 2, false, sub.data());
  EXPECT_EQ(sub, "\x82\x08\x00\x07\x00\x03x/#\x02"s);
  std::string unsub(mqtt::subscribe_size(5, "x/#", true), '\0');
  mqtt::encode_subscribe(5, 8, "x/#", 0, true, unsub.data());
  EXPECT_EQ(unsub, "\xa2\x08\x00\x08\x00\x00\x03x/#"s);

  char buf[8];
  EXPECT_EQ(std::string(buf, mqtt::encode_ack(mqtt::kPuback, 0x0102, 4, 0, buf)), "\x40\x02\x01\x02"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_ack(mqtt::kPubrec, 9, 4, 0, buf)), "\x50\x02\x00\x09"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_ack(mqtt::kPubrel, 9, 4, 0, buf)), "\x62\x02\x00\x09"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_ack(mqtt::kPubcomp, 9, 5, 0, buf)), "\x70\x02\x00\x09"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_ack(mqtt::kPuback, 9, 5, 0x10, buf)), "\x40\x03\x00\x09\x10"s);
  EXPECT_EQ(mqtt::ack_size(5, 0x10), 5u);
  EXPECT_EQ(std::string(buf, mqtt::encode_empty(mqtt::kPingreq, 4, buf)), "\xc0\x00"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_empty(mqtt::kPingresp, 5, buf)), "\xd0\x00"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_empty(mqtt::kDisconnect, 4, buf)), "\xe0\x00"s);
  EXPECT_EQ(std::string(buf, mqtt::encode_empty(mqtt::kDisconnect, 5, buf)), "\xe0\x01\x00"s);
  EXPECT_EQ(mqtt::empty_size(mqtt::kDisconnect, 5), 3u);
}

TEST(MqttParse, EveryPacketTypeAtEverySplitPoint) {
  const std::string payload(300, 'p');  // a two-byte remaining length
  mqtt::PublishOpts pub;
  pub.topic = "t";
  pub.payload = payload;
  pub.qos = 2;
  pub.id = 513;
  mqtt::Packet p = parse_all_splits(publish_bytes(pub), 4);
  EXPECT_EQ(p.cmd, mqtt::kPublish);
  EXPECT_EQ(p.qos, 2);
  EXPECT_EQ(p.id, 513);
  EXPECT_EQ(p.topic, "t");
  EXPECT_EQ(p.payload, pub.payload);
  EXPECT_FALSE(p.retain);

  p = parse_all_splits("\x20\x02\x00\x05"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kConnack);
  EXPECT_EQ(p.ack, 5);
  p = parse_all_splits("\x20\x03\x01\x00\x00"s, 5);  // v5 CONNACK with empty properties
  EXPECT_EQ(p.ack, 0);
  p = parse_all_splits("\x40\x02\x00\x2a"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kPuback);
  EXPECT_EQ(p.id, 42);
  p = parse_all_splits("\x62\x02\x00\x2a"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kPubrel);
  p = parse_all_splits("\x90\x03\x00\x07\x01"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kSuback);
  EXPECT_EQ(p.id, 7);
  EXPECT_EQ(p.payload, "\x01"s);
  p = parse_all_splits("\x82\x08\x00\x07\x00\x03x/#\x02"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kSubscribe);
  EXPECT_EQ(p.payload, "\x00\x03x/#\x02"s);
  p = parse_all_splits("\xc0\x00"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kPingreq);
  p = parse_all_splits("\xe0\x00"s, 4);
  EXPECT_EQ(p.cmd, mqtt::kDisconnect);
}

TEST(MqttParse, MalformedAndOversized) {
  mqtt::Packet p;
  struct Case {
    std::string wire;
    int version;
    mqtt::Status want;
  } cases[] = {
      {"\x30\xff\xff\xff\xff\x01"s, 4, mqtt::Status::Malformed},   // 5-byte remaining length
      {"\x36\x05\x00\x01t\x00\x01"s, 4, mqtt::Status::Malformed},  // QoS 3
      {"\x30\x03\x00\x05t"s, 4, mqtt::Status::Malformed},          // topic past the packet
      {"\x32\x03\x00\x01t"s, 4, mqtt::Status::Malformed},          // QoS 1 without a packet id
      {"\x32\x05\x00\x01t\x00\x00"s, 4, mqtt::Status::Malformed},  // packet id 0
      {"\x60\x02\x00\x01"s, 4, mqtt::Status::Malformed},           // PUBREL flags must be 2
      {"\x80\x05\x00\x01\x00\x01x"s, 4, mqtt::Status::Malformed},  // SUBSCRIBE flags must be 2
      {"\x40\x01\x00"s, 4, mqtt::Status::Malformed},               // PUBACK without a full id
      {"\x00\x00"s, 4, mqtt::Status::Malformed},                   // reserved type 0
      {"\x30\x05\x00\x01t\x05\x01"s, 5, mqtt::Status::Malformed},  // v5 properties past the packet
      {"\x30\x06\x00\x01t\x02\x7f\x00"s, 5, mqtt::Status::Malformed},  // unknown property id
  };
  for (const Case& c : cases)
    EXPECT_EQ(mqtt::parse(c.wire, c.version, 1 << 20, p), c.want) << testing::PrintToString(c.wire);
  // The size is judged from the fixed header alone: 5 bytes announcing 256 MiB.
  EXPECT_EQ(mqtt::parse("\x30\xff\xff\xff\x7f"s, 4, 1 << 20, p), mqtt::Status::TooLarge);
  // At, below and above a limit of 10 bytes.
  std::string at = "\x30\x08\x00\x01t12345"s;  // 10 bytes
  EXPECT_EQ(mqtt::parse(at, 4, 10, p), mqtt::Status::Complete);
  EXPECT_EQ(mqtt::parse(at, 4, 11, p), mqtt::Status::Complete);
  EXPECT_EQ(mqtt::parse(at, 4, 9, p), mqtt::Status::TooLarge);
}

TEST(MqttProperties, EveryTypeRoundTrips) {
  static const std::string kBinary("\x00\x01\x02", 3);  // outlives the views below
  std::vector<mqtt::Property> props = {
      {0x01, mqtt::kPropByte, 1, {}, {}},
      {0x02, mqtt::kPropInt, 0xdeadbeef, {}, {}},
      {0x03, mqtt::kPropString, 0, {}, "text/plain"},
      {0x09, mqtt::kPropBinary, 0, {}, kBinary},
      {0x0B, mqtt::kPropVarInt, 300, {}, {}},
      {0x23, mqtt::kPropShort, 0xabcd, {}, {}},
      {0x26, mqtt::kPropStringPair, 0, "name", "value"},
  };
  // Types agree with the table of MQTT v5.0 §2.2.2.2.
  for (const auto& p : props) {
    mqtt::PropType t;
    ASSERT_TRUE(mqtt::property_type(p.id, t));
    EXPECT_EQ(t, p.type);
  }
  mqtt::PropType t;
  EXPECT_FALSE(mqtt::property_type(0x7f, t));
  std::string block;
  for (const auto& p : props) {
    std::string one(mqtt::property_size(p), '\0');
    EXPECT_EQ(mqtt::encode_property(p, one.data()), one.size());
    block += one;
  }
  std::string_view walk = block;
  mqtt::Property got;
  bool malformed = false;
  size_t i = 0;
  while (mqtt::next_property(walk, got, malformed)) {
    ASSERT_LT(i, props.size());
    EXPECT_EQ(got.id, props[i].id);
    EXPECT_EQ(got.iv, props[i].iv);
    EXPECT_EQ(got.key, props[i].key);
    EXPECT_EQ(got.val, props[i].val);
    i++;
  }
  EXPECT_FALSE(malformed);
  EXPECT_EQ(i, props.size());
  EXPECT_TRUE(mqtt::valid_properties(block));
  for (size_t k = 1; k < block.size(); k++) {
    // A block cut inside a property is malformed, unless the cut falls between properties.
    std::string_view cut = std::string_view(block).substr(0, k);
    bool boundary = false;
    size_t pos = 0;
    for (const auto& p : props) {
      pos += mqtt::property_size(p);
      if (pos == k) boundary = true;
    }
    EXPECT_EQ(mqtt::valid_properties(cut), boundary) << "cut at " << k;
  }
  // A v5 PUBLISH carries them through parse().
  mqtt::PublishOpts pub;
  pub.version = 5;
  pub.topic = "t";
  pub.payload = "x";
  pub.props = block;
  mqtt::Packet p = parse_all_splits(publish_bytes(pub), 5);
  EXPECT_EQ(p.props, block);
  EXPECT_EQ(p.payload, "x");
}

}  // namespace

namespace {

TEST(MqttTopics, NamesAndFiltersOfSection47) {
  for (const char* ok : {"a", "a/b", "/", "a//b", "sport/tennis/player1", "$SYS/x"})
    EXPECT_TRUE(mqtt::valid_topic_name(ok)) << ok;
  for (const char* bad : {"", "a/+", "a/#", "+", "#", "a+b"}) EXPECT_FALSE(mqtt::valid_topic_name(bad)) << bad;
  EXPECT_TRUE(mqtt::valid_topic_name(std::string(65535, 'x')));
  EXPECT_FALSE(mqtt::valid_topic_name(std::string(65536, 'x')));
  EXPECT_FALSE(mqtt::valid_topic_name("a\0b"s));
  for (const char* ok : {"#", "+", "a/#", "a/+/b", "+/+", "/+", "a/b", "+/#"})
    EXPECT_TRUE(mqtt::valid_topic_filter(ok)) << ok;
  for (const char* bad : {"", "a/#/b", "a#", "a/b+", "#/a", "a/++"}) EXPECT_FALSE(mqtt::valid_topic_filter(bad)) << bad;
}

}  // namespace
