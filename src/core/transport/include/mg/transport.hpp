// How bytes move on a stream connection. The loop and the protocol drivers never call
// recv/send/sendfile themselves: they read through a Transport and queue output in its
// send buffer, so TLS can be slotted in under any driver without the driver knowing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mg/buffer.hpp"

namespace mg {

struct ReadResult {
  size_t bytes = 0;   // appended to the receive buffer
  bool eof = false;   // orderly EOF or reset: no more input (spec §5.6 R7: no ERROR)
  bool oom = false;   // the receive buffer could not grow
  bool handshake_done = false;  // TLS: the handshake completed during this call
  std::string_view error;       // TLS: why the connection failed (valid until the next call)
};

struct FlushResult {
  size_t bytes = 0;            // bytes handed to the kernel (progress)
  bool blocked = false;        // the kernel is full: wait for writability
  bool failed = false;         // the peer is gone or the file shrank: the connection is done
  bool file_finished = false;  // the queued file range has been sent completely
  bool handshake_done = false;  // TLS: the handshake completed during this call
  std::string_view error;       // TLS: why the connection failed (valid until the next call)
};

class Transport {
 public:
  explicit Transport(BlockPool* pool) : tx_(pool) {}
  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void attach(int fd) { fd_ = fd; }
  int fd() const { return fd_; }

  // Plaintext waiting to be sent. Drivers format straight into it.
  Buffer& tx() { return tx_; }
  const Buffer& tx() const { return tx_; }

  // Streams [offset, offset + length) of `file_fd` after what tx() holds; takes the fd.
  void queue_file(int file_fd, uint64_t offset, uint64_t length);
  bool streaming_file() const { return file_fd_ >= 0; }
  // Drops queued output (tx and file) without sending it.
  void discard_output();
  // Moves the queued output (plaintext and file range) to `to`, which sends it from now on
  // (a transport replaced by another, e.g. TLS started on a connection).
  void move_output_to(Transport& to);

  // Output not yet handed to the kernel: the send buffer, a file range, or bytes a
  // transport holds internally (TLS records).
  virtual bool output_pending() const { return !tx_.empty() || file_fd_ >= 0; }
  // Bytes of output queued (for back-pressure): plaintext and, under TLS, sealed records.
  size_t queued() const { return tx_.size() + queued_extra(); }
  virtual size_t queued_extra() const { return 0; }
  // Input already taken from the kernel but not yet handed to rx (TLS records): the loop
  // must read again without waiting for the socket.
  virtual bool input_pending() const { return false; }
  // A TLS handshake is under way (the loop bounds it with a deadline).
  virtual bool handshaking() const { return false; }
  // The connection is about to close its socket (TLS: a best-effort close_notify).
  virtual void on_close() {}

  // Appends at most `max` bytes of input to `rx`; stops early when the kernel is empty.
  virtual ReadResult read(Buffer& rx, size_t max) = 0;
  // Writes what it can of the pending output.
  virtual FlushResult flush() = 0;
  // Ends our direction of the stream (FIN; close_notify under TLS).
  virtual void shutdown_write() = 0;
  virtual bool is_tls() const { return false; }

 protected:
  int fd_ = -1;
  Buffer tx_;
  int file_fd_ = -1;
  uint64_t file_offset_ = 0;
  uint64_t file_remaining_ = 0;
};

// TCP without encryption: recv/send, and sendfile for file ranges.
class PlainStream final : public Transport {
 public:
  using Transport::Transport;
  ReadResult read(Buffer& rx, size_t max) override;
  FlushResult flush() override;
  void shutdown_write() override;
};

}  // namespace mg
