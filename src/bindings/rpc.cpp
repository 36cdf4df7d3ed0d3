// Rpc and RpcReq (spec §3.8): a JSON-RPC 2.0 style dispatcher. The frame is read with the
// engine's JSON path reader (mg/json.hpp) and methods are routed with its glob matcher
// (mg/glob.hpp); the response text is built here, byte by byte, with no whitespace added.
//
// process() copies the frame, finds `id` and `method` (or `result`/`error`), picks the
// newest matching entry and calls its handler with an RpcReq bound to that one call. The
// RpcReq is unbound as soon as the handler returns, so a kept reference cannot write
// into a finished response.
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/glob.hpp"
#include "mg/json.hpp"

namespace pymg {

namespace {

// ------------------------------------------------------------------ JSON string output

constexpr char kHex[] = "0123456789abcdef";

void append_u(std::string& out, unsigned cp) {
  char b[6] = {'\\', 'u', kHex[(cp >> 12) & 15], kHex[(cp >> 8) & 15], kHex[(cp >> 4) & 15], kHex[cp & 15]};
  out.append(b, 6);
}

// One character below 0x80, escaped as json.dumps does: the two-character forms for '"',
// '\\' and \b \f \n \r \t, \u00XX for the other control characters.
void append_ascii(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20) append_u(out, c);
      else out += static_cast<char>(c);
  }
}

// `s` (UTF-8 bytes) as a JSON string. Valid UTF-8 sequences are kept as they are; a byte
// that does not start one becomes \udcXX, the code point Python's surrogateescape decodes
// it to, so the JSON text decodes to the same str as the bytes would.
void append_json_bytes(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out += '"';
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      append_ascii(out, p[i++]);
      continue;
    }
    size_t len = mg::utf8_char_len(p + i, n - i);
    if (len == 1) {
      append_u(out, 0xDC00u + p[i++]);
      continue;
    }
    out.append(s.data() + i, len);
    i += len;
  }
  out += '"';
}

// A Python str as a JSON string: UTF-8 for every character but the surrogates, which only
// a \uXXXX escape can carry.
void append_json_str(std::string& out, PyObject* s) {
#if PY_VERSION_HEX < 0x030C0000
  if (PyUnicode_READY(s) < 0) throw nb::python_error();
#endif
  const int kind = PyUnicode_KIND(s);
  const void* data = PyUnicode_DATA(s);
  const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
  out.reserve(out.size() + static_cast<size_t>(n) + 2);
  out += '"';
  for (Py_ssize_t i = 0; i < n; ++i) {
    const Py_UCS4 c = PyUnicode_READ(kind, data, i);
    if (c < 0x80) {
      append_ascii(out, static_cast<unsigned char>(c));
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      append_u(out, c);
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  out += '"';
}

// ------------------------------------------------------------------ state

// One request being dispatched; lives on process()'s stack.
struct RpcCall {
  std::string frame;                // a copy: a buffer argument could change under a handler
  std::optional<std::string_view> id;  // the raw token, into `frame`
  std::string out;                  // the response text
  bool responded = false;
};

struct RpcEntry {
  std::string pattern;
  nb::object handler;
};

struct PyRpc {
  std::vector<RpcEntry> entries;  // oldest first; searched from the back
};

struct PyRpcReq {
  RpcCall* call = nullptr;  // nullptr: unbound (never bound, or its handler returned)
};

// {"id":<id>,"result":<result>}; nothing when the request has no id (a notification).
void emit_ok(RpcCall& c, std::string_view result) {
  if (!c.id) return;
  c.out.append("{\"id\":").append(*c.id).append(",\"result\":").append(result).append("}");
}

// {"id":<id>,"error":{"code":<code>,"message":<message>}}; "id" omitted when absent.
// `append_message` appends the message as a JSON string.
template <class Message>
void emit_err(RpcCall& c, long long code, Message&& append_message) {
  c.out += '{';
  if (c.id) c.out.append("\"id\":").append(*c.id).append(",");
  c.out.append("\"error\":{\"code\":").append(std::to_string(code)).append(",\"message\":");
  append_message(c.out);
  c.out.append("}}");
}

void emit_err_text(RpcCall& c, long long code, std::string_view message) {
  emit_err(c, code, [&](std::string& out) { append_json_bytes(out, message); });
}

RpcCall& bound_call(PyRpcReq& r) {
  if (!r.call) throw std::runtime_error("RpcReq is no longer valid");
  if (r.call->responded) throw std::runtime_error("Response already sent");
  return *r.call;
}

// Calls `handler(req)` and makes sure exactly one response (or none, for an answered
// notification) comes out of it.
void dispatch(RpcCall& call, nb::handle handler) {
  nb::object req = nb::inst_alloc(nb::type<PyRpcReq>());
  new (nb::inst_ptr<PyRpcReq>(req)) PyRpcReq{&call};
  nb::inst_mark_ready(req);
  PyObject* r = PyObject_CallOneArg(handler.ptr(), req.ptr());
  nb::inst_ptr<PyRpcReq>(req)->call = nullptr;
  if (r) {
    Py_DECREF(r);
    if (!call.responded) emit_err_text(call, -32603, "handler produced no response");
    return;
  }
  // KeyboardInterrupt, SystemExit and other non-Exception errors go to the caller.
  if (!PyErr_ExceptionMatches(PyExc_Exception)) throw nb::python_error();
  nb::python_error err;  // takes the error out of the interpreter's state
  if (call.responded) return;  // the response is out; it stands
  nb::object text = nb::steal(PyObject_Str(err.value().ptr()));
  if (!text.is_valid()) {
    PyErr_Clear();
    emit_err_text(call, -32603, "<exception str() failed>");
    return;
  }
  emit_err(call, -32603, [&](std::string& out) { append_json_str(out, text.ptr()); });
}

nb::str process(PyRpc& rpc, nb::handle frame_arg) {
  RpcCall call;
  {
    ByteView view;
    if (!view.load(frame_arg.ptr(), "frame")) throw nb::python_error();
    call.frame.assign(view.view());
  }
  const std::string_view frame = call.frame;
  call.id = mg::json::get(frame, "$.id");

  const RpcEntry* hit = nullptr;
  std::string method;
  auto raw = mg::json::get(frame, "$.method");
  if (raw && !raw->empty() && raw->front() == '"') {
    // Unescaped; a string the unescaper refuses (a lone \uD800) is matched as written.
    auto text = mg::json::string_value(*raw);
    method = text ? std::move(*text) : std::string(raw->substr(1, raw->size() - 2));
    for (auto it = rpc.entries.rbegin(); it != rpc.entries.rend(); ++it) {
      if (mg::glob_match(method, it->pattern)) {
        hit = &*it;
        break;
      }
    }
  } else if (mg::json::get(frame, "$.result") || mg::json::get(frame, "$.error")) {
    // A response to a call of ours: the handler registered under "" takes it.
    for (auto it = rpc.entries.rbegin(); it != rpc.entries.rend(); ++it) {
      if (it->pattern.empty()) {
        hit = &*it;
        break;
      }
    }
  } else {
    emit_err_text(call, -32700, frame);
    return decode(call.out);
  }
  if (!hit) {
    emit_err_text(call, -32601, method + " not found");
    return decode(call.out);
  }
  nb::object handler = hit->handler;  // a reference of our own: the handler may add() more
  dispatch(call, handler);
  return decode(call.out);
}

int rpc_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  PyRpc* rpc = nb::inst_ptr<PyRpc>(self);
  for (const RpcEntry& e : rpc->entries) Py_VISIT(e.handler.ptr());
  return 0;
}

int rpc_clear(PyObject* self) {
  if (!nb::inst_ready(self)) return 0;
  std::vector<RpcEntry> gone;
  gone.swap(nb::inst_ptr<PyRpc>(self)->entries);  // released after the registry is empty
  return 0;
}

PyType_Slot rpc_slots[] = {{Py_tp_traverse, (void*)rpc_traverse}, {Py_tp_clear, (void*)rpc_clear}, {0, nullptr}};

}  // namespace

