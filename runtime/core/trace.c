/*
** trace.c -- span records, the bounded span queue and the sim's span sink
** (trace.h).
**
** A tracer's emit must never block a turn nor fail it, so every path here
** ends in "kept" or "dropped and counted", never in a status the runtime
** would have to handle. Locks, time and memory come from the seam only.
*/
#include <string.h>

#include "agentsim/seam.h"
#include "agentsim/trace.h"
#include "trace_internal.h"

/* --- attributes ------------------------------------------------------------ */

static const as_span_attr *find_attr(const as_span *sp, const char *key) {
  if (!sp || !key) return NULL;
  size_t n = sp->nattrs < AS_SPAN_ATTRS_MAX ? sp->nattrs : AS_SPAN_ATTRS_MAX;
  for (size_t i = 0; i < n; i++)
    if (sp->attrs[i].key && strcmp(sp->attrs[i].key, key) == 0) return &sp->attrs[i];
  return NULL;
}

bool as_span_int(const as_span *sp, const char *key, int64_t *out) {
  const as_span_attr *a = find_attr(sp, key);
  if (!a || a->s) return false;
  if (out) *out = a->i;
  return true;
}

const char *as_span_str(const as_span *sp, const char *key) {
  const as_span_attr *a = find_attr(sp, key);
  return a ? a->s : NULL;
}

/* --- UTF-8 ------------------------------------------------------------------ */

/* Length (1..4) of the valid UTF-8 sequence at s[i..n), or 0. */
static size_t utf8_at(const unsigned char *s, size_t n, size_t i) {
  unsigned char b = s[i];
  if (b < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
  if (b < 0xC2) return 0;
  if (b < 0xE0) {
    len = 2;
  } else if (b < 0xF0) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;      /* overlong */
    if (b == 0xED) hi = 0x9F;      /* surrogates */
  } else if (b < 0xF5) {
    len = 4;
    if (b == 0xF0) lo = 0x90;      /* overlong */
    if (b == 0xF4) hi = 0x8F;      /* past U+10FFFF */
  } else {
    return 0;
  }
  if (n - i < len) return 0;
  if (s[i + 1] < lo || s[i + 1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((s[i + k] & 0xC0) != 0x80) return 0;
  return len;
}

bool as__utf8_valid(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_at(u, n, i);
    if (k == 0 || (k == 1 && u[i] == 0)) return false;
    i += k;
  }
  return true;
}

/* Copy the first n bytes of src into dst (room for n + 1), '?' for each
** byte that starts no valid sequence; when cut (src goes on past n), a
** sequence the cut splits is left out. Returns the bytes written. */
static size_t put_text(char *dst, const char *src, size_t n, bool cut) {
  const unsigned char *u = (const unsigned char *)src;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_at(u, n, i);
    if (k == 0 && cut && u[i] >= 0xC2 && u[i] < 0xF5 && n - i < 4) {
      /* Maybe a character the cap split (the rest lies past n): leave it
      ** out rather than turn its bytes into '?'. */
      bool tail_ok = true;
      for (size_t j = i + 1; j < n; j++)
        if ((u[j] & 0xC0) != 0x80) tail_ok = false;
      if (tail_ok) break;
    }
    if (k == 0) {
      dst[o++] = '?';
      i++;
      continue;
    }
    memcpy(dst + o, src + i, k);
    o += k;
    i += k;
  }
  dst[o] = '\0';
  return o;
}

/* The bytes of s a record keeps (at most cap), and whether that cuts it. */
static size_t kept_len(const char *s, size_t cap, bool *cut) {
  size_t n = strnlen(s, cap + 1);
  *cut = n > cap;
  return *cut ? cap : n;
}

/* --- records ------------------------------------------------------------------ */

void as_span_rec_free(as_span_rec *r) {
  if (!r) return;
  as_free(r->text);
  memset(r, 0, sizeof *r);
}

