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
