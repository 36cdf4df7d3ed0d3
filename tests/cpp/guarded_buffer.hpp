// Test helper: a buffer whose readable bytes end right before a PROT_NONE page,
// so any read past the end of the placed input faults immediately.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace mg::testing {

class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t capacity) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    usable_ = (capacity + page_ - 1) / page_ * page_;
    if (usable_ == 0) usable_ = page_;
    void* m = mmap(nullptr, usable_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED) std::abort();
    base_ = static_cast<char*>(m);
    if (mprotect(base_ + usable_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardedBuffer() { munmap(base_, usable_ + page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // Copies `data` so that its last byte is the last readable byte.
  char* place(std::string_view data) {
    if (data.size() > usable_) std::abort();
    char* p = base_ + usable_ - data.size();
    if (!data.empty()) std::memcpy(p, data.data(), data.size());
    return p;
  }
  std::string_view place_view(std::string_view data) { return {place(data), data.size()}; }

  // True if [p, p+n) lies inside the readable region.
  bool contains(const char* p, size_t n) const {
    return p >= base_ && p + n <= base_ + usable_;
  }
  char* end() const { return base_ + usable_; }

 private:
  size_t page_ = 0;
  size_t usable_ = 0;
  char* base_ = nullptr;
};

}  // namespace mg::testing
