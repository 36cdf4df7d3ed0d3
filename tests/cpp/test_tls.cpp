// Tests for src/core/transport/tls_context.cpp and tls_stream.cpp: contexts built from PEM
// (every key format, every failure text), and two TlsStreams talking over a socketpair,
// driven by hand so each step is visible: the handshake, records split at every byte,
// close_notify, bad input and verification failures (spec §3.6, §8.7).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "mg/manager.hpp"
#include "mg/tls.hpp"

using mg::Buffer;
using mg::BlockPool;
using mg::tls::Config;
using mg::tls::Context;
using mg::tls::Role;
using mg::tls::TlsStream;

namespace {

enum class KeyFormat { Pkcs8, Traditional /* SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY" */ };

struct Pem {
  std::string cert, key;
};

std::string bio_text(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

// A self-signed certificate made at test time (no key is committed).
Pem self_signed(const std::string& cn, const std::string& san, bool rsa = false, KeyFormat fmt = KeyFormat::Pkcs8) {
  EVP_PKEY* pkey = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (!san.empty()) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, pkey, EVP_sha256());
  Pem out;
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  out.cert = bio_text(cb);
  BIO* kb = BIO_new(BIO_s_mem());
  if (fmt == KeyFormat::Pkcs8) PEM_write_bio_PrivateKey(kb, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  else PEM_write_bio_PrivateKey_traditional(kb, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  out.key = bio_text(kb);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return out;
}

const Pem& localhost_cert() {
  static const Pem pem = self_signed("localhost", "DNS:localhost,IP:127.0.0.1");
  return pem;
}

Config server_config(const Pem& pem = localhost_cert()) {
  Config c;
  c.cert = pem.cert;
  c.key = pem.key;
  return c;
}

Config client_config(const Pem& trust = localhost_cert()) {
  Config c;
  c.ca = trust.cert;
  return c;
}

std::shared_ptr<const mg::tls::ServerCerts> certs_of(std::shared_ptr<Context> ctx) {
  auto certs = std::make_shared<mg::tls::ServerCerts>();
  certs->fallback = std::move(ctx);
  return certs;
}

// A client and a server stream over a socketpair, pumped by hand.
struct Pair {
  BlockPool pool;
  int cfd = -1, sfd = -1;
  std::unique_ptr<TlsStream> client, server;
  Buffer crx{&pool}, srx{&pool};
  bool client_hs = false, server_hs = false;
  std::string client_error, server_error;
  bool client_eof = false, server_eof = false;

  Pair(std::shared_ptr<Context> cctx, std::shared_ptr<Context> sctx, std::string_view name = "localhost",
       bool http = true) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    cfd = fds[0];
    sfd = fds[1];
    client = TlsStream::client(&pool, std::move(cctx), name, http);
    server = TlsStream::server(&pool, certs_of(std::move(sctx)), http);
    client->attach(cfd);
    server->attach(sfd);
  }
  ~Pair() {
    client.reset();
    server.reset();
    if (cfd >= 0) ::close(cfd);
    if (sfd >= 0) ::close(sfd);
  }

  void note(const mg::ReadResult& r, bool& hs, std::string& err, bool& eof) {
    hs |= r.handshake_done;
    if (!r.error.empty()) err = std::string(r.error);
    eof |= r.eof;
  }
  void note(const mg::FlushResult& r, bool& hs, std::string& err) {
    hs |= r.handshake_done;
    if (!r.error.empty()) err = std::string(r.error);
  }
  // One round: each side writes what it has, then reads what arrived.
  void round(size_t max = 1 << 20) {
    note(client->flush(), client_hs, client_error);
    note(server->read(srx, max), server_hs, server_error, server_eof);
    note(server->flush(), server_hs, server_error);
    note(client->read(crx, max), client_hs, client_error, client_eof);
  }
  bool handshake() {
    for (int i = 0; i < 20 && !(client_hs && server_hs); i++) {
      round();
      if (!client_error.empty() || !server_error.empty()) return false;
    }
    return client_hs && server_hs;
  }
};

std::string text(const Buffer& b) { return std::string(b.data(), b.size()); }

// ---- contexts ----------------------------------------------------------------------------

TEST(TlsContext, EveryKeyFormatLoads) {
  for (bool rsa : {false, true}) {
    for (KeyFormat fmt : {KeyFormat::Pkcs8, KeyFormat::Traditional}) {
      Pem pem = self_signed("localhost", "DNS:localhost", rsa, fmt);
      const char* marker = fmt == KeyFormat::Pkcs8 ? "BEGIN PRIVATE KEY" : (rsa ? "BEGIN RSA PRIVATE KEY" : "BEGIN EC PRIVATE KEY");
      ASSERT_NE(pem.key.find(marker), std::string::npos) << pem.key.substr(0, 40);
      auto ctx = Context::build(Role::Server, server_config(pem));
      EXPECT_TRUE(ctx->ok()) << marker << ": " << ctx->error();
    }
  }
}

TEST(TlsContext, FailuresAreTextsWithoutKeyMaterial) {
  const Pem& good = localhost_cert();
  Pem other = self_signed("other", "");
  struct Case {
    Role role;
    Config cfg;
    const char* error;
  } cases[] = {
      {Role::Server, Config{}, "no certificate and key"},
      {Role::Server, Config{"", good.cert, "", "", false}, "no certificate and key"},
      {Role::Server, Config{"", "not a certificate", good.key, "", false}, "invalid certificate (PEM expected)"},
      {Role::Server, Config{"", good.cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "", false},
       "invalid private key (unencrypted PEM expected: EC, RSA or PKCS#8)"},
      {Role::Server, Config{"", good.cert, other.key, "", false}, "certificate and private key do not match"},
      {Role::Server, Config{"garbage", good.cert, good.key, "", false}, "invalid CA certificate (PEM expected)"},
      {Role::Client, Config{"garbage", "", "", "", false}, "invalid CA certificate (PEM expected)"},
  };
  for (const Case& c : cases) {
    auto ctx = Context::build(c.role, c.cfg);
    EXPECT_FALSE(ctx->ok());
    EXPECT_EQ(ctx->error(), c.error);
    EXPECT_EQ(ctx->error().find("PRIVATE"), std::string::npos);
    EXPECT_EQ(ERR_peek_error(), 0u) << "the error queue is left clean";
  }
  // A client that skips verification never looks at `ca`.
  EXPECT_TRUE(Context::build(Role::Client, Config{"garbage", "", "", "", true})->ok());
}

TEST(TlsContext, EncryptedKeyFailsWithoutPrompting) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  BIO* kb = BIO_new(BIO_s_mem());
  ASSERT_TRUE(PEM_write_bio_PKCS8PrivateKey(kb, pkey, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                                            const_cast<char*>("secret")));
  EVP_PKEY_free(pkey);
  Config cfg = server_config();
  cfg.key = bio_text(kb);
  ASSERT_NE(cfg.key.find("ENCRYPTED"), std::string::npos);
  auto ctx = Context::build(Role::Server, cfg);  // would block on the terminal if it prompted
  EXPECT_FALSE(ctx->ok());
  EXPECT_EQ(ctx->error().find("secret"), std::string::npos);
}

TEST(TlsContext, CacheSharesContextsByContent) {
  auto a = Context::get(Role::Server, server_config());
  auto b = Context::get(Role::Server, server_config());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Context::get(Role::Client, client_config()));
  Config skip = client_config();
  skip.skip_verification = true;
  EXPECT_NE(Context::get(Role::Client, client_config()), Context::get(Role::Client, skip));
  Context::clear_cache();
  EXPECT_NE(a, Context::get(Role::Server, server_config()));
}

