// Growable byte buffer with a read offset and a readable tail pad, so scanners may peek a
// few bytes past the logical end without bounds checks.
//
// consume() only advances the offset; the live bytes are moved to the front only when
// room is needed and the consumed prefix is at least as large as what remains, so every
// byte is moved at most once per time it is appended: a large reply drained by many
// partial sends costs O(size), not O(size^2).
//
// A buffer may draw its first block from a BlockPool (the manager's), and hands it back
// with release(): idle connections hold no buffer memory, and steady traffic does not
// allocate.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

namespace mg {

// Free list of equally sized blocks (kBlock bytes + pad). Not thread-safe: owned by one
// manager, used under its lock.
class BlockPool {
 public:
  static constexpr size_t kBlock = 16 * 1024;
  static constexpr size_t kPad = 16;
  static constexpr size_t kKeep = 64;  // free blocks kept for reuse; the rest go back to malloc

  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool() {
    for (char* p : free_) std::free(p);
  }
  char* take() {
    if (!free_.empty()) {
      char* p = free_.back();
      free_.pop_back();
      return p;
    }
    char* p = static_cast<char*>(std::malloc(kBlock + kPad));
    if (p) std::memset(p, 0, kBlock + kPad);
    return p;
  }
  void give(char* p) {
    if (free_.size() < kKeep) {
      try {
        free_.push_back(p);
        return;
      } catch (...) {
      }
    }
    std::free(p);
  }
  size_t free_blocks() const { return free_.size(); }

 private:
  std::vector<char*> free_;
};

class Buffer {
 public:
  static constexpr size_t kPad = BlockPool::kPad;

  Buffer() = default;
  explicit Buffer(BlockPool* pool) : pool_(pool) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { free_storage(); }

  void set_pool(BlockPool* pool) { pool_ = pool; }

  char* data() { return base_ + off_; }
  const char* data() const { return base_ + off_; }
  size_t size() const { return len_ - off_; }
  // Bytes that fit before the next reallocation (from data()).
  size_t capacity() const { return cap_ - off_; }
  bool empty() const { return len_ == off_; }
  bool has_storage() const { return base_ != nullptr; }
  std::string_view view() const { return {base_ ? base_ + off_ : "", len_ - off_}; }
  // Bytes moved by compaction over the buffer's life (tests state the O(size) bound).
  uint64_t bytes_moved() const { return moved_; }

  // Ensures room for `extra` more bytes; returns false on allocation failure.
  bool reserve_extra(size_t extra) {
    if (cap_ - len_ >= extra) return true;
    const size_t live = len_ - off_;
    if (off_ >= live && cap_ - live >= extra) {
      compact();
      return true;
    }
    if (!base_ && pool_ && extra <= BlockPool::kBlock) {
      char* p = pool_->take();
      if (!p) return false;
      base_ = p;
      cap_ = BlockPool::kBlock;
      pooled_ = true;
      return true;
    }
    // Grow: at least double, so the bytes copied here are paid for by the appends that
    // filled the old block. Only the live bytes are copied.
    size_t want = cap_ ? cap_ * 2 : 1024;
    while (want - live < extra) {
      if (want > (SIZE_MAX >> 2)) return false;
      want *= 2;
    }
    char* p;
    if (off_ == 0 && !pooled_) {
      p = static_cast<char*>(std::realloc(base_, want + kPad));
      if (!p) return false;
    } else {
      p = static_cast<char*>(std::malloc(want + kPad));
      if (!p) return false;
      if (live) std::memcpy(p, base_ + off_, live);
      moved_ += live;
      if (pooled_) pool_->give(base_);
      else std::free(base_);
      pooled_ = false;
      off_ = 0;
      len_ = live;
    }
    base_ = p;
    std::memset(base_ + len_, 0, want - len_ + kPad);
    cap_ = want;
    return true;
  }
  // Writable tail of at least `n` bytes (call commit() afterwards).
  char* tail(size_t n) { return reserve_extra(n) ? base_ + len_ : nullptr; }
  void commit(size_t n) { len_ += n; }

  bool append(const void* p, size_t n) {
    if (n == 0) return true;
    if (!reserve_extra(n)) return false;
    std::memcpy(base_ + len_, p, n);
    len_ += n;
    return true;
  }
  bool append(std::string_view s) { return append(s.data(), s.size()); }

  // Drops the first `n` bytes.
  void consume(size_t n) {
    if (n >= len_ - off_) {
      off_ = len_ = 0;
    } else {
      off_ += n;
    }
  }
  // Drops `n` bytes at offset `pos` (the bytes after them move down).
  void erase(size_t pos, size_t n) {
    const size_t live = len_ - off_;
    if (pos >= live) return;
    n = std::min(n, live - pos);
    char* p = base_ + off_ + pos;
    std::memmove(p, p + n, live - pos - n);
    len_ -= n;
  }
  void truncate(size_t n) {
    if (n < len_ - off_) len_ = off_ + n;
  }
  void clear() { off_ = len_ = 0; }
  // Frees memory when a large buffer became empty, so one big burst does not pin memory.
  void shrink_if_idle(size_t keep = 64 * 1024) {
    if (empty() && cap_ > keep) free_storage();
  }
  // Gives the storage of an empty buffer back (to the pool for a pooled block).
  void release() { shrink_if_idle(0); }

 private:
  void compact() {
    if (off_ == 0) return;
    const size_t live = len_ - off_;
    if (live) std::memmove(base_, base_ + off_, live);
    moved_ += live;
    off_ = 0;
    len_ = live;
  }
  void free_storage() {
    if (!base_) return;
    if (pooled_) pool_->give(base_);
    else std::free(base_);
    base_ = nullptr;
    cap_ = off_ = len_ = 0;
    pooled_ = false;
  }

  char* base_ = nullptr;
  size_t off_ = 0;  // consumed prefix
  size_t len_ = 0;  // end of the live bytes, from base_
  size_t cap_ = 0;
  BlockPool* pool_ = nullptr;
  bool pooled_ = false;
  uint64_t moved_ = 0;
};

}  // namespace mg
