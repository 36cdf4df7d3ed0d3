// Shared pieces of the nanobind binding: wrappers, the engine lock guard and
// byte conversion. The engine knows nothing of Python; everything Python lives here.
#pragma once
#include <nanobind/nanobind.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mg/http_message.hpp"
#include "mg/manager.hpp"
#include "mg/proto.hpp"

namespace nb = nanobind;

namespace pymg {

struct PyManager;

struct PyConnection {
  mg::Connection* c = nullptr;  // nullptr once closed (or never bound)
  PyManager* mgr = nullptr;
  uint64_t id = 0;
  bool is_listening = false, is_client = false, is_udp = false;  // kept after close (D32)
  nb::object handler;   // None: the manager default
  nb::object userdata;
  nb::object tls_info;  // tls_info() of the established session, built once (it cannot change)
  int ws_close_code = 0;  // [ext] the peer's close status (RFC 6455 §7.1.5; 1005: none given)
  nb::object body_sink;   // [ext] http_stream_body() callback of the request being read
};

// An owned copy of a message (HttpMessage.copy()), detached from engine memory.
struct OwnedHttpMessage {
  std::string storage;
  mg::HttpMessage msg;
  std::vector<mg::http::Header> headers;
};

struct PyHttpMessage {
  const mg::HttpMessage* m = nullptr;  // valid during the handler call only
  std::shared_ptr<OwnedHttpMessage> owned;
};

struct PyTimer {
  std::shared_ptr<mg::TimerRec> rec;
  std::shared_ptr<std::atomic<bool>> mgr_alive;  // false once the manager closed
  mg::Manager* engine = nullptr;
};

struct PyManager {
  std::unique_ptr<mg::Manager> engine;
  nb::object handler;        // default handler (None allowed)
  nb::object error_handler;  // None: print tracebacks
  nb::object pending_handler;  // handler for the next listen/connect's own OPEN
  std::atomic<bool> freed{false};
  std::atomic<bool> polling{false};
  std::atomic<std::thread::id> poll_thread{};
  bool suppress_events = false;  // a BaseException stopped dispatch for this iteration
  uint64_t event_mask = ~uint64_t{0};  // [ext] events handed to Python handlers (bit per code)
  bool hdrs_only_pending = false;  // [ext] HTTP_HDRS only for requests whose body is still coming
  PyObject* pending_exc = nullptr;
  PyObject* spare_view = nullptr;  // an HttpMessage nobody kept, reused by the next event
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);

  ~PyManager();
};

// The interpreter is shutting down (daemon threads must not take the GIL again).
inline bool py_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// Takes back the GIL dropped with PyEval_SaveThread(). A daemon thread coming back while
// the interpreter finalizes would be ended by pthread_exit() inside C++ frames (a forced
// unwind through a noexcept destructor aborts the process: "terminate called without an
// active exception"); it parks instead, holding nothing, and process exit takes it away.
// `unlock` drops what the thread holds (an engine lock) before parking.
template <class Unlock>
void restore_gil(PyThreadState* ts, Unlock&& unlock) {
  if (py_finalizing()) {
    unlock();
    for (;;) pause();
  }
  PyEval_RestoreThread(ts);
}

// Engine lock (spec §5.10). The polling thread already owns it while dispatching; any
// other thread drops the GIL while it waits for it (lock order: engine lock, then GIL)
// and wakes the loop afterwards so its output is flushed promptly.
// The engine whose lock this thread holds while running handlers or a foreign call
// (innermost), for cross-manager deadlock detection.
inline thread_local mg::Manager* tl_owned_engine = nullptr;

class EngineLock {
 public:
  explicit EngineLock(mg::Manager& e) : e_(e) {
    if (e_.lock_owner.load(std::memory_order_acquire) == std::this_thread::get_id()) return;
    if (!e_.lock.try_lock()) {
      // Holding manager A's lock while B's holder waits for A would deadlock: announce
      // what we wait for, then look for the reverse wait (one side always sees it).
      mg::Manager* mine = tl_owned_engine;
      if (mine) {
        mine->waiting_for.store(&e_);
        if (e_.waiting_for.load() == mine) {
          mine->waiting_for.store(nullptr);
          throw std::runtime_error("cross-manager call would deadlock; use Manager.wakeup()");
        }
      }
      PyThreadState* ts = PyEval_SaveThread();
      e_.lock.lock();
      restore_gil(ts, [this] { e_.lock.unlock(); });
      if (mine) mine->waiting_for.store(nullptr);
    }
    e_.lock_owner.store(std::this_thread::get_id(), std::memory_order_release);
    outer_ = tl_owned_engine;
    tl_owned_engine = &e_;
    foreign_ = true;
  }
  ~EngineLock() {
    if (!foreign_) return;
    tl_owned_engine = outer_;
    e_.lock_owner.store(std::thread::id{}, std::memory_order_release);
    bool waiting = e_.in_wait.load(std::memory_order_acquire);
    e_.lock.unlock();
    if (waiting) e_.notify();
  }
  EngineLock(const EngineLock&) = delete;
  EngineLock& operator=(const EngineLock&) = delete;

