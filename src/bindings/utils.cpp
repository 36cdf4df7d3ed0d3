// Module functions of spec §4 (utilities): thin wrappers over the engine's pure helpers in
// src/core/util/. Argument conversion follows §1.4: "data" is str (UTF-8, surrogateescape)
// or a buffer, "str" parameters accept str only, integers raise OverflowError out of range.
#include <cstring>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/base64.hpp"
#include "mg/crc32.hpp"
#include "mg/form.hpp"
#include "mg/glob.hpp"
#include "mg/hash.hpp"
#include "mg/json.hpp"
#include "mg/log.hpp"
#include "mg/multipart.hpp"
#include "mg/random.hpp"
#include "mg/url.hpp"

namespace pymg {

bool str_arg(PyObject* o, const char* what, std::string_view& out, nb::object& keep) {
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
    return false;
  }
  Py_ssize_t n;
  if (const char* p = PyUnicode_AsUTF8AndSize(o, &n)) {
    out = {p, static_cast<size_t>(n)};
    return true;
  }
  PyErr_Clear();  // lone surrogates: bytes that came from our views round-trip
  PyObject* b = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
  if (!b) return false;
  keep = nb::steal(b);
  out = {PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b))};
  return true;
}

namespace {

// Inputs at least this large are hashed with the GIL released (as hashlib does).
constexpr size_t kReleaseGil = 64 * 1024;

struct Data {
  ByteView view;
  Data(nb::handle h, const char* what) {
    if (!view.load(h.ptr(), what)) throw nb::python_error();
  }
  std::string_view get() const { return view.view(); }
};

struct Text {
  std::string_view s;
  nb::object keep;
  Text(nb::handle h, const char* what) {
    if (!str_arg(h.ptr(), what, s, keep)) throw nb::python_error();
  }
};

// A Python int as size_t: TypeError for non-ints, OverflowError when negative or too big.
size_t size_arg(nb::handle h, const char* what) {
  if (!PyLong_Check(h.ptr())) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(h.ptr())->tp_name);
    throw nb::python_error();
  }
  size_t v = PyLong_AsSize_t(h.ptr());  // OverflowError for negative or too large values
  if (v == static_cast<size_t>(-1) && PyErr_Occurred()) throw nb::python_error();
  return v;
}

nb::object text_or_none(const std::optional<std::string_view>& v) {
  return v ? nb::object(decode(*v)) : nb::none();
}

template <size_t N, bool (*Fn)(std::string_view, uint8_t (&)[N]) noexcept>
nb::bytes digest(nb::handle data, const char* name) {
  Data d(data, "data");
  uint8_t out[N];
  bool ok;
  if (d.get().size() >= kReleaseGil) {
    nb::gil_scoped_release unlocked;
    ok = Fn(d.get(), out);
  } else {
    ok = Fn(d.get(), out);
  }
  if (!ok) throw std::runtime_error(std::string(name) + " is not available from OpenSSL");
  return nb::bytes(reinterpret_cast<const char*>(out), N);
}

nb::tuple match(nb::handle s, nb::handle pattern) {
  Text str(s, "s"), pat(pattern, "pattern");
  std::vector<std::string_view> caps;
  bool ok = mg::glob_match(str.s, pat.s, &caps);
  nb::list out;
  for (std::string_view c : caps) out.append(decode(c));
  return nb::make_tuple(nb::bool_(ok), out);
}

nb::tuple parse_multipart(nb::handle body, nb::handle offset) {
  Data d(body, "body");
  size_t off = size_arg(offset, "offset");
  mg::http::MultipartPart part;
  size_t next = mg::http::parse_multipart(d.get(), off, part);
  if (next == 0) return nb::make_tuple(nb::int_(0), nb::none());
  nb::dict r;
  r["name"] = decode(part.name);
  r["filename"] = decode(part.filename);
  r["body"] = nb::bytes(part.body.data(), part.body.size());
  return nb::make_tuple(nb::int_(next), r);
}

}  // namespace

