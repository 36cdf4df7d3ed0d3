// permessage-deflate streams over zlib (RFC 7692 §7.2). Written for this project.
#include "mg/ws_compress.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "mg/ws_deflate.hpp"

namespace mg::ws {
namespace {

constexpr size_t kSlice = size_t{1} << 30;  // zlib counts in 32-bit unsigned
constexpr size_t kStep = 16 * 1024;         // inflate output step

}  // namespace

Deflater::Deflater(int window_bits, bool no_context_takeover, int level, int mem_level)
    : s_(std::make_unique<z_stream_s>()), bits_(window_bits), level_(level), mem_level_(mem_level),
      reset_(no_context_takeover) {}

Deflater::~Deflater() {
  if (ready_) deflateEnd(s_.get());
}

bool Deflater::compress(std::string_view message, Buffer& out) {
  // An empty message is one 0x00 byte: with the tail, an empty stored block (RFC 7692
  // §7.2.3.6). zlib would emit nothing after a previous sync flush; our stream, aligned on
  // a byte after every message, is not touched.
  if (message.empty()) return out.append("\0", 1);
  z_stream_s* s = s_.get();
  if (!ready_) {
    std::memset(s, 0, sizeof *s);
    // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 §7.2.1).
    if (deflateInit2(s, level_, Z_DEFLATED, -bits_, mem_level_, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    ready_ = true;
  }
  const size_t start = out.size();
  size_t left = message.size();
  const char* in = message.data();
  for (;;) {
    const size_t slice = std::min(left, kSlice);
    s->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    s->avail_in = static_cast<uInt>(slice);
    in += slice;
    left -= slice;
    const int flush = left ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    do {
      const size_t step = std::clamp<size_t>(deflateBound(s, s->avail_in) + 16, 64, 1024 * 1024);
      char* p = out.tail(step);
      if (!p) return false;
      s->next_out = reinterpret_cast<Bytef*>(p);
      s->avail_out = static_cast<uInt>(step);
      const int rc = deflate(s, flush);
      out.commit(step - s->avail_out);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    } while (s->avail_out == 0 || s->avail_in > 0);
    if (!left) break;
  }
  // A sync flush ends with an empty stored block, 00 00 ff ff: removed (§7.2.1 step 3).
  const size_t produced = out.size() - start;
  if (produced < 4 || out.view().substr(out.size() - 4) != kDeflateTail) return false;
  out.truncate(out.size() - 4);
  if (reset_) deflateReset(s);  // §7.1.1: no context takeover
  return true;
}

Inflater::Inflater() : s_(std::make_unique<z_stream_s>()) {}

Inflater::~Inflater() {
  if (ready_) inflateEnd(s_.get());
}

void Inflater::reset() {
  if (ready_) inflateReset(s_.get());
  ended_ = fed_ = false;
}

Inflater::Result Inflater::feed(std::string_view in, Buffer& out, size_t limit) {
  while (in.size() > kSlice) {
    Result r = run(in.substr(0, kSlice), out, limit, false);
    if (r != Result::Ok) return r;
    in.remove_prefix(kSlice);
  }
  return run(in, out, limit, false);
}

Inflater::Result Inflater::finish(Buffer& out, size_t limit) {
  // The sender ended its DEFLATE stream inside the message (a BFINAL block): the tail
  // belongs to no stream; the next message starts a new one.
  // A message whose payload was empty carries no DEFLATE data at all (a valid one is at
  // least one byte, §7.2.3.6): the tail alone would start a stored block and leave the
  // stream in the middle of it.
  if (ended_ || !fed_) {
    ended_ = fed_ = false;
    return Result::Ok;
  }
  fed_ = false;
  return run(kDeflateTail, out, limit, true);
}

Inflater::Result Inflater::run(std::string_view in, Buffer& out, size_t limit, bool tail) {
  z_stream_s* s = s_.get();
  if (!ready_) {
    std::memset(s, 0, sizeof *s);
    // Window 15 whatever was negotiated: it decodes any smaller window too.
    if (inflateInit2(s, -15) != Z_OK) return Result::Bad;
    ready_ = true;
  }
  if (!in.empty()) ended_ = false;
  if (!tail && !in.empty()) fed_ = true;
  s->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s->avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (out.size() > limit) return Result::TooBig;
    // One byte beyond the limit is enough to know the message is too big.
    const size_t step = std::min(kStep, limit - out.size() + 1);
    char* p = out.tail(step);
    if (!p) return Result::TooBig;  // could not even hold what the limit allows
    s->next_out = reinterpret_cast<Bytef*>(p);
    s->avail_out = static_cast<uInt>(step);
    const int rc = inflate(s, Z_SYNC_FLUSH);
    out.commit(step - s->avail_out);
    if (out.size() > limit) return Result::TooBig;
    if (rc == Z_STREAM_END) {
      inflateReset(s);
      if (tail) return Result::Ok;
      if (s->avail_in == 0) {
        ended_ = true;
        return Result::Ok;
      }
      continue;  // another DEFLATE stream follows within the message
    }
    if (rc == Z_BUF_ERROR) {
      if (s->avail_in == 0) return Result::Ok;  // everything consumed, nothing pending
      if (s->avail_out != 0) return Result::Bad;
      continue;
    }
    if (rc != Z_OK) return Result::Bad;  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR
    if (s->avail_in == 0 && s->avail_out != 0) return Result::Ok;
  }
}

}  // namespace mg::ws
