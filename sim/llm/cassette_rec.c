/*
** cassette_rec.c -- the recorder: an http_client.h tap that writes one
** exchange file per exchange (cassette.h).
**
** The tap's calls carry no exchange handle; an exchange runs on one task
** (thread or sim task), so the recorder keeps one slot per task in flight
** (as_task_id), under a seam mutex. The occurrence of a key is given when
** the exchange ends, in the order the ends come, so the files of a key
** have no gap whatever the interleaving. A file is written whole or not
** at all (cas_write_atomic). Secret headers are never copied in.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agentsim/seam.h"
#include "cassette_int.h"

typedef struct rec_slot {
  uint64_t task; /* 0: free */
  bool failed;   /* a cap passed: the exchange is not written */
  size_t capchunks, total;
  as_cassette_exchange x;
} rec_slot;

typedef struct key_count {
  uint64_t key;
  unsigned n;
} key_count;

struct as_cassette_recorder {
  as_http_tap tap;
  char dir[AS_CASSETTE_PATH_MAX];
  as_cassette_meta meta;
  as_mutex *mu;
  rec_slot *slots; /* AS_CASSETTE_CONNS_MAX */
  key_count *counts;
  size_t ncounts, capcounts;
  size_t written;
  char error[AS_CASSETTE_ERR_MAX];
};

static void note(as_cassette_recorder *r, const char *what) {
  if (!r->error[0]) snprintf(r->error, sizeof r->error, "%s", what);
}

static rec_slot *slot_of(as_cassette_recorder *r, uint64_t task) {
  for (size_t i = 0; i < AS_CASSETTE_CONNS_MAX; i++)
    if (r->slots[i].task == task) return &r->slots[i];
  return NULL;
}

static void slot_clear(rec_slot *s) {
  cas_exchange_clear(&s->x);
  memset(s, 0, sizeof *s);
}

static AS_WUR int dup_n(const char *s, size_t n, char **out) {
  *out = as_malloc(n + 1);
  if (!*out) return AS_NOMEM;
  if (n) memcpy(*out, s, n);
  (*out)[n] = '\0';
  return AS_OK;
}

/* hdrs without the secret ones, copied into *out. */
static AS_WUR int copy_headers(const as_http_header *hdrs, size_t n, as_cassette_header **out,
                               size_t *nout) {
  *out = NULL;
  *nout = 0;
  if (!n) return AS_OK;
  if (n > AS_HTTP_HEADERS_MAX) n = AS_HTTP_HEADERS_MAX; /* as the client keeps them */
  as_cassette_header *h = as_calloc(n, sizeof *h);
  if (!h) return AS_NOMEM;
  *out = h;
  int rc = AS_OK;
  for (size_t i = 0; i < n && rc == AS_OK; i++) {
    if (!hdrs[i].name || !hdrs[i].value || as_cassette_header_secret(hdrs[i].name)) continue;
    as_cassette_header *d = &h[(*nout)++];
    rc = dup_n(hdrs[i].name, strlen(hdrs[i].name), &d->name);
    if (rc == AS_OK) rc = dup_n(hdrs[i].value, strlen(hdrs[i].value), &d->value);
  }
  return rc;
}

static AS_WUR int on_request(void *ctx, const as_http_request *req) {
  as_cassette_recorder *r = ctx;
  uint64_t task = as_task_id();
  int rc = AS_OK;
  as_mutex_lock(r->mu);
  rec_slot *s = slot_of(r, task);
  if (s) slot_clear(s); /* its last exchange never ended (the client refused it) */
  else s = slot_of(r, 0);
  const char *path = as_cassette_url_path(req->url); /* req: never NULL (http_client.h) */
  if (!s) {
    note(r, "more than AS_CASSETTE_CONNS_MAX exchanges at once");
    rc = AS_TOOBIG;
  } else if (!path || req->body_len > AS_CASSETTE_BODY_MAX) {
    note(r, path ? "a request body past AS_CASSETTE_BODY_MAX" : "a request without an absolute URL");
    rc = AS_INVAL;
  }
  if (rc == AS_OK) {
    s->task = task;
    as_cassette_exchange *x = &s->x;
    snprintf(x->method, sizeof x->method, "%s", req->body ? "POST" : "GET");
    rc = dup_n(path, strlen(path), &x->path);
    if (rc == AS_OK) rc = copy_headers(req->headers, req->nheaders, &x->req_headers, &x->nreq_headers);
    if (rc == AS_OK) rc = dup_n(req->body ? req->body : "", req->body_len, &x->body);
    x->body_len = req->body_len;
    if (rc == AS_OK) x->key = as_cassette_key(r->meta.kind, x->path, x->body, x->body_len);
    else slot_clear(s);
  }
  as_mutex_unlock(r->mu);
  return rc;
}

