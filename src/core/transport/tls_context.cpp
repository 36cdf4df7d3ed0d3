// TLS contexts: PEM certificates and keys turned into OpenSSL contexts (spec §3.6, §8.7).
// All parsing is OpenSSL's; what is ours is the option handling around it (fuzzed by
// fuzz/fuzz_tls_config.cpp).
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "mg/tls.hpp"

namespace mg::tls {

namespace {

constexpr size_t kCacheSize = 16;
const unsigned char kSessionContext[] = "pymongoose";

// An encrypted key fails to load instead of prompting on the terminal.
int no_passphrase(char*, int, int, void*) { return -1; }

// OpenSSL's reason for the newest queued error (never key material), then a clean queue.
std::string reason_or(const char* fallback) {
  unsigned long e = ERR_peek_last_error();
  const char* r = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return r ? r : fallback;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate of a PEM bundle, in order. False if the text holds none or a block
// fails to parse.
bool read_certs(const std::string& pem, std::vector<X509*>& out) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return false;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) out.push_back(x);
  unsigned long e = ERR_peek_last_error();
  // The loop ends at the first block that is not a certificate; only "no more blocks" is fine.
  bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  return !out.empty() && (clean_end || e == 0);
}

void free_certs(std::vector<X509*>& certs) {
  for (X509* x : certs) X509_free(x);
  certs.clear();
}

// Certificate chain (leaf first) and private key; "" on success.
std::string use_cert_and_key(SSL_CTX* ctx, const Config& cfg) {
  std::vector<X509*> chain;
  if (!read_certs(cfg.cert, chain)) {
    free_certs(chain);
    return "invalid certificate (PEM expected)";
  }
  int ok = SSL_CTX_use_certificate(ctx, chain[0]);
  for (size_t i = 1; ok && i < chain.size(); i++) ok = SSL_CTX_add1_chain_cert(ctx, chain[i]);
  free_certs(chain);
  if (!ok) return "certificate rejected: " + reason_or("unknown reason");
  BioPtr bio = memory_bio(cfg.key);
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (!key) {
    ERR_clear_error();
    return "invalid private key (unencrypted PEM expected: EC, RSA or PKCS#8)";
  }
  ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  unsigned long e = ok ? 0 : ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
      (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
    ERR_clear_error();
    return "certificate and private key do not match";
  }
  if (!ok) return "private key rejected: " + reason_or("unknown reason");
  if (!SSL_CTX_check_private_key(ctx)) {
    ERR_clear_error();
    return "certificate and private key do not match";
  }
  return "";
}

// Trust anchors from a PEM bundle; servers also name them in CertificateRequest.
std::string use_ca(SSL_CTX* ctx, const Config& cfg, Role role) {
  std::vector<X509*> cas;
  if (!read_certs(cfg.ca, cas)) {
    free_certs(cas);
    return "invalid CA certificate (PEM expected)";
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (X509* x : cas) {
    X509_STORE_add_cert(store, x);
    if (role == Role::Server) SSL_CTX_add_client_CA(ctx, x);
  }
  ERR_clear_error();  // a duplicate certificate in the bundle is not an error
  free_certs(cas);
  return "";
}

std::string configure(SSL_CTX* ctx, Role role, const Config& cfg, bool& verify_peer) {
  // TLS 1.2 minimum (spec §8.7); renegotiation refused; a peer closing without
  // close_notify is an ordinary EOF (spec §5.6 R7: no ERROR), HTTP framing detects truncation.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                               (role == Role::Server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  // Idle sessions give their record buffers back; writes may come from a moving buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  const bool has_cert = !cfg.cert.empty() || !cfg.key.empty();
  if (role == Role::Server) {
    if (cfg.cert.empty() || cfg.key.empty()) return "no certificate and key";
    if (std::string e = use_cert_and_key(ctx, cfg); !e.empty()) return e;
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_tlsext_servername_callback(ctx, TlsStream::on_server_name);
    SSL_CTX_set_alpn_select_cb(ctx, TlsStream::on_alpn_select, nullptr);
    if (!cfg.ca.empty()) {
      // mTLS: clients must present a certificate chaining to `ca`.
      if (std::string e = use_ca(ctx, cfg, role); !e.empty()) return e;
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      verify_peer = true;
    }
    return "";
  }
  if (has_cert) {
    if (std::string e = use_cert_and_key(ctx, cfg); !e.empty()) return e;
  }
  if (cfg.skip_verification) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return "";
  }
  if (!cfg.ca.empty()) {
    if (std::string e = use_ca(ctx, cfg, role); !e.empty()) return e;
  } else if (!SSL_CTX_set_default_verify_paths(ctx)) {
    return "system trust store unavailable: " + reason_or("unknown reason");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  verify_peer = true;
  return "";
}

struct CacheEntry {
  std::string key;
  std::shared_ptr<Context> ctx;
};

std::mutex g_cache_mu;
std::vector<CacheEntry> g_cache;  // most recently used last

std::string cache_key(Role role, const Config& cfg) {
  std::string k;
  k.reserve(cfg.ca.size() + cfg.cert.size() + cfg.key.size() + 64);
  k += role == Role::Server ? 'S' : 'C';
  k += cfg.skip_verification ? '1' : '0';
  for (const std::string* part : {&cfg.ca, &cfg.cert, &cfg.key}) {
    k += std::to_string(part->size());
    k += ':';
    k += *part;
  }
  return k;
}

}  // namespace

Context::~Context() {
  if (ctx_) SSL_CTX_free(ctx_);
}

std::shared_ptr<Context> Context::build(Role role, const Config& cfg) {
  std::shared_ptr<Context> c(new Context(role));
  SSL_CTX* ctx = SSL_CTX_new(role == Role::Server ? TLS_server_method() : TLS_client_method());
  if (!ctx) {
    c->error_ = "cannot create TLS context: " + reason_or("out of memory");
    return c;
  }
  bool verify = false;
  std::string err = configure(ctx, role, cfg, verify);
  ERR_clear_error();
  if (!err.empty()) {
    SSL_CTX_free(ctx);
    c->error_ = std::move(err);
    return c;
  }
  c->ctx_ = ctx;
  c->verify_peer_ = verify;
  return c;
}

std::shared_ptr<Context> Context::get(Role role, const Config& cfg) {
  std::string key = cache_key(role, cfg);
  {
    std::lock_guard<std::mutex> g(g_cache_mu);
    for (size_t i = 0; i < g_cache.size(); i++) {
      if (g_cache[i].key != key) continue;
      CacheEntry hit = std::move(g_cache[i]);
      g_cache.erase(g_cache.begin() + static_cast<long>(i));
      g_cache.push_back(std::move(hit));
      return g_cache.back().ctx;
    }
  }
  std::shared_ptr<Context> built = build(role, cfg);  // outside the lock: parsing is slow
  std::lock_guard<std::mutex> g(g_cache_mu);
  if (g_cache.size() >= kCacheSize) g_cache.erase(g_cache.begin());
  g_cache.push_back({std::move(key), built});
  return built;
}

void Context::clear_cache() {
  std::lock_guard<std::mutex> g(g_cache_mu);
  g_cache.clear();
}

const std::shared_ptr<Context>& ServerCerts::pick(std::string_view name) const {
  if (!name.empty() && !by_name.empty()) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    auto it = by_name.find(lower);
    if (it != by_name.end()) return it->second;
  }
  return fallback;
}

bool is_ip_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace mg::tls
