// Connection: one persistent wrapper per engine connection (spec §3.2).
#include <nanobind/stl/string.h>

#include <array>
#include <optional>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/base64.hpp"
#include "mg/http_reply.hpp"
#include "mg/mqtt.hpp"
#include "mg/static_files.hpp"

namespace pymg {

namespace {

nb::object address_tuple(const mg::Address& a) {
  return nb::make_tuple(nb::str(a.ip().c_str()), nb::int_(a.port()), nb::bool_(a.is_v6()));
}

mg::Manager& engine_of(PyConnection& pc) { return *pc.mgr->engine; }

// Headers given to reply(): a mapping or an iterable of (name, value) pairs, names and
// values converted with str(). Small header sets stay on the stack.
class HeaderList {
 public:
  bool load(PyObject* obj) {
    if (obj == Py_None) return true;
    if (PyDict_Check(obj)) {
      PyObject *k, *v;
      Py_ssize_t pos = 0;
      while (PyDict_Next(obj, &pos, &k, &v))
        if (!add(k, v)) return false;
      return true;
    }
    nb::object items;
    if (PyMapping_Check(obj) && PyObject_HasAttrString(obj, "items")) {
      items = nb::steal(PyObject_CallMethod(obj, "items", nullptr));
      if (!items.is_valid()) return false;
      obj = items.ptr();
    }
    nb::object it = nb::steal(PyObject_GetIter(obj));
    if (!it.is_valid()) {
      PyErr_Clear();
      PyErr_SetString(PyExc_TypeError, "headers must be a mapping or an iterable of (name, value) pairs");
      return false;
    }
    while (PyObject* item = PyIter_Next(it.ptr())) {
      nb::object pair = nb::steal(item);
      nb::object seq = nb::steal(PySequence_Fast(item, "header items must be (name, value) pairs"));
      if (!seq.is_valid()) return false;
      if (PySequence_Fast_GET_SIZE(seq.ptr()) != 2) {
        PyErr_SetString(PyExc_TypeError, "header items must be (name, value) pairs");
        return false;
      }
      if (!add(PySequence_Fast_GET_ITEM(seq.ptr(), 0), PySequence_Fast_GET_ITEM(seq.ptr(), 1))) return false;
      keep_.push_back(std::move(seq));
    }
    return !PyErr_Occurred();
  }

  void add_static(std::string_view name, std::string_view value) { push(nullptr, nullptr, {name, value}); }
  // Bytes names and values are taken as they are (ASGI's header pairs); otherwise, as in
  // the compatible API, anything that is not a str goes through str().
  void accept_bytes() { accept_bytes_ = true; }

  std::span<const mg::http::Header> span() const {
    return use_heap_ ? std::span<const mg::http::Header>(heap_)
                     : std::span<const mg::http::Header>(inline_.data(), count_);
  }
  PyObject* name_obj(size_t i) const { return objs(i).first; }
  PyObject* value_obj(size_t i) const { return objs(i).second; }

  // Drops headers named `name` (any case).
  void remove(std::string_view name) {
    std::vector<mg::http::Header> kept;
    std::vector<std::pair<PyObject*, PyObject*>> kept_objs;
    auto all = span();
    for (size_t i = 0; i < all.size(); i++)
      if (!mg::http::iequals(all[i].name, name)) {
        kept.push_back(all[i]);
        kept_objs.push_back(objs(i));
      }
    heap_ = std::move(kept);
    heap_objs_ = std::move(kept_objs);
    count_ = heap_.size();
    use_heap_ = true;
  }