static AS_WUR int on_status(void *ctx, int status, const as_http_header *hdrs, size_t n, uint64_t at_ns) {
  as_cassette_recorder *r = ctx;
  int rc = AS_OK;
  as_mutex_lock(r->mu);
  rec_slot *s = slot_of(r, as_task_id());
  if (!s) {
    rc = AS_INTERNAL; /* a status without its request: the client broke the tap's order */
  } else if (status < 200 || status > 599 || at_ns > AS_CASSETTE_AT_MAX) {
    s->failed = true;
    rc = AS_INVAL;
  } else {
    s->x.status = status;
    s->x.status_at_ns = at_ns;
    rc = copy_headers(hdrs, n, &s->x.headers, &s->x.nheaders);
    if (rc != AS_OK) s->failed = true;
  }
  as_mutex_unlock(r->mu);
  return rc;
}

static AS_WUR int on_data(void *ctx, const char *data, size_t n, uint64_t at_ns) {
  as_cassette_recorder *r = ctx;
  int rc = AS_OK;
  as_mutex_lock(r->mu);
  rec_slot *s = slot_of(r, as_task_id());
  as_cassette_exchange *x = s ? &s->x : NULL;
  if (!s) {
    rc = AS_INTERNAL;
  } else if (n == 0) {
    rc = AS_OK;
  } else if (x->nchunks == AS_CASSETTE_CHUNKS_MAX || n > AS_CASSETTE_BODY_MAX - s->total ||
             at_ns > AS_CASSETTE_AT_MAX) {
    s->failed = true;
    note(r, "a response past AS_CASSETTE_CHUNKS_MAX chunks, AS_CASSETTE_BODY_MAX bytes or an hour");
    rc = AS_TOOBIG;
  } else {
    if (x->nchunks == s->capchunks) {
      size_t cap = s->capchunks ? s->capchunks * 2 : 16;
      as_cassette_chunk *nc = as_realloc(x->chunks, cap * sizeof *nc);
      if (!nc) rc = AS_NOMEM;
      else x->chunks = nc, s->capchunks = cap;
    }
    if (rc == AS_OK) {
      as_cassette_chunk *c = &x->chunks[x->nchunks];
      c->at_ns = at_ns;
      c->len = n;
      rc = dup_n(data, n, &c->data);
      if (rc == AS_OK) x->nchunks++, s->total += n;
    }
    if (rc != AS_OK) s->failed = true;
  }
  as_mutex_unlock(r->mu);
  return rc;
}

/* The next occurrence of key; AS_NOMEM or AS_TOOBIG. */
static AS_WUR int next_occurrence(as_cassette_recorder *r, uint64_t key, unsigned *occ) {
  for (size_t i = 0; i < r->ncounts; i++)
    if (r->counts[i].key == key) {
      if (r->counts[i].n == AS_CASSETTE_OCCURRENCE_MAX) return AS_TOOBIG;
      *occ = ++r->counts[i].n;
      return AS_OK;
    }
  if (r->ncounts == AS_CASSETTE_EXCHANGES_MAX) return AS_TOOBIG;
  if (r->ncounts == r->capcounts) {
    size_t cap = r->capcounts ? r->capcounts * 2 : 16;
    key_count *nc = as_realloc(r->counts, cap * sizeof *nc);
    if (!nc) return AS_NOMEM;
    r->counts = nc;
    r->capcounts = cap;
  }
  r->counts[r->ncounts++] = (key_count){key, 1};
  *occ = 1;
  return AS_OK;
}

