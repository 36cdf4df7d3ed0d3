// pymongoose._mongoose: module entry, constants and P1 functions.
#include <nanobind/stl/string.h>

#include <cstdlib>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/events.hpp"

namespace pymg {

bool ByteView::load(PyObject* o, const char* what) {
  if (PyUnicode_Check(o)) {
    Py_ssize_t n;
    const char* p = PyUnicode_AsUTF8AndSize(o, &n);
    if (p) {
      view_ = {p, static_cast<size_t>(n)};
      return true;
    }
    PyErr_Clear();  // lone surrogates: round-trip bytes read through our views
    PyObject* b = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
    if (!b) return false;
    keep_ = nb::steal(b);
    view_ = {PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b))};
    return true;
  }
  if (PyBytes_Check(o)) {
    view_ = {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
    return true;
  }
  if (PyObject_CheckBuffer(o)) {
    if (PyObject_GetBuffer(o, &buffer_, PyBUF_SIMPLE) != 0) return false;
    has_buffer_ = true;
    view_ = {static_cast<const char*>(buffer_.buf), static_cast<size_t>(buffer_.len)};
    return true;
  }
  PyErr_Format(PyExc_TypeError, "%s must be str or a bytes-like object, not %.100s", what, Py_TYPE(o)->tp_name);
  return false;
}

bool str_utf8(PyObject* o, std::string_view& out, nb::object& keep) {
  PyObject* s = o;
  if (!PyUnicode_Check(o)) {
    s = PyObject_Str(o);
    if (!s) return false;
    keep = nb::steal(s);
  }
  Py_ssize_t n;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (!p) {
    PyErr_Clear();
    PyObject* b = PyUnicode_AsEncodedString(s, "utf-8", "surrogateescape");
    if (!b) return false;
    if (keep.is_valid()) keep = nb::steal(b);  // the str temp is only needed for repr; bytes suffice
    else keep = nb::steal(b);
    out = {PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b))};
    return true;
  }
  out = {p, static_cast<size_t>(n)};
  return true;
}

nb::str decode(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (!o) throw nb::python_error();
  return nb::steal<nb::str>(o);
}

void raise_closed() { throw std::runtime_error("Connection has been closed"); }
void raise_freed() { throw std::runtime_error("Manager has been freed"); }
void raise_forked() {
  throw std::runtime_error("Manager cannot be used after fork(): create a new Manager in the child process");
}


namespace {

struct EventName {
  int code;
  const char* name;
};

const EventName kEvents[] = {
    {mg::EV_ERROR, "MG_EV_ERROR"},       {mg::EV_OPEN, "MG_EV_OPEN"},
    {mg::EV_POLL, "MG_EV_POLL"},         {mg::EV_RESOLVE, "MG_EV_RESOLVE"},
    {mg::EV_CONNECT, "MG_EV_CONNECT"},   {mg::EV_ACCEPT, "MG_EV_ACCEPT"},
    {mg::EV_TLS_HS, "MG_EV_TLS_HS"},     {mg::EV_READ, "MG_EV_READ"},
    {mg::EV_WRITE, "MG_EV_WRITE"},       {mg::EV_CLOSE, "MG_EV_CLOSE"},
    {mg::EV_HTTP_HDRS, "MG_EV_HTTP_HDRS"}, {mg::EV_HTTP_MSG, "MG_EV_HTTP_MSG"},
    {mg::EV_WS_OPEN, "MG_EV_WS_OPEN"},   {mg::EV_WS_MSG, "MG_EV_WS_MSG"},
    {mg::EV_WS_CTL, "MG_EV_WS_CTL"},     {mg::EV_MQTT_CMD, "MG_EV_MQTT_CMD"},
    {mg::EV_MQTT_MSG, "MG_EV_MQTT_MSG"}, {mg::EV_MQTT_OPEN, "MG_EV_MQTT_OPEN"},
    {mg::EV_SNTP_TIME, "MG_EV_SNTP_TIME"}, {mg::EV_WAKEUP, "MG_EV_WAKEUP"},
    {mg::EV_USER, "MG_EV_USER"},
};

std::string event_name(long long ev) {
  for (const EventName& e : kEvents)
    if (e.code == ev) return e.name;
  if (ev > mg::EV_USER) return "MG_EV_USER+" + std::to_string(ev - mg::EV_USER);
  return "MG_EV_UNKNOWN(" + std::to_string(ev) + ")";
}

}  // namespace

}  // namespace pymg

NB_MODULE(_mongoose, m) {
  using namespace pymg;
  m.doc() = doc::module_;
  // A manager still referenced at exit (a daemon thread parked in poll(), a module-level
  // global) is not a leak a user can act on; nanobind would list it on stderr.
  // PYMONGOOSE_LEAK_WARNINGS=1 turns the report back on for development.
  const char* leak_env = std::getenv("PYMONGOOSE_LEAK_WARNINGS");
  nb::set_leak_warnings(leak_env && leak_env[0] == '1');
  bind_connection(m);
  bind_tls(m);
  bind_mqtt_message(m);
  bind_http_message(m);
  bind_ws_message(m);
  bind_manager(m);
  bind_rpc(m);
  bind_utils(m);

  nb::list all;
  auto export_int = [&](const char* name, long value) {
    m.attr(name) = nb::int_(value);
    all.append(name);
  };
  for (const EventName& e : kEvents) export_int(e.name, e.code);
  export_int("WEBSOCKET_OP_TEXT", 1);
  export_int("WEBSOCKET_OP_BINARY", 2);
  export_int("WEBSOCKET_OP_PING", 9);
  export_int("WEBSOCKET_OP_PONG", 10);
  export_int("MG_LL_NONE", 0);
  export_int("MG_LL_ERROR", 1);
  export_int("MG_LL_INFO", 2);
  export_int("MG_LL_DEBUG", 3);
  export_int("MG_LL_VERBOSE", 4);
  export_int("MQTT_PROP_TYPE_BYTE", 0);
  export_int("MQTT_PROP_TYPE_STRING", 1);
  export_int("MQTT_PROP_TYPE_STRING_PAIR", 2);
  export_int("MQTT_PROP_TYPE_BINARY_DATA", 3);
  export_int("MQTT_PROP_TYPE_VARIABLE_INT", 4);
  export_int("MQTT_PROP_TYPE_INT", 5);
  export_int("MQTT_PROP_TYPE_SHORT", 6);

  m.def("event_name", &event_name, nb::arg("ev"), doc::fn_event_name);
  m.def("millis", []() { return mg::monotonic_ms(); }, doc::fn_millis);
  for (const char* name : {"event_name", "millis", "Connection", "HttpMessage", "Manager", "MqttMessage", "Rpc", "RpcReq", "Timer", "TlsOpts", "WsMessage"})
    all.append(name);
  for (const char* name : {"base64_decode", "base64_encode", "crc32", "hmac_sha256", "http_parse_multipart", "http_var",
                           "json_get", "json_get_bool", "json_get_long", "json_get_num", "json_get_str", "log_get",
                           "log_set", "match", "md5", "random_bytes", "random_str", "sha1", "sha256", "url_encode",
                           "url_host", "url_is_ssl", "url_pass", "url_port", "url_uri", "url_user"})
    all.append(name);
  m.attr("__all__") = all;
}