 private:
  bool text_of(PyObject* o, std::string_view& out, nb::object& keep) {
    if (accept_bytes_ && PyBytes_Check(o)) {
      out = {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
      return true;
    }
    return str_utf8(o, out, keep);
  }
  bool add(PyObject* k, PyObject* v) {
    mg::http::Header h;
    nb::object kk, vk;
    if (!text_of(k, h.name, kk) || !text_of(v, h.value, vk)) return false;
    PyObject* kname = kk.is_valid() ? kk.ptr() : k;
    PyObject* vname = vk.is_valid() ? vk.ptr() : v;
    if (kk.is_valid()) keep_.push_back(std::move(kk));
    if (vk.is_valid()) keep_.push_back(std::move(vk));
    push(kname, vname, h);
    return true;
  }
  std::pair<PyObject*, PyObject*> objs(size_t i) const { return use_heap_ ? heap_objs_[i] : inline_objs_[i]; }
  void push(PyObject* k, PyObject* v, mg::http::Header h) {
    if (!use_heap_ && count_ < inline_.size()) {
      inline_objs_[count_] = {k, v};
      inline_[count_++] = h;
      return;
    }
    if (!use_heap_) {
      heap_.assign(inline_.begin(), inline_.begin() + count_);
      heap_objs_.assign(inline_objs_.begin(), inline_objs_.begin() + count_);
      use_heap_ = true;
    }
    heap_.push_back(h);
    heap_objs_.emplace_back(k, v);
    count_ = heap_.size();
  }

  std::array<mg::http::Header, 8> inline_{};
  bool accept_bytes_ = false;
  size_t count_ = 0;
  bool use_heap_ = false;
  std::vector<mg::http::Header> heap_;
  std::array<std::pair<PyObject*, PyObject*>, 8> inline_objs_{};
  std::vector<std::pair<PyObject*, PyObject*>> heap_objs_;
  std::vector<nb::object> keep_;
};

// Header pairs already validated for reply(), by identity. Exact str objects are
// immutable, so the same (name, value) objects are valid again; a handler passing the
// same literals on every request skips the byte scan. Strong references keep the
// identities meaningful; the GIL guards the table.
class ValidatedPairs {
 public:
  bool contains(PyObject* k, PyObject* v) const {
    for (const auto& e : entries_)
      if (e.first == k && e.second == v) return true;
    return false;
  }
  void insert(PyObject* k, PyObject* v) {
    if (!PyUnicode_CheckExact(k) || !PyUnicode_CheckExact(v)) return;
    auto& e = entries_[next_++ % entries_.size()];
    Py_INCREF(k);
    Py_INCREF(v);
    Py_XDECREF(e.first);
    Py_XDECREF(e.second);
    e = {k, v};
  }

