// HttpMessage: a view valid during the handler call that received it (spec §3.3).
#include <nanobind/stl/string.h>

#include <cstring>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/form.hpp"
#include "mg/http_parser.hpp"

namespace pymg {

namespace {

const mg::HttpMessage* msg_of(const PyHttpMessage& v) { return v.owned ? &v.owned->msg : v.m; }

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

std::shared_ptr<OwnedHttpMessage> copy_message(const mg::HttpMessage& m) {
  auto o = std::make_shared<OwnedHttpMessage>();
  // One block holding head and body; every view is rebased into it.
  o->storage.reserve(m.head.size() + m.body.size());
  o->storage.append(m.head);
  o->storage.append(m.body);
  const char* base = o->storage.data();
  auto rebase = [&](std::string_view s) -> std::string_view {
    if (s.empty()) return {};
    if (s.data() >= m.head.data() && s.data() + s.size() <= m.head.data() + m.head.size())
      return {base + (s.data() - m.head.data()), s.size()};
    return {};
  };
  o->msg.method = rebase(m.method);
  o->msg.uri = rebase(m.uri);
  o->msg.query = rebase(m.query);
  o->msg.proto = rebase(m.proto);
  o->msg.head = {base, m.head.size()};
  o->msg.body = {base + m.head.size(), m.body.size()};
  o->headers.reserve(m.num_headers);
  for (size_t i = 0; i < m.num_headers; i++)
    o->headers.push_back({rebase(m.headers[i].name), rebase(m.headers[i].value)});
  o->msg.headers = o->headers.data();
  o->msg.num_headers = o->headers.size();
  return o;
}

}  // namespace

nb::object new_http_message_view(const mg::HttpMessage* msg) {
  nb::handle type = nb::type<PyHttpMessage>();
  nb::object obj = nb::inst_alloc(type);
  new (nb::inst_ptr<PyHttpMessage>(obj)) PyHttpMessage{msg, nullptr};
  nb::inst_mark_ready(obj);
  return obj;
}

void invalidate_view(PyObject* view) { nb::inst_ptr<PyHttpMessage>(view)->m = nullptr; }

void rebind_view(PyObject* view, const mg::HttpMessage* msg) { nb::inst_ptr<PyHttpMessage>(view)->m = msg; }

void bind_http_message(nb::module_& m) {
  nb::class_<PyHttpMessage>(m, "HttpMessage", doc::HttpMessage, nb::is_final())
      .def(nb::new_([]() { return PyHttpMessage{}; }))
      .def_prop_ro("method", [](PyHttpMessage& v) { auto* p = msg_of(v); return decode(p ? p->method : ""); }, doc::HttpMessage_method)
      .def_prop_ro("uri", [](PyHttpMessage& v) { auto* p = msg_of(v); return decode(p ? p->uri : ""); }, doc::HttpMessage_uri)
      .def_prop_ro("query", [](PyHttpMessage& v) { auto* p = msg_of(v); return decode(p ? p->query : ""); }, doc::HttpMessage_query)
      .def_prop_ro("proto", [](PyHttpMessage& v) { auto* p = msg_of(v); return decode(p ? p->proto : ""); }, doc::HttpMessage_proto)
      .def_prop_ro("body_bytes",
                   [](PyHttpMessage& v) {
                     auto* p = msg_of(v);
                     std::string_view b = p ? p->body : "";
                     return nb::bytes(b.data(), b.size());
                   }, doc::HttpMessage_body_bytes)
      .def_prop_ro("body_text", [](PyHttpMessage& v) { auto* p = msg_of(v); return decode(p ? p->body : ""); }, doc::HttpMessage_body_text)
      .def(
          "header",
          [](PyHttpMessage& v, const std::string& name, nb::object dflt) -> nb::object {
            auto* p = msg_of(v);
            if (!p) return dflt;
            for (size_t i = 0; i < p->num_headers; i++)
              if (mg::http::iequals(p->headers[i].name, name)) return decode(p->headers[i].value);
            return dflt;
          },
          nb::arg("name"), nb::arg("default") = nb::none(), doc::HttpMessage_header)
      .def("headers",
           [](PyHttpMessage& v) {
             nb::list out;
             auto* p = msg_of(v);
             if (!p) return out;
             for (size_t i = 0; i < p->num_headers; i++)
               out.append(nb::make_tuple(decode(p->headers[i].name), decode(p->headers[i].value)));
             return out;
           }, doc::HttpMessage_headers)
      .def(
          "query_var",
          [](PyHttpMessage& v, const std::string& name) -> nb::object {
            auto* p = msg_of(v);
            std::optional<std::string_view> found = p ? mg::http::form_var(p->query, name) : std::nullopt;
            if (!found || found->empty()) return nb::none();
            std::string_view raw = *found;
            std::string out;
            out.reserve(raw.size());
            for (size_t i = 0; i < raw.size(); i++) {
              char ch = raw[i];
              if (ch == '+') {
                out.push_back(' ');
              } else if (ch == '%') {
                if (i + 2 >= raw.size())
                  throw nb::value_error(("Query parameter '" + name + "' has malformed percent-encoding").c_str());
                int h = hex_value(raw[i + 1]), l = hex_value(raw[i + 2]);
                if (h < 0 || l < 0)
                  throw nb::value_error(("Query parameter '" + name + "' has malformed percent-encoding").c_str());
                out.push_back(static_cast<char>(h * 16 + l));
                i += 2;
              } else {
                out.push_back(ch);
              }
            }
            // compat: the reference keeps decoded values in a 2048-byte buffer.
            if (out.size() >= 2048)
              throw nb::value_error(("Query parameter '" + name + "' value exceeds 2048-byte buffer limit").c_str());
            if (out.empty()) return nb::none();
            return decode(out);
          },
          nb::arg("name"), doc::HttpMessage_query_var)
      .def("status",
           [](PyHttpMessage& v) -> nb::object {
             auto* p = msg_of(v);
             if (!p) return nb::none();
             long code = 0;
             for (char ch : p->uri) {
               if (ch < '0' || ch > '9') break;
               code = code * 10 + (ch - '0');
               if (code > 1000000000) break;
             }
             return nb::int_(code);
           }, doc::HttpMessage_status)
      .def(
          "header_var",
          [](PyHttpMessage& v, const std::string& header_name, const std::string& var_name) -> nb::object {
            auto* p = msg_of(v);
            if (!p) return nb::none();
            std::string_view value;
            bool found = false;
            for (size_t i = 0; i < p->num_headers && !found; i++)
              if (mg::http::iequals(p->headers[i].name, header_name)) {
                value = p->headers[i].value;
                found = true;
              }
            if (!found) return nb::none();
            // Find `var_name=` at a parameter boundary.
            size_t pos = 0;
            while (pos < value.size()) {
              size_t at = pos;
              while (at < value.size() && (value[at] == ' ' || value[at] == ';' || value[at] == ',')) at++;
              if (at + var_name.size() < value.size() &&
                  mg::http::iequals(value.substr(at, var_name.size()), var_name) &&
                  value[at + var_name.size()] == '=') {
                std::string_view rest = value.substr(at + var_name.size() + 1);
                std::string_view out;
                if (!rest.empty() && rest[0] == '"') {
                  size_t end = rest.find('"', 1);
                  out = rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
                } else {
                  size_t end = rest.find_first_of("; ,");
                  out = rest.substr(0, end);
                }
                if (out.empty()) return nb::none();
                return decode(out);
              }
              size_t next = value.find_first_of(";, ", at);
              if (next == std::string_view::npos) break;
              pos = next + 1;
            }
            return nb::none();
          },
          nb::arg("header_name"), nb::arg("var_name"), doc::HttpMessage_header_var)
      .def("copy",
           [](PyHttpMessage& v) {
             PyHttpMessage out;
             if (auto* p = msg_of(v)) out.owned = copy_message(*p);
             return out;
           }, doc::HttpMessage_copy)
      .def("__bool__", [](PyHttpMessage& v) { return msg_of(v) != nullptr; }, doc::HttpMessage___bool__)
      .def("__repr__", [](PyHttpMessage& v) -> nb::object {
        auto* p = msg_of(v);
        if (!p) return nb::str("<HttpMessage invalid>");
        std::string s = "<HttpMessage ";
        s.append(p->method).append(" ").append(p->uri).append(">");
        return decode(s);
      });
}

}  // namespace pymg
