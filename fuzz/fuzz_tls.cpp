// libFuzzer target: the TLS code that is ours (mg/tls.hpp) — option handling around
// OpenSSL's PEM parsing (tls::Context::build for both roles), and the server stream's read
// loop fed arbitrary bytes as if from a peer (split in two reads), over a socketpair.
// Input: byte 0 = flags (bit 0 skip verification, bit 1 the stream's option, bits 2-6 the
// cut, bit 7 the client role), then "ca \0 cert \0 key \0 name \0 wire".
// Invariants: building never throws or leaks and fails with a non-empty text that holds no
// PEM header; a failing context yields a failing handshake with "TLS handshake failed: ";
// the stream never produces plaintext before a handshake completed and never reports both
// an error and a completed handshake on garbage.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mg/tls.hpp"

#include "check.hpp"

namespace tls = mg::tls;

static std::string_view take(std::string_view& in) {
  size_t z = in.find('\0');
  std::string_view part = in.substr(0, z);
  in = z == std::string_view::npos ? std::string_view() : in.substr(z + 1);
  return part;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  tls::Config cfg;
  cfg.ca = std::string(take(in));
  cfg.cert = std::string(take(in));
  cfg.key = std::string(take(in));
  cfg.name = std::string(take(in));
  cfg.skip_verification = flags & 1;
  // Without a CA a verifying context loads the system trust store: OpenSSL parsing a
  // hundred certificates (~0.2 s under ASan), none of it our code. Done once per process;
  // afterwards such configurations skip verification, so executions stay cheap.
  static bool system_store_done = false;
  if (cfg.ca.empty() && !cfg.skip_verification) {
    if (system_store_done) cfg.skip_verification = true;
    system_store_done = true;
  }
  const std::string_view wire = in;

  // Context::get: the engine's content-keyed cache in front of build(), so mutations of
  // the wire alone reuse the contexts (the cache is ours too, and fuzzed with it). One role
  // per execution: building a context is mostly OpenSSL's SSL_CTX_new and key decoding, so
  // two builds per input would halve the executions that reach our code.
  const tls::Role role = flags & 0x80 ? tls::Role::Client : tls::Role::Server;
  auto ctx = tls::Context::get(role, cfg);
  CHECK(ctx);
  CHECK(ctx->ok() == ctx->error().empty());
  CHECK(ctx->error().find("-----BEGIN") == std::string::npos);
  if (role == tls::Role::Client) return 0;

  // The server side of a stream, fed `wire` in two pieces (cut chosen by byte 0).
  auto certs = std::make_shared<tls::ServerCerts>();
  certs->fallback = ctx;
  if (!cfg.name.empty()) certs->by_name[std::string(cfg.name)] = ctx;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return 0;
  mg::BlockPool pool;
  {
    auto server = tls::TlsStream::server(&pool, certs, flags & 2);
    server->attach(fds[1]);
    mg::Buffer rx(&pool);
    const size_t cut = wire.empty() ? 0 : ((flags >> 2) & 0x1f) % (wire.size() + 1);
    bool failed = false;
    for (std::string_view piece : {wire.substr(0, cut), wire.substr(cut)}) {
      if (!piece.empty()) (void)!::send(fds[0], piece.data(), piece.size(), MSG_NOSIGNAL);
      mg::ReadResult r = server->read(rx, 1 << 16);
      if (!r.error.empty()) {
        CHECK(std::string_view(r.error).rfind("TLS ", 0) == 0);
        if (!ctx->ok()) CHECK(std::string_view(r.error).rfind("TLS handshake failed: ", 0) == 0);
        failed = true;
        break;
      }
      CHECK(r.bytes == 0 || !server->handshaking());  // no plaintext before the handshake
      mg::FlushResult f = server->flush();
      (void)f;
    }
    if (failed) CHECK(!server->handshaking());
    server->on_close();
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return 0;
}
