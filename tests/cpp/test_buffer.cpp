// Tests for src/core/include/mg/buffer.hpp (mg::Buffer): the growable send/receive
// buffer with a zeroed tail pad.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "mg/buffer.hpp"

using mg::Buffer;

namespace {

// Every byte in [from, capacity() + kPad) is zero.
::testing::AssertionResult zero_from(const Buffer& b, size_t from) {
  for (size_t i = from; i < b.capacity() + Buffer::kPad; i++)
    if (b.data()[i] != 0)
      return ::testing::AssertionFailure() << "byte " << i << " is " << int(b.data()[i]);
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(Buffer, DefaultIsEmptyWithoutAllocation) {
  Buffer b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.data(), nullptr);
  // view() of an unallocated buffer is a valid empty view, never a null data pointer.
  EXPECT_NE(b.view().data(), nullptr);
  EXPECT_EQ(b.view().size(), 0u);
  EXPECT_EQ(b.view(), "");
}

TEST(Buffer, AppendZeroBytesDoesNotAllocate) {
  Buffer b;
  EXPECT_TRUE(b.append(nullptr, 0));
  EXPECT_TRUE(b.append(std::string_view()));
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, AppendKeepsBytesInOrder) {
  Buffer b;
  EXPECT_TRUE(b.append("hello"));
  EXPECT_TRUE(b.append(", ", 2));
  EXPECT_TRUE(b.append(std::string_view("world")));
  EXPECT_EQ(b.view(), "hello, world");
  EXPECT_EQ(b.size(), 12u);
  EXPECT_FALSE(b.empty());
}

TEST(Buffer, AppendBinaryWithNul) {
  Buffer b;
  const std::string bin("a\0b\0\xff", 5);
  EXPECT_TRUE(b.append(bin));
  EXPECT_EQ(b.size(), 5u);
  EXPECT_EQ(std::string(b.view()), bin);
}

TEST(Buffer, FirstAllocationIs1024AndGrowthDoubles) {
  Buffer b;
  EXPECT_TRUE(b.reserve_extra(1));
  EXPECT_EQ(b.capacity(), 1024u);
  std::string chunk(1000, 'x');
  EXPECT_TRUE(b.append(chunk));
  EXPECT_EQ(b.capacity(), 1024u);
  EXPECT_TRUE(b.append(chunk));  // 2000 > 1024
  EXPECT_EQ(b.capacity(), 2048u);
  EXPECT_TRUE(b.append(chunk));  // 3000 > 2048
  EXPECT_EQ(b.capacity(), 4096u);
  EXPECT_EQ(b.size(), 3000u);
  EXPECT_EQ(std::string(b.view()), std::string(3000, 'x'));
}

TEST(Buffer, LargeReserveJumpsSeveralDoublings) {
  Buffer b;
  EXPECT_TRUE(b.append("abc"));
  EXPECT_TRUE(b.reserve_extra(100000));
  EXPECT_GE(b.capacity() - b.size(), 100000u);
  EXPECT_EQ(b.capacity(), 131072u);  // 1024 * 2^7
  EXPECT_EQ(b.view(), "abc");        // contents survive the reallocation
}

TEST(Buffer, ReserveWithinCapacityDoesNotReallocate) {
  Buffer b;
  EXPECT_TRUE(b.reserve_extra(500));
  const char* p = b.data();
  EXPECT_TRUE(b.append(std::string(500, 'y')));
  EXPECT_TRUE(b.reserve_extra(524));  // exactly the remaining room
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.capacity(), 1024u);
}

TEST(Buffer, ImpossibleReserveFailsAndLeavesBufferIntact) {
  Buffer b;
  EXPECT_TRUE(b.append("keep"));
  size_t cap = b.capacity();
  EXPECT_FALSE(b.reserve_extra(SIZE_MAX));
  EXPECT_FALSE(b.reserve_extra(SIZE_MAX / 2));
  EXPECT_EQ(b.tail(SIZE_MAX), nullptr);
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.view(), "keep");
}