TEST(TlsContext, IpLiterals) {
  EXPECT_TRUE(mg::tls::is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(mg::tls::is_ip_literal("::1"));
  EXPECT_TRUE(mg::tls::is_ip_literal("[::1]"));
  EXPECT_FALSE(mg::tls::is_ip_literal("localhost"));
  EXPECT_FALSE(mg::tls::is_ip_literal("1.2.3"));
}

// ---- streams -----------------------------------------------------------------------------

TEST(TlsStream, HandshakeThenDataBothWays) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  EXPECT_TRUE(p.client->output_pending()) << "a client has a hello to send";
  EXPECT_FALSE(p.server->output_pending());
  ASSERT_TRUE(p.handshake()) << p.client_error << " / " << p.server_error;
  EXPECT_FALSE(p.client->handshaking());
  p.client->tx().append("GET / HTTP/1.1\r\n\r\n");
  p.round();
  EXPECT_EQ(text(p.srx), "GET / HTTP/1.1\r\n\r\n");
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>('a' + i % 26);
  p.server->tx().append(big);
  for (int i = 0; i < 200 && p.crx.size() < big.size(); i++) p.round();
  EXPECT_EQ(text(p.crx), big);
  mg::tls::Info ci = p.client->info(), si = p.server->info();
  EXPECT_EQ(ci.version, "TLSv1.3");
  EXPECT_EQ(ci.version_code, 0x0304);
  EXPECT_EQ(ci.alpn, "http/1.1");
  EXPECT_EQ(si.alpn, "http/1.1");
  EXPECT_EQ(si.server_name, "localhost");
  EXPECT_EQ(ci.peer_subject, "CN=localhost");
  ASSERT_EQ(ci.peer_sans.size(), 2u);
  EXPECT_EQ(ci.peer_sans[0], "DNS:localhost");
  EXPECT_EQ(ci.peer_sans[1], "IP:127.0.0.1");
  EXPECT_TRUE(ci.peer_verified);
  EXPECT_EQ(ci.peer_chain_pem.at(0), localhost_cert().cert);
  EXPECT_TRUE(si.peer_chain_pem.empty()) << "no client certificate was asked for";
  EXPECT_EQ(si.local_cert_pem, localhost_cert().cert);
}

