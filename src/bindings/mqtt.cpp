// MQTT in the binding (spec §3.1, §3.2, §3.5): the MqttMessage view, Manager.mqtt_connect /
// mqtt_listen, and the Connection.mqtt_* methods.
#include <nanobind/stl/string.h>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/mqtt.hpp"

namespace pymg {

namespace {

const mg::MqttMessage* msg_of(const PyMqttMessage& v) { return v.m; }

nb::list properties_of(const mg::MqttMessage& m) {
  nb::list out;
  if (m.version != 5 || m.cmd != mg::mqtt::kPublish) return out;
  std::string_view block = m.props;
  mg::mqtt::Property p;
  bool malformed = false;
  while (mg::mqtt::next_property(block, p, malformed)) {
    nb::dict d;
    d["id"] = int(p.id);
    d["iv"] = static_cast<long long>(p.iv);
    d["key"] = decode(p.key);
    d["val"] = decode(p.val);
    out.append(std::move(d));
  }
  return out;
}

// [ext] props for mqtt_pub on MQTT 5 connections: [{"id": int, "iv": int, "key": str,
// "val": str | bytes}, ...], the shape properties() returns. Unknown ids -> ValueError.
std::string encode_props(nb::handle props) {
  std::string out;
  if (props.is_none()) return out;
  nb::object it = nb::steal(PyObject_GetIter(props.ptr()));
  if (!it.is_valid()) {
    PyErr_Clear();
    throw nb::type_error("props must be a list of dicts with 'id' and 'iv' or 'val' (and 'key')");
  }
  while (PyObject* raw = PyIter_Next(it.ptr())) {
    nb::object item = nb::steal(raw);
    if (!PyDict_Check(item.ptr())) throw nb::type_error("each property must be a dict");
    nb::dict d = nb::borrow<nb::dict>(item);
    if (!d.contains("id")) throw nb::value_error("property without 'id'");
    long id = nb::cast<long>(d["id"]);
    mg::mqtt::Property p;
    if (id < 0 || id > 255 || !mg::mqtt::property_type(static_cast<uint8_t>(id), p.type))
      throw nb::value_error(("unknown MQTT 5 property id " + std::to_string(id)).c_str());
    p.id = static_cast<uint8_t>(id);
    ByteView key, val;
    if (d.contains("iv")) p.iv = nb::cast<uint32_t>(d["iv"]);
    if (d.contains("key") && !key.load(nb::object(d["key"]).ptr(), "key")) throw nb::python_error();
    if (d.contains("val") && !val.load(nb::object(d["val"]).ptr(), "val")) throw nb::python_error();
    p.key = key.view();
    p.val = val.view();
    if ((p.type == mg::mqtt::kPropVarInt && p.iv > mg::mqtt::kMaxVarInt) ||
        (p.type == mg::mqtt::kPropShort && p.iv > 0xFFFF) || (p.type == mg::mqtt::kPropByte && p.iv > 0xFF) ||
        p.key.size() > 0xFFFF || p.val.size() > 0xFFFF)
      throw nb::value_error(("value out of range for MQTT 5 property id " + std::to_string(id)).c_str());
    size_t at = out.size();
    out.resize(at + mg::mqtt::property_size(p));
    mg::mqtt::encode_property(p, out.data() + at);
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return out;
}

void check_topic(std::string_view t, bool filter) {
  if (filter ? !mg::mqtt::valid_topic_filter(t) : !mg::mqtt::valid_topic_name(t))
    throw nb::value_error(filter ? "invalid MQTT topic filter (1-65535 bytes; '+' and '#' only as whole levels, '#' last)"
                                 : "invalid MQTT topic (1-65535 bytes, no '+' or '#' wildcards)");
}

uint8_t checked_qos(long qos) {
  if (qos < 0 || qos > 2) throw nb::value_error("qos must be 0, 1 or 2");
  return static_cast<uint8_t>(qos);
}

}  // namespace

nb::object new_mqtt_message_view(const mg::MqttMessage* msg) {
  nb::object obj = nb::inst_alloc(nb::type<PyMqttMessage>());
  new (nb::inst_ptr<PyMqttMessage>(obj)) PyMqttMessage{msg};
  nb::inst_mark_ready(obj);
  return obj;
}

void invalidate_mqtt_view(PyObject* view) { nb::inst_ptr<PyMqttMessage>(view)->m = nullptr; }

int mqtt_pub(PyConnection& pc, nb::handle topic, nb::handle message, long qos, bool retain, nb::handle props) {
  std::string_view t;
  nb::object keep;
  if (!str_arg(topic.ptr(), "topic", t, keep)) throw nb::python_error();
  ByteView payload;
  if (!payload.load(message.ptr(), "message")) throw nb::python_error();
  check_topic(t, false);
  uint8_t q = checked_qos(qos);
  std::string encoded = encode_props(props);
  if (payload.view().size() + t.size() + encoded.size() + 16 > mg::mqtt::kMaxVarInt)
    throw nb::value_error("MQTT packet too large (at most 268435455 bytes)");
  LockedConnection locked(pc);
  return mg::mqtt::publish(locked.get(), t, payload.view(), q, retain, encoded);
}

void mqtt_sub(PyConnection& pc, nb::handle topic, long qos, bool unsubscribe) {
  std::string_view t;
  nb::object keep;
  if (!str_arg(topic.ptr(), "topic", t, keep)) throw nb::python_error();
  check_topic(t, true);
  uint8_t q = unsubscribe ? 0 : checked_qos(qos);
  LockedConnection locked(pc);
  mg::mqtt::subscribe(locked.get(), t, q, unsubscribe);
}

void mqtt_empty(PyConnection& pc, int cmd) {
  LockedConnection locked(pc);
  mg::mqtt::send_empty(locked.get(), static_cast<mg::mqtt::Cmd>(cmd));
}

void bind_mqtt_message(nb::module_& m) {
  nb::class_<PyMqttMessage>(m, "MqttMessage", doc::MqttMessage, nb::is_final())
      .def(nb::new_([]() { return PyMqttMessage{}; }))
      .def_prop_ro("topic", [](PyMqttMessage& v) { auto* p = msg_of(v); return decode(p ? p->topic : ""); }, doc::MqttMessage_topic)
      .def_prop_ro("data",
                   [](PyMqttMessage& v) {
                     auto* p = msg_of(v);
                     std::string_view d = p ? p->data : "";
                     return nb::bytes(d.data(), d.size());
                   }, doc::MqttMessage_data)
      .def_prop_ro("text", [](PyMqttMessage& v) { auto* p = msg_of(v); return decode(p ? p->data : ""); }, doc::MqttMessage_text)
      .def_prop_ro("id", [](PyMqttMessage& v) { auto* p = msg_of(v); return p ? int(p->id) : 0; }, doc::MqttMessage_id)
      .def_prop_ro("cmd", [](PyMqttMessage& v) { auto* p = msg_of(v); return p ? int(p->cmd) : 0; }, doc::MqttMessage_cmd)
      .def_prop_ro("qos", [](PyMqttMessage& v) { auto* p = msg_of(v); return p ? int(p->qos) : 0; }, doc::MqttMessage_qos)
      .def_prop_ro("ack", [](PyMqttMessage& v) { auto* p = msg_of(v); return p ? int(p->ack) : 0; }, doc::MqttMessage_ack)
      .def("properties", [](PyMqttMessage& v) { auto* p = msg_of(v); return p ? properties_of(*p) : nb::list(); }, doc::MqttMessage_properties)
      .def("__bool__", [](PyMqttMessage& v) { return msg_of(v) != nullptr; }, doc::MqttMessage___bool__)
      .def("__repr__", [](PyMqttMessage& v) -> std::string {
        auto* p = msg_of(v);
        if (!p) return "<MqttMessage invalid>";
        return "<MqttMessage cmd=" + std::to_string(p->cmd) + " id=" + std::to_string(p->id) +
               " len=" + std::to_string(p->data.size()) + ">";
      });
}

}  // namespace pymg
