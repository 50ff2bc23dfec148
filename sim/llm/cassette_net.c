/*
** cassette_net.c -- the replay: an http_client.h simulated connection fed
** from a cassette (cassette.h).
**
** open_socket finds the exchange (key, then the key's next occurrence) and
** hands the client one end of a nonblocking AF_UNIX socketpair; the replay
** keeps the other. wait drains what the client wrote (its HTTP request,
** read to its end and discarded), then writes the response's next piece at
** its recorded time, sleeping on the seam (virtual time in the sim), and
** returns 1 when the client's deadline comes first. The pieces: the head
** (status line, recorded headers but the framing ones, chunked framing,
** Connection: close), one HTTP chunk per recorded body chunk, then the
** ending (cassette.h). Nothing blocks: reads and writes are nonblocking,
** and a full socket buffer returns to the client, which reads.
**
** Connections are shared state (a seam mutex); each is used by the one
** task whose exchange it carries. A connection whose client end is closed
** is reclaimed at the next open_socket, the rest when the net is freed.
*/
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "cassette_int.h"

#define HEAD_MAX (16u * 1024u)       /* the request's head curl writes */
#define TOOBIG_LINE (AS_HTTP_HEADER_MAX + 64)

typedef struct conn {
  int mine, theirs; /* theirs: the client's end (the client closes it) */
  const as_cassette_exchange *x;
  uint64_t t0;
  /* the request */
  char head[HEAD_MAX];
  size_t hlen;
  bool head_done, req_done;
  uint64_t body_need, body_got;
  /* the response: piece 0 the head, 1..nchunks the chunks, then the end */
  size_t piece;
  bool prepared, none; /* the next piece is in seg (at: its time), or none is left */
  uint64_t at;
  bool writing;       /* seg holds the piece being written */
  const char *seg[3];
  size_t seglen[3], segi, segoff;
  char pre[32];
  char *headbuf;      /* piece 0 rendered (owned) */
} conn;

typedef struct taken {
  uint64_t task; /* 0: free */
  const as_cassette_exchange *x;
  char miss[AS_CASSETTE_ERR_MAX];
} taken;

struct as_cassette_net {
  as_http_net net;
  const as_cassette *c;
  as_mutex *mu;
  unsigned *used;   /* per exchange index: how many times its key was asked (first
                    ** occurrence's index only) */
  conn *conns[AS_CASSETTE_CONNS_MAX];
  taken taken[AS_CASSETTE_CONNS_MAX];
  size_t next_taken;
};

/* --- bookkeeping ------------------------------------------------------------------- */

static void conn_free(conn *k) {
  if (!k) return;
  if (k->mine >= 0) (void)close(k->mine); /* ignore: nothing to tell; the fd is gone */
  as_free(k->headbuf);
  as_free(k);
}

/* A connection the client has closed its end of. */
static bool conn_dead(const conn *k) {
  struct pollfd p = {.fd = k->mine, .events = POLLIN | POLLRDHUP};
  int r = poll(&p, 1, 0); /* no wait: only the state */
  return r > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

static taken *taken_slot(as_cassette_net *n, uint64_t task) {
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++)
    if (n->taken[i].task == task) return &n->taken[i];
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++)
    if (n->taken[i].task == 0) return &n->taken[i];
  /* More tasks than slots never asked: the oldest slot goes. */
  taken *t = &n->taken[n->next_taken];
  n->next_taken = (n->next_taken + 1) % AS_CASSETTE_CONNS_MAX;
  return t;
}

/* The index of key's first occurrence, or -1. */
static long first_of(const as_cassette *c, uint64_t key) {
  const as_cassette_exchange *x = as_cassette_find(c, key, 1);
  return x ? (long)(x - c->x) : -1;
}

static void miss_message(const as_cassette *c, char *buf, size_t cap, const char *path,
                         uint64_t key, unsigned occ, const char *body, size_t len) {
  char shown[AS_CASSETTE_MISS_BODY * 4 + 1];
  size_t k = 0;
  for (size_t i = 0; i < len && i < AS_CASSETTE_MISS_BODY; i++) {
    unsigned char ch = (unsigned char)body[i];
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') shown[k++] = (char)ch;
    else k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", ch); /* ignore: sized */
  }
  shown[k] = '\0';
  size_t n = as_appendf(buf, cap, 0, "the cassette has no exchange for POST %s (key %016" PRIx64
                        ", occurrence %u; body %zu bytes: \"%s%s\"); it has ",
                        path, key, occ, len, shown, len > AS_CASSETTE_MISS_BODY ? "..." : "");
  if (!c->n) n = as_appendf(buf, cap, n, "no exchange");
  for (size_t i = 0; i < c->n; i++) {
    if (c->x[i].occurrence != 1) continue;
    unsigned m = 1;
    while (i + m < c->n && c->x[i + m].key == c->x[i].key) m++;
    n = as_appendf(buf, cap, n, "%s%016" PRIx64 " x%u (%s)", i ? ", " : "", c->x[i].key, m,
                   c->x[i].path);
  }
  (void)n; /* ignore: as_appendf cuts at cap */
}

