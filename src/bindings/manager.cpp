// Manager: owns the engine, turns engine events into handler calls (spec §3.1, §5).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cerrno>
#include <cmath>

#include "common.hpp"
#include "docstrings.hpp"
#include "mg/mqtt.hpp"
#include "mg/url.hpp"

namespace pymg {

namespace {

const char kNotReentrant[] =
    "poll() is not reentrant and must not be called concurrently. Use AsyncManager for multi-threaded access.";
const char kCloseWhilePolling[] =
    "Cannot close Manager while poll() is active. Stop all polling threads before calling close().";

// Prints an exception like traceback.print_exception() to the current sys.stderr.
void print_exception(PyObject* exc) {
  static PyObject* print_exc = nullptr;
  if (!print_exc) {
    PyObject* tb = PyImport_ImportModule("traceback");
    if (tb) {
      print_exc = PyObject_GetAttrString(tb, "print_exception");
      Py_DECREF(tb);
    }
    if (!print_exc) {
      PyErr_Clear();
      return;
    }
  }
  PyObject* r = PyObject_CallOneArg(print_exc, exc);
  if (!r) PyErr_Clear();
  Py_XDECREF(r);
}

// Takes the current Python error as a normalized exception object.
PyObject* fetch_exception() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

// A BaseException that is not an Exception stops dispatch for this iteration; poll()
// re-raises it (spec §5.4).
bool stash_base_exception(PyManager& pm, PyObject* exc) {
  if (PyObject_IsInstance(exc, PyExc_Exception)) return false;
  if (!pm.pending_exc) {
    pm.pending_exc = exc;
    Py_INCREF(exc);
  }
  pm.suppress_events = true;
  return true;
}

void report_handler_error(PyManager& pm) {
  PyObject* exc = fetch_exception();
  if (!exc) return;
  if (!stash_base_exception(pm, exc)) {
    if (pm.error_handler.is_valid()) {
      PyObject* r = PyObject_CallOneArg(pm.error_handler.ptr(), exc);
      if (!r) {
        PyObject* exc2 = fetch_exception();
        if (exc2 && !stash_base_exception(pm, exc2)) print_exception(exc2);
        Py_XDECREF(exc2);
      }
      Py_XDECREF(r);
    } else {
      print_exception(exc);
    }
  }
  Py_DECREF(exc);
}

PyConnection* wrapper_of(PyManager& pm, mg::Connection* c) {
  if (c->user) return nb::inst_ptr<PyConnection>(static_cast<PyObject*>(c->user));
  nb::object obj = nb::inst_alloc(nb::type<PyConnection>());
  auto* pc = new (nb::inst_ptr<PyConnection>(obj)) PyConnection{};
  nb::inst_mark_ready(obj);
  pc->c = c;
  pc->mgr = &pm;
  pc->id = c->id;
  pc->is_listening = c->is_listening;
  pc->is_client = c->is_client;
  pc->is_udp = c->is_udp;
  if (c->listener && c->listener->user) {
    // Children inherit their listener's handler (spec §5.3).
    pc->handler = nb::inst_ptr<PyConnection>(static_cast<PyObject*>(c->listener->user))->handler;
  } else if (pm.pending_handler.is_valid()) {
    pc->handler = std::move(pm.pending_handler);
  }
  c->user = obj.release().ptr();
  return pc;
}

// A piece of a streamed request body goes to the callback given to http_stream_body(),
// never to a handler (the event code is engine-internal).
void deliver_body_piece(PyManager& pm, mg::Connection* c, PyConnection* pc, const mg::http::HttpBodyPiece& piece) {
  if (!pc->body_sink.is_valid()) return;
  nb::object callback = piece.last ? std::move(pc->body_sink) : pc->body_sink;
  if (pm.suppress_events) return;
  PyObject* data = PyBytes_FromStringAndSize(piece.data.data(), static_cast<Py_ssize_t>(piece.data.size()));
  if (!data) return report_handler_error(pm);
  nb::object self = nb::borrow(static_cast<PyObject*>(c->user));  // a nested close() may drop the engine's reference
  PyObject* args[4] = {nullptr, self.ptr(), data, piece.last ? Py_True : Py_False};
  PyObject* r = PyObject_Vectorcall(callback.ptr(), args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  Py_DECREF(data);
  if (r) Py_DECREF(r);
  else report_handler_error(pm);
}

void dispatch_event(PyManager& pm, mg::Connection* c, int ev, const void* data) {
  PyConnection* pc = wrapper_of(pm, c);
  if (ev == mg::EV_HTTP_BODY) return deliver_body_piece(pm, c, pc, *static_cast<const mg::http::HttpBodyPiece*>(data));
  if (ev == mg::EV_WS_CTL && data) {
    // A close frame (the only control frame with data here): its status code is kept for
    // Connection.ws_close_code; handlers still get None (spec: control frames unwrapped).
    std::string_view payload = static_cast<const mg::WsMessage*>(data)->data;
    pc->ws_close_code = payload.size() >= 2
                            ? (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1])
                            : 1005;
  }
  PyObject* self = static_cast<PyObject*>(c->user);
  if (ev == mg::EV_HTTP_HDRS && pm.hdrs_only_pending && c->is_accepted &&
      !static_cast<const mg::HttpMessage*>(data)->body_pending) {
    return;  // the whole request is here: HTTP_MSG follows at once
  }
  if (!pm.suppress_events && (ev >= 64 || ((pm.event_mask >> ev) & 1))) {
    PyObject* h = pc->handler.is_valid() ? pc->handler.ptr() : pm.handler.ptr();
    if (h && h != Py_None) {
      PyObject* payload;
      bool is_view = false;
      switch (ev) {
        case mg::EV_ERROR: {
          auto* sv = static_cast<const std::string_view*>(data);
          payload = PyUnicode_DecodeUTF8(sv->data(), static_cast<Py_ssize_t>(sv->size()), "surrogateescape");
          break;
        }
        case mg::EV_WAKEUP: {
          auto* sv = static_cast<const std::string_view*>(data);
          payload = PyBytes_FromStringAndSize(sv->data(), static_cast<Py_ssize_t>(sv->size()));
          break;
        }
        case mg::EV_WS_MSG:
          payload = new_ws_message_view(static_cast<const mg::WsMessage*>(data)).release().ptr();
          is_view = true;
          break;
        case mg::EV_MQTT_CMD:
        case mg::EV_MQTT_MSG:
          payload = new_mqtt_message_view(static_cast<const mg::MqttMessage*>(data)).release().ptr();
          is_view = true;
          break;
        case mg::EV_MQTT_OPEN:
          payload = PyLong_FromLong(*static_cast<const int*>(data));
          break;
        case mg::EV_SNTP_TIME:
          payload = PyLong_FromLongLong(*static_cast<const int64_t*>(data));
          break;
        case mg::EV_HTTP_HDRS:
        case mg::EV_HTTP_MSG:
        case mg::EV_WS_OPEN:
          // A view nobody kept after its handler returned is indistinguishable from a new
          // one, so it is reused instead of allocating a fresh object per event.
          if (pm.spare_view) {
            payload = pm.spare_view;
            pm.spare_view = nullptr;
            rebind_view(payload, static_cast<const mg::HttpMessage*>(data));
          } else {
            payload = new_http_message_view(static_cast<const mg::HttpMessage*>(data)).release().ptr();
          }
          is_view = true;
          break;
        default:
          payload = Py_None;
          Py_INCREF(payload);
      }
      if (!payload) {
        report_handler_error(pm);
      } else {
        // Event codes are small ints, which CPython keeps as immortal singletons.
        static PyObject* ev_objs[mg::EV_USER + 1] = {};
        PyObject* ev_obj;
        if (ev >= 0 && ev <= mg::EV_USER) {
          if (!ev_objs[ev]) ev_objs[ev] = PyLong_FromLong(ev);
          ev_obj = ev_objs[ev];
          Py_INCREF(ev_obj);
        } else {
          ev_obj = PyLong_FromLong(ev);
        }
        Py_INCREF(self);  // a nested close() may drop the engine's reference
        Py_INCREF(h);     // set_handler() inside the handler may drop the old one
        PyObject* args[4] = {nullptr, self, ev_obj, payload};
        PyObject* r = PyObject_Vectorcall(h, args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
        if (r) Py_DECREF(r);
        else report_handler_error(pm);
        Py_DECREF(h);
        if (is_view && ev == mg::EV_WS_MSG) {
          invalidate_ws_view(payload);
          Py_DECREF(payload);
        } else if (is_view && (ev == mg::EV_MQTT_CMD || ev == mg::EV_MQTT_MSG)) {
          invalidate_mqtt_view(payload);
          Py_DECREF(payload);
        } else if (is_view) {
          invalidate_view(payload);
          if (Py_REFCNT(payload) == 1 && !pm.spare_view) pm.spare_view = payload;
          else Py_DECREF(payload);
        } else {
          Py_DECREF(payload);
        }
        Py_DECREF(ev_obj);
        Py_DECREF(self);
      }
    }
  }
  if (ev == mg::EV_CLOSE) {
    // After its CLOSE handler the wrapper reads as closed (spec §5.2).
    pc->body_sink.reset();
    pc->c = nullptr;
    c->user = nullptr;
    Py_DECREF(self);
  }
}

void sink(void* ctx, mg::Connection* c, int ev, const void* data) {
  auto& pm = *static_cast<PyManager*>(ctx);
  try {
    dispatch_event(pm, c, ev, data);
  } catch (nb::python_error& e) {
    e.restore();
    report_handler_error(pm);
  } catch (...) {
    // Nothing may unwind through the engine.
  }
}

// Engine lock for the polling thread, held for the scope (RAII: an exception out of
// dispatch cannot leave it locked). Waiting for it drops the GIL (lock order: engine
// lock, then GIL).
class PollLock {
 public:
  explicit PollLock(mg::Manager& e) : e_(e) {
    if (!e_.lock.try_lock()) {
      PyThreadState* ts = PyEval_SaveThread();
      e_.lock.lock();
      restore_gil(ts, [this] { e_.lock.unlock(); });
    }
    e_.lock_owner.store(std::this_thread::get_id(), std::memory_order_release);
  }
  ~PollLock() {
    if (held_) release();
  }
  // Drops the lock for a blocking wait; the waiter calls reacquire() with the GIL released.
  void release() {
    e_.lock_owner.store(std::thread::id{}, std::memory_order_release);
    e_.lock.unlock();
    held_ = false;
  }
  void reacquire_without_gil() {
    e_.lock.lock();
    held_ = true;
    e_.lock_owner.store(std::this_thread::get_id(), std::memory_order_release);
  }
  PollLock(const PollLock&) = delete;
  PollLock& operator=(const PollLock&) = delete;

 private:
  mg::Manager& e_;
  bool held_ = true;
};

// The thread's innermost engine for cross-manager deadlock detection, restored on exit.
class OwnedEngineScope {
 public:
  explicit OwnedEngineScope(mg::Manager* e) : outer_(tl_owned_engine) { tl_owned_engine = e; }
  ~OwnedEngineScope() { tl_owned_engine = outer_; }
  OwnedEngineScope(const OwnedEngineScope&) = delete;
  OwnedEngineScope& operator=(const OwnedEngineScope&) = delete;

 private:
  mg::Manager* outer_;
};

void do_poll(PyManager& pm, int timeout_ms) {
  if (pm.freed.load()) raise_freed();
  if (pm.engine->forked()) raise_forked();
  bool expected = false;
  if (!pm.polling.compare_exchange_strong(expected, true)) throw std::runtime_error(kNotReentrant);
  struct Reset {
    PyManager& pm;
    ~Reset() {
      pm.suppress_events = false;
      pm.poll_thread.store(std::thread::id{});
      pm.polling.store(false);
    }
  } reset{pm};
  pm.poll_thread.store(std::this_thread::get_id());
  mg::Manager& e = *pm.engine;
  {
    PollLock lock(e);
    int wait_ms = e.prepare_wait(timeout_ms);
    int n, err;
    if (wait_ms != 0) {
      e.in_wait.store(true, std::memory_order_release);
      lock.release();
      PyThreadState* ts = PyEval_SaveThread();
      n = e.wait(wait_ms);
      err = errno;
      lock.reacquire_without_gil();
      restore_gil(ts, [&lock] { lock.release(); });
      e.in_wait.store(false, std::memory_order_release);
    } else {
      n = e.wait(0);
      err = errno;
    }
    // A signal interrupted the wait: run Python's handlers now (spec §5.7).
    if (n < 0 && err == EINTR && PyErr_CheckSignals() != 0) throw nb::python_error();
    pm.suppress_events = false;
    OwnedEngineScope owned(&e);
    e.dispatch();
  }
  if (pm.pending_exc) {
    PyObject* exc = pm.pending_exc;
    pm.pending_exc = nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
    Py_DECREF(exc);
    throw nb::python_error();
  }
}

void do_close(PyManager& pm) {
  if (pm.freed.load()) return;
  if (pm.polling.load()) throw std::runtime_error(kCloseWhilePolling);
  pm.freed.store(true);
  pm.alive->store(false);
  EngineLock lock(*pm.engine);
  pm.engine->shutdown();
}

void check_callable(nb::handle h, const char* what) {
  if (!h.is_none() && !PyCallable_Check(h.ptr()))
    throw nb::type_error((std::string(what) + " must be callable or None").c_str());
}

struct LimitKey {
  const char* name;
  enum Kind { Size, Seconds } kind;
  size_t mg::Limits::*size;
  uint64_t mg::Limits::*ms;
};

const LimitKey kLimitKeys[] = {
    {"max_request_line", LimitKey::Size, &mg::Limits::max_request_line, nullptr},
    {"max_header_bytes", LimitKey::Size, &mg::Limits::max_header_bytes, nullptr},
    {"max_headers", LimitKey::Size, &mg::Limits::max_headers, nullptr},
    {"max_body", LimitKey::Size, &mg::Limits::max_body, nullptr},
    {"max_recv", LimitKey::Size, &mg::Limits::max_recv, nullptr},
    {"max_ws_message", LimitKey::Size, &mg::Limits::max_ws_message, nullptr},
    {"max_path", LimitKey::Size, &mg::Limits::max_path, nullptr},
    {"header_timeout", LimitKey::Seconds, nullptr, &mg::Limits::header_timeout_ms},
    {"body_timeout", LimitKey::Seconds, nullptr, &mg::Limits::body_timeout_ms},
    {"keepalive_timeout", LimitKey::Seconds, nullptr, &mg::Limits::keepalive_timeout_ms},
    {"ws_close_timeout", LimitKey::Seconds, nullptr, &mg::Limits::ws_close_timeout_ms},
    {"connect_timeout", LimitKey::Seconds, nullptr, &mg::Limits::connect_timeout_ms},
    {"send_timeout", LimitKey::Seconds, nullptr, &mg::Limits::send_timeout_ms},
    {"tls_handshake_timeout", LimitKey::Seconds, nullptr, &mg::Limits::tls_handshake_timeout_ms},
    {"send_high_water", LimitKey::Size, &mg::Limits::send_high_water, nullptr},
    {"send_low_water", LimitKey::Size, &mg::Limits::send_low_water, nullptr},
    {"max_connections", LimitKey::Size, &mg::Limits::max_connections, nullptr},
    {"wakeup_max_payload", LimitKey::Size, &mg::Limits::wakeup_max_payload, nullptr},
    {"wakeup_max_queue", LimitKey::Size, &mg::Limits::wakeup_max_queue, nullptr},
};

mg::Limits parse_limits(nb::handle obj) {
  mg::Limits l;
  if (obj.is_none()) return l;
  if (!PyDict_Check(obj.ptr())) throw nb::type_error("limits must be a dict");
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(obj.ptr(), &pos, &k, &v)) {
    std::string key = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : "";
    const LimitKey* spec = nullptr;
    for (const LimitKey& lk : kLimitKeys)
      if (key == lk.name) spec = &lk;
    if (!spec) throw nb::value_error(("unknown limit '" + key + "'").c_str());
    std::string invalid = "invalid value for limit '" + key + "'";
    if (PyBool_Check(v)) throw nb::value_error(invalid.c_str());
    if (spec->kind == LimitKey::Size) {
      if (!PyLong_Check(v)) throw nb::value_error(invalid.c_str());
      int overflow = 0;
      long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow || n < 0) throw nb::value_error(invalid.c_str());
      if ((key == "max_headers" || key == "max_request_line" || key == "max_header_bytes") && n == 0)
        throw nb::value_error(invalid.c_str());
      l.*(spec->size) = static_cast<size_t>(n);
    } else {
      if (!PyLong_Check(v) && !PyFloat_Check(v)) throw nb::value_error(invalid.c_str());
      double s = PyFloat_AsDouble(v);
      if (!(s >= 0) || !std::isfinite(s) || s > 1e9) throw nb::value_error(invalid.c_str());
      uint64_t ms = static_cast<uint64_t>(std::ceil(s * 1000.0));
      l.*(spec->ms) = ms;
    }
  }
  if (l.send_low_water > l.send_high_water) throw nb::value_error("invalid value for limit 'send_low_water'");
  return l;
}

nb::dict limits_dict(const mg::Limits& l) {
  nb::dict d;
  for (const LimitKey& lk : kLimitKeys) {
    if (lk.kind == LimitKey::Size) d[lk.name] = nb::int_(l.*(lk.size));
    else d[lk.name] = nb::float_(static_cast<double>(l.*(lk.ms)) / 1000.0);
  }
  return d;
}

PyObject* run_impl = nullptr;  // Manager.run, written in Python (signal handling)

const char kRunSource[] = R"PY(
def _run(manager, poll_ms):
    import signal
    stop = False