 private:
  mg::Manager& e_;
  mg::Manager* outer_ = nullptr;
  bool foreign_ = false;
};

// A view of "byte-ish" data (spec §1.4): str -> UTF-8 with surrogateescape, buffer
// protocol -> raw bytes, anything else -> TypeError.
class ByteView {
 public:
  ByteView() = default;
  ~ByteView() {
    if (has_buffer_) PyBuffer_Release(&buffer_);
  }
  ByteView(const ByteView&) = delete;
  ByteView& operator=(const ByteView&) = delete;
  // Returns false with a Python error set.
  bool load(PyObject* o, const char* what);
  std::string_view view() const { return view_; }

 private:
  std::string_view view_;
  nb::object keep_;
  Py_buffer buffer_{};
  bool has_buffer_ = false;
};

// UTF-8 (surrogateescape) of str(o); false with a Python error set.
bool str_utf8(PyObject* o, std::string_view& out, nb::object& keep);
// UTF-8 (surrogateescape) of a str argument; TypeError for anything else. False with a
// Python error set. Defined in utils.cpp.
bool str_arg(PyObject* o, const char* what, std::string_view& out, nb::object& keep);

nb::str decode(std::string_view s);  // UTF-8 with surrogateescape
[[noreturn]] void raise_closed();
[[noreturn]] void raise_freed();
// A manager used in a process forked after it was created (its epoll set is the parent's).
[[noreturn]] void raise_forked();


// TlsOpts (spec §3.6): PEM text and flags, stored as bytes.
struct PyTlsOpts {
  nb::bytes ca{"", 0}, cert{"", 0}, key{"", 0}, name{"", 0};
  bool skip_verification = false;
  mg::tls::Config config() const;
};
void bind_tls(nb::module_& m);
void tls_init(PyConnection& pc, nb::handle opts);
void tls_free(PyConnection& pc);
nb::object tls_info(PyConnection& pc);

// The engine lock, then a fresh look at the connection: taking the lock may have meant
// waiting with the GIL released, while the loop closed and reclaimed the connection, so
// a pointer read before it could dangle.
class LockedConnection {
 public:
  explicit LockedConnection(PyConnection& pc) : pc_(pc) {
    if (!pc.c) raise_closed();
    lock_.emplace(*pc.mgr->engine);
    if (!pc.c || pc.c->is_closed) raise_closed();
  }
  mg::Connection* get() const { return pc_.c; }

 private:
  PyConnection& pc_;
  std::optional<EngineLock> lock_;
};

// MQTT (mqtt.cpp).
struct PyMqttMessage {
  const mg::MqttMessage* m = nullptr;  // valid during the handler call only
};
nb::object new_mqtt_message_view(const mg::MqttMessage* msg);
void invalidate_mqtt_view(PyObject* view);
void bind_mqtt_message(nb::module_& m);
int mqtt_pub(PyConnection& pc, nb::handle topic, nb::handle message, long qos, bool retain, nb::handle props);
void mqtt_sub(PyConnection& pc, nb::handle topic, long qos, bool unsubscribe);
void mqtt_empty(PyConnection& pc, int cmd);

void bind_connection(nb::module_& m);
void bind_http_message(nb::module_& m);
void bind_manager(nb::module_& m);
void bind_utils(nb::module_& m);  // spec §4 module functions (utils.cpp)
void bind_rpc(nb::module_& m);    // spec §3.8 Rpc, RpcReq (rpc.cpp)

nb::object new_http_message_view(const mg::HttpMessage* msg);
void rebind_view(PyObject* view, const mg::HttpMessage* msg);

struct PyWsMessage {
  const mg::WsMessage* m = nullptr;  // valid during the handler call only
};
nb::object new_ws_message_view(const mg::WsMessage* msg);
void invalidate_ws_view(PyObject* view);
void bind_ws_message(nb::module_& m);
// The `compression` keyword of ws_upgrade/ws_connect [ext] (ws_message.cpp): None or False
// -> false (off); True -> defaults; a dict -> its options. TypeError/ValueError otherwise.
bool parse_ws_compression(nb::handle obj, mg::ws::DeflateConfig& out);
void invalidate_view(PyObject* view);

}  // namespace pymg
