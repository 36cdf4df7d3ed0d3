/* SPDX-License-Identifier: MIT
 *
 * ws_load: WebSocket echo load generator for the pymongoose benchmark harness.
 *
 *   ws_load HOST PORT CONNECTIONS DURATION_S MSG_SIZE [WARMUP_S]
 *
 * Opens CONNECTIONS WebSocket connections (RFC 6455 handshake, checked for a 101 and the
 * right Sec-WebSocket-Accept), then on every connection keeps exactly one masked text
 * message of MSG_SIZE bytes in flight: send, wait for the echo, check it byte for byte,
 * send the next. One thread, epoll, non-blocking sockets: the client costs a few hundred
 * nanoseconds per message, so a Python server is measured, not the client.
 *
 * Messages echoed during the first WARMUP_S seconds are not counted. Prints WS_COUNTING
 * (flushed) when the counted window starts, and at the end one line:
 *   WS_JSON {"connections":..,"messages":..,"duration_us":..,"errors":..,"bad_echo":..,
 *            "lat_mean_us":..,"lat_p50_us":..,"lat_p99_us":..,"lat_max_us":..}
 * Exit status 0 on success, 1 if any connection failed or an echo was wrong.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 65535
#define HIST_US 200000 /* 1 µs buckets up to 200 ms; slower ones go to the last bucket */