/* --- open_socket -------------------------------------------------------------------- */

static int open_socket(void *ctx, const as_http_request *req) {
  as_cassette_net *n = ctx;
  const as_cassette *c = n->c;
  const char *path = as_cassette_url_path(req->url); /* req: never NULL (http_client.h) */
  if (!path) return -1;
  uint64_t key = as_cassette_key(c->meta.kind, path, req->body, req->body ? req->body_len : 0);
  int fd = -1;
  uint64_t refused_after = 0; /* a recorded connect failure: when it came */
  as_mutex_lock(n->mu);
  long first = first_of(c, key);
  unsigned occ = first >= 0 ? ++n->used[first] : 1;
  const as_cassette_exchange *x = as_cassette_find(c, key, occ);
  taken *t = taken_slot(n, as_task_id());
  t->task = as_task_id();
  t->x = x;
  t->miss[0] = '\0';
  if (!x) {
    miss_message(c, t->miss, sizeof t->miss, path, key, occ, req->body ? req->body : "",
                 req->body ? req->body_len : 0);
    as_log(AS_LOG_ERROR, "cassette: %s", t->miss);
    goto out;
  }
  if (x->fail == AS_HTTP_FAIL_CONNECT) { /* recorded: no connection */
    refused_after = x->end_at_ns;
    goto out;
  }
  size_t slot = AS_CASSETTE_CONNS_MAX;
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++) {
    if (n->conns[i] && conn_dead(n->conns[i])) {
      conn_free(n->conns[i]);
      n->conns[i] = NULL;
    }
    if (!n->conns[i] && slot == AS_CASSETTE_CONNS_MAX) slot = i;
  }
  conn *k = slot < AS_CASSETTE_CONNS_MAX ? as_calloc(1, sizeof *k) : NULL;
  int sv[2];
  if (!k) {
    as_log(AS_LOG_ERROR, "cassette: %s", slot < AS_CASSETTE_CONNS_MAX
                                             ? "out of memory for a connection"
                                             : "more connections at once than AS_CASSETTE_CONNS_MAX");
    goto out;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    as_log(AS_LOG_ERROR, "cassette: socketpair: %s", strerror(errno));
    as_free(k);
    goto out;
  }
  /* (A connection listed under sv[0] had its client end closed: the sweep
  ** above found it dead and freed it, so the number is unique here.) */
  k->mine = sv[1];
  k->theirs = sv[0];
  k->x = x;
  k->t0 = as_now_mono_ns();
  n->conns[slot] = k;
  fd = sv[0];
out:
  as_mutex_unlock(n->mu);
  /* The refusal comes when it came (a refused port: microseconds; a name
  ** that did not resolve: maybe seconds), but not past the client's deadline.
  ** The mutex is not held: the wait is a scheduling point in the sim. */
  if (refused_after) {
    if (req->timeout_ns && req->timeout_ns < refused_after) refused_after = req->timeout_ns;
    as_sleep_until(as_now_mono_ns() + refused_after);
  }
  return fd;
}

/* --- wait --------------------------------------------------------------------------- */

/* The request's bytes: find the head's end and the body's length. */
static AS_WUR int take_request(conn *k, const char *b, size_t m) {
  size_t i = 0;
  while (!k->head_done && i < m) {
    if (k->hlen == HEAD_MAX) return AS_TOOBIG;
    k->head[k->hlen++] = b[i++];
    if (k->hlen >= 4 && memcmp(k->head + k->hlen - 4, "\r\n\r\n", 4) == 0) {
      k->head_done = true;
      k->head[k->hlen] = '\0';
      for (char *p = k->head; (p = strchr(p, '\n')) != NULL; p++)
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
          k->body_need = strtoull(p + 16, NULL, 10);
    }
  }
  k->body_got += m - i;
  if (k->head_done && k->body_got >= k->body_need) k->req_done = true;
  return AS_OK;
}