int as_span_rec_copy(as_span_rec *out, const as_span *sp) {
  if (!out) return AS_INVAL;
  memset(out, 0, sizeof *out);
  if (!sp || sp->nattrs > AS_SPAN_ATTRS_MAX) return AS_INVAL;
  size_t total = 0;
  bool cut;
  if (sp->message) total += kept_len(sp->message, AS_SPAN_MESSAGE_MAX, &cut) + 1;
  for (size_t i = 0; i < sp->nattrs; i++) {
    const as_span_attr *a = &sp->attrs[i];
    if (!a->key || !a->key[0]) return AS_INVAL;
    total += kept_len(a->key, AS_SPAN_KEY_MAX, &cut) + 1;
    if (a->s) total += kept_len(a->s, AS_SPAN_VALUE_MAX, &cut) + 1;
  }
  char *text = NULL;
  if (total > 0) {
    text = as_malloc(total);
    if (!text) return AS_NOMEM;
  }
  as_span *d = &out->span;
  *d = *sp;
  size_t nl = strnlen(sp->name, AS_SPAN_NAME_MAX - 1);
  put_text(d->name, sp->name, nl, nl == AS_SPAN_NAME_MAX - 1 && sp->name[nl] != '\0');
  memset(d->name + strlen(d->name), 0, AS_SPAN_NAME_MAX - strlen(d->name));
  char *p = text;
  if (sp->message) {
    size_t n = kept_len(sp->message, AS_SPAN_MESSAGE_MAX, &cut);
    d->message = p;
    p += put_text(p, sp->message, n, cut) + 1;
  }
  for (size_t i = 0; i < sp->nattrs; i++) {
    const as_span_attr *a = &sp->attrs[i];
    size_t n = kept_len(a->key, AS_SPAN_KEY_MAX, &cut);
    d->attrs[i].key = p;
    p += put_text(p, a->key, n, cut) + 1;
    if (a->s) {
      n = kept_len(a->s, AS_SPAN_VALUE_MAX, &cut);
      d->attrs[i].s = p;
      p += put_text(p, a->s, n, cut) + 1;
      d->attrs[i].i = 0;
    }
  }
  for (size_t i = sp->nattrs; i < AS_SPAN_ATTRS_MAX; i++) d->attrs[i] = (as_span_attr){0};
  out->text = text;
  return AS_OK;
}

/* --- the bounded queue ---------------------------------------------------------- */

struct as_span_queue {
  as_mutex *mu;
  as_cond *cv;
  as_span_rec *ring; /* cap slots; [head, head + len) mod cap are full */
  size_t cap, head, len;
  bool closed;
  size_t waiters, wake_min; /* the smallest min some waiter wants */
  uint64_t accepted, dropped_full, dropped_copy;
};

int as_span_queue_new(as_span_queue **out, size_t capacity) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (capacity == 0 || capacity > AS_SPAN_QUEUE_MAX) return AS_INVAL;
  int rc = AS_NOMEM;
  as_span_queue *q = as_calloc(1, sizeof *q);
  if (!q) goto fail;
  q->ring = as_calloc(capacity, sizeof *q->ring);
  if (!q->ring) goto fail;
  q->cap = capacity;
  rc = as_mutex_new(&q->mu);
  if (rc != AS_OK) goto fail;
  rc = as_cond_new(&q->cv);
  if (rc != AS_OK) goto fail;
  *out = q;
  return AS_OK;
fail:
  as_span_queue_free(q);
  return rc;
}

void as_span_queue_free(as_span_queue *q) {
  if (!q) return;
  if (q->ring)
    for (size_t i = 0; i < q->len; i++) as_span_rec_free(&q->ring[(q->head + i) % q->cap]);
  as_free(q->ring);
  as_cond_free(q->cv);
  as_mutex_free(q->mu);
  as_free(q);
}

void as_span_queue_push(as_span_queue *q, const as_span *sp) {
  if (!q) return;
  as_span_rec r;
  /* The copy is made outside the lock: pushers contend only for the slot. */
  int rc = as_span_rec_copy(&r, sp);
  as_mutex_lock(q->mu);
  if (rc != AS_OK) {
    q->dropped_copy++;
  } else if (q->closed || q->len == q->cap) {
    q->dropped_full++;
  } else {
    q->ring[(q->head + q->len) % q->cap] = r;
    q->len++;
    q->accepted++;
    r = (as_span_rec){0}; /* the queue's now */
    if (q->waiters && q->len >= q->wake_min) as_cond_broadcast(q->cv);
  }
  as_mutex_unlock(q->mu);
  as_span_rec_free(&r);
}

void as_span_queue_pop(as_span_queue *q, as_span_rec *out, size_t max, size_t *n) {
  size_t k = 0;
  if (q && out) {
    as_mutex_lock(q->mu);
    while (k < max && q->len > 0) {
      out[k++] = q->ring[q->head];
      q->ring[q->head] = (as_span_rec){0};
      q->head = (q->head + 1) % q->cap;
      q->len--;
    }
    as_mutex_unlock(q->mu);
  }
  if (n) *n = k;
}

bool as_span_queue_wait(as_span_queue *q, size_t min, uint64_t deadline_ns) {
  if (!q) return false;
  if (min > q->cap) min = q->cap;
  as_mutex_lock(q->mu);
  if (q->waiters == 0 || min < q->wake_min) q->wake_min = min;
  q->waiters++;
  while (q->len < min && !q->closed) {
    if (as_cond_timedwait(q->cv, q->mu, deadline_ns) == AS_TIMEDOUT) break;
  }
  bool ready = q->len >= min || q->closed;
  q->waiters--;
  as_mutex_unlock(q->mu);
  return ready;
}