TEST(Buffer, TailAndCommit) {
  Buffer b;
  EXPECT_TRUE(b.append("ab"));
  char* t = b.tail(10);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t, b.data() + 2);
  std::memcpy(t, "cdefg", 5);
  EXPECT_EQ(b.size(), 2u);  // nothing counted before commit()
  b.commit(5);
  EXPECT_EQ(b.view(), "abcdefg");
}

TEST(Buffer, TailPadIsZeroAfterEveryGrowth) {
  Buffer b;
  EXPECT_TRUE(b.append("x"));
  EXPECT_TRUE(zero_from(b, b.size()));
  for (int i = 0; i < 6; i++) {
    EXPECT_TRUE(b.append(std::string(b.capacity(), 'z')));  // forces a growth each time
    EXPECT_TRUE(zero_from(b, b.size())) << "after growth " << i;
  }
}

TEST(Buffer, PadBeyondCapacityStaysZeroAfterFullFill) {
  Buffer b;
  EXPECT_TRUE(b.reserve_extra(1));
  EXPECT_TRUE(b.append(std::string(b.capacity(), '\xff')));  // fill exactly
  EXPECT_EQ(b.size(), b.capacity());
  // A scanner may peek kPad bytes past the logical end: they are allocated and zero.
  for (size_t i = 0; i < Buffer::kPad; i++) EXPECT_EQ(b.data()[b.size() + i], 0) << i;
}

TEST(Buffer, ConsumePrefix) {
  Buffer b;
  EXPECT_TRUE(b.append("0123456789"));
  b.consume(3);
  EXPECT_EQ(b.view(), "3456789");
  b.consume(0);
  EXPECT_EQ(b.view(), "3456789");
  b.consume(7);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.append("again"));
  b.consume(100);  // more than size: empties, no underflow
  EXPECT_EQ(b.size(), 0u);
  EXPECT_GT(b.capacity(), 0u);  // capacity kept for the next request
}

TEST(Buffer, ConsumeOverlappingMove) {
  Buffer b;
  std::string s;
  for (int i = 0; i < 3000; i++) s.push_back(static_cast<char>('a' + i % 26));
  EXPECT_TRUE(b.append(s));
  b.consume(1);  // source and destination overlap almost entirely
  EXPECT_EQ(std::string(b.view()), s.substr(1));
}

TEST(Buffer, TruncateOnlyShrinks) {
  Buffer b;
  EXPECT_TRUE(b.append("hello world"));
  b.truncate(100);
  EXPECT_EQ(b.view(), "hello world");
  b.truncate(5);
  EXPECT_EQ(b.view(), "hello");
  b.truncate(0);
  EXPECT_TRUE(b.empty());
  b.truncate(3);
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, ClearKeepsCapacity) {
  Buffer b;
  EXPECT_TRUE(b.append(std::string(5000, 'q')));
  size_t cap = b.capacity();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);
}

TEST(Buffer, ShrinkIfIdleFreesLargeEmptyBuffer) {
  Buffer b;
  EXPECT_TRUE(b.append(std::string(200 * 1024, 'a')));
  EXPECT_GT(b.capacity(), 64u * 1024);
  b.shrink_if_idle();  // not empty: kept
  EXPECT_EQ(b.size(), 200u * 1024);
  EXPECT_GT(b.capacity(), 0u);
  b.clear();
  b.shrink_if_idle();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.view(), "");
  // Usable again afterwards.
  EXPECT_TRUE(b.append("x"));
  EXPECT_EQ(b.view(), "x");
  EXPECT_EQ(b.capacity(), 1024u);
}

TEST(Buffer, ShrinkIfIdleKeepsSmallBuffers) {
  Buffer b;
  EXPECT_TRUE(b.append(std::string(60 * 1024, 'a')));
  EXPECT_EQ(b.capacity(), 64u * 1024);
  b.clear();
  b.shrink_if_idle();  // exactly at the threshold: kept
  EXPECT_EQ(b.capacity(), 64u * 1024);
  b.shrink_if_idle(1024);  // custom threshold
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(Buffer, ShrinkIfIdleOnUnallocatedBufferIsNoop) {
  Buffer b;
  b.shrink_if_idle(0);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
}