/* Read what the client wrote. AS_OK; AS_IO when it closed or broke. */
static AS_WUR int drain(conn *k) {
  char b[4096];
  for (;;) {
    ssize_t r = recv(k->mine, b, sizeof b, MSG_DONTWAIT);
    if (r > 0) {
      if (take_request(k, b, (size_t)r) != AS_OK) return AS_IO;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return AS_OK;
    return AS_IO;
  }
}

/* The reason phrase: curl reads only the status; these two for a human. */
static const char *reason(int status) {
  return status == 200 ? "OK" : status == 429 ? "Too Many Requests" : "Recorded";
}

static bool framing(const char *name) {
  return strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0 ||
         strcasecmp(name, "connection") == 0 || strcasecmp(name, "keep-alive") == 0;
}

static bool bodyless(int status) { return status == 204 || status == 304; }

/* The head: status line, recorded headers, framing. AS_NOMEM. */
static AS_WUR int render_head(conn *k) {
  const as_cassette_exchange *x = k->x;
  size_t cap = 128 + x->nheaders * (AS_HTTP_HEADER_MAX + 4);
  k->headbuf = as_malloc(cap);
  if (!k->headbuf) return AS_NOMEM;
  size_t n = as_appendf(k->headbuf, cap, 0, "HTTP/1.1 %d %s\r\n", x->status, reason(x->status));
  for (size_t i = 0; i < x->nheaders; i++)
    if (!framing(x->headers[i].name))
      n = as_appendf(k->headbuf, cap, n, "%s: %s\r\n", x->headers[i].name, x->headers[i].value);
  n = as_appendf(k->headbuf, cap, n, "%sConnection: close\r\n\r\n",
                 bodyless(x->status) ? "" : "Transfer-Encoding: chunked\r\n");
  k->seg[0] = k->headbuf;
  k->seglen[0] = n;
  return AS_OK;
}

/* Whether a recorded ending shuts the write side after its last piece
** (else the connection is held, silent, until the client's deadline). */
static bool ending_shuts(const as_cassette_exchange *x) {
  return x->fail != AS_HTTP_FAIL_TIMEOUT && x->fail != AS_HTTP_FAIL_ABORTED;
}

/* The ending's last piece into the segments; false when it sends none. */
static AS_WUR int ending(conn *k, bool *some) {
  const as_cassette_exchange *x = k->x;
  const char *e = NULL;
  *some = false;
  switch (x->fail) {
  case AS_HTTP_FAIL_NONE: e = bodyless(x->status) ? NULL : "0\r\n\r\n"; break;
  case AS_HTTP_FAIL_PROTOCOL: e = x->status ? "zz\r\n" : "NOT HTTP\r\n\r\n"; break;
  case AS_HTTP_FAIL_TOOBIG:
    if (x->status) break; /* the head came whole: cut, as a truncation */
    k->headbuf = as_malloc(TOOBIG_LINE + 64);
    if (!k->headbuf) return AS_NOMEM;
    size_t n = (size_t)snprintf(k->headbuf, 64, "HTTP/1.1 200 OK\r\nX-Replay: ");
    memset(k->headbuf + n, 'a', TOOBIG_LINE);
    memcpy(k->headbuf + n + TOOBIG_LINE, "\r\n\r\n", 5);
    e = k->headbuf;
    break;
  default: break; /* truncated, timeout, aborted: nothing more */
  }
  if (e) {
    k->seg[0] = e;
    k->seglen[0] = strlen(e);
    *some = true;
  }
  return AS_OK;
}

/* Set up the next piece in the segments (*at its time); *none when the
** recording has no piece left (*at then the time its end comes: an ok
** ending's with its last piece, any other's at the recorded end). AS_NOMEM. */
static AS_WUR int next_piece(conn *k, uint64_t *at, bool *none) {
  const as_cassette_exchange *x = k->x;
  size_t np = x->nchunks;
  *none = false;
  k->segi = k->segoff = 0;
  k->seglen[0] = k->seglen[1] = k->seglen[2] = 0;
  uint64_t last = np ? x->chunks[np - 1].at_ns : x->status_at_ns;
  while (k->piece <= np + 1) {
    size_t p = k->piece++;
    if (p == 0) {
      if (!x->status) continue;
      *at = x->status_at_ns;
      return render_head(k);
    }
    if (p <= np) {
      const as_cassette_chunk *c = &x->chunks[p - 1];
      if (bodyless(x->status)) continue;
      *at = c->at_ns;
      k->seglen[0] = (size_t)snprintf(k->pre, sizeof k->pre, "%zx\r\n", c->len);
      k->seg[0] = k->pre;
      k->seg[1] = c->data;
      k->seglen[1] = c->len;
      k->seg[2] = "\r\n";
      k->seglen[2] = 2;
      return AS_OK;
    }
    as_free(k->headbuf); /* the head went out long ago */
    k->headbuf = NULL;
    bool some;
    int rc = ending(k, &some);
    *at = x->fail == AS_HTTP_FAIL_NONE ? last : x->end_at_ns;
    if (rc != AS_OK || some) return rc;
  }
  *none = true;
  return AS_OK;
}

/* Write what fits of the current piece. AS_OK (k->writing false once it is
** all out); AS_IO when the client's end is gone. */
static AS_WUR int push(conn *k) {
  while (k->segi < 3) {
    size_t left = k->seglen[k->segi] - k->segoff;
    if (!left) {
      k->segi++;
      k->segoff = 0;
      continue;
    }
    ssize_t w = send(k->mine, k->seg[k->segi] + k->segoff, left, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return AS_OK; /* the client reads */
    if (w <= 0) return AS_IO;
    k->segoff += (size_t)w;
  }
  k->writing = false;
  return AS_OK;
}

/* Whether the client's end has something to read (bytes or the end). */
static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}

/* Hold the connection: nothing comes before the deadline. */
static int hold(uint64_t deadline_ns) {
  if (deadline_ns == AS_DEADLINE_NEVER) return -1; /* it would never end: broken */
  as_sleep_until(deadline_ns);
  return 1;
}

static int wait_fd(void *ctx, int fd, uint64_t deadline_ns) {
  as_cassette_net *n = ctx;
  conn *k = NULL;
  as_mutex_lock(n->mu);
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX && !k; i++)
    if (n->conns[i] && n->conns[i]->theirs == fd) k = n->conns[i];
  as_mutex_unlock(n->mu);
  if (!k || drain(k) != AS_OK) return -1;
  if (!k->req_done) return 0; /* the client has more of its request to write */
  if (readable(k->theirs)) return 0; /* the client has bytes (or the end) to read */
  if (!k->writing) {
    /* (Once shut, the client's end always reads the end: readable above.) */
    if (!k->prepared) {
      if (next_piece(k, &k->at, &k->none) != AS_OK) return -1;
      k->prepared = true;
    }
    if (k->none && !ending_shuts(k->x)) return hold(deadline_ns);
    /* A piece, or the shut that ends a truncation: each at its recorded
    ** time (a truncation shut at once would end before the peer's close). */
    uint64_t when = k->t0 + k->at;
    if (when > deadline_ns) return hold(deadline_ns); /* it stays for a later wait */
    as_sleep_until(when);
    if (k->none) return shutdown(k->mine, SHUT_WR) == 0 ? 0 : -1;
    k->writing = true;
    k->prepared = false;
  }
  return push(k) == AS_OK ? 0 : -1;
}

