// Tests for the resumable in-place chunked decoder (RFC 9112 §7.1, spec §8.2).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "guarded_buffer.hpp"
#include "mg/http_parser.hpp"

using namespace std::string_literals;
using mg::http::ChunkedDecoder;
using mg::http::ChunkedResult;
using mg::http::Limits;
using mg::http::ParseStatus;
using mg::testing::GuardedBuffer;

namespace {

constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();

GuardedBuffer& guard() {
  static GuardedBuffer g(256 * 1024);
  return g;
}

// What a whole-input decode (or any sequence of partial ones) must end with.
struct Outcome {
  ParseStatus status = ParseStatus::Incomplete;
  std::string body;      // decoded bytes
  size_t consumed = 0;   // raw bytes of the chunked body
  std::string error;
  int http_status = 0;
};

// Decodes `input` split at the given offsets, the way the engine drives it:
// each piece is placed flush against a guard page together with whatever the
// previous call left unconsumed, and decoded in place (out == raw) or, with
// `gap`, to a position `gap` bytes before raw.
Outcome decode_split(std::string_view input, const std::vector<size_t>& splits,
                     const Limits& lim, uint64_t max_body, size_t gap = 0) {
  Outcome res;
  ChunkedDecoder st;
  std::string pending;  // unconsumed raw bytes carried to the next call
  size_t fed = 0;
  std::vector<size_t> ends = splits;
  ends.push_back(input.size());
  for (size_t end : ends) {
    if (end < fed) continue;
    pending.append(input.substr(fed, end - fed));
    fed = end;
    std::string placed_data = std::string(gap, '#') + pending;
    char* base = guard().place(placed_data);
    char* raw = base + gap;
    ChunkedResult r = mg::http::decode_chunked(st, raw, pending.size(), base, lim, max_body);
    EXPECT_LE(r.consumed, pending.size());
    EXPECT_LE(r.produced, r.consumed);
    // Bytes after `consumed` must be left untouched.
    EXPECT_EQ(std::memcmp(raw + r.consumed, pending.data() + r.consumed, pending.size() - r.consumed), 0);
    res.body.append(base, r.produced);
    res.consumed += r.consumed;
    pending.erase(0, r.consumed);
    res.status = r.status;
    if (r.status == ParseStatus::Error) {
      res.error = std::string(r.error);
      res.http_status = r.http_status;
      return res;
    }
    if (r.status == ParseStatus::Complete) return res;
  }
  return res;
}

Outcome decode_whole(std::string_view input, const Limits& lim = Limits{}, uint64_t max_body = kNoMax) {
  return decode_split(input, {}, lim, max_body);
}

struct Valid {
  std::string name;
  std::string input;  // the chunked body
  std::string body;   // decoded
  std::string tail;   // bytes after the chunked body (not consumed)
};

std::vector<Valid> valid_cases() {
  return {
      {"single", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
      {"empty", "0\r\n\r\n", "", ""},
      {"multiple_hex_case", "3\r\nabc\r\nA\r\n0123456789\r\nb\r\nABCDEFGHIJK\r\n0\r\n\r\n",
       "abc0123456789ABCDEFGHIJK", ""},
      {"extensions",
       "5;name=value\r\nhello\r\n5 ; a=\"q s\"\t;b\r\nworld\r\n0;last\r\n\r\n", "helloworld", ""},
      {"extension_obs_text", "1;x=\xc3\xa9\r\nz\r\n0\r\n\r\n", "z", ""},
      {"trailers", "5\r\nhello\r\n0\r\nX-Trailer: v\r\nY:\r\nZ:\t a b \r\n\r\n", "hello", ""},
      {"leading_zeros", "0005\r\nhello\r\n0000\r\n\r\n", "hello", ""},
      {"binary_data", "6\r\n\r\n\0\n\r\xff\r\n0\r\n\r\n"s, "\r\n\0\n\r\xff"s, ""},
      {"data_looks_like_chunk", "8\r\n0\r\n\r\nabc\r\n0\r\n\r\n", "0\r\n\r\nabc", ""},
      {"followed_by_next_request", "1\r\na\r\n0\r\n\r\n", "a", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"followed_by_garbage", "2\r\nab\r\n0\r\n\r\n", "ab", "\r\n\r\nxx"},
  };
}

class ValidChunked : public ::testing::TestWithParam<Valid> {};

TEST_P(ValidChunked, Whole) {
  const Valid& c = GetParam();
  Outcome o = decode_whole(c.input + c.tail);
  EXPECT_EQ(o.status, ParseStatus::Complete) << o.error;
  EXPECT_EQ(o.body, c.body);
  EXPECT_EQ(o.consumed, c.input.size());
}

TEST_P(ValidChunked, EverySplitPoint) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  for (size_t k = 0; k <= full.size(); ++k) {
    for (size_t gap : {size_t(0), size_t(3)}) {
      Outcome o = decode_split(full, {k}, Limits{}, kNoMax, gap);
      ASSERT_EQ(o.status, ParseStatus::Complete) << "split " << k << ": " << o.error;
      ASSERT_EQ(o.body, c.body) << "split " << k;
      ASSERT_EQ(o.consumed, c.input.size()) << "split " << k;
    }
  }
}

TEST_P(ValidChunked, EveryPairOfSplitPoints) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  for (size_t a = 0; a <= full.size(); ++a) {
    for (size_t b = a; b <= full.size(); ++b) {
      Outcome o = decode_split(full, {a, b}, Limits{}, kNoMax);
      ASSERT_EQ(o.status, ParseStatus::Complete) << a << "," << b << ": " << o.error;
      ASSERT_EQ(o.body, c.body) << a << "," << b;
      ASSERT_EQ(o.consumed, c.input.size());
    }
  }
}

