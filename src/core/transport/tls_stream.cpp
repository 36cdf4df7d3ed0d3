// TLS over a stream socket with memory BIOs: we recv ciphertext into OpenSSL's read BIO
// and send what it leaves in its write BIO, always non-blocking and with MSG_NOSIGNAL, so
// a handshake never blocks the loop and no SIGPIPE is ever raised (spec §5.7).
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mg/tls.hpp"

namespace mg::tls {

namespace {

constexpr size_t kRecvChunk = 16 * 1024 + 512;  // one full record with its overhead
constexpr size_t kPlainChunk = 16 * 1024;       // the largest TLS plaintext record
constexpr size_t kSealBurst = 64 * 1024;        // plaintext encrypted per SSL_write
constexpr size_t kSealedHighWater = 256 * 1024;  // stop encrypting while this much waits
constexpr size_t kFileChunk = 64 * 1024;         // no sendfile under TLS: read, then encrypt

// ALPN protocols we speak, in preference order (RFC 7301 wire format); h2 would go first.
const unsigned char kAlpnHttp[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::string pem_of(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return {};
  std::string out;
  if (PEM_write_bio_X509(b, x)) {
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    if (n > 0) out.assign(p, static_cast<size_t>(n));
  }
  BIO_free(b);
  return out;
}

std::string subject_of(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return {};
  std::string out;
  if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    if (n > 0) out.assign(p, static_cast<size_t>(n));
  }
  BIO_free(b);
  return out;
}

std::vector<std::string> sans_of(X509* x) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    auto text = [](const ASN1_STRING* s) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    };
    if (g->type == GEN_DNS) {
      out.push_back("DNS:" + text(g->d.dNSName));
    } else if (g->type == GEN_EMAIL) {
      out.push_back("email:" + text(g->d.rfc822Name));
    } else if (g->type == GEN_URI) {
      out.push_back("URI:" + text(g->d.uniformResourceIdentifier));
    } else if (g->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = g->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(ip);
      const unsigned char* d = ASN1_STRING_get0_data(ip);
      if ((len == 4 && inet_ntop(AF_INET, d, buf, sizeof buf)) || (len == 16 && inet_ntop(AF_INET6, d, buf, sizeof buf)))
        out.push_back(std::string("IP:") + buf);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::string(host);
}

}  // namespace

TlsStream::TlsStream(BlockPool* pool, std::shared_ptr<Context> ctx, bool http)
    : Transport(pool), ctx_(std::move(ctx)), sealed_(pool), http_(http) {
  if (!ctx_ || !ctx_->ok()) return;  // the handshake reports the context's error
  ssl_ = SSL_new(ctx_->native());
  if (!ssl_) return;
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!rbio_ || !wbio_) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  // An empty BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);  // the session owns both BIOs from here
  SSL_set_app_data(ssl_, this);
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

std::unique_ptr<TlsStream> TlsStream::client(BlockPool* pool, std::shared_ptr<Context> ctx,
                                             std::string_view server_name, bool http) {
  std::unique_ptr<TlsStream> s(new TlsStream(pool, std::move(ctx), http));
  s->client_ = true;
  s->server_name_ = strip_brackets(server_name);
  if (!s->ssl_) return s;
  SSL_set_connect_state(s->ssl_);
  const std::string& name = s->server_name_;
  if (!name.empty()) {
    if (is_ip_literal(name)) {
      // RFC 6066 §3: no SNI for IP literals; the certificate must carry the IP as a SAN.
      if (s->ctx_->verifies_peer()) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl_), name.c_str());
    } else {
      SSL_set_tlsext_host_name(s->ssl_, name.c_str());
      // DNS SANs; the subject CN only when the certificate has no DNS SAN (OpenSSL's default).
      if (s->ctx_->verifies_peer()) {
        SSL_set_hostflags(s->ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(s->ssl_, name.c_str());
      }
    }
  }
  if (http) SSL_set_alpn_protos(s->ssl_, kAlpnHttp, sizeof kAlpnHttp);
  ERR_clear_error();
  return s;
}

std::unique_ptr<TlsStream> TlsStream::server(BlockPool* pool, std::shared_ptr<const ServerCerts> certs, bool http) {
  std::shared_ptr<Context> first = certs ? certs->fallback : nullptr;
  std::unique_ptr<TlsStream> s(new TlsStream(pool, first, http));
  s->certs_ = std::move(certs);
  if (s->ssl_) SSL_set_accept_state(s->ssl_);
  return s;
}