void bind_utils(nb::module_& m) {
  // ---- encodings and checksums ----
  m.def(
      "base64_encode",
      [](nb::handle data) {
        Data d(data, "data");
        std::string s = mg::base64_encode(d.get());
        return nb::str(s.data(), s.size());
      },
      nb::arg("data"), doc::fn_base64_encode);
  m.def(
      "base64_decode",
      [](nb::handle data) {
        Text t(data, "data");
        std::string out;
        if (!mg::base64_decode(t.s, out)) out.clear();
        return nb::bytes(out.data(), out.size());
      },
      nb::arg("data"), doc::fn_base64_decode);
  m.def(
      "crc32",
      [](nb::handle data, nb::handle initial) {
        Data d(data, "data");
        if (!PyLong_Check(initial.ptr())) throw nb::type_error("initial must be an int");
        unsigned long long init = PyLong_AsUnsignedLongLong(initial.ptr());
        if (init == static_cast<unsigned long long>(-1) && PyErr_Occurred()) throw nb::python_error();
        if (init > 0xFFFFFFFFull) {
          PyErr_SetString(PyExc_OverflowError, "initial must be in range 0-4294967295");
          throw nb::python_error();
        }
        uint32_t crc;
        if (d.get().size() >= kReleaseGil) {
          nb::gil_scoped_release unlocked;
          crc = mg::crc32(static_cast<uint32_t>(init), d.get());
        } else {
          crc = mg::crc32(static_cast<uint32_t>(init), d.get());
        }
        return crc;
      },
      nb::arg("data"), nb::arg("initial") = 0, doc::fn_crc32);
  m.def("md5", [](nb::handle data) { return digest<mg::kMd5Size, mg::md5>(data, "md5"); }, nb::arg("data"), doc::fn_md5);
  m.def("sha1", [](nb::handle data) { return digest<mg::kSha1Size, mg::sha1>(data, "sha1"); }, nb::arg("data"), doc::fn_sha1);
  m.def("sha256", [](nb::handle data) { return digest<mg::kSha256Size, mg::sha256>(data, "sha256"); }, nb::arg("data"), doc::fn_sha256);
  m.def(
      "hmac_sha256",
      [](nb::handle key, nb::handle data) {
        Data k(key, "key"), d(data, "data");
        uint8_t out[mg::kSha256Size];
        bool ok;
        if (d.get().size() >= kReleaseGil) {
          nb::gil_scoped_release unlocked;
          ok = mg::hmac_sha256(k.get(), d.get(), out);
        } else {
          ok = mg::hmac_sha256(k.get(), d.get(), out);
        }
        if (!ok) throw std::runtime_error("hmac_sha256 is not available from OpenSSL");
        return nb::bytes(reinterpret_cast<const char*>(out), sizeof out);
      },
      nb::arg("key"), nb::arg("data"), doc::fn_hmac_sha256);

  // ---- randomness (OS CSPRNG) ----
  m.def(
      "random_bytes",
      [](nb::handle length) {
        size_t n = size_arg(length, "length");
        if (n > static_cast<size_t>(PY_SSIZE_T_MAX)) throw std::overflow_error("length is too large");
        PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(n));
        if (!b) throw nb::python_error();
        nb::object keep = nb::steal(b);
        if (!mg::random_fill(PyBytes_AS_STRING(b), n)) {
          PyErr_SetString(PyExc_OSError, "mg_random failed");
          throw nb::python_error();
        }
        return nb::borrow<nb::bytes>(keep);
      },
      nb::arg("length"), doc::fn_random_bytes);
  m.def(
      "random_str",
      [](nb::handle length) {
        size_t n = size_arg(length, "length");
        if (n > static_cast<size_t>(PY_SSIZE_T_MAX)) throw std::overflow_error("length is too large");
        PyObject* s = PyUnicode_New(static_cast<Py_ssize_t>(n), 127);
        if (!s) throw nb::python_error();
        nb::object keep = nb::steal(s);
        if (!mg::random_alnum(reinterpret_cast<char*>(PyUnicode_1BYTE_DATA(s)), n)) {
          PyErr_SetString(PyExc_OSError, "mg_random failed");
          throw nb::python_error();
        }
        return nb::borrow<nb::str>(keep);
      },
      nb::arg("length"), doc::fn_random_str);

  // ---- JSON path access ----
  m.def(
      "json_get",
      [](nb::handle data, nb::handle path) {
        Data d(data, "data");
        Text p(path, "path");
        return text_or_none(mg::json::get(d.get(), p.s));
      },
      nb::arg("data"), nb::arg("path"), doc::fn_json_get);
  m.def(
      "json_get_num",
      [](nb::handle data, nb::handle path, nb::object dflt) -> nb::object {
        Data d(data, "data");
        Text p(path, "path");
        auto v = mg::json::get_number(d.get(), p.s);
        return v ? nb::float_(*v) : dflt;
      },
      nb::arg("data"), nb::arg("path"), nb::arg("default").none() = nb::none(), doc::fn_json_get_num);
  m.def(
      "json_get_bool",
      [](nb::handle data, nb::handle path, nb::object dflt) -> nb::object {
        Data d(data, "data");
        Text p(path, "path");
        auto v = mg::json::get_bool(d.get(), p.s);
        return v ? nb::bool_(*v) : dflt;
      },
      nb::arg("data"), nb::arg("path"), nb::arg("default").none() = nb::none(), doc::fn_json_get_bool);
  m.def(
      "json_get_long",
      [](nb::handle data, nb::handle path, nb::object dflt) -> nb::object {
        Data d(data, "data");
        Text p(path, "path");
        if (!PyLong_Check(dflt.ptr())) throw nb::type_error("default must be an int");
        auto v = mg::json::get_long(d.get(), p.s);
        return v ? nb::steal(PyLong_FromLongLong(*v)) : dflt;
      },
      nb::arg("data"), nb::arg("path"), nb::arg("default") = 0, doc::fn_json_get_long);
  m.def(
      "json_get_str",
      [](nb::handle data, nb::handle path) -> nb::object {
        Data d(data, "data");
        Text p(path, "path");
        auto v = mg::json::get_string(d.get(), p.s);
        return v ? nb::object(decode(*v)) : nb::none();
      },
      nb::arg("data"), nb::arg("path"), doc::fn_json_get_str);

  // ---- logging ----
  m.def(
      "log_set",
      [](nb::handle level) {
        if (!PyLong_Check(level.ptr())) throw nb::type_error("level must be an int");
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(level.ptr(), &overflow);
        if (overflow || !mg::log_set_level(v < INT32_MIN || v > INT32_MAX ? -1 : static_cast<int>(v)))
          throw nb::value_error("log level must be in range 0-4 (MG_LL_NONE to MG_LL_VERBOSE)");
      },
      nb::arg("level"), doc::fn_log_set);
  m.def("log_get", []() { return mg::log_level(); }, doc::fn_log_get);

  // ---- glob, forms, multipart ----
  m.def("match", &match, nb::arg("s"), nb::arg("pattern"), doc::fn_match);
  m.def(
      "http_var",
      [](nb::handle buf, nb::handle name) {
        Data b(buf, "buf");
        Text n(name, "name");
        return text_or_none(mg::http::form_var(b.get(), n.s));
      },
      nb::arg("buf"), nb::arg("name"), doc::fn_http_var);
  m.def("http_parse_multipart", &parse_multipart, nb::arg("body"), nb::arg("offset") = 0, doc::fn_http_parse_multipart);

  // ---- URLs ----
  m.def(
      "url_encode",
      [](nb::handle data) {
        Text t(data, "data");
        std::string s = mg::url::encode(t.s);
        return nb::str(s.data(), s.size());
      },
      nb::arg("data"), doc::fn_url_encode);
  m.def("url_host", [](nb::handle url) { return decode(mg::url::host(Text(url, "url").s)); }, nb::arg("url"), doc::fn_url_host);
  m.def("url_user", [](nb::handle url) { return decode(mg::url::user(Text(url, "url").s)); }, nb::arg("url"), doc::fn_url_user);
  m.def("url_pass", [](nb::handle url) { return decode(mg::url::pass(Text(url, "url").s)); }, nb::arg("url"), doc::fn_url_pass);
  m.def("url_uri", [](nb::handle url) { return decode(mg::url::uri(Text(url, "url").s)); }, nb::arg("url"), doc::fn_url_uri);
  m.def(
      "url_port",
      [](nb::handle url) {
        int port = mg::url::port(Text(url, "url").s);
        return port < 0 ? 0 : port;  // not a 0-65535 number: 0, like a scheme without a default
      },
      nb::arg("url"), doc::fn_url_port);
  m.def("url_is_ssl", [](nb::handle url) { return mg::url::is_ssl_exact(Text(url, "url").s); }, nb::arg("url"), doc::fn_url_is_ssl);
}

}  // namespace pymg