TEST(TlsStream, RecordSplitAtEveryByteGivesTheSamePlaintext) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ASSERT_TRUE(p.handshake());
  p.srx.clear();
  const std::string msg = "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  // Learn the record length once, then cut a fresh record of the same message at every point.
  size_t record_len = 0;
  for (size_t cut = 0;; cut++) {
    p.client->tx().append(msg);
    mg::FlushResult fr = p.client->flush();
    ASSERT_TRUE(fr.error.empty());
    char wire[4096];
    ssize_t n = recv(p.sfd, wire, sizeof wire, 0);  // take the record off the server's socket
    ASSERT_GT(n, 0);
    record_len = static_cast<size_t>(n);
    if (cut == 0) cut = 1;
    if (cut >= record_len) break;
    ASSERT_EQ(send(p.cfd, wire, cut, 0), static_cast<ssize_t>(cut));  // re-inject the first part
    mg::ReadResult r1 = p.server->read(p.srx, 1 << 20);
    EXPECT_EQ(r1.bytes, 0u) << "cut at " << cut;
    EXPECT_TRUE(r1.error.empty());
    ASSERT_EQ(send(p.cfd, wire + cut, record_len - cut, 0), static_cast<ssize_t>(record_len - cut));
    mg::ReadResult r2 = p.server->read(p.srx, 1 << 20);
    ASSERT_EQ(text(p.srx), msg) << "cut at " << cut;
    p.srx.clear();
    (void)r2;
  }
  EXPECT_GT(record_len, msg.size());
}