    def _request_stop(signum, frame):
        nonlocal stop
        stop = True

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, _request_stop)
    except BaseException:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        raise
    try:
        while not stop:
            manager.poll(poll_ms)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        manager.close()
)PY";

// Cyclic GC (D11): handlers, timer callbacks and userdata may reference the manager.
int manager_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  PyManager* pm = nb::inst_ptr<PyManager>(self);
  Py_VISIT(pm->handler.ptr());
  Py_VISIT(pm->error_handler.ptr());
  if (!pm->engine) return 0;
  for (mg::Connection* c = pm->engine->first(); c; c = c->next)
    if (c->user) Py_VISIT(static_cast<PyObject*>(c->user));
  for (const auto& t : pm->engine->timers())
    if (t->callback && t->user) Py_VISIT(static_cast<PyObject*>(t->user));
  return 0;
}

int manager_clear(PyObject* self) {
  PyManager* pm = nb::inst_ptr<PyManager>(self);
  pm->handler.reset();
  pm->error_handler.reset();
  if (pm->engine) pm->engine->clear_timer_callbacks();
  return 0;
}

PyType_Slot manager_slots[] = {{Py_tp_traverse, (void*)manager_traverse},
                               {Py_tp_clear, (void*)manager_clear},
                               {0, nullptr}};

