// permessage-deflate's compression streams (RFC 7692 §7.2) over zlib's raw DEFLATE: one
// compressor for what we send, one decompressor for what we receive, per connection.
// zlib state is allocated on first use, so a negotiated connection that never sends or
// receives a compressed message holds none.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>

#include "mg/buffer.hpp"

struct z_stream_s;

namespace mg::ws {

class Deflater {
 public:
  // `window_bits` 9..15; `no_context_takeover`: every message is compressed on its own
  // (RFC 7692 §7.1.1); `level` -1..9, `mem_level` 1..9 (zlib's meanings).
  Deflater(int window_bits, bool no_context_takeover, int level, int mem_level);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  // Appends the compressed payload of one whole message to `out`: the DEFLATE blocks
  // ended by a sync flush, without the final 00 00 ff ff (RFC 7692 §7.2.1). False when
  // zlib fails (out of memory); `out` may then hold part of the output.
  bool compress(std::string_view message, Buffer& out);

 private:
  std::unique_ptr<z_stream_s> s_;
  bool ready_ = false;
  int bits_, level_, mem_level_;
  bool reset_;
};

class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  enum class Result : uint8_t { Ok, TooBig, Bad };
  // Decompresses the next piece of a message's payload (a frame, or any part of one),
  // appending to `out`. Output is produced in steps of at most 16 KiB and `out` never
  // holds more than `limit` + 1 bytes: past `limit` the result is TooBig at once (a
  // "zip bomb" is stopped before it takes memory, RFC 7692 §8.1 and RFC 6455 §10.4).
  Result feed(std::string_view in, Buffer& out, size_t limit);
  // Ends a message: feeds the 00 00 ff ff tail (RFC 7692 §7.2.2).
  Result finish(Buffer& out, size_t limit);
  // Forgets the sliding window (the peer said no_context_takeover; also after an error).
  void reset();

 private:
  Result run(std::string_view in, Buffer& out, size_t limit, bool tail);
  std::unique_ptr<z_stream_s> s_;
  bool ready_ = false;
  bool ended_ = false;  // the peer's DEFLATE stream ended (BFINAL) at the end of the input
  bool fed_ = false;    // the current message had payload bytes
};

}  // namespace mg::ws