int TlsStream::on_server_name(SSL* ssl, int* alert, void*) {
  auto* self = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!self || !name) return SSL_TLSEXT_ERR_NOACK;
  self->server_name_ = name;
  if (!self->certs_) return SSL_TLSEXT_ERR_OK;
  const std::shared_ptr<Context>& chosen = self->certs_->pick(name);
  if (!chosen || chosen == self->ctx_) return SSL_TLSEXT_ERR_OK;
  if (!chosen->ok()) {
    self->sni_error_ = chosen->error();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  SSL_set_SSL_CTX(ssl, chosen->native());
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(chosen->native()), nullptr);
  self->ctx_ = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int TlsStream::on_alpn_select(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                              unsigned int inlen, void*) {
  auto* self = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (!self || !self->http_) return SSL_TLSEXT_ERR_NOACK;  // raw TLS: no application protocol to pick
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp, sizeof kAlpnHttp, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 7301 §3.2: no_application_protocol
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string TlsStream::failure(const char* what, int) {
  std::string reason;
  long verify = ssl_ ? SSL_get_verify_result(ssl_) : X509_V_OK;
  unsigned long e = ERR_peek_last_error();
  if (!sni_error_.empty()) {
    reason = sni_error_;
  } else if (verify != X509_V_OK && !established_) {
    reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (e) {
    const char* r = ERR_reason_error_string(e);
    reason = r ? r : "error " + std::to_string(ERR_GET_REASON(e));
  } else {
    reason = "connection closed by peer";
  }
  ERR_clear_error();
  return std::string(what) + ": " + reason;
}

void TlsStream::pump_out() {
  if (!wbio_) return;
  while (size_t pending = BIO_ctrl_pending(wbio_)) {
    char* p = sealed_.tail(pending);
    if (!p) return;  // out of memory: the records stay in the BIO for the next try
    int n = BIO_read(wbio_, p, static_cast<int>(pending));
    if (n <= 0) return;
    sealed_.commit(static_cast<size_t>(n));
  }
}

bool TlsStream::step_handshake(std::string& error) {
  if (!ssl_) {
    error = "TLS handshake failed: " + (ctx_ ? ctx_->error() : std::string("no certificate and key"));
    return false;
  }
  started_ = true;
  ERR_clear_error();
  int n = SSL_do_handshake(ssl_);
  pump_out();  // our next flight, or the alert that explains a failure
  if (n == 1) {
    established_ = true;
    return true;
  }
  int e = SSL_get_error(ssl_, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
  error = failure("TLS handshake failed", n);
  return false;
}

ReadResult TlsStream::read(Buffer& rx, size_t max) {
  ReadResult r;
  more_input_ = false;
  if (failed_) return r;
  char buf[kRecvChunk];
  bool kernel_empty = false;
  for (;;) {
    if (!established_) {
      std::string err;
      if (!step_handshake(err)) {
        failed_ = true;
        error_ = std::move(err);
        r.error = error_;
        return r;
      }
    }
    if (established_) {
      if (!reported_) {
        reported_ = true;
        r.handshake_done = true;
      }
      while (r.bytes < max) {
        char* p = rx.tail(kPlainChunk);
        if (!p) {
          r.oom = true;
          pump_out();
          return r;
        }
        ERR_clear_error();
        int n = SSL_read(ssl_, p, static_cast<int>(kPlainChunk));
        if (n > 0) {
          rx.commit(static_cast<size_t>(n));
          r.bytes += static_cast<size_t>(n);
          continue;
        }
        int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
        pump_out();
        if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify: the peer's orderly end
          r.eof = true;
          return r;
        }
        failed_ = true;  // a bad record, a fatal alert, or a refused renegotiation
        error_ = failure("TLS error", n);
        r.error = error_;
        return r;
      }
      pump_out();  // session tickets, key updates, alerts
      if (r.bytes >= max) {
        more_input_ = true;  // records still buffered: the loop reads again without waiting
        return r;
      }
    }
    if (kernel_empty) return r;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      received_any_ = true;
      BIO_write(rbio_, buf, static_cast<int>(n));
      if (static_cast<size_t>(n) < sizeof buf) kernel_empty = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return r;
    // EOF or reset. Mid-handshake it is a failure worth reporting, unless the peer never
    // said a word (a port probe: connect and close).
    if (!established_ && (client_ || received_any_)) {
      failed_ = true;
      error_ = "TLS handshake failed: connection closed by peer";
      r.error = error_;
      return r;
    }
    r.eof = true;
    return r;
  }
}

bool TlsStream::send_sealed(FlushResult& r) {
  while (!sealed_.empty()) {
    ssize_t n = ::send(fd_, sealed_.data(), sealed_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sealed_.consume(static_cast<size_t>(n));
      // Progress is application output: handshake flights and session tickets are not.
      size_t app = std::min(static_cast<size_t>(n), app_sealed_);
      app_sealed_ -= app;
      r.bytes += app;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      r.blocked = true;
      return false;
    }
    r.failed = true;  // peer gone
    sealed_.clear();
    app_sealed_ = 0;
    discard_output();
    return false;
  }
  sealed_.release();
  return true;
}

FlushResult TlsStream::flush() {
  FlushResult r;
  if (failed_) {
    send_sealed(r);  // the alert, if any
    r.failed = true;
    discard_output();
    return r;
  }
  if (!established_) {
    std::string err;
    if (!step_handshake(err)) {
      failed_ = true;
      error_ = std::move(err);
      r.error = error_;
      send_sealed(r);
      r.failed = true;
      discard_output();
      return r;
    }
    if (established_ && !reported_) {
      reported_ = true;
      r.handshake_done = true;
    }
  }
  for (;;) {
    if (!send_sealed(r)) return r;
    if (!established_ || session_closed_) return r;  // plaintext waits for the handshake
    if (closing_ && tx_.empty() && file_fd_ < 0) {
      shutdown_session();  // everything queued before close_session() is sealed: now close_notify
      continue;
    }
    if (tx_.empty() && file_fd_ >= 0) {
      if (file_remaining_ == 0) {
        ::close(file_fd_);
        file_fd_ = -1;
        r.file_finished = true;
        continue;
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>(file_remaining_, kFileChunk));
      char* p = tx_.tail(want);
      ssize_t n = p ? ::pread(file_fd_, p, want, static_cast<off_t>(file_offset_)) : -1;
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r.failed = true;  // the file shrank or failed: the response framing is broken
        discard_output();
        return r;
      }
      tx_.commit(static_cast<size_t>(n));
      file_offset_ += static_cast<uint64_t>(n);
      file_remaining_ -= static_cast<uint64_t>(n);
    }
    if (tx_.empty()) return r;
    if (sealed_.size() >= kSealedHighWater) return r;  // bounded ciphertext backlog
    ERR_clear_error();
    int n = SSL_write(ssl_, tx_.data(), static_cast<int>(std::min(tx_.size(), kSealBurst)));
    if (n > 0) {
      tx_.consume(static_cast<size_t>(n));
      size_t before = sealed_.size();
      pump_out();
      app_sealed_ += sealed_.size() - before;
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return r;
    failed_ = true;
    error_ = failure("TLS error", n);
    r.error = error_;
    r.failed = true;
    discard_output();
    return r;
  }
}

bool TlsStream::output_pending() const {
  return Transport::output_pending() || !sealed_.empty() || (client_ && !started_ && !failed_) ||
         (closing_ && !session_closed_ && established_ && !failed_);
}

bool TlsStream::input_pending() const { return more_input_ && !failed_; }

void TlsStream::close_session() {
  if (!ssl_ || session_closed_) return;
  closing_ = true;
  // Output queued before this call goes first; flush() sends close_notify after it.
  if (!established_ || failed_ || (tx_.empty() && file_fd_ < 0)) shutdown_session();
}

void TlsStream::shutdown_session() {
  session_closed_ = true;
  if (established_ && !failed_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify (RFC 8446 §6.1)
    ERR_clear_error();
    pump_out();
  }
}

void TlsStream::shutdown_write() {
  if (!session_closed_) shutdown_session();  // called once our output is all sent
  FlushResult ignored;
  send_sealed(ignored);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TlsStream::on_close() {
  if (fd_ < 0) return;
  FlushResult r;
  // Whole records only: after a partial send the rest of a record is still queued, and a
  // close_notify behind it would reach the peer as garbage. Unsent plaintext is dropped.
  if (!send_sealed(r)) return;
  if (!session_closed_) shutdown_session();
  send_sealed(r);
}

Info TlsStream::info() const {
  Info i;
  if (!ssl_ || !established_) return i;
  i.version = SSL_get_version(ssl_);
  i.version_code = SSL_version(ssl_);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl_)) {
    const char* std_name = SSL_CIPHER_standard_name(c);
    i.cipher = std_name ? std_name : SSL_CIPHER_get_name(c);
    i.cipher_code = SSL_CIPHER_get_protocol_id(c);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn) i.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  i.server_name = server_name_;
  if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
    i.peer_subject = subject_of(peer);
    i.peer_sans = sans_of(peer);
    i.peer_chain_pem.push_back(pem_of(peer));
    // A client's view of the chain starts with the peer certificate; a server's does not.
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_)) {
      for (int k = client_ ? 1 : 0; k < sk_X509_num(chain); k++) i.peer_chain_pem.push_back(pem_of(sk_X509_value(chain, k)));
    }
    i.peer_verified = ctx_ && ctx_->verifies_peer() && SSL_get_verify_result(ssl_) == X509_V_OK;
  }
  if (X509* mine = SSL_get_certificate(ssl_)) i.local_cert_pem = pem_of(mine);
  ERR_clear_error();
  return i;
}

}  // namespace mg::tls
