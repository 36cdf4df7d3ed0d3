// TlsOpts (spec §3.6) and the TLS members of Connection: tls_init, tls_free, tls_info.
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cctype>

#include "common.hpp"
#include "docstrings.hpp"

namespace pymg {

namespace {

// str (UTF-8), bytes-like or None -> bytes; anything else is a TypeError naming the field.
nb::bytes tls_field(nb::handle v, const char* name) {
  if (v.is_none()) return nb::bytes("", 0);
  ByteView b;
  if (PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr()) || PyByteArray_Check(v.ptr()) ||
      PyMemoryView_Check(v.ptr())) {
    if (!b.load(v.ptr(), name)) throw nb::python_error();
    return nb::bytes(b.view().data(), b.view().size());
  }
  PyErr_Format(PyExc_TypeError, "%s must be str, bytes or None, not %.100s", name, Py_TYPE(v.ptr())->tp_name);
  throw nb::python_error();
}

std::string as_string(const nb::bytes& b) { return std::string(b.c_str(), b.size()); }

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

nb::list str_list(const std::vector<std::string>& v) {
  nb::list out;
  for (const std::string& s : v) out.append(decode(s));
  return out;
}

}  // namespace

mg::tls::Config PyTlsOpts::config() const {
  mg::tls::Config c;
  c.ca = as_string(ca);
  c.cert = as_string(cert);
  c.key = as_string(key);
  c.name = as_string(name);
  c.skip_verification = skip_verification;
  return c;
}

void tls_init(PyConnection& pc, nb::handle opts) {
  if (!nb::isinstance<PyTlsOpts>(opts))
    throw nb::type_error(("opts must be a TlsOpts, not " + std::string(Py_TYPE(opts.ptr())->tp_name)).c_str());
  mg::tls::Config cfg = nb::cast<PyTlsOpts&>(opts).config();
  if (!pc.c) raise_closed();
  const bool listener = pc.is_listening;
  if (listener && (cfg.cert.empty() || cfg.key.empty())) return;  // spec §3.6: accepted, changes nothing
  // PEM parsing can take a while: before the engine lock, with the GIL held (it is cached).
  const mg::tls::Role role = pc.is_client ? mg::tls::Role::Client : mg::tls::Role::Server;
  std::shared_ptr<mg::tls::Context> ctx = mg::tls::Context::get(role, cfg);
  EngineLock lock(*pc.mgr->engine);
  mg::Connection* c = pc.c;
  if (!c || c->is_closed) raise_closed();
  mg::Manager& engine = *pc.mgr->engine;
  if (listener) {
    // Child defaults ([ext]); a `name` makes this the certificate for that SNI name.
    auto certs = std::make_shared<mg::tls::ServerCerts>(c->tls_certs ? *c->tls_certs : mg::tls::ServerCerts{});
    if (cfg.name.empty()) {
      certs->fallback = ctx;
    } else {
      certs->by_name[lowercase(cfg.name)] = ctx;
      if (!certs->fallback) certs->fallback = ctx;
    }
    c->tls_certs = std::move(certs);
    return;
  }
  if (c->io->is_tls()) {
    if (static_cast<mg::tls::TlsStream*>(c->io.get())->started())
      throw std::runtime_error("TLS already started on this connection; call tls_free() first");
    engine.stop_tls(c);
  }
  if (role == mg::tls::Role::Client) {
    engine.start_tls_client(c, std::move(ctx), cfg.name);
  } else {
    auto certs = std::make_shared<mg::tls::ServerCerts>();
    certs->fallback = std::move(ctx);
    engine.start_tls_server(c, std::move(certs));
  }
}

void tls_free(PyConnection& pc) {
  if (!pc.c) return;
  EngineLock lock(*pc.mgr->engine);
  mg::Connection* c = pc.c;
  if (!c || c->is_closed) return;
  if (c->is_listening) c->tls_certs.reset();
  else pc.mgr->engine->stop_tls(c);
}

// A copy of the cached answer: callers may modify what they get.
static nb::object copy_info(const nb::object& cached) {
  nb::dict d = nb::steal<nb::dict>(PyDict_Copy(cached.ptr()));
  nb::object peer = d["peer_cert"];
  if (!peer.is_none()) {
    nb::dict p = nb::steal<nb::dict>(PyDict_Copy(peer.ptr()));
    p["san"] = nb::list(p["san"]);
    p["chain"] = nb::list(p["chain"]);
    d["peer_cert"] = std::move(p);
  }
  return d;
}

