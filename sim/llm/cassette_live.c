/*
** cassette_live.c -- a simulated connection that is a real one: recording
** a scenario's exchanges from a real peer inside the sim (cassette.h).
**
** open_socket connects to the URL's numeric IPv4 host and port; wait polls
** the socket for at most a slice of real time and then lets as much virtual
** time pass as real time did, so the recorder's offsets (taken on the
** seam's clock) are the peer's real latencies and the client's deadlines
** fall when they would. Recording runs are not verification runs: the
** interleaving is the sim's, the timing the network's.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/seam.h"
#include "cassette_int.h"

#define SLICE_NS (10ull * 1000000ull)

struct as_cassette_live {
  as_http_net net;
};

static uint64_t real_ns(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* ignore: CLOCK_MONOTONIC is always there */
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int live_open(void *ctx, const as_http_request *req) {
  (void)ctx;
  const char *p = req && req->url ? strstr(req->url, "://") : NULL;
  char host[64];
  unsigned long port = 0;
  size_t hl = p ? strspn(p + 3, "0123456789.") : 0;
  char *end = NULL;
  if (hl && hl < sizeof host && p[3 + hl] == ':') {
    memcpy(host, p + 3, hl);
    host[hl] = '\0';
    port = strtoul(p + 4 + hl, &end, 10);
  }
  if (!end || end == p + 4 + hl || (*end && *end != '/') || port == 0 || port > 65535) {
    as_log(AS_LOG_ERROR, "cassette: a live connection needs http://IPV4:PORT/...");
    return -1;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    as_log(AS_LOG_ERROR, "cassette: connect %s:%lu: %s", host, port, strerror(errno));
    (void)close(fd); /* ignore: never used */
    return -1;
  }
  return fd;
}

static int live_wait(void *ctx, int fd, uint64_t deadline_ns) {
  (void)ctx;
  uint64_t now = as_now_mono_ns();
  if (now >= deadline_ns) return 1;
  uint64_t slice = deadline_ns - now < SLICE_NS ? deadline_ns - now : SLICE_NS;
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  uint64_t t0 = real_ns();
  int r = poll(&pf, 1, (int)((slice + 999999u) / 1000000u));
  as_sleep_until(as_now_mono_ns() + (real_ns() - t0));
  if (r < 0 && errno != EINTR) return -1;
  if (r > 0) return 0;
  return as_now_mono_ns() >= deadline_ns ? 1 : 0;
}

int as_cassette_live_new(as_cassette_live **out) {
  if (!out) return AS_INVAL;
  *out = as_calloc(1, sizeof **out);
  if (!*out) return AS_NOMEM;
  (*out)->net = (as_http_net){.ctx = *out, .open_socket = live_open, .wait = live_wait};
  return AS_OK;
}

const as_http_net *as_cassette_live_net(as_cassette_live *l) { return l ? &l->net : NULL; }

void as_cassette_live_free(as_cassette_live *l) { as_free(l); }