void as_span_queue_close(as_span_queue *q) {
  if (!q) return;
  as_mutex_lock(q->mu);
  q->closed = true;
  as_cond_broadcast(q->cv);
  as_mutex_unlock(q->mu);
}

void as_span_queue_discard(as_span_queue *q, size_t *n) {
  as_span_rec r[32];
  size_t total = 0, k;
  do {
    as_span_queue_pop(q, r, sizeof r / sizeof r[0], &k);
    for (size_t i = 0; i < k; i++) as_span_rec_free(&r[i]);
    total += k;
  } while (k > 0);
  if (n) *n = total;
}

void as_span_queue_stats_get(as_span_queue *q, as_span_queue_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!q) return;
  as_mutex_lock(q->mu);
  out->capacity = q->cap;
  out->len = q->len;
  out->accepted = q->accepted;
  out->dropped_full = q->dropped_full;
  out->dropped_copy = q->dropped_copy;
  as_mutex_unlock(q->mu);
}

static void queue_emit(void *self, const as_span *sp) { as_span_queue_push(self, sp); }

as_tracer as_span_queue_tracer(as_span_queue *q) {
  return (as_tracer){.emit = queue_emit, .self = q};
}

/* --- the sim's sink --------------------------------------------------------------- */

#define SINK_FIRST 16u

struct as_span_sink {
  as_mutex *mu; /* NULL: not locked */
  as_span_rec *recs;
  size_t len, alloc, cap;
  uint64_t dropped;
};

static void sink_lock(as_span_sink *s) {
  if (s->mu) as_mutex_lock(s->mu);
}
static void sink_unlock(as_span_sink *s) {
  if (s->mu) as_mutex_unlock(s->mu);
}

int as_span_sink_new(as_span_sink **out, size_t capacity, bool locked) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (capacity == 0 || capacity > AS_SPAN_SINK_MAX) return AS_INVAL;
  as_span_sink *s = as_calloc(1, sizeof *s);
  if (!s) return AS_NOMEM;
  s->cap = capacity;
  if (locked) {
    int rc = as_mutex_new(&s->mu);
    if (rc != AS_OK) {
      as_free(s);
      return rc;
    }
  }
  *out = s;
  return AS_OK;
}

void as_span_sink_clear(as_span_sink *s) {
  if (!s) return;
  sink_lock(s);
  for (size_t i = 0; i < s->len; i++) as_span_rec_free(&s->recs[i]);
  as_free(s->recs);
  s->recs = NULL;
  s->len = s->alloc = 0;
  s->dropped = 0;
  sink_unlock(s);
}

void as_span_sink_free(as_span_sink *s) {
  if (!s) return;
  as_span_sink_clear(s);
  as_mutex_free(s->mu);
  as_free(s);
}

/* Room for one more record; false when past capacity or out of memory. */
static bool sink_room(as_span_sink *s) {
  if (s->len < s->alloc) return true;
  if (s->alloc >= s->cap) return false;
  size_t n = s->alloc ? s->alloc * 2 : SINK_FIRST;
  if (n > s->cap) n = s->cap;
  as_span_rec *g = as_realloc(s->recs, n * sizeof *g);
  if (!g) return false;
  s->recs = g;
  s->alloc = n;
  return true;
}

void as_span_sink_record(as_span_sink *s, const as_span *sp) {
  if (!s) return;
  as_span_rec r;
  int rc = as_span_rec_copy(&r, sp);
  sink_lock(s);
  if (rc == AS_OK && sink_room(s)) {
    s->recs[s->len++] = r;
    r = (as_span_rec){0}; /* the sink's now */
  } else {
    s->dropped++;
  }
  sink_unlock(s);
  as_span_rec_free(&r);
}

size_t as_span_sink_count(as_span_sink *s) {
  if (!s) return 0;
  sink_lock(s);
  size_t n = s->len;
  sink_unlock(s);
  return n;
}

const as_span_rec *as_span_sink_get(as_span_sink *s, size_t i) {
  if (!s) return NULL;
  sink_lock(s);
  const as_span_rec *r = i < s->len ? &s->recs[i] : NULL;
  sink_unlock(s);
  return r;
}

uint64_t as_span_sink_dropped(as_span_sink *s) {
  if (!s) return 0;
  sink_lock(s);
  uint64_t n = s->dropped;
  sink_unlock(s);
  return n;
}

static void sink_emit(void *self, const as_span *sp) { as_span_sink_record(self, sp); }

as_tracer as_span_sink_tracer(as_span_sink *s) {
  return (as_tracer){.emit = sink_emit, .self = s};
}