nb::object tls_info(PyConnection& pc) {
  if (!pc.c) return nb::none();
  if (pc.tls_info.is_valid()) return copy_info(pc.tls_info);
  mg::tls::Info info;
  {
    EngineLock lock(*pc.mgr->engine);
    mg::Connection* c = pc.c;
    if (!c || c->is_closed || !c->io || !c->io->is_tls()) return nb::none();
    auto* t = static_cast<mg::tls::TlsStream*>(c->io.get());
    if (!t->established()) return nb::none();
    info = t->info();
  }
  nb::dict d;
  d["version"] = decode(info.version);
  d["version_code"] = info.version_code;
  d["cipher"] = decode(info.cipher);
  d["cipher_code"] = info.cipher_code;
  d["alpn"] = decode(info.alpn);
  d["server_name"] = decode(info.server_name);
  d["server_cert"] = info.local_cert_pem.empty() ? nb::none() : nb::object(decode(info.local_cert_pem));
  if (info.peer_chain_pem.empty()) {
    d["peer_cert"] = nb::none();
  } else {
    nb::dict peer;
    peer["subject"] = decode(info.peer_subject);
    peer["san"] = str_list(info.peer_sans);
    peer["pem"] = decode(info.peer_chain_pem.front());
    peer["chain"] = str_list(info.peer_chain_pem);
    peer["verified"] = info.peer_verified;
    d["peer_cert"] = std::move(peer);
  }
  pc.tls_info = d;
  return copy_info(d);
}

void bind_tls(nb::module_& m) {
  nb::class_<PyTlsOpts>(m, "TlsOpts", doc::TlsOpts)
      .def(
          "__init__",
          [](PyTlsOpts* self, nb::handle ca, nb::handle cert, nb::handle key, nb::handle name, nb::handle skip) {
            new (self) PyTlsOpts();
            self->ca = tls_field(ca, "ca");
            self->cert = tls_field(cert, "cert");
            self->key = tls_field(key, "key");
            self->name = tls_field(name, "name");
            int truth = PyObject_IsTrue(skip.ptr());
            if (truth < 0) throw nb::python_error();
            self->skip_verification = truth != 0;
          },
          nb::arg("ca").none() = nb::none(), nb::arg("cert").none() = nb::none(), nb::arg("key").none() = nb::none(),
          nb::arg("name").none() = nb::none(), nb::arg("skip_verification") = false)
      .def_prop_rw(
          "ca", [](PyTlsOpts& o) { return o.ca; }, [](PyTlsOpts& o, nb::handle v) { o.ca = tls_field(v, "ca"); },
          nb::arg("value").none(), doc::TlsOpts_ca)
      .def_prop_rw(
          "cert", [](PyTlsOpts& o) { return o.cert; }, [](PyTlsOpts& o, nb::handle v) { o.cert = tls_field(v, "cert"); },
          nb::arg("value").none(), doc::TlsOpts_cert)
      .def_prop_rw(
          "key", [](PyTlsOpts& o) { return o.key; }, [](PyTlsOpts& o, nb::handle v) { o.key = tls_field(v, "key"); },
          nb::arg("value").none(), doc::TlsOpts_key)
      .def_prop_rw(
          "name", [](PyTlsOpts& o) { return o.name; }, [](PyTlsOpts& o, nb::handle v) { o.name = tls_field(v, "name"); },
          nb::arg("value").none(), doc::TlsOpts_name)
      .def_prop_rw(
          "skip_verification", [](PyTlsOpts& o) { return o.skip_verification; },
          [](PyTlsOpts& o, nb::handle v) {
            int truth = PyObject_IsTrue(v.ptr());
            if (truth < 0) throw nb::python_error();
            o.skip_verification = truth != 0;
          },
          doc::TlsOpts_skip_verification)
      .def("__repr__", [](PyTlsOpts& o) {
        // Never the key, and no certificate text either: sizes tell enough.
        auto size = [](const nb::bytes& b) { return std::to_string(b.size()) + " bytes"; };
        return "TlsOpts(ca=<" + size(o.ca) + ">, cert=<" + size(o.cert) + ">, key=<" +
               (o.key.size() ? std::string("hidden") : std::string("none")) + ">, name=" +
               nb::cast<std::string>(nb::repr(o.name)) + ", skip_verification=" +
               (o.skip_verification ? "True" : "False") + ")";
      });
}

}  // namespace pymg
