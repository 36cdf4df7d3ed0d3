// Tests for src/core/util/include/mg/buffer.hpp (mg::Buffer, mg::BlockPool): the growable
// send/receive buffer with a read offset, a zeroed tail pad and pooled first blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>
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

// ---- read offset: draining a large buffer by partial consumes is O(size) -----------------

// A slow reader: the buffer is drained a few KiB at a time while more is appended, as a
// 1 GiB reply sent in 64 KiB pieces to a peer that takes 4 KiB per send() would be. Every
// byte may be moved at most a small constant number of times (before: the whole remainder
// was moved on every consume, O(size^2)).
TEST(Buffer, PartialConsumesOfALargeBufferMoveEachByteAConstantNumberOfTimes) {
  Buffer b;
  const std::string piece(64 * 1024, 'x');
  uint64_t appended = 0, consumed = 0;
  for (int round = 0; round < 4096; round++) {  // 256 MiB through the buffer
    ASSERT_TRUE(b.append(piece));
    appended += piece.size();
    // Keep about 8 MiB queued, like a reply outrunning its reader.
    while (b.size() > 8u * 1024 * 1024 || (round == 4095 && !b.empty())) {
      size_t n = std::min<size_t>(b.size(), 4096);
      b.consume(n);
      consumed += n;
    }
  }
  EXPECT_EQ(appended, consumed);
  EXPECT_LE(b.bytes_moved(), 2 * appended);
}

TEST(Buffer, ConsumeMovesNothingAndKeepsViewsValid) {
  Buffer b;
  ASSERT_TRUE(b.append("GET /1\r\n\r\nGET /2\r\n\r\n"));
  std::string_view first(b.data(), 10);
  const char* second = b.data() + 10;
  b.consume(10);
  EXPECT_EQ(b.data(), second);
  EXPECT_EQ(first, "GET /1\r\n\r\n");  // the consumed bytes are still readable
  EXPECT_EQ(b.view(), "GET /2\r\n\r\n");
  EXPECT_EQ(b.bytes_moved(), 0u);
}

TEST(Buffer, CompactsOnlyWhenTheConsumedPrefixOutweighsTheRest) {
  Buffer b;
  ASSERT_TRUE(b.append(std::string(1024, 'a')));  // capacity 1024, full
  b.consume(1000);
  ASSERT_TRUE(b.append("0123456789"));  // room after compacting 24 live bytes
  EXPECT_EQ(b.capacity(), 1024u);
  EXPECT_EQ(b.bytes_moved(), 24u);
  EXPECT_EQ(b.view(), std::string(24, 'a') + "0123456789");
  Buffer c;
  ASSERT_TRUE(c.append(std::string(1024, 'a')));
  c.consume(100);  // most is live: grow instead of moving 924 bytes for 100 free ones
  ASSERT_TRUE(c.append(std::string(200, 'b')));
  EXPECT_EQ(c.capacity(), 2048u);
  EXPECT_EQ(c.view(), std::string(924, 'a') + std::string(200, 'b'));
}

TEST(Buffer, ConsumingEverythingRewindsToTheStart) {
  Buffer b;
  ASSERT_TRUE(b.append(std::string(1000, 'a')));
  const char* start = b.data();
  b.consume(1000);
  EXPECT_TRUE(b.empty());
  ASSERT_TRUE(b.append("z"));
  EXPECT_EQ(b.data(), start);
  EXPECT_EQ(b.bytes_moved(), 0u);
}

// ---- pooled blocks: idle buffers hold nothing ---------------------------------------------

TEST(BlockPool, FirstBlockComesFromThePoolAndGoesBackOnRelease) {
  mg::BlockPool pool;
  char* p;
  {
    Buffer b(&pool);
    ASSERT_TRUE(b.append("hello"));
    EXPECT_EQ(b.capacity(), mg::BlockPool::kBlock);
    p = b.data();
    b.consume(5);
    b.release();
    EXPECT_FALSE(b.has_storage());
    EXPECT_EQ(pool.free_blocks(), 1u);
    ASSERT_TRUE(b.append("again"));  // the same block, reused
    EXPECT_EQ(b.data(), p);
    EXPECT_EQ(pool.free_blocks(), 0u);
  }
  EXPECT_EQ(pool.free_blocks(), 1u);  // destroyed: back to the pool
}

TEST(BlockPool, ReleaseKeepsANonEmptyBuffer) {
  mg::BlockPool pool;
  Buffer b(&pool);
  ASSERT_TRUE(b.append("partial"));
  b.release();
  EXPECT_EQ(b.view(), "partial");
  EXPECT_EQ(pool.free_blocks(), 0u);
}

TEST(BlockPool, GrowingPastTheBlockReturnsItAndKeepsTheBytes) {
  mg::BlockPool pool;
  Buffer b(&pool);
  ASSERT_TRUE(b.append("head:"));
  b.consume(1);
  ASSERT_TRUE(b.append(std::string(mg::BlockPool::kBlock, 'x')));
  EXPECT_EQ(pool.free_blocks(), 1u);
  EXPECT_EQ(b.view().substr(0, 4), "ead:");
  EXPECT_EQ(b.size(), 4 + mg::BlockPool::kBlock);
  b.clear();
  b.release();
  EXPECT_EQ(pool.free_blocks(), 1u);  // a grown (malloc) block is freed, not pooled
}

TEST(BlockPool, KeepsABoundedNumberOfFreeBlocks) {
  mg::BlockPool pool;
  std::vector<std::unique_ptr<Buffer>> bufs;
  for (size_t i = 0; i < mg::BlockPool::kKeep + 10; i++) {
    bufs.push_back(std::make_unique<Buffer>(&pool));
    ASSERT_TRUE(bufs.back()->append("x"));
  }
  bufs.clear();
  EXPECT_EQ(pool.free_blocks(), mg::BlockPool::kKeep);
}

TEST(Buffer, EraseRemovesAMiddleRangeAndClampsAtTheEnd) {
  mg::Buffer b;
  b.append("headBODYrest");
  b.consume(0);
  b.erase(4, 4);
  EXPECT_EQ(std::string_view(b.data(), b.size()), "headrest");
  b.erase(6, 100);
  EXPECT_EQ(std::string_view(b.data(), b.size()), "headre");
  b.erase(10, 1);  // past the end: nothing
  EXPECT_EQ(b.size(), 6u);
  b.consume(2);  // erase offsets count from the live bytes
  b.erase(0, 2);
  EXPECT_EQ(std::string_view(b.data(), b.size()), "re");
}