TEST(TlsStream, ReadLimitLeavesInputPendingUntilTaken) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ASSERT_TRUE(p.handshake());
  p.client->tx().append(std::string(48 * 1024, 'z'));
  while (p.client->output_pending()) p.client->flush();
  mg::ReadResult r = p.server->read(p.srx, 1);
  EXPECT_GE(r.bytes, 1u);
  EXPECT_LT(r.bytes, 48u * 1024);
  EXPECT_TRUE(p.server->input_pending());
  for (int i = 0; i < 10 && p.server->input_pending(); i++) p.server->read(p.srx, 1);
  EXPECT_EQ(p.srx.size(), 48u * 1024);
  EXPECT_FALSE(p.server->input_pending());
}

TEST(TlsStream, CloseNotifyIsAnOrderlyEof) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ASSERT_TRUE(p.handshake());
  p.client->tx().append("bye");
  p.client->flush();
  p.client->close_session();
  EXPECT_TRUE(p.client->output_pending()) << "close_notify waits to be sent";
  p.client->flush();
  mg::ReadResult r = p.server->read(p.srx, 1 << 20);
  EXPECT_EQ(text(p.srx), "bye");
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(r.error.empty());
  p.client->tx().append("after close");
  p.client->flush();
  char buf[64];
  EXPECT_LT(recv(p.sfd, buf, sizeof buf, 0), 0) << "nothing is encrypted after close_notify";
}

TEST(TlsStream, PeerEofWithoutCloseNotifyIsPlainEof) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ASSERT_TRUE(p.handshake());
  p.client->tx().append("partial");
  p.client->flush();
  char wire[256];
  ssize_t n = recv(p.sfd, wire, sizeof wire, 0);
  ASSERT_GT(n, 4);
  send(p.cfd, wire, static_cast<size_t>(n) - 3, 0);  // a truncated record, then the end
  ::shutdown(p.cfd, SHUT_WR);
  mg::ReadResult r;
  for (int i = 0; i < 3 && !r.eof; i++) {  // the loop reads again once epoll reports the EOF
    r = p.server->read(p.srx, 1 << 20);
    EXPECT_TRUE(r.error.empty());
  }
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(p.srx.size(), 0u);
}

TEST(TlsStream, GarbageAfterHandshakeIsATlsError) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ASSERT_TRUE(p.handshake());
  const char junk[] = "\x17\x03\x03\x00\x20 this is not an encrypted record....";
  send(p.cfd, junk, sizeof junk - 1, 0);
  mg::ReadResult r = p.server->read(p.srx, 1 << 20);
  EXPECT_EQ(std::string(r.error).rfind("TLS error: ", 0), 0u) << r.error;
  EXPECT_FALSE(p.server->handshaking());
  EXPECT_TRUE(p.server->flush().failed);
}

TEST(TlsStream, PlaintextHttpToATlsPortFailsTheHandshake) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  send(p.cfd, req, sizeof req - 1, 0);
  mg::ReadResult r = p.server->read(p.srx, 1 << 20);
  EXPECT_EQ(std::string(r.error), "TLS handshake failed: http request");
  EXPECT_EQ(p.srx.size(), 0u);
}

TEST(TlsStream, ConnectAndCloseWithoutAByteIsSilentOnTheServer) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  ::shutdown(p.cfd, SHUT_WR);
  mg::ReadResult r = p.server->read(p.srx, 1 << 20);
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(r.error.empty());
}

TEST(TlsStream, ServerClosingMidHandshakeIsAClientError) {
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()));
  p.client->flush();
  ::shutdown(p.sfd, SHUT_WR);
  mg::ReadResult r = p.client->read(p.crx, 1 << 20);
  EXPECT_EQ(std::string(r.error), "TLS handshake failed: connection closed by peer");
}