/* --- the net ------------------------------------------------------------------------- */

int as_cassette_net_new(as_cassette_net **out, const as_cassette *c) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!c) return AS_INVAL;
  as_cassette_net *n = as_calloc(1, sizeof *n);
  if (!n) return AS_NOMEM;
  n->c = c;
  n->used = as_calloc(c->n ? c->n : 1, sizeof *n->used);
  int rc = n->used ? as_mutex_new(&n->mu) : AS_NOMEM;
  if (rc != AS_OK) {
    as_cassette_net_free(n);
    return rc;
  }
  n->net = (as_http_net){.ctx = n, .open_socket = open_socket, .wait = wait_fd};
  *out = n;
  return AS_OK;
}

const as_http_net *as_cassette_net_get(as_cassette_net *n) { return n ? &n->net : NULL; }

int as_cassette_net_taken(as_cassette_net *n, const as_cassette_exchange **x, char *msg,
                          size_t cap) {
  if (msg && cap) msg[0] = '\0';
  if (!x) return AS_INVAL;
  *x = NULL;
  if (!n) return AS_INVAL;
  uint64_t task = as_task_id();
  int rc = AS_NOTFOUND;
  as_mutex_lock(n->mu);
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++) {
    taken *t = &n->taken[i];
    if (t->task != task) continue;
    *x = t->x;
    if (t->x) rc = AS_OK;
    else if (msg && cap) snprintf(msg, cap, "%s", t->miss);
    memset(t, 0, sizeof *t);
    break;
  }
  as_mutex_unlock(n->mu);
  return rc;
}

void as_cassette_net_free(as_cassette_net *n) {
  if (!n) return;
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++) conn_free(n->conns[i]);
  as_mutex_free(n->mu);
  as_free(n->used);
  as_free(n);
}