TEST_P(ValidChunked, OneByteAtATime) {
  const Valid& c = GetParam();
  const std::string full = c.input + c.tail;
  std::vector<size_t> splits;
  for (size_t k = 1; k < full.size(); ++k) splits.push_back(k);
  Outcome o = decode_split(full, splits, Limits{}, kNoMax);
  EXPECT_EQ(o.status, ParseStatus::Complete) << o.error;
  EXPECT_EQ(o.body, c.body);
  EXPECT_EQ(o.consumed, c.input.size());
}

TEST_P(ValidChunked, PrefixesAreIncomplete) {
  const Valid& c = GetParam();
  for (size_t k = 0; k < c.input.size(); ++k) {
    Outcome o = decode_whole(std::string_view(c.input).substr(0, k));
    ASSERT_EQ(o.status, ParseStatus::Incomplete) << k << ": " << o.error;
    ASSERT_EQ(o.consumed, k);  // everything is consumed; state carries the rest
  }
}

TEST_P(ValidChunked, BodyLimitExactlyMet) {
  const Valid& c = GetParam();
  Outcome o = decode_whole(c.input, Limits{}, c.body.size());
  EXPECT_EQ(o.status, ParseStatus::Complete) << o.error;
  if (!c.body.empty()) {
    o = decode_whole(c.input, Limits{}, c.body.size() - 1);
    EXPECT_EQ(o.status, ParseStatus::Error);
    EXPECT_EQ(o.error, "MG_MAX_RECV_SIZE");
    EXPECT_EQ(o.http_status, 413);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ValidChunked, ::testing::ValuesIn(valid_cases()),
                         [](const auto& info) { return info.param.name; });

struct Bad {
  std::string name;
  std::string input;
  std::string error;
  int http_status;
  Limits limits{};
  uint64_t max_body = kNoMax;
};

std::vector<Bad> bad_cases() {
  const std::string inv = "Invalid chunk";
  const std::string big = "MG_MAX_RECV_SIZE";
  const std::string hdr = "HTTP header limit exceeded";
  Limits small_line;
  small_line.max_request_line = 8;
  Limits small_trailer;
  small_trailer.max_header_bytes = 16;
  return {
      {"not_hex", "x\r\n", inv, 400},
      {"empty_size", "\r\n", inv, 400},
      {"sign", "-5\r\nhello\r\n", inv, 400},
      {"plus", "+5\r\nhello\r\n", inv, 400},
      {"hex_prefix", "0x5\r\nhello\r\n", inv, 400},
      {"bare_lf_size", "5\nhello\r\n0\r\n\r\n", inv, 400},
      {"bare_cr_size", "5\rhello\r\n0\r\n\r\n", inv, 400},
      {"cr_cr_lf_size", "5\r\r\nhello\r\n0\r\n\r\n", inv, 400},
      {"trailing_space", "5 \r\nhello\r\n0\r\n\r\n", inv, 400},
      {"space_between_digits", "5 5\r\n", inv, 400},
      {"leading_space", " 5\r\nhello\r\n", inv, 400},
      {"ext_ctl", "5;a\x01\r\nhello\r\n", inv, 400},
      {"ext_nul", "5;a\0b\r\nhello\r\n"s, inv, 400},
      {"ext_bare_lf", "5;a\nhello\r\n", inv, 400},
      {"data_too_long", "5\r\nhelloX\r\n0\r\n\r\n", inv, 400},
      {"data_lf_only", "5\r\nhello\n0\r\n\r\n", inv, 400},
      {"data_cr_only", "5\r\nhello\r0\r\n\r\n", inv, 400},
      {"data_no_crlf_then_size", "5\r\nhello0\r\n\r\n", inv, 400},
      {"overflow", "10000000000000000\r\n", inv, 400},
      {"overflow_many_digits", "FFFFFFFFFFFFFFFFF\r\n", inv, 400},
      {"final_bare_lf", "0\r\n\n", inv, 400},
      {"final_cr_cr", "0\r\n\r\r\n", inv, 400},
      {"last_chunk_bare_lf", "0\n\r\n", inv, 400},
      {"trailer_no_colon", "0\r\nX-Trailer\r\n\r\n", inv, 400},
      {"trailer_empty_name", "0\r\n: v\r\n\r\n", inv, 400},
      {"trailer_obs_fold", "0\r\nX: a\r\n b\r\n\r\n", inv, 400},
      {"trailer_space_before_colon", "0\r\nX : a\r\n\r\n", inv, 400},
      {"trailer_nul", "0\r\nX: a\0\r\n\r\n"s, inv, 400},
      {"trailer_bare_lf", "0\r\nX: a\n\r\n", inv, 400},
      {"trailer_bare_cr", "0\r\nX: a\rb\r\n\r\n", inv, 400},
      {"size_above_max_body", "FFFFFFFFFFFFFFFF\r\n", big, 413, Limits{}, 1 << 20},
      {"size_above_max_body_at_line_end", "B\r\n", big, 413, Limits{}, 10},
      {"size_overflow_beats_max_body", "fffffffffffffffffffff\r\n", inv, 400, Limits{}, 10},
      {"accumulated_above_max_body", "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", big, 413, Limits{}, 10},
      {"size_line_too_long", "5;abcdefgh\r\nhello\r\n0\r\n\r\n", inv, 400, small_line},
      {"leading_zeros_too_long", "000000005\r\nhello\r\n0\r\n\r\n", inv, 400, small_line},
      {"trailers_too_long", "0\r\nX-Long-Trailer: 12345\r\n\r\n", hdr, 431, small_trailer},
      {"many_small_trailers", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", hdr, 431, small_trailer},
  };
}

class BadChunked : public ::testing::TestWithParam<Bad> {};

TEST_P(BadChunked, Whole) {
  const Bad& c = GetParam();
  Outcome o = decode_whole(c.input, c.limits, c.max_body);
  ASSERT_EQ(o.status, ParseStatus::Error);
  EXPECT_EQ(o.error, c.error);
  EXPECT_EQ(o.http_status, c.http_status);
}

TEST_P(BadChunked, EverySplitPointGivesSameError) {
  const Bad& c = GetParam();
  for (size_t k = 0; k <= c.input.size(); ++k) {
    Outcome o = decode_split(c.input, {k}, c.limits, c.max_body);
    ASSERT_EQ(o.status, ParseStatus::Error) << k;
    ASSERT_EQ(o.error, c.error) << k;
  }
}

TEST_P(BadChunked, PrefixesAreIncompleteOrSameError) {
  const Bad& c = GetParam();
  for (size_t k = 0; k <= c.input.size(); ++k) {
    Outcome o = decode_whole(std::string_view(c.input).substr(0, k), c.limits, c.max_body);
    ASSERT_NE(o.status, ParseStatus::Complete) << k;
    if (o.status == ParseStatus::Error) {
      ASSERT_EQ(o.error, c.error) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadChunked, ::testing::ValuesIn(bad_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Chunked, MaxSizeChunkAcceptedWithoutLimit) {
  // 2^64-1 is a valid size; the body simply is not there yet.
  Outcome o = decode_whole("FFFFFFFFFFFFFFFF\r\nabc");
  EXPECT_EQ(o.status, ParseStatus::Incomplete);
  EXPECT_EQ(o.body, "abc");
  o = decode_whole("0000000000000000000000FFFFFFFFFFFFFFFF\r\n", Limits{}, kNoMax);
  EXPECT_EQ(o.status, ParseStatus::Incomplete);
}

TEST(Chunked, SizeLineExactlyAtLimit) {
  Limits lim;
  lim.max_request_line = 8;
  Outcome o = decode_whole("5;abcdef\r\nhello\r\n0\r\n\r\n", lim);  // 8 bytes before CRLF
  EXPECT_EQ(o.status, ParseStatus::Complete) << o.error;
  EXPECT_EQ(o.body, "hello");
}

TEST(Chunked, TrailersExactlyAtLimit) {
  Limits lim;
  std::string trailers = "A: 1\r\n\r\n";
  lim.max_header_bytes = trailers.size();
  Outcome o = decode_whole("0\r\n" + trailers, lim);
  EXPECT_EQ(o.status, ParseStatus::Complete) << o.error;
  lim.max_header_bytes = trailers.size() - 1;
  o = decode_whole("0\r\n" + trailers, lim);
  EXPECT_EQ(o.error, "HTTP header limit exceeded");
}

TEST(Chunked, CompleteIsSticky) {
  ChunkedDecoder st;
  std::string buf = "1\r\nx\r\n0\r\n\r\nmore";
  ChunkedResult r = mg::http::decode_chunked(st, buf.data(), buf.size(), buf.data(), Limits{}, kNoMax);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, 11u);
  EXPECT_EQ(r.produced, 1u);
  EXPECT_EQ(buf[0], 'x');
  r = mg::http::decode_chunked(st, buf.data() + 11, 4, buf.data() + 11, Limits{}, kNoMax);
  EXPECT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(r.produced, 0u);
}

TEST(Chunked, EmptyInputIsIncomplete) {
  ChunkedDecoder st;
  char c = 0;
  ChunkedResult r = mg::http::decode_chunked(st, &c, 0, &c, Limits{}, kNoMax);
  EXPECT_EQ(r.status, ParseStatus::Incomplete);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(Chunked, LargeBodyInPlaceRandomSplits) {
  // Build a body of many chunks of varied sizes; decode it in place in an
  // engine-like buffer fed in irregular pieces.
  std::string expected, encoded;
  uint32_t x = 12345;
  auto rnd = [&]() { return x = x * 1103515245u + 12345u, (x >> 8) & 0xFFFF; };
  for (int i = 0; i < 200; ++i) {
    size_t n = 1 + rnd() % 700;
    std::string data(n, '\0');
    for (auto& ch : data) ch = char(rnd());
    expected += data;
    char hex[32];
    snprintf(hex, sizeof hex, i % 2 ? "%zx" : "%zX", n);
    encoded += hex + std::string(i % 3 ? "" : ";ext=1") + "\r\n" + data + "\r\n";
  }
  encoded += "0\r\nT: v\r\n\r\n";
  std::vector<size_t> splits;
  for (size_t pos = 0; pos < encoded.size();) {
    pos += 1 + rnd() % 97;
    splits.push_back(pos);
  }
  Outcome o = decode_split(encoded, splits, Limits{}, kNoMax);
  ASSERT_EQ(o.status, ParseStatus::Complete) << o.error;
  EXPECT_EQ(o.body, expected);
  EXPECT_EQ(o.consumed, encoded.size());

  // Same, with a single contiguous engine buffer: [decoded][pending raw].
  std::string buf;
  size_t decoded = 0;
  ChunkedDecoder st;
  size_t fed = 0;
  ParseStatus status = ParseStatus::Incomplete;
  for (size_t end : splits) {
    end = std::min(end, encoded.size());
    buf.append(encoded, fed, end - fed);
    fed = end;
    char* raw = buf.data() + decoded;
    ChunkedResult r = mg::http::decode_chunked(st, raw, buf.size() - decoded, raw, Limits{}, kNoMax);
    ASSERT_NE(r.status, ParseStatus::Error) << r.error;
    std::memmove(raw + r.produced, raw + r.consumed, buf.size() - decoded - r.consumed);
    buf.resize(buf.size() - (r.consumed - r.produced));
    decoded += r.produced;
    status = r.status;
    if (status == ParseStatus::Complete) break;
  }
  EXPECT_EQ(status, ParseStatus::Complete);
  EXPECT_EQ(buf, expected);
  EXPECT_EQ(st.body_size, expected.size());
}

}  // namespace