TEST(TlsStream, VerificationFailures) {
  Pem stranger = self_signed("localhost", "DNS:localhost");
  {
    Pair p(Context::build(Role::Client, client_config(stranger)), Context::build(Role::Server, server_config()));
    EXPECT_FALSE(p.handshake());
    EXPECT_EQ(p.client_error, "TLS handshake failed: certificate verify failed: self-signed certificate");
    p.client->flush();  // the client's alert reaches the server
    p.round();
    EXPECT_EQ(p.server_error, "TLS handshake failed: tlsv1 alert unknown ca");
  }
  {
    Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()), "example.org");
    EXPECT_FALSE(p.handshake());
    EXPECT_EQ(p.client_error, "TLS handshake failed: certificate verify failed: hostname mismatch");
  }
  {
    Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()), "127.0.0.1");
    EXPECT_TRUE(p.handshake()) << "IP SAN: " << p.client_error;
  }
  {
    Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, server_config()), "127.0.0.2");
    EXPECT_FALSE(p.handshake());
    EXPECT_EQ(p.client_error, "TLS handshake failed: certificate verify failed: IP address mismatch");
  }
  {
    Config skip;
    skip.skip_verification = true;
    Pair p(Context::build(Role::Client, skip), Context::build(Role::Server, server_config(stranger)), "example.org");
    EXPECT_TRUE(p.handshake()) << p.client_error;
    EXPECT_FALSE(p.client->info().peer_verified);
  }
}

TEST(TlsStream, CommonNameOnlyWhenNoDnsSan) {
  Pem cn_only = self_signed("cn.example", "");
  Pair p(Context::build(Role::Client, client_config(cn_only)), Context::build(Role::Server, server_config(cn_only)),
         "cn.example");
  EXPECT_TRUE(p.handshake()) << p.client_error;
  Pem with_san = self_signed("cn.example", "DNS:other.example");
  Pair q(Context::build(Role::Client, client_config(with_san)), Context::build(Role::Server, server_config(with_san)),
         "cn.example");
  EXPECT_FALSE(q.handshake());
  EXPECT_EQ(q.client_error, "TLS handshake failed: certificate verify failed: hostname mismatch");
}

TEST(TlsStream, ProtocolsBelowTls12AreRefused) {
  auto old_client = Context::build(Role::Client, client_config());
  SSL_CTX_set_min_proto_version(old_client->native(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old_client->native(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(old_client->native(), 0);
  Pair p(old_client, Context::build(Role::Server, server_config()));
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server_error.rfind("TLS handshake failed: ", 0), 0u);
  auto tls12 = Context::build(Role::Client, client_config());
  SSL_CTX_set_max_proto_version(tls12->native(), TLS1_2_VERSION);
  Pair q(tls12, Context::build(Role::Server, server_config()));
  ASSERT_TRUE(q.handshake()) << q.client_error << q.server_error;
  EXPECT_EQ(q.server->info().version, "TLSv1.2");
}

TEST(TlsStream, MutualTlsNeedsAClientCertificate) {
  Pem client_pem = self_signed("client", "");
  Config sc = server_config();
  sc.ca = client_pem.cert;
  {
    Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, sc));
    EXPECT_FALSE(p.handshake());
    EXPECT_EQ(p.server_error, "TLS handshake failed: peer did not return a certificate");
  }
  Config cc = client_config();
  cc.cert = client_pem.cert;
  cc.key = client_pem.key;
  Pair p(Context::build(Role::Client, cc), Context::build(Role::Server, sc));
  ASSERT_TRUE(p.handshake()) << p.client_error << " / " << p.server_error;
  mg::tls::Info si = p.server->info();
  EXPECT_EQ(si.peer_subject, "CN=client");
  EXPECT_TRUE(si.peer_verified);
  EXPECT_EQ(si.peer_chain_pem.at(0), client_pem.cert);
}