 private:
  std::array<std::pair<PyObject*, PyObject*>, 16> entries_{};
  size_t next_ = 0;
};

ValidatedPairs& validated_pairs() {
  static auto* pairs = new ValidatedPairs;  // never destroyed: outlives the interpreter
  return *pairs;
}

// Raises the spec's ValueError for an invalid header (spec §3.12).
bool check_headers(const HeaderList& list, bool reject_te) {
  auto all = list.span();
  mg::http::HeaderCheck chk;
  for (size_t i = 0; i < all.size(); i++) {
    PyObject *k = list.name_obj(i), *v = list.value_obj(i);
    const bool cacheable = reject_te && k && v;
    if (cacheable && validated_pairs().contains(k, v)) continue;
    chk = mg::http::validate_headers(all.subspan(i, 1), reject_te);
    if (chk.fault != mg::http::HeaderFault::None) {
      chk.index = i;
      break;
    }
    if (cacheable) validated_pairs().insert(k, v);
  }
  const char* fmt = nullptr;
  PyObject* obj = nullptr;
  switch (chk.fault) {
    case mg::http::HeaderFault::None: return true;
    case mg::http::HeaderFault::NameCrLfNul:
      fmt = "Header name contains illegal character (CR, LF, or NUL): %R";
      obj = list.name_obj(chk.index);
      break;
    case mg::http::HeaderFault::NameNotToken:
      fmt = "Header name contains illegal character (not a token character): %R";
      obj = list.name_obj(chk.index);
      break;
    case mg::http::HeaderFault::ValueCrLfNul:
      fmt = "Header value contains illegal character (CR, LF, or NUL): %R";
      obj = list.value_obj(chk.index);
      break;
    case mg::http::HeaderFault::ValueControl:
      fmt = "Header value contains illegal character (control character): %R";
      obj = list.value_obj(chk.index);
      break;
    case mg::http::HeaderFault::TransferEncoding:
      PyErr_SetString(PyExc_ValueError, "reply() does not accept a Transfer-Encoding header; use http_chunk()");
      return false;
  }
  PyErr_Format(PyExc_ValueError, fmt, obj);
  return false;
}

int checked_status(nb::handle status) {
  if (!PyLong_Check(status.ptr())) throw nb::type_error("status_code must be an int");
  int overflow = 0;
  long v = PyLong_AsLongAndOverflow(status.ptr(), &overflow);
  if (overflow || v < 100 || v > 999) throw nb::value_error("status code must be in range 100-999");
  return static_cast<int>(v);
}

void do_reply(PyConnection& pc, int status, nb::handle body, HeaderList& headers) {
  ByteView b;
  if (!b.load(body.ptr(), "body")) throw nb::python_error();
  if (!check_headers(headers, true)) throw nb::python_error();
  LockedConnection locked(pc);
  mg::Connection* c = locked.get();
  mg::http::reply(c, status, headers.span(), b.view());
}

const mg::HttpMessage* checked_message(nb::handle msg) {
  if (!nb::isinstance<PyHttpMessage>(msg)) throw nb::type_error("message must be an HttpMessage");
  PyHttpMessage& v = nb::cast<PyHttpMessage&>(msg);
  const mg::HttpMessage* m = v.owned ? &v.owned->msg : v.m;
  if (!m) throw nb::value_error("HttpMessage is not valid for this event");
  return m;
}

mg::http::Request request_of(const mg::HttpMessage& m) {
  mg::http::Request r;
  r.method = m.method;
  r.uri = m.uri;
  r.query = m.query;
  r.proto = m.proto;
  r.headers = m.headers;
  r.num_headers = m.num_headers;
  return r;
}

void queue_file(PyConnection& pc, mg::http::ServeError err, mg::http::FileResponse& resp) {
  if (err == mg::http::ServeError::BadExtraHeaders)
    throw nb::value_error("extra_headers must be CRLF-terminated header lines");
  mg::Connection* c = pc.c;
  if (!c || c->is_closed) {
    if (resp.fd >= 0) ::close(resp.fd);
    raise_closed();
  }
  mg::http::serve(c, std::move(resp));
}

// The first `length` bytes of a buffer (all of them for a negative length).
nb::bytes buffer_copy(const mg::Buffer& b, long length) {
  size_t n = b.size();
  if (length >= 0 && static_cast<size_t>(length) < n) n = static_cast<size_t>(length);
  return nb::bytes(b.data(), n);
}

int connection_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  PyConnection* pc = nb::inst_ptr<PyConnection>(self);
  Py_VISIT(pc->handler.ptr());
  Py_VISIT(pc->userdata.ptr());
  Py_VISIT(pc->tls_info.ptr());
  return 0;
}

int connection_clear(PyObject* self) {
  PyConnection* pc = nb::inst_ptr<PyConnection>(self);
  pc->handler.reset();
  pc->userdata.reset();
  pc->tls_info.reset();
  return 0;
}

PyType_Slot connection_slots[] = {{Py_tp_traverse, (void*)connection_traverse},
                                  {Py_tp_clear, (void*)connection_clear},
                                  {0, nullptr}};

}  // namespace

void bind_connection(nb::module_& m) {
  nb::class_<PyConnection>(m, "Connection", doc::Connection, nb::is_final(), nb::type_slots(connection_slots))
      .def(nb::new_([]() { return PyConnection{}; }))
      .def_prop_ro("id", [](PyConnection& pc) { return pc.id; }, doc::Connection_id)
      .def_prop_ro("handler", [](PyConnection& pc) -> nb::object { return pc.handler.is_valid() ? pc.handler : nb::none(); }, doc::Connection_handler)
      .def_prop_rw(
          "userdata", [](PyConnection& pc) -> nb::object { return pc.userdata.is_valid() ? pc.userdata : nb::none(); },
          [](PyConnection& pc, nb::object v) { pc.userdata = std::move(v); }, nb::arg("value").none(), doc::Connection_userdata)
      .def_prop_ro("is_listening", [](PyConnection& pc) { return pc.is_listening; }, doc::Connection_is_listening)
      .def_prop_ro("is_client", [](PyConnection& pc) { return pc.is_client; }, doc::Connection_is_client)
      .def_prop_ro("is_udp", [](PyConnection& pc) { return pc.is_udp; }, doc::Connection_is_udp)
      .def_prop_ro("is_tls", [](PyConnection& pc) { return pc.c && pc.c->is_tls; }, doc::Connection_is_tls)
      .def_prop_ro("is_websocket", [](PyConnection& pc) { return pc.c && pc.c->is_websocket; }, doc::Connection_is_websocket)
      .def_prop_ro("is_closing", [](PyConnection& pc) { return !pc.c || pc.c->is_closing; }, doc::Connection_is_closing)
      .def_prop_ro("is_draining", [](PyConnection& pc) { return pc.c && pc.c->is_draining && !pc.c->is_closed; }, doc::Connection_is_draining)
      .def_prop_ro("is_full", [](PyConnection& pc) { return pc.c && pc.c->is_full; }, doc::Connection_is_full)
      .def_prop_ro("ws_close_code", [](PyConnection& pc) -> nb::object {
            if (!pc.ws_close_code) return nb::none();
            return nb::int_(pc.ws_close_code);
          }, doc::Connection_ws_close_code)
      .def_prop_rw(
          "paused", [](PyConnection& pc) { return pc.c && !pc.c->is_closed && pc.c->app_paused; },
          [](PyConnection& pc, bool paused) {
            if (!pc.c || pc.c->is_closed) return;
            EngineLock lock(engine_of(pc));
            if (pc.c && !pc.c->is_closed) engine_of(pc).set_app_paused(pc.c, paused);
          },
          doc::Connection_paused)
      .def_prop_ro("is_readable", [](PyConnection& pc) { return pc.c && pc.c->is_readable; }, doc::Connection_is_readable)
      .def_prop_ro("is_writable", [](PyConnection& pc) { return pc.c && pc.c->is_writable; }, doc::Connection_is_writable)
      .def_prop_ro("local_addr", [](PyConnection& pc) -> nb::object { return pc.c ? address_tuple(pc.c->local) : nb::none(); }, doc::Connection_local_addr)
      .def_prop_ro("remote_addr", [](PyConnection& pc) -> nb::object { return pc.c ? address_tuple(pc.c->remote) : nb::none(); }, doc::Connection_remote_addr)
      .def_prop_ro("recv_len", [](PyConnection& pc) -> size_t {
        if (!pc.c) return 0;
        EngineLock lock(engine_of(pc));
        return pc.c ? pc.c->rx.size() : 0;
      }, doc::Connection_recv_len)
      .def_prop_ro("send_len", [](PyConnection& pc) -> size_t {
        if (!pc.c) return 0;
        EngineLock lock(engine_of(pc));
        return pc.c ? pc.c->tx().size() : 0;
      }, doc::Connection_send_len)
      .def_prop_ro("recv_size", [](PyConnection& pc) -> size_t { return pc.c ? pc.c->rx.capacity() : 0; }, doc::Connection_recv_size)
      .def_prop_ro("send_size", [](PyConnection& pc) -> size_t { return pc.c ? pc.c->tx().capacity() : 0; }, doc::Connection_send_size)
      .def(
          "set_handler",
          [](PyConnection& pc, nb::object h) {
            if (!h.is_none() && !PyCallable_Check(h.ptr())) throw nb::type_error("handler must be callable or None");
            pc.handler = h.is_none() ? nb::object() : h;
          },
          nb::arg("handler").none(), doc::Connection_set_handler)
      .def(
          "send",
          [](PyConnection& pc, nb::handle data) {
            ByteView b;
            if (!b.load(data.ptr(), "data")) throw nb::python_error();
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            if (!engine_of(pc).send(c, b.view().data(), b.view().size())) throw std::runtime_error("mg_send failed");
          },
          nb::arg("data"), doc::Connection_send)
      .def(
          "http_basic_auth",
          [](PyConnection& pc, nb::handle username, nb::handle password) {
            // Spec §6.8: base64(user ":" pass), or of the user alone when the password is empty.
            std::string_view u, p;
            nb::object keep_u, keep_p;
            if (!str_arg(username.ptr(), "username", u, keep_u) || !str_arg(password.ptr(), "password", p, keep_p))
              throw nb::python_error();
            std::string cred(u);
            if (!p.empty()) cred.append(":").append(p);
            std::string line = "Authorization: Basic " + mg::base64_encode(cred) + "\r\n";
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            if (!engine_of(pc).send(c, line.data(), line.size())) throw std::runtime_error("mg_send failed");
          },
          nb::arg("username"), nb::arg("password"), doc::Connection_http_basic_auth)
      .def(
          "reply",
          [](PyConnection& pc, nb::handle status, nb::handle body, nb::handle headers) {
            int code = checked_status(status);
            HeaderList list;
            if (!list.load(headers.ptr())) throw nb::python_error();
            do_reply(pc, code, body, list);
          },
          nb::arg("status_code"), nb::arg("body") = nb::bytes("", 0), nb::arg("headers").none() = nb::none(), doc::Connection_reply)
      .def(
          "http_respond",
          [](PyConnection& pc, nb::handle status, nb::handle headers, nb::handle body, bool more) {
            int code = checked_status(status);
            HeaderList list;
            list.accept_bytes();
            if (!list.load(headers.ptr())) throw nb::python_error();
            ByteView b;
            if (!b.load(body.ptr(), "body")) throw nb::python_error();
            if (!check_headers(list, false)) throw nb::python_error();
            LockedConnection locked(pc);
            if (!mg::http::respond(locked.get(), code, list.span(), b.view(), more))
              throw std::runtime_error("http_respond() needs an HTTP server connection with no response in progress");
          },
          nb::arg("status_code"), nb::arg("headers").none() = nb::none(), nb::arg("body") = nb::bytes("", 0),
          nb::kw_only(), nb::arg("more") = false, doc::Connection_http_respond)
      .def(
          "accept_pending",
          [](PyConnection& pc) -> size_t {
            if (!pc.is_listening) throw std::runtime_error("accept_pending() needs a listening connection");
            if (!pc.c || pc.c->is_closed) return 0;
            EngineLock lock(engine_of(pc));
            return pc.c && !pc.c->is_closed ? engine_of(pc).accept_pending(pc.c) : 0;
          },
          doc::Connection_accept_pending)
      .def(
          "http_stream_body",
          [](PyConnection& pc, nb::handle callback) {
            if (!PyCallable_Check(callback.ptr())) throw nb::type_error("callback must be callable");
            LockedConnection locked(pc);
            switch (mg::http::stream_body(locked.get())) {
              case mg::http::StreamBody::Streaming:
                pc.body_sink = nb::borrow(callback);
                return true;
              case mg::http::StreamBody::NotNow:
                return false;
              case mg::http::StreamBody::NotHttpServer:
                break;
            }
            throw std::runtime_error("http_stream_body() needs an HTTP server connection");
          },
          nb::arg("callback"), doc::Connection_http_stream_body)
      .def(
          "http_respond_body",
          [](PyConnection& pc, nb::handle data, bool more) {
            ByteView b;
            if (!b.load(data.ptr(), "data")) throw nb::python_error();
            LockedConnection locked(pc);
            if (!mg::http::respond_body(locked.get(), b.view(), more))
              throw std::runtime_error("http_respond_body() needs a response started with http_respond(more=True)");
          },
          nb::arg("data"), nb::kw_only(), nb::arg("more") = true, doc::Connection_http_respond_body)
      .def(
          "reply_json",
          [](PyConnection& pc, nb::handle data, nb::handle status, nb::handle headers) {
            int code = checked_status(status);
            // Held for the life of the process: a static nb::object would be released by
            // C++ static destructors after the interpreter has finalized.
            static PyObject* dumps = nb::object(nb::module_::import_("json").attr("dumps")).release().ptr();
            nb::object text = nb::steal(PyObject_CallOneArg(dumps, data.ptr()));
            if (!text.is_valid()) throw nb::python_error();
            HeaderList list;
            if (!list.load(headers.ptr())) throw nb::python_error();
            list.remove("Content-Type");
            list.add_static("Content-Type", "application/json");
            do_reply(pc, code, text, list);
          },
          nb::arg("data"), nb::arg("status_code") = 200, nb::arg("headers").none() = nb::none(), doc::Connection_reply_json)
      .def(
          "serve_dir",
          [](PyConnection& pc, nb::handle msg, const std::string& root, const std::string& extra,
             const std::string& mime, const std::string& page404) {
            LockedConnection locked(pc);
            const mg::HttpMessage* m = checked_message(msg);  // after the lock: the view may have expired
            mg::http::FileResponse resp;
            auto err = mg::http::serve_dir(request_of(*m), root, extra, mime, page404,
                                           engine_of(pc).limits().max_path, resp);
            queue_file(pc, err, resp);
          },
          nb::arg("message"), nb::arg("root_dir"), nb::arg("extra_headers") = "", nb::arg("mime_types") = "",
          nb::arg("page404") = "", doc::Connection_serve_dir)
      .def(
          "serve_file",
          [](PyConnection& pc, nb::handle msg, const std::string& path, const std::string& extra,
             const std::string& mime) {
            LockedConnection locked(pc);
            const mg::HttpMessage* m = checked_message(msg);  // after the lock: the view may have expired
            mg::http::FileResponse resp;
            auto err = mg::http::serve_file(request_of(*m), path, extra, mime, resp);
            queue_file(pc, err, resp);
          },
          nb::arg("message"), nb::arg("path"), nb::arg("extra_headers") = "", nb::arg("mime_types") = "", doc::Connection_serve_file)
      .def(
          "ws_upgrade",
          [](PyConnection& pc, nb::handle msg, nb::handle extra, nb::handle compression) {
            HeaderList list;
            if (!list.load(extra.ptr())) throw nb::python_error();
            if (!check_headers(list, false)) throw nb::python_error();
            mg::ws::DeflateConfig z;
            const bool deflate = parse_ws_compression(compression, z);
            LockedConnection locked(pc);
            const mg::HttpMessage* m = checked_message(msg);  // after the lock: the view may have expired
            mg::Connection* c = locked.get();
            mg::ws::upgrade(c, *m, list.span(), deflate ? &z : nullptr);
          },
          nb::arg("message"), nb::arg("extra_headers").none() = nb::none(), nb::kw_only(),
          nb::arg("compression").none() = nb::none(), doc::Connection_ws_upgrade)
      .def(
          "ws_send",
          [](PyConnection& pc, nb::handle data, long op) {
            if (op < 0 || op > 15) throw nb::value_error("op must be in range 0-15");
            ByteView b;
            if (!b.load(data.ptr(), "data")) throw nb::python_error();
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            mg::ws::send(c, b.view(), static_cast<int>(op));
          },
          nb::arg("data"), nb::arg("op") = 1, doc::Connection_ws_send)
      .def(
          "http_chunk",
          [](PyConnection& pc, nb::handle data) {
            ByteView b;
            if (!b.load(data.ptr(), "data")) throw nb::python_error();
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            mg::http::chunk(c, b.view());
          },
          nb::arg("data"), doc::Connection_http_chunk)
      .def(
          "http_sse",
          [](PyConnection& pc, const std::string& event_type, const std::string& data) {
            if (event_type.find_first_of("\r\n") != std::string::npos)
              throw nb::value_error("event_type must not contain CR or LF");
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            mg::http::sse(c, event_type, data);
          },
          nb::arg("event_type"), nb::arg("data"), doc::Connection_http_sse)
      .def(
          "error",
          [](PyConnection& pc, const std::string& text) {
            LockedConnection locked(pc);
            mg::Connection* c = locked.get();
            engine_of(pc).error(c, text);
          },
          nb::arg("message"), doc::Connection_error)
      .def("close",
           [](PyConnection& pc) {
             if (!pc.c || pc.c->is_closed) return;
             EngineLock lock(engine_of(pc));
             if (pc.c && !pc.c->is_closed) engine_of(pc).close_now(pc.c);
           }, doc::Connection_close)
      .def("drain",
           [](PyConnection& pc) {
             if (!pc.c) return;
             EngineLock lock(engine_of(pc));
             if (pc.c) engine_of(pc).drain(pc.c);
           }, doc::Connection_drain)
      .def(
          "recv_data",
          [](PyConnection& pc, long length) {
            if (!pc.c) return nb::bytes("", 0);
            EngineLock lock(engine_of(pc));
            return pc.c ? buffer_copy(pc.c->rx, length) : nb::bytes("", 0);
          },
          nb::arg("length") = -1, doc::Connection_recv_data)
      .def(
          "send_data",
          [](PyConnection& pc, long length) {
            if (!pc.c) return nb::bytes("", 0);
            EngineLock lock(engine_of(pc));
            return pc.c ? buffer_copy(pc.c->tx(), length) : nb::bytes("", 0);
          },
          nb::arg("length") = -1, doc::Connection_send_data)
      .def(
          "recv_consume",
          [](PyConnection& pc, long length) {
            if (!pc.c) return nb::bytes("", 0);
            EngineLock lock(engine_of(pc));
            mg::Connection* c = pc.c;
            if (!c) return nb::bytes("", 0);
            if (c->is_http || c->is_websocket || mg::mqtt::is_mqtt(c))
              throw std::runtime_error("recv_consume() is only available on raw connections");
            nb::bytes out = buffer_copy(c->rx, length);
            c->rx.consume(out.size());
            return out;
          },
          nb::arg("length") = -1, doc::Connection_recv_consume)
      .def("mqtt_pub", &mqtt_pub, nb::arg("topic"), nb::arg("message"), nb::arg("qos") = 0, nb::arg("retain") = false,
           nb::kw_only(), nb::arg("props").none() = nb::none(), doc::Connection_mqtt_pub)
      .def("mqtt_sub", [](PyConnection& pc, nb::handle topic, long qos) { mqtt_sub(pc, topic, qos, false); },
           nb::arg("topic"), nb::arg("qos") = 0, doc::Connection_mqtt_sub)
      .def("mqtt_unsub", [](PyConnection& pc, nb::handle topic) { mqtt_sub(pc, topic, 0, true); }, nb::arg("topic"),
           doc::Connection_mqtt_unsub)
      .def("mqtt_ping", [](PyConnection& pc) { mqtt_empty(pc, mg::mqtt::kPingreq); }, doc::Connection_mqtt_ping)
      .def("mqtt_pong", [](PyConnection& pc) { mqtt_empty(pc, mg::mqtt::kPingresp); }, doc::Connection_mqtt_pong)
      .def("mqtt_disconnect", [](PyConnection& pc) { mqtt_empty(pc, mg::mqtt::kDisconnect); }, doc::Connection_mqtt_disconnect)
      .def(
          "sntp_request",
          [](PyConnection& pc) {
            LockedConnection locked(pc);
            if (!mg::sntp::request(locked.get())) throw std::runtime_error("mg_send failed");
          },
          doc::Connection_sntp_request)
      .def("tls_init", &tls_init, nb::arg("opts"), doc::Connection_tls_init)
      .def("tls_free", &tls_free, doc::Connection_tls_free)
      .def("tls_info", &tls_info, doc::Connection_tls_info)
      .def("__repr__", [](PyConnection& pc) -> std::string {
        if (!pc.c) return "<Connection closed>";
        return "<Connection id=" + std::to_string(pc.id) + " readable=" + (pc.c->is_readable ? "True" : "False") +
               " writable=" + (pc.c->is_writable ? "True" : "False") + ">";
      });
}

}  // namespace pymg