void bind_rpc(nb::module_& m) {
  nb::class_<PyRpcReq>(m, "RpcReq", doc::RpcReq, nb::is_final())
      .def(nb::new_([]() { return PyRpcReq{}; }))
      .def_prop_ro("frame", [](PyRpcReq& r) { return decode(r.call ? std::string_view(r.call->frame) : ""); },
                   doc::RpcReq_frame)
      .def(
          "ok",
          [](PyRpcReq& r, nb::handle result_json) {
            RpcCall& call = bound_call(r);
            std::string_view text;
            nb::object keep;
            if (!str_arg(result_json.ptr(), "result_json", text, keep)) throw nb::python_error();
            emit_ok(call, text);
            call.responded = true;
          },
          nb::arg("result_json"), doc::RpcReq_ok)
      .def(
          "err",
          [](PyRpcReq& r, nb::handle code, nb::handle message) {
            RpcCall& call = bound_call(r);
            if (!PyLong_Check(code.ptr())) {
              PyErr_Format(PyExc_TypeError, "code must be an int, not %.100s", Py_TYPE(code.ptr())->tp_name);
              throw nb::python_error();
            }
            long long c = PyLong_AsLongLong(code.ptr());  // OverflowError beyond int64
            if (c == -1 && PyErr_Occurred()) throw nb::python_error();
            if (!PyUnicode_Check(message.ptr())) {
              PyErr_Format(PyExc_TypeError, "message must be str, not %.100s", Py_TYPE(message.ptr())->tp_name);
              throw nb::python_error();
            }
            emit_err(call, c, [&](std::string& out) { append_json_str(out, message.ptr()); });
            call.responded = true;
          },
          nb::arg("code"), nb::arg("message"), doc::RpcReq_err)
      .def("__repr__", [](PyRpcReq& r) -> std::string {
        if (!r.call) return "<RpcReq invalid>";
        return "<RpcReq len=" + std::to_string(r.call->frame.size()) + (r.call->responded ? " answered>" : ">");
      });

  nb::class_<PyRpc>(m, "Rpc", doc::Rpc, nb::type_slots(rpc_slots))
      .def(nb::init<>())
      .def(
          "add",
          [](PyRpc& rpc, nb::handle method, nb::handle handler) {
            std::string_view pattern;
            nb::object keep;
            if (!str_arg(method.ptr(), "method", pattern, keep)) throw nb::python_error();
            if (!PyCallable_Check(handler.ptr())) throw nb::type_error("handler must be callable");
            rpc.entries.push_back({std::string(pattern), nb::borrow(handler)});
          },
          nb::arg("method"), nb::arg("handler"), doc::Rpc_add)
      .def("process", &process, nb::arg("frame"), doc::Rpc_process)
      .def_prop_ro(
          "methods",
          [](PyRpc& rpc) {
            nb::list out;
            for (auto it = rpc.entries.rbegin(); it != rpc.entries.rend(); ++it) out.append(decode(it->pattern));
            return out;
          },
          doc::Rpc_methods);
}

}  // namespace pymg