static AS_WUR int on_end(void *ctx, const as_http_result *res) {
  as_cassette_recorder *r = ctx;
  int rc = AS_OK;
  as_mutex_lock(r->mu);
  rec_slot *s = slot_of(r, as_task_id());
  if (!s || !res) {
    rc = AS_INTERNAL;
  } else if (s->failed) {
    rc = AS_IO; /* the tap failed it already: nothing half-recorded is written */
  } else {
    as_cassette_exchange *x = &s->x;
    x->fail = res->fail;
    uint64_t last = x->nchunks ? x->chunks[x->nchunks - 1].at_ns : x->status_at_ns;
    x->end_at_ns = res->elapsed_ns > last ? res->elapsed_ns : last;
    snprintf(x->message, sizeof x->message, "%s", res->message);
    /* A status seen means no connect failure, whatever the client says. */
    if (x->fail == AS_HTTP_FAIL_CONNECT && x->status) x->fail = AS_HTTP_FAIL_TRUNCATED;
    if (x->fail == AS_HTTP_FAIL_NONE && !x->status) x->fail = AS_HTTP_FAIL_PROTOCOL;
    rc = next_occurrence(r, x->key, &x->occurrence);
    char err[AS_CASSETTE_ERR_MAX];
    err[0] = '\0';
    if (rc == AS_OK) rc = as_cassette_write_exchange(r->dir, x, err, sizeof err);
    if (rc == AS_OK) r->written++;
    else if (rc == AS_TOOBIG) note(r, "more exchanges of one key, or more keys, than the caps");
    else note(r, err[0] ? err : "out of memory");
  }
  if (s) slot_clear(s);
  as_mutex_unlock(r->mu);
  return rc;
}

int as_cassette_recorder_new(as_cassette_recorder **out, const char *dir,
                             const as_cassette_meta *m, char *err, size_t cap) {
  char scratch[8];
  if (!err || !cap) err = scratch, cap = sizeof scratch;
  err[0] = '\0';
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!dir || !m || strlen(dir) >= AS_CASSETTE_PATH_MAX - 64) {
    snprintf(err, cap, "a recorder needs a directory (shorter than %d bytes) and a meta",
                   AS_CASSETTE_PATH_MAX - 64);
    return AS_INVAL;
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    snprintf(err, cap, "%s: cannot make the directory: %s", dir, strerror(errno));
    return AS_IO;
  }
  char meta[AS_CASSETTE_PATH_MAX + 32];
  struct stat st;
  snprintf(meta, sizeof meta, "%s/%s", dir, AS_CASSETTE_META);
  if (stat(meta, &st) == 0) {
    snprintf(err, cap, "%s: already holds a cassette (record into a new directory)", dir);
    return AS_EXISTS;
  }
  as_cassette_recorder *r = as_calloc(1, sizeof *r);
  if (!r) return AS_NOMEM;
  int rc = as_mutex_new(&r->mu);
  if (rc == AS_OK) {
    r->slots = as_calloc(AS_CASSETTE_CONNS_MAX, sizeof *r->slots);
    if (!r->slots) rc = AS_NOMEM;
  }
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  r->meta = *m;
  r->meta.format = AS_CASSETTE_FORMAT;
  if (rc == AS_OK) rc = as_cassette_write_meta(dir, &r->meta, err, cap);
  if (rc == AS_INVAL) snprintf(err, cap, "a meta without a model, base URL or kind");
  if (rc != AS_OK) {
    as_cassette_recorder_free(r);
    return rc;
  }
  r->tap = (as_http_tap){.ctx = r, .on_request = on_request, .on_status = on_status,
                         .on_data = on_data, .on_end = on_end};
  *out = r;
  return AS_OK;
}

const as_http_tap *as_cassette_recorder_tap(as_cassette_recorder *r) { return r ? &r->tap : NULL; }

size_t as_cassette_recorder_count(as_cassette_recorder *r) {
  if (!r) return 0;
  as_mutex_lock(r->mu);
  size_t n = r->written;
  as_mutex_unlock(r->mu);
  return n;
}

const char *as_cassette_recorder_error(as_cassette_recorder *r) { return r ? r->error : ""; }

void as_cassette_recorder_free(as_cassette_recorder *r) {
  if (!r) return;
  for (size_t i = 0; r->slots && i < AS_CASSETTE_CONNS_MAX; i++) slot_clear(&r->slots[i]);
  as_free(r->slots);
  as_free(r->counts);
  as_mutex_free(r->mu);
  as_free(r);
}
