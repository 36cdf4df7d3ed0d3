// Growable byte buffer with a zeroed tail pad, so scanners may peek a few bytes
// past the logical end without bounds checks. Capacity grows geometrically and is
// kept across requests, so steady-state traffic does not allocate.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace mg {

class Buffer {
 public:
  static constexpr size_t kPad = 16;

  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(data_); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return len_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return len_ == 0; }
  std::string_view view() const { return {data_ ? data_ : "", len_}; }

  // Ensures room for `extra` more bytes; returns false on allocation failure.
  bool reserve_extra(size_t extra) {
    if (cap_ - len_ >= extra) return true;
    size_t want = cap_ ? cap_ : 1024;
    while (want - len_ < extra) {
      if (want > (SIZE_MAX >> 2)) return false;
      want *= 2;
    }
    char* p = static_cast<char*>(std::realloc(data_, want + kPad));
    if (!p) return false;
    data_ = p;
    cap_ = want;
    std::memset(data_ + len_, 0, cap_ - len_ + kPad);
    return true;
  }
  // Writable tail of at least `n` bytes (call commit() afterwards).
  char* tail(size_t n) { return reserve_extra(n) ? data_ + len_ : nullptr; }
  void commit(size_t n) { len_ += n; }

  bool append(const void* p, size_t n) {
    if (n == 0) return true;
    if (!reserve_extra(n)) return false;
    std::memcpy(data_ + len_, p, n);
    len_ += n;
    return true;
  }
  bool append(std::string_view s) { return append(s.data(), s.size()); }

  // Drops the first `n` bytes.
  void consume(size_t n) {
    if (n >= len_) {
      len_ = 0;
    } else {
      std::memmove(data_, data_ + n, len_ - n);
      len_ -= n;
    }
  }
  void truncate(size_t n) {
    if (n < len_) len_ = n;
  }
  void clear() { len_ = 0; }
  // Frees memory when a large buffer became empty, so one big burst does not pin memory.
  void shrink_if_idle(size_t keep = 64 * 1024) {
    if (len_ == 0 && cap_ > keep) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
    }
  }

 private:
  char* data_ = nullptr;
  size_t len_ = 0;
  size_t cap_ = 0;
};

}  // namespace mg
