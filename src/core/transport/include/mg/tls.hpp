// TLS as a transport (spec §3.6, §8.7): OpenSSL 3 behind memory BIOs, so the loop moves
// ciphertext with its own non-blocking recv/send and never blocks on a handshake. Every
// protocol driver runs over a TlsStream unchanged; it sees plaintext in rx and tx.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mg/transport.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace mg::tls {

// What a program gives (TlsOpts): PEM text and the client's expectations.
struct Config {
  std::string ca;    // PEM bundle. Client: trust anchors (empty: system store). Server: require client certs.
  std::string cert;  // PEM certificate, chain allowed (leaf first)
  std::string key;   // PEM private key: SEC1 EC, PKCS#1 RSA or PKCS#8, unencrypted
  std::string name;  // client: SNI and expected host name; server listener: SNI name of this certificate
  bool skip_verification = false;
};

enum class Role : uint8_t { Client, Server };

// An SSL_CTX built from a Config and shared by the connections that use it. Building one
// parses PEM and keys, so contexts are cached by content (Context::get). A context that
// failed to build is still a context: error() says why, and a handshake over it fails
// with that text, so bad options surface as MG_EV_ERROR, never as an exception.
class Context {
 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Cached by (role, ca, cert, key, skip_verification); never nullptr.
  static std::shared_ptr<Context> get(Role role, const Config& cfg);
  // Builds without the cache (tests, fuzzing).
  static std::shared_ptr<Context> build(Role role, const Config& cfg);
  // Drops every cached context (their SSL_CTX lives on while connections use them).
  static void clear_cache();

  Role role() const { return role_; }
  bool ok() const { return ctx_ != nullptr; }
  // Why the context cannot be used; never contains key material.
  const std::string& error() const { return error_; }
  SSL_CTX* native() const { return ctx_; }
  bool verifies_peer() const { return verify_peer_; }


 private:
  explicit Context(Role role) : role_(role) {}
  Role role_;
  SSL_CTX* ctx_ = nullptr;
  bool verify_peer_ = false;
  std::string error_;
};

// A listener's certificates: one for every client, and others chosen by the name a
// client asks for with SNI (RFC 6066 §3). Replaced, never mutated, once sessions use it.
struct ServerCerts {
  std::shared_ptr<Context> fallback;  // clients without SNI or asking for another name
  std::map<std::string, std::shared_ptr<Context>, std::less<>> by_name;  // lowercase names
  const std::shared_ptr<Context>& pick(std::string_view name) const;
};

// Facts about an established session, for programs and the WSGI/ASGI adapters.
struct Info {
  std::string version;       // "TLSv1.3"
  int version_code = 0;      // 0x0304
  std::string cipher;        // "TLS_AES_256_GCM_SHA384"
  int cipher_code = 0;       // IANA id, e.g. 0x1302
  std::string alpn;          // negotiated protocol, "" for none
  std::string server_name;   // SNI the client sent (server side), or the name we asked for
  std::vector<std::string> peer_chain_pem;  // peer certificate first; empty when none was sent
  std::string peer_subject;  // RFC 4514 string of the peer certificate's subject
  std::vector<std::string> peer_sans;       // "DNS:example.com", "IP:127.0.0.1", ...
  std::string local_cert_pem;  // the certificate we presented ("" for none)
  bool peer_verified = false;  // the peer certificate was checked and accepted
};

// TLS over a stream socket. Plaintext output is queued in tx() as on any transport;
// flush() encrypts it into sealed records and sends those; read() receives records and
// appends the plaintext to rx.
class TlsStream final : public Transport {
 public:
  // Client: `ctx` with `server_name` as SNI and as the host name checked against the
  // certificate (a DNS name or an IP literal). Server: `certs`, picked by SNI.
  // `http`: offer/accept ALPN "http/1.1" (RFC 7301).
  static std::unique_ptr<TlsStream> client(BlockPool* pool, std::shared_ptr<Context> ctx,
                                           std::string_view server_name, bool http);
  static std::unique_ptr<TlsStream> server(BlockPool* pool, std::shared_ptr<const ServerCerts> certs, bool http);
  ~TlsStream() override;

  ReadResult read(Buffer& rx, size_t max) override;
  FlushResult flush() override;
  void shutdown_write() override;
  void on_close() override;
  bool is_tls() const override { return true; }
  bool output_pending() const override;
  bool input_pending() const override;
  bool handshaking() const override { return !established_ && !failed_; }
  bool started() const { return started_; }  // the handshake has begun (bytes may be on the wire)
  bool established() const { return established_; }
  size_t queued_extra() const override { return sealed_.size(); }

  // Ends the session: what is queued now is still sent, then close_notify; nothing
  // queued afterwards is encrypted.
  void close_session();
  Info info() const;

  // OpenSSL callbacks (installed on every server context).
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn_select(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                            const unsigned char* in, unsigned int inlen, void* arg);

 private:
  TlsStream(BlockPool* pool, std::shared_ptr<Context> ctx, bool http);
  bool step_handshake(std::string& error);
  void pump_out();  // ciphertext produced by OpenSSL -> sealed_
  void shutdown_session();  // close_notify now
  bool send_sealed(FlushResult& r);
  std::string failure(const char* what, int ssl_ret);

  std::shared_ptr<Context> ctx_;
  std::shared_ptr<const ServerCerts> certs_;  // server: the listener's certificates
  std::string server_name_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // ciphertext received, for OpenSSL to read
  BIO* wbio_ = nullptr;  // ciphertext OpenSSL produced, for us to send
  Buffer sealed_;        // ciphertext waiting for the kernel
  size_t app_sealed_ = 0;  // of which application data (what counts as write progress)
  std::string error_;    // text behind the last ReadResult/FlushResult error
  std::string sni_error_;  // the certificate chosen by SNI could not be loaded
  bool http_ = false;
  bool client_ = false;
  bool started_ = false;      // the handshake has begun
  bool more_input_ = false;   // read() stopped at its limit with records still buffered
  bool established_ = false;
  bool reported_ = false;   // handshake_done handed to the loop
  bool failed_ = false;
  bool received_any_ = false;  // a byte arrived from the peer
  bool closing_ = false;         // close_session() called: close_notify after the queued output
  bool session_closed_ = false;  // close_notify queued; nothing more is encrypted
};

// A host name is an IP literal (checked as an IP SAN, never sent as SNI).
bool is_ip_literal(std::string_view host);

}  // namespace mg::tls