// connect()/ws_connect(): the handler is attached before the synchronous OPEN (D12).
template <class Open>
nb::object open_outbound(PyManager& pm, nb::handle handler, const std::string& failure, Open&& open) {
  EngineLock lock(*pm.engine);
  pm.pending_handler = handler.is_none() ? nb::object() : nb::borrow(handler);
  if (pm.engine->forked()) raise_forked();
  mg::Connection* c = open(*pm.engine);
  pm.pending_handler = nb::object();
  if (!c) throw std::runtime_error(failure);
  if (c->user) return nb::borrow(static_cast<PyObject*>(c->user));
  // Closed during its synchronous events: hand out a closed wrapper that keeps its id.
  PyConnection closed;
  closed.id = c->id;
  closed.is_client = true;
  return nb::cast(std::move(closed));
}

}  // namespace

PyManager::~PyManager() {
  if (!engine) return;
  if (!freed.load()) {
    // Collected without close(): release sockets without calling handlers (D11).
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (PyErr_WarnEx(PyExc_ResourceWarning, "unclosed Manager", 1) < 0) PyErr_Clear();
    PyErr_Restore(t, v, tb);
  }
  alive->store(false);
  for (mg::Connection* c : engine->live_connections()) {
    if (!c->user) continue;
    nb::inst_ptr<PyConnection>(static_cast<PyObject*>(c->user))->c = nullptr;
    Py_DECREF(static_cast<PyObject*>(c->user));
    c->user = nullptr;
  }
  engine.reset();
  Py_XDECREF(pending_exc);
  Py_XDECREF(spare_view);
}

