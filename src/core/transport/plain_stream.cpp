#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mg/transport.hpp"

namespace mg {

namespace {
constexpr size_t kReadChunk = BlockPool::kBlock;
constexpr size_t kSendfileChunk = 1u << 20;
}  // namespace

Transport::~Transport() {
  if (file_fd_ >= 0) ::close(file_fd_);
}

void Transport::queue_file(int file_fd, uint64_t offset, uint64_t length) {
  if (file_fd_ >= 0) ::close(file_fd_);
  file_fd_ = file_fd;
  file_offset_ = offset;
  file_remaining_ = length;
}

void Transport::discard_output() {
  tx_.clear();
  if (file_fd_ >= 0) ::close(file_fd_);
  file_fd_ = -1;
  file_remaining_ = 0;
}

void Transport::move_output_to(Transport& to) {
  if (!tx_.empty()) to.tx_.append(tx_.data(), tx_.size());
  tx_.clear();
  if (file_fd_ >= 0) {
    if (to.file_fd_ >= 0) ::close(to.file_fd_);
    to.file_fd_ = file_fd_;
    to.file_offset_ = file_offset_;
    to.file_remaining_ = file_remaining_;
    file_fd_ = -1;
    file_remaining_ = 0;
  }
}

ReadResult PlainStream::read(Buffer& rx, size_t max) {
  ReadResult r;
  while (r.bytes < max) {
    char* p = rx.tail(kReadChunk);
    if (!p) {
      r.oom = true;
      break;
    }
    ssize_t n = ::recv(fd_, p, kReadChunk, 0);
    if (n > 0) {
      rx.commit(static_cast<size_t>(n));
      r.bytes += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < kReadChunk) break;  // the kernel is (almost surely) empty
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    r.eof = true;
    break;
  }
  return r;
}

FlushResult PlainStream::flush() {
  FlushResult r;
  while (!tx_.empty()) {
    ssize_t n = ::send(fd_, tx_.data(), tx_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      tx_.consume(static_cast<size_t>(n));
      r.bytes += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      r.blocked = true;
      return r;
    }
    r.failed = true;  // peer gone
    discard_output();
    return r;
  }
  if (file_fd_ < 0) return r;
  while (file_remaining_ > 0) {
    off_t off = static_cast<off_t>(file_offset_);
    size_t want = static_cast<size_t>(std::min<uint64_t>(file_remaining_, kSendfileChunk));
    ssize_t n = ::sendfile(fd_, file_fd_, &off, want);
    if (n > 0) {
      file_offset_ += static_cast<uint64_t>(n);
      file_remaining_ -= static_cast<uint64_t>(n);
      r.bytes += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      r.blocked = true;
      return r;
    }
    r.failed = true;  // the file shrank or the socket failed: the framing is broken
    discard_output();
    return r;
  }
  ::close(file_fd_);
  file_fd_ = -1;
  r.file_finished = true;
  return r;
}

void PlainStream::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

}  // namespace mg
