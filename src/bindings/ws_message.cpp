// WsMessage: a view of one complete WebSocket message, valid during its handler call
// (spec §3.4).
#include "common.hpp"
#include "docstrings.hpp"

namespace pymg {

namespace {
const mg::WsMessage* msg_of(const PyWsMessage& v) { return v.m; }
}  // namespace

nb::object new_ws_message_view(const mg::WsMessage* msg) {
  nb::object obj = nb::inst_alloc(nb::type<PyWsMessage>());
  new (nb::inst_ptr<PyWsMessage>(obj)) PyWsMessage{msg};
  nb::inst_mark_ready(obj);
  return obj;
}

void invalidate_ws_view(PyObject* view) { nb::inst_ptr<PyWsMessage>(view)->m = nullptr; }

bool parse_ws_compression(nb::handle obj, mg::ws::DeflateConfig& out) {
  out = mg::ws::DeflateConfig{};
  if (obj.is_none() || obj.ptr() == Py_False) return false;
  if (obj.ptr() == Py_True) return true;
  if (!PyDict_Check(obj.ptr())) throw nb::type_error("compression must be a bool or a dict");
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(obj.ptr(), &pos, &k, &v)) {
    std::string key = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : "";
    std::string invalid = "invalid value for compression option '" + key + "'";
    auto flag = [&](bool& field) {
      if (!PyBool_Check(v)) throw nb::value_error(invalid.c_str());
      field = v == Py_True;
    };
    auto number = [&](long lo, long hi) {
      if (PyBool_Check(v) || !PyLong_Check(v)) throw nb::value_error(invalid.c_str());
      int overflow = 0;
      long n = PyLong_AsLongAndOverflow(v, &overflow);
      if (overflow || n < lo || n > hi) throw nb::value_error(invalid.c_str());
      return n;
    };
    if (key == "server_no_context_takeover") flag(out.server_no_context_takeover);
    else if (key == "client_no_context_takeover") flag(out.client_no_context_takeover);
    // 9..15: zlib cannot compress with an 8-bit window (RFC 7692 §7.1.2 allows 8).
    else if (key == "server_max_window_bits") out.server_max_window_bits = static_cast<uint8_t>(number(9, 15));
    else if (key == "client_max_window_bits") out.client_max_window_bits = static_cast<uint8_t>(number(9, 15));
    else if (key == "level") out.level = static_cast<int8_t>(number(-1, 9));
    else if (key == "mem_level") out.mem_level = static_cast<uint8_t>(number(1, 9));
    else throw nb::value_error(("unknown compression option '" + key + "'").c_str());
  }
  return true;
}

void bind_ws_message(nb::module_& m) {
  nb::class_<PyWsMessage>(m, "WsMessage", doc::WsMessage, nb::is_final())
      .def(nb::new_([]() { return PyWsMessage{}; }))
      .def_prop_ro("data",
                   [](PyWsMessage& v) {
                     auto* p = msg_of(v);
                     std::string_view d = p ? p->data : "";
                     return nb::bytes(d.data(), d.size());
                   }, doc::WsMessage_data)
      .def_prop_ro("text", [](PyWsMessage& v) { auto* p = msg_of(v); return decode(p ? p->data : ""); }, doc::WsMessage_text)
      .def_prop_ro("flags", [](PyWsMessage& v) { auto* p = msg_of(v); return p ? int(p->flags) : 0; }, doc::WsMessage_flags)
      .def_prop_ro("opcode", [](PyWsMessage& v) { auto* p = msg_of(v); return p ? int(p->flags & 0x0f) : 0; }, doc::WsMessage_opcode)
      .def("__bool__", [](PyWsMessage& v) { return msg_of(v) != nullptr; }, doc::WsMessage___bool__)
      .def("__repr__", [](PyWsMessage& v) -> std::string {
        auto* p = msg_of(v);
        if (!p) return "<WsMessage invalid>";
        return "<WsMessage opcode=" + std::to_string(p->flags & 0x0f) + " len=" + std::to_string(p->data.size()) + ">";
      });
}

}  // namespace pymg
