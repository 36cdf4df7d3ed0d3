// MQTT on a connection (spec §6.9): packets parsed from the receive buffer, the automatic
// answers queued before the program sees a packet, MQTT_OPEN/MSG/CMD events; clients and
// the children of an MQTT listener share the driver. Not a broker: nothing is routed.
#include <cstring>
#include <string>

#include "drivers.hpp"
#include "mg/mqtt.hpp"
#include "mg/proto.hpp"
#include "mg/random.hpp"

namespace mg::proto {

namespace {

// Per-manager packet identifiers, shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE (spec §3.2).
struct MqttShared final : Extension {
  uint16_t next_id = 0;
};

uint16_t next_packet_id(Manager& m) {
  auto& slot = m.extension(kMqttExtension);
  if (!slot) slot = std::make_unique<MqttShared>();
  auto& s = static_cast<MqttShared&>(*slot);
  if (++s.next_id == 0) s.next_id = 1;  // 1-65535, never 0
  return s.next_id;
}

}  // namespace

class MqttDriver final : public Driver {
 public:
  static constexpr char kTag = 0;
  MqttDriver(bool client, int version) : Driver(&kTag), client(client), version(version) {}
  void on_data(Connection& c) override;
  bool wants_input(const Connection&) const override { return !failed; }
  // Bad input: ERROR, then what was already queued (answers to the packets before it)
  // goes out and the connection closes; nothing after the bad packet is parsed.
  void fail(Connection& c, std::string_view text) {
    failed = true;
    c.rx.clear();
    std::string_view msg = text;
    c.mgr->emit(&c, EV_ERROR, &msg);
    c.mgr->drain(&c);
  }

  bool client;
  bool failed = false;
  int version;  // 5 for v5 clients and for children whose CONNECT said level 5
};

namespace {

MqttDriver* mqtt_of(Connection* c) { return driver_as<MqttDriver>(c->driver.get()); }

template <class Encode>
void queue(Connection* c, size_t n, Encode&& encode) {
  char* p = c->tx().tail(n);
  if (!p) {
    c->mgr->error(c, "MG_MAX_RECV_SIZE");  // out of memory for output
    return;
  }
  size_t written = encode(p);
  c->tx().commit(written);
  c->mgr->output_queued(c);
}

void queue_ack(Connection* c, mqtt::Cmd cmd, uint16_t id, int version) {
  queue(c, mqtt::ack_size(version, 0), [&](char* p) { return mqtt::encode_ack(cmd, id, version, 0, p); });
}

}  // namespace

void MqttDriver::on_data(Connection& c) {
  Manager& m = *c.mgr;
  if (failed) {
    c.rx.clear();
    return;
  }
  while (!c.is_closed && !c.is_closing && !failed && !c.rx.empty()) {
    mqtt::Packet p;
    switch (mqtt::parse({c.rx.data(), c.rx.size()}, version, m.limits().max_recv, p)) {
      case mqtt::Status::Incomplete:
        return;
      case mqtt::Status::Malformed:
        fail(c, "MQTT malformed packet");
        return;
      case mqtt::Status::TooLarge:
        fail(c, "MG_MAX_RECV_SIZE");
        return;
      case mqtt::Status::Complete:
        break;
    }
    // A child speaks the version its client's CONNECT announced.
    if (!client && p.cmd == mqtt::kConnect && p.level == 5) version = 5;
    // Automatic answers go out before the program sees the packet (spec §6.9).
    if (p.cmd == mqtt::kPublish && p.qos == 1) queue_ack(&c, mqtt::kPuback, p.id, version);
    if (p.cmd == mqtt::kPublish && p.qos == 2) queue_ack(&c, mqtt::kPubrec, p.id, version);
    if (p.cmd == mqtt::kPubrec) queue_ack(&c, mqtt::kPubrel, p.id, version);
    if (p.cmd == mqtt::kPubrel) queue_ack(&c, mqtt::kPubcomp, p.id, version);
    MqttMessage msg;
    msg.cmd = p.cmd;
    msg.qos = p.qos;
    msg.id = p.id;
    msg.ack = p.ack;
    msg.topic = p.topic;
    msg.data = p.payload;  // PUBLISH: the payload; others: what follows the id and properties
    msg.props = p.props;
    msg.version = version;
    // Consumed before the handlers run (spec §5.6 R4); the views stay valid: consuming
    // moves no bytes.
    c.rx.consume(p.size);
    bool refused = false;
    if (client && p.cmd == mqtt::kConnack) {
      int code = p.ack;
      refused = code != 0;
      m.emit(&c, EV_MQTT_OPEN, &code);
      if (c.is_closed) return;
    }
    if (p.cmd == mqtt::kPublish) {
      m.emit(&c, EV_MQTT_MSG, &msg);
      if (c.is_closed) return;
    }
    m.emit(&c, EV_MQTT_CMD, &msg);
    if (c.is_closed) return;
    if (refused) m.drain(&c);  // the broker said no: close once our output is out
  }
}

std::unique_ptr<Driver> make_mqtt_driver(bool client, int version) {
  return std::make_unique<MqttDriver>(client, version);
}

Connection* mqtt_listen(Manager& m, std::string_view url) {
  return m.listen(url, false, [](Connection&) { return make_mqtt_driver(false, 4); });
}

Connection* mqtt_connect(Manager& m, std::string_view url, const mqtt::ConnectOpts& opts) {
  mqtt::ConnectOpts o = opts;
  char id[20];
  if (o.client_id.empty()) {
    // Spec §3.1: a random 20-character [A-Za-z0-9] id from the OS CSPRNG (§8.7).
    if (!random_alnum(id, sizeof id)) return nullptr;
    o.client_id = std::string_view(id, sizeof id);
  }
  Connection* c = m.connect(url, false, make_mqtt_driver(true, o.version));
  if (!c || c->is_closed) return c;
  queue(c, mqtt::connect_size(o), [&](char* p) { return mqtt::encode_connect(o, p); });
  return c;
}

}  // namespace mg::proto

namespace mg::mqtt {

bool is_mqtt(const Connection* c) { return proto::mqtt_of(const_cast<Connection*>(c)) != nullptr; }

int version_of(const Connection* c) {
  auto* d = proto::mqtt_of(const_cast<Connection*>(c));
  return d ? d->version : 4;
}

uint16_t publish(Connection* c, std::string_view topic, std::string_view payload, uint8_t qos, bool retain,
                 std::string_view props) {
  PublishOpts o;
  o.version = version_of(c);
  o.topic = topic;
  o.payload = payload;
  o.qos = qos;
  o.retain = retain;
  o.props = o.version == 5 ? props : std::string_view();
  o.id = qos > 0 ? proto::next_packet_id(*c->mgr) : 0;
  proto::queue(c, publish_size(o), [&](char* p) { return encode_publish(o, p); });
  return o.id;
}

uint16_t subscribe(Connection* c, std::string_view topic, uint8_t qos, bool unsubscribe) {
  const int v = version_of(c);
  uint16_t id = proto::next_packet_id(*c->mgr);
  proto::queue(c, subscribe_size(v, topic, unsubscribe),
               [&](char* p) { return encode_subscribe(v, id, topic, qos, unsubscribe, p); });
  return id;
}

void send_empty(Connection* c, Cmd cmd) {
  const int v = version_of(c);
  proto::queue(c, empty_size(cmd, v), [&](char* p) { return encode_empty(cmd, v, p); });
}

}  // namespace mg::mqtt