TEST(TlsStream, SniPicksTheCertificate) {
  Pem a = self_signed("a.example", "DNS:a.example"), b = self_signed("b.example", "DNS:b.example");
  auto certs = std::make_shared<mg::tls::ServerCerts>();
  certs->fallback = Context::build(Role::Server, server_config(a));
  certs->by_name["b.example"] = Context::build(Role::Server, server_config(b));
  for (const char* name : {"a.example", "B.Example", "other.example"}) {
    BlockPool pool;
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    Config skip;
    skip.skip_verification = true;
    auto client = TlsStream::client(&pool, Context::build(Role::Client, skip), name, false);
    auto server = TlsStream::server(&pool, certs, false);
    client->attach(fds[0]);
    server->attach(fds[1]);
    Buffer crx(&pool), srx(&pool);
    for (int i = 0; i < 10; i++) {
      client->flush();
      server->read(srx, 1 << 16);
      server->flush();
      client->read(crx, 1 << 16);
    }
    std::string want = std::string(name) == "B.Example" ? "CN=b.example" : "CN=a.example";
    EXPECT_EQ(client->info().peer_subject, want) << name;
    EXPECT_EQ(client->info().alpn, "") << "raw TLS offers no ALPN";
    client.reset();
    server.reset();
    ::close(fds[0]);
    ::close(fds[1]);
  }
}

TEST(TlsStream, BrokenContextFailsAtTheHandshakeWithItsReason) {
  Config bad;
  bad.cert = "junk";
  bad.key = "junk";
  Pair p(Context::build(Role::Client, client_config()), Context::build(Role::Server, bad));
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server_error, "TLS handshake failed: invalid certificate (PEM expected)");
}

// ---- through the loop ----------------------------------------------------------------------

TEST(TlsManager, ListenerDefaultsAndClientHandshakeGiveTlsHsBeforeData) {
  mg::Manager m;
  struct Seen {
    std::vector<std::pair<uint64_t, int>> evs;
    std::string server_got, error;
    mg::Connection* client = nullptr;
  } seen;
  m.set_sink(
      [](void* ctx, mg::Connection* c, int ev, const void* data) {
        auto* s = static_cast<Seen*>(ctx);
        if (ev == mg::EV_POLL) return;
        s->evs.emplace_back(c->id, ev);
        if (ev == mg::EV_ERROR) s->error = std::string(*static_cast<const std::string_view*>(data));
        if (ev == mg::EV_CONNECT)
          c->mgr->start_tls_client(c, Context::get(Role::Client, client_config()), "");
        if (ev == mg::EV_TLS_HS && c->is_client) c->mgr->send(c, "ping", 4);
        if (ev == mg::EV_READ && c->is_accepted) {
          s->server_got.append(c->rx.data(), c->rx.size());
          c->rx.clear();
        }
      },
      &seen);
  mg::Connection* l = m.listen("tls://127.0.0.1:0", false, nullptr);
  ASSERT_NE(l, nullptr);
  l->tls_certs = certs_of(Context::get(Role::Server, server_config()));
  std::string url = "tls://localhost:" + std::to_string(l->local.port());
  mg::Connection* c = m.connect(url, false, nullptr);
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 200 && seen.server_got.size() < 4 && seen.error.empty(); i++) {
    m.wait(m.prepare_wait(20));
    m.dispatch();
  }
  EXPECT_EQ(seen.error, "");
  EXPECT_EQ(seen.server_got, "ping");
  EXPECT_TRUE(c->is_tls);
  // Per connection: the handshake event comes before any data event.
  for (uint64_t id : {c->id, c->id + 1}) {
    int hs_at = -1, read_at = -1;
    for (size_t k = 0; k < seen.evs.size(); k++) {
      if (seen.evs[k].first != id) continue;
      if (seen.evs[k].second == mg::EV_TLS_HS && hs_at < 0) hs_at = static_cast<int>(k);
      if (seen.evs[k].second == mg::EV_READ && read_at < 0) read_at = static_cast<int>(k);
    }
    EXPECT_GE(hs_at, 0) << "connection " << id;
    if (read_at >= 0) EXPECT_LT(hs_at, read_at);
  }
  m.shutdown();
}

}  // namespace