void bind_manager(nb::module_& m) {
  {
    PyObject* globals = PyDict_New();
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject* r = PyRun_String(kRunSource, Py_file_input, globals, globals);
    if (!r) throw nb::python_error();
    Py_DECREF(r);
    run_impl = PyDict_GetItemString(globals, "_run");
    Py_INCREF(run_impl);
    Py_DECREF(globals);
  }

  nb::class_<PyTimer>(m, "Timer", doc::Timer, nb::is_final())
      .def(nb::new_([]() { return PyTimer{}; }))
      .def("cancel",
           [](PyTimer& t) {
             if (!t.rec) return;
             t.rec->active.store(false);
             if (t.mgr_alive && t.mgr_alive->load()) t.engine->note_timer_cancelled();
           }, doc::Timer_cancel)
      .def_prop_ro("active", [](PyTimer& t) {
        return t.rec && t.rec->active.load() && t.mgr_alive && t.mgr_alive->load();
      }, doc::Timer_active);

  nb::class_<PyManager>(m, "Manager", doc::Manager, nb::type_slots(manager_slots))
      .def(
          "__init__",
          [](PyManager* self, nb::handle handler, bool enable_wakeup, nb::handle error_handler, nb::handle limits,
             bool poll_events, nb::handle events, bool hdrs_only_pending) {
            check_callable(handler, "handler");
            check_callable(error_handler, "error_handler");
            mg::Limits l = parse_limits(limits);
            uint64_t mask = ~uint64_t{0};
            if (!events.is_none()) {
              mask = 0;
              nb::object it = nb::steal(PyObject_GetIter(events.ptr()));
              if (!it.is_valid()) {
                PyErr_Clear();
                throw nb::type_error("events must be an iterable of event codes");
              }
              while (PyObject* item = PyIter_Next(it.ptr())) {
                long ev = PyLong_AsLong(item);
                Py_DECREF(item);
                if (ev == -1 && PyErr_Occurred()) {
                  PyErr_Clear();
                  throw nb::type_error("events must be an iterable of event codes");
                }
                if (ev < 0 || ev > mg::EV_USER) throw nb::value_error("unknown event code in events");
                mask |= uint64_t{1} << ev;
              }
              if (PyErr_Occurred()) throw nb::python_error();
            }
            new (self) PyManager();
            self->event_mask = mask;
            self->hdrs_only_pending = hdrs_only_pending;
            self->engine = std::make_unique<mg::Manager>(l);
            if (!self->engine->ok()) throw std::runtime_error("Failed to create the event loop");
            self->engine->set_sink(sink, self);
            self->engine->set_poll_events(poll_events);
            if (!handler.is_none()) self->handler = nb::borrow(handler);
            if (!error_handler.is_none()) self->error_handler = nb::borrow(error_handler);
            if (enable_wakeup && !self->engine->enable_wakeup())
              throw std::runtime_error("Failed to initialize wakeup support");
          },
          nb::arg("handler").none() = nb::none(), nb::arg("enable_wakeup") = false,
          nb::arg("error_handler").none() = nb::none(), nb::kw_only(), nb::arg("limits").none() = nb::none(),
          nb::arg("poll_events") = true, nb::arg("events").none() = nb::none(), nb::arg("hdrs_only_pending") = false)
      .def("poll", &do_poll, nb::arg("timeout_ms") = 0, doc::Manager_poll)
      .def(
          "run",
          [](nb::handle self, int poll_ms) {
            PyObject* r = PyObject_CallFunction(run_impl, "Oi", self.ptr(), poll_ms);
            if (!r) throw nb::python_error();
            Py_DECREF(r);
          },
          nb::arg("poll_ms") = 100, doc::Manager_run)
      .def("close", &do_close, doc::Manager_close)
      .def("__enter__", [](nb::handle self) { return nb::borrow(self); }, doc::Manager___enter__)
      .def(
          "__exit__",
          [](PyManager& pm, nb::args) {
            do_close(pm);
            return false;
          }, doc::Manager___exit__)
      .def(
          "listen",
          [](PyManager& pm, const std::string& url, nb::handle handler, nb::handle http, bool reuse_port,
             std::optional<int> backlog) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            if (backlog && *backlog < 1) throw nb::value_error("backlog must be at least 1");
            bool is_http = http.is_none() ? mg::url::is_http_scheme(mg::url::endpoint(url).scheme_url)
                                          : PyObject_IsTrue(http.ptr()) == 1;
            mg::net::ListenOptions opts;
            opts.reuse_port = reuse_port;
            opts.backlog = backlog.value_or(0);
            EngineLock lock(*pm.engine);
            pm.pending_handler = handler.is_none() ? nb::object() : nb::borrow(handler);
            if (pm.engine->forked()) raise_forked();
            mg::Connection* c = mg::proto::listen(*pm.engine, url, is_http, opts);
            pm.pending_handler = nb::object();
            if (!c) throw std::runtime_error("Failed to listen on '" + url + "'");
            if (!c->user) return nb::none();  // closed inside its OPEN handler
            return nb::borrow(static_cast<PyObject*>(c->user));
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), nb::kw_only(), nb::arg("http").none() = nb::none(),
          nb::arg("reuse_port") = false, nb::arg("backlog").none() = nb::none(), doc::Manager_listen)
      .def(
          "connect",
          [](PyManager& pm, const std::string& url, nb::handle handler, nb::handle http) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            bool is_http = http.is_none() ? mg::url::is_http_scheme(url) : PyObject_IsTrue(http.ptr()) == 1;
            return open_outbound(pm, handler, "Failed to connect to '" + url + "'",
                                 [&](mg::Manager& e) { return mg::proto::connect(e, url, is_http); });
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), nb::kw_only(), nb::arg("http").none() = nb::none(), doc::Manager_connect)
      .def(
          "ws_connect",
          [](PyManager& pm, const std::string& url, nb::handle handler, nb::handle compression) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            mg::ws::DeflateConfig z;
            const bool deflate = parse_ws_compression(compression, z);
            return open_outbound(pm, handler, "Failed to create WebSocket connection to '" + url + "'",
                                 [&](mg::Manager& e) { return mg::proto::ws_connect(e, url, deflate ? &z : nullptr); });
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), nb::kw_only(),
          nb::arg("compression").none() = nb::none(), doc::Manager_ws_connect)
      .def(
          "mqtt_connect",
          [](PyManager& pm, const std::string& url, nb::handle handler, nb::handle client_id, nb::handle username,
             nb::handle password, bool clean_session, long keepalive, long version, nb::handle will_topic,
             nb::handle will_message, long will_qos, bool will_retain) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            if (version != 4 && version != 5) throw nb::value_error("version must be 4 (MQTT 3.1.1) or 5");
            if (keepalive < 0 || keepalive > 65535) throw nb::value_error("keepalive must be in range 0-65535");
            if (will_qos < 0 || will_qos > 2) throw nb::value_error("will_qos must be 0, 1 or 2");
            std::string_view id, user, pass, wtopic;
            nb::object k1, k2, k3, k4;
            if (!str_arg(client_id.ptr(), "client_id", id, k1) || !str_arg(username.ptr(), "username", user, k2) ||
                !str_arg(password.ptr(), "password", pass, k3) || !str_arg(will_topic.ptr(), "will_topic", wtopic, k4))
              throw nb::python_error();
            ByteView wmsg;
            if (!wmsg.load(will_message.ptr(), "will_message")) throw nb::python_error();
            for (std::string_view f : {id, user, pass, wmsg.view()})
              if (f.size() > mg::mqtt::kMaxString) throw nb::value_error("MQTT strings are at most 65535 bytes");
            if (!wtopic.empty() && !mg::mqtt::valid_topic_name(wtopic))
              throw nb::value_error("invalid MQTT will_topic (1-65535 bytes, no '+' or '#' wildcards)");
            mg::mqtt::ConnectOpts o;
            o.version = static_cast<int>(version);
            o.client_id = id;
            o.username = user;
            o.password = pass;
            o.clean_session = clean_session;
            o.keepalive = static_cast<uint16_t>(keepalive);
            o.will_topic = wtopic;
            o.will_message = wmsg.view();
            o.will_qos = static_cast<uint8_t>(will_qos);
            o.will_retain = will_retain;
            return open_outbound(pm, handler, "Failed to connect to MQTT broker '" + url + "'",
                                 [&](mg::Manager& e) { return mg::proto::mqtt_connect(e, url, o); });
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), nb::arg("client_id") = "", nb::arg("username") = "",
          nb::arg("password") = "", nb::arg("clean_session") = true, nb::arg("keepalive") = 60, nb::kw_only(),
          nb::arg("version") = 4, nb::arg("will_topic") = "", nb::arg("will_message") = nb::bytes("", 0),
          nb::arg("will_qos") = 0, nb::arg("will_retain") = false, doc::Manager_mqtt_connect)
      .def(
          "mqtt_listen",
          [](PyManager& pm, const std::string& url, nb::handle handler) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            EngineLock lock(*pm.engine);
            pm.pending_handler = handler.is_none() ? nb::object() : nb::borrow(handler);
            if (pm.engine->forked()) raise_forked();
            mg::Connection* c = mg::proto::mqtt_listen(*pm.engine, url);
            pm.pending_handler = nb::object();
            if (!c) throw std::runtime_error("Failed to listen for MQTT on '" + url + "'");
            if (!c->user) return nb::none();
            return nb::borrow(static_cast<PyObject*>(c->user));
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), doc::Manager_mqtt_listen)
      .def(
          "sntp_connect",
          [](PyManager& pm, const std::string& url, nb::handle handler) -> nb::object {
            if (pm.freed.load()) raise_freed();
            check_callable(handler, "handler");
            return open_outbound(pm, handler, "Failed to connect to SNTP server '" + url + "'",
                                 [&](mg::Manager& e) { return mg::proto::sntp_connect(e, url); });
          },
          nb::arg("url"), nb::arg("handler").none() = nb::none(), doc::Manager_sntp_connect)
      .def(
          "wakeup",
          [](PyManager& pm, long long id, nb::handle data) {
            if (pm.freed.load()) raise_freed();
            if (PyUnicode_Check(data.ptr())) throw nb::type_error("wakeup data must be bytes-like, not str");
            ByteView b;
            if (!b.load(data.ptr(), "data")) throw nb::python_error();
            if (id <= 0) return false;
            int r = pm.engine->wakeup(static_cast<uint64_t>(id), b.view().data(), b.view().size());
            if (r == 2) throw nb::value_error("wakeup payload too large");
            return r == 0;
          },
          nb::arg("connection_id"), nb::arg("data") = nb::bytes("", 0), doc::Manager_wakeup)
      .def(
          "timer_add",
          [](PyManager& pm, long long ms, nb::object callback, bool repeat, bool run_now) {
            if (pm.freed.load()) raise_freed();
            if (ms < 0) throw nb::value_error("milliseconds must be non-negative");
            if (!PyCallable_Check(callback.ptr())) throw nb::type_error("callback must be callable");
            PyManager* pmp = &pm;
            PyObject* cb_ptr = callback.ptr();
            auto fire = [cb = std::move(callback), pmp]() {
              if (pmp->suppress_events) return;
              PyObject* r = PyObject_CallNoArgs(cb.ptr());
              if (r) {
                Py_DECREF(r);
                return;
              }
              // Timer errors are printed, never routed to error_handler (compat, §5.4).
              PyObject* exc = fetch_exception();
              if (exc && !stash_base_exception(*pmp, exc)) print_exception(exc);
              Py_XDECREF(exc);
            };
            EngineLock lock(*pm.engine);
            PyTimer t;
            t.rec = pm.engine->add_timer(static_cast<uint64_t>(ms), repeat, run_now, std::move(fire));
            t.rec->user = cb_ptr;
            t.mgr_alive = pm.alive;
            t.engine = pm.engine.get();
            return t;
          },
          nb::arg("milliseconds"), nb::arg("callback"), nb::kw_only(), nb::arg("repeat") = false,
          nb::arg("run_now") = false, doc::Manager_timer_add)
      .def_prop_ro("connections",
                   [](PyManager& pm) {
                     if (pm.freed.load()) return nb::tuple();
                     EngineLock lock(*pm.engine);
                     nb::list out;
                     for (mg::Connection* c : pm.engine->live_connections())
                       if (c->user) out.append(nb::borrow(static_cast<PyObject*>(c->user)));
                     return nb::tuple(out);
                   }, doc::Manager_connections)
      .def(
          "fileno",
          [](PyManager& pm) {
            if (pm.freed.load()) raise_freed();
            return pm.engine->fileno();
          },
          doc::Manager_fileno)
      .def(
          "next_timeout_ms",
          [](PyManager& pm) {
            if (pm.freed.load()) raise_freed();
            EngineLock lock(*pm.engine);
            return pm.engine->prepare_wait(-1);
          },
          doc::Manager_next_timeout_ms)
      .def_prop_ro("wakeup_id", [](PyManager& pm) { return pm.engine ? pm.engine->wakeup_id() : 0; }, doc::Manager_wakeup_id)
      .def_prop_ro("limits", [](PyManager& pm) { return limits_dict(pm.engine->limits()); }, doc::Manager_limits);
}

}  // namespace pymg
