/* LD_PRELOAD shim for wrk: every TLS connection does a full handshake.
 *
 * wrk reuses one SSL object per connection slot: on reconnect it calls SSL_shutdown() and
 * SSL_clear(), and SSL_clear() keeps the session of the previous connection, so the next
 * SSL_connect() offers its TLS 1.3 session ticket and every server that issued one (nginx,
 * uvicorn, granian and pymongoose all do by default) resumes it: no certificate, no
 * signature. The "new TLS handshakes per second" scenario of benchmarks/tls_bench.py wants
 * full handshakes from every server alike, so this shim drops the session right before
 * wrk's SSL_clear(). Nothing else changes.
 *
 * Built on first use by tls_bench.py into build/bench/wrk_noresume.so:
 *     cc -O2 -shared -fPIC -o build/bench/wrk_noresume.so benchmarks/wrk_noresume.c -ldl
 * and used as
 *     LD_PRELOAD=build/bench/wrk_noresume.so wrk -H "Connection: close" https://...
 * No OpenSSL headers are needed: both functions are looked up in the libssl wrk loaded.
 * tls_bench.py checks before measuring that wrk then resumes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

int SSL_clear(SSL *s) {
  static int (*real_clear)(SSL *);
  static int (*set_session)(SSL *, SSL_SESSION *);
  if (real_clear == NULL) {
    real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
  }
  if (set_session != NULL) set_session(s, NULL); /* frees the kept session: no ticket offered */
  return real_clear(s);
}