typedef struct {
  int fd;
  uint64_t sent_at_ns;
  size_t have; /* bytes of the current echo frame received */
  unsigned char *buf;
} conn_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- SHA-1 (FIPS 180-4), only for checking Sec-WebSocket-Accept ---- */
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t total = ((len + 8) / 64 + 1) * 64;
  unsigned char *m = calloc(total, 1);
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
             (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else f = b ^ c ^ d, k = 0xCA62C1D6;
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void b64(const unsigned char *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                 (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

static int handshake(int fd, const char *host, int port, char *err, size_t errlen) {
  static const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   host, port, key);
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    snprintf(err, errlen, "handshake send: %s", strerror(errno));
    return -1;
  }
  char resp[4096];
  size_t have = 0;
  while (have < sizeof resp - 1) {
    ssize_t r = recv(fd, resp + have, 1, 0); /* byte by byte: never read past the head */
    if (r <= 0) {
      snprintf(err, errlen, "handshake recv: %s", r == 0 ? "closed" : strerror(errno));
      return -1;
    }
    have += (size_t)r;
    resp[have] = 0;
    if (have >= 4 && memcmp(resp + have - 4, "\r\n\r\n", 4) == 0) break;
  }
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
    snprintf(err, errlen, "handshake: not a 101: %.60s", resp);
    return -1;
  }
  char cat[128];
  unsigned char digest[20];
  char expect[64];
  snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  sha1((const unsigned char *)cat, strlen(cat), digest);
  b64(digest, 20, expect);
  char *p = strcasestr(resp, "\r\nSec-WebSocket-Accept:");
  if (!p) {
    snprintf(err, errlen, "handshake: no Sec-WebSocket-Accept");
    return -1;
  }
  p += strlen("\r\nSec-WebSocket-Accept:");
  while (*p == ' ' || *p == '\t') p++;
  if (strncmp(p, expect, strlen(expect)) != 0) {
    snprintf(err, errlen, "handshake: wrong Sec-WebSocket-Accept");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT CONNECTIONS DURATION_S MSG_SIZE [WARMUP_S]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nconn = atoi(argv[3]);
  double duration = atof(argv[4]);
  int msg = atoi(argv[5]);
  double warmup = argc > 6 ? atof(argv[6]) : 0.0;
  if (nconn < 1 || duration <= 0 || msg < 0 || msg > MAX_MSG || port <= 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  /* The message (masked, as a client must) and the echo we expect (unmasked). */
  unsigned char payload[MAX_MSG];
  for (int i = 0; i < msg; i++) payload[i] = (unsigned char)('a' + i % 26);
  unsigned char frame[MAX_MSG + 8];
  size_t flen = 0;
  frame[flen++] = 0x81;
  if (msg < 126) {
    frame[flen++] = (unsigned char)(0x80 | msg);
  } else {
    frame[flen++] = 0x80 | 126;
    frame[flen++] = (unsigned char)(msg >> 8);
    frame[flen++] = (unsigned char)msg;
  }
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  memcpy(frame + flen, mask, 4);
  flen += 4;
  for (int i = 0; i < msg; i++) frame[flen + (size_t)i] = payload[i] ^ mask[i % 4];
  flen += (size_t)msg;
  unsigned char echo[MAX_MSG + 4];
  size_t elen = 0;
  echo[elen++] = 0x81;
  if (msg < 126) {
    echo[elen++] = (unsigned char)msg;
  } else {
    echo[elen++] = 126;
    echo[elen++] = (unsigned char)(msg >> 8);
    echo[elen++] = (unsigned char)msg;
  }
  memcpy(echo + elen, payload, (size_t)msg);
  elen += (size_t)msg;

  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "HOST must be an IPv4 address\n");
    return 2;
  }

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  uint32_t *hist = calloc(HIST_US + 1, sizeof *hist);
  long errors = 0, bad_echo = 0;
  char err[256] = "";
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      snprintf(err, sizeof err, "connect: %s", strerror(errno));
      close(fd);
      errors++;
      continue;
    }
    if (handshake(fd, host, port, err, sizeof err) != 0) {
      close(fd);
      errors++;
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conns[i].fd = fd;
    conns[i].buf = malloc(elen + 16);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  if (errors) {
    fprintf(stderr, "ws_load: %ld of %d connections failed (last: %s)\n", errors, nconn, err);
    printf("WS_JSON {\"connections\":%d,\"messages\":0,\"duration_us\":0,\"errors\":%ld,"
           "\"bad_echo\":0,\"last_error\":\"%s\"}\n", nconn, errors, err);
    return 1;
  }

  const uint64_t t_start = now_ns();
  const uint64_t t_count = t_start + (uint64_t)(warmup * 1e9);
  const uint64_t t_end = t_count + (uint64_t)(duration * 1e9);
  int live = nconn;
  for (int i = 0; i < nconn; i++) {
    conns[i].sent_at_ns = now_ns();
    if (send(conns[i].fd, frame, flen, MSG_NOSIGNAL) != (ssize_t)flen) {
      errors++;
      close(conns[i].fd);
      conns[i].fd = -1;
      live--;
    }
  }
  uint64_t messages = 0, lat_sum_ns = 0, lat_max_ns = 0;
  struct epoll_event evs[256];
  uint64_t now = now_ns();
  int counting = 0;
  while (live > 0 && now < t_end) {
    int n = epoll_wait(ep, evs, 256, 100);
    now = now_ns();
    if (!counting && now >= t_count) {
      counting = 1; /* tells the harness when to take its first CPU sample */
      printf("WS_COUNTING\n");
      fflush(stdout);
    }
    for (int k = 0; k < n; k++) {
      conn_t *c = &conns[evs[k].data.u32];
      if (c->fd < 0) continue;
      for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->have, elen - c->have, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) {
          snprintf(err, sizeof err, "recv: %s", r == 0 ? "server closed" : strerror(errno));
          errors++;
          close(c->fd);
          c->fd = -1;
          live--;
          break;
        }
        c->have += (size_t)r;
        if (c->have < elen) continue;
        /* one complete echo (exactly one message is in flight, so no extra bytes) */
        if (memcmp(c->buf, echo, elen) != 0) {
          bad_echo++;
          snprintf(err, sizeof err, "wrong echo");
          close(c->fd);
          c->fd = -1;
          live--;
          break;
        }
        c->have = 0;
        if (now >= t_count) {
          uint64_t lat = now - c->sent_at_ns;
          messages++;
          lat_sum_ns += lat;
          if (lat > lat_max_ns) lat_max_ns = lat;
          uint64_t us = lat / 1000;
          hist[us < HIST_US ? us : HIST_US]++;
        }
        c->sent_at_ns = now;
        if (send(c->fd, frame, flen, MSG_NOSIGNAL) != (ssize_t)flen) {
          snprintf(err, sizeof err, "send: %s", strerror(errno));
          errors++;
          close(c->fd);
          c->fd = -1;
          live--;
          break;
        }
      }
    }
  }
  uint64_t end = now_ns();
  if (end > t_end) end = t_end;
  double dur_us = end > t_count ? (double)(end - t_count) / 1000.0 : 0.0;
  uint64_t p50 = 0, p99 = 0, acc = 0;
  int have50 = 0;
  for (uint64_t us = 0; us <= HIST_US && messages; us++) {
    acc += hist[us];
    if (!have50 && acc * 2 >= messages) p50 = us, have50 = 1;
    if (acc * 100 >= messages * 99) {
      p99 = us;
      break;
    }
  }
  printf("WS_JSON {\"connections\":%d,\"messages\":%llu,\"duration_us\":%.0f,\"errors\":%ld,"
         "\"bad_echo\":%ld,\"lat_mean_us\":%.1f,\"lat_p50_us\":%llu,\"lat_p99_us\":%llu,"
         "\"lat_max_us\":%.1f,\"msgs_per_s\":%.1f,\"last_error\":\"%s\"}\n",
         nconn, (unsigned long long)messages, dur_us, errors, bad_echo,
         messages ? (double)lat_sum_ns / (double)messages / 1000.0 : 0.0,
         (unsigned long long)p50, (unsigned long long)p99, (double)lat_max_ns / 1000.0,
         dur_us > 0 ? (double)messages / (dur_us / 1e6) : 0.0, err);
  for (int i = 0; i < nconn; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  return errors || bad_echo ? 1 : 0;
}
