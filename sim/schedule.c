/*
** schedule.c -- encode and decode schedule strings (grammar in schedule.h).
*/
#include "schedule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ids[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
#define NSHORT 62u

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->err) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    if (cap > SIM_SCHEDULE_MAX_LEN) {
      b->err = AS_TOOBIG;
      return;
    }
    char *np = realloc(b->p, cap);
    if (!np) {
      b->err = AS_NOMEM;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_id(sbuf *b, uint32_t id) {
  char tmp[16];
  if (id < NSHORT) {
    sb_put(b, &ids[id], 1);
    return;
  }
  int n = snprintf(tmp, sizeof tmp, "_%" PRIu32 "_", id);
  sb_put(b, tmp, (size_t)n);
}

int sim_schedule_encode(const sim_schedule *sc, char **out) {
  sbuf b = {0};
  char head[128];
  int n = snprintf(head, sizeof head,
                   SIM_SCHEDULE_PREFIX "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64
                   ":%016" PRIx64 ":",
                   sc->fingerprint, sc->seed_faults, sc->seed_workload, sc->seed_llm,
                   sc->seed_runtime);
  sb_put(&b, head, (size_t)n);
  for (size_t i = 0; i < sc->ndec;) {
    size_t j = i + 1;
    while (j < sc->ndec && sc->dec[j] == sc->dec[i]) j++;
    size_t run = j - i;
    if (run >= 3 || (run == 2 && sc->dec[i] >= NSHORT)) {
      char tmp[32];
      sb_id(&b, sc->dec[i]);
      int m = snprintf(tmp, sizeof tmp, "-%zu.", run);
      sb_put(&b, tmp, (size_t)m);
    } else {
      for (size_t k = 0; k < run; k++) sb_id(&b, sc->dec[i]);
    }
    i = j;
  }
  sb_put(&b, ":", 1);
  for (size_t i = 0; i < sc->nwakeups; i++) {
    char tmp[48];
    int m = snprintf(tmp, sizeof tmp, "%s%" PRIu64 ".%" PRIu32, i ? "-" : "", sc->wakeups[i].step,
                     sc->wakeups[i].task);
    sb_put(&b, tmp, (size_t)m);
  }
  sb_put(&b, ":", 1);
  for (size_t i = 0; i < sc->nfaults; i++) {
    char tmp[48];
    int m = snprintf(tmp, sizeof tmp, "%s%" PRIu32 ".%" PRIu64, i ? "-" : "", sc->faults[i].point,
                     sc->faults[i].draw);
    sb_put(&b, tmp, (size_t)m);
  }
  if (b.err) {
    free(b.p);
    *out = NULL;
    return b.err;
  }
  *out = b.p;
  return AS_OK;
}

void sim_schedule_clear(sim_schedule *sc) {
  free(sc->dec);
  free(sc->wakeups);
  free(sc->faults);
  memset(sc, 0, sizeof *sc);
}

static int short_id(char c) {
  const char *p = c ? strchr(ids, c) : NULL;
  return p ? (int)(p - ids) : -1;
}

static AS_WUR int parse_err(char *err, size_t cap, size_t pos, const char *what) {
  if (err && cap) snprintf(err, cap, "schedule: at character %zu: expected %s", pos + 1, what);
  return AS_PARSE;
}

/* Reads 1..maxdig decimal digits at s[*i]; AS_PARSE past the cap or 64 bits. */
static AS_WUR int read_dec(const char *s, size_t *i, unsigned maxdig, uint64_t *v) {
  size_t start = *i;
  uint64_t x = 0;
  while (s[*i] >= '0' && s[*i] <= '9') {
    uint64_t d = (uint64_t)(s[*i] - '0');
    if (*i - start >= maxdig || x > (UINT64_MAX - d) / 10) return AS_PARSE;
    x = x * 10 + d;
    (*i)++;
  }
  if (*i == start) return AS_PARSE;
  *v = x;
  return AS_OK;
}

static AS_WUR int push(sim_schedule *sc, size_t *cap, uint32_t id, uint64_t count) {
  if (count > SIM_SCHEDULE_MAX_DECISIONS - sc->ndec) return AS_TOOBIG;
  if (sc->ndec + count > *cap) {
    size_t nc = *cap ? *cap : 64;
    while (nc < sc->ndec + count) nc *= 2;
    uint32_t *nd = realloc(sc->dec, nc * sizeof *nd);
    if (!nd) return AS_NOMEM;
    sc->dec = nd;
    *cap = nc;
  }
  for (uint64_t k = 0; k < count; k++) sc->dec[sc->ndec++] = id;
  return AS_OK;
}

/* The wakeups (faults 0: "step.task") or the faults (1: "point.draw"), each
** pair after the first preceded by '-', up to the next ':' or the end. */
static AS_WUR int decode_pairs(const char *s, size_t *ip, sim_schedule *sc, int faults, char *err,
                               size_t errcap) {
  size_t i = *ip, cap = 0, n = 0;
  const char *first = faults ? "a fault point (decimal)" : "a wakeup's step (decimal)";
  const char *second = faults ? "a draw number (decimal)" : "a task id (decimal, at most 4294967295)";
  const char *dot = faults ? "'.' between a fault's point and draw" : "'.' between a wakeup's step and task";
  int rc = AS_OK;
  while (s[i] && s[i] != ':') {
    uint64_t a, b;
    if (n > 0) {
      if (s[i] != '-') {
        rc = parse_err(err, errcap, i, faults ? "'-' between faults" : "'-' between wakeups");
        break;
      }
      i++;
    }
    if (read_dec(s, &i, faults ? 10 : 20, &a) != AS_OK || (faults && a > UINT32_MAX)) {
      rc = parse_err(err, errcap, i, faults ? "a fault point (decimal, at most 4294967295)" : first);
      break;
    }
    if (s[i] != '.') {
      rc = parse_err(err, errcap, i, dot);
      break;
    }
    i++;
    if (read_dec(s, &i, faults ? 20 : 10, &b) != AS_OK || (!faults && b > UINT32_MAX)) {
      rc = parse_err(err, errcap, i, second);
      break;
    }
    if (n >= SIM_SCHEDULE_MAX_EVENTS) {
      if (err && errcap)
        snprintf(err, errcap, "schedule: at character %zu: more than %u %s", i,
                 SIM_SCHEDULE_MAX_EVENTS, faults ? "faults" : "wakeups");
      rc = AS_TOOBIG;
      break;
    }
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      void *p = faults ? realloc(sc->faults, nc * sizeof *sc->faults)
                       : realloc(sc->wakeups, nc * sizeof *sc->wakeups);
      if (!p) {
        rc = AS_NOMEM;
        break;
      }
      if (faults)
        sc->faults = p;
      else
        sc->wakeups = p;
      cap = nc;
    }
    if (faults)
      sc->faults[n] = (sim_fault_draw){.point = (uint32_t)a, .draw = b};
    else
      sc->wakeups[n] = (sim_wakeup){.step = a, .task = (uint32_t)b};
    n++;
    if (faults)
      sc->nfaults = n;
    else
      sc->nwakeups = n;
  }
  *ip = i;
  return rc;
}

int sim_schedule_decode(const char *s, sim_schedule *sc, char *err, size_t errcap) {
  int rc = AS_OK;
  size_t i = 0, cap = 0;
  uint64_t seeds[5];
  memset(sc, 0, sizeof *sc);
  if (err && errcap) err[0] = '\0';
  if (s[0] == 'v' && s[1] >= '0' && s[1] <= '9' && strncmp(s, SIM_SCHEDULE_PREFIX, 3) != 0) {
    size_t d = strspn(s + 1, "0123456789");
    if (err && errcap)
      snprintf(err, errcap, "schedule: version %.*s is not this build's: it reads version %d "
               "(\"" SIM_SCHEDULE_PREFIX "...\"); run the seed again to record a new schedule",
               (int)(d > 9 ? 9 : d), s + 1, SIM_SCHEDULE_VERSION);
    rc = AS_PARSE;
    goto out;
  }
  if (strncmp(s, SIM_SCHEDULE_PREFIX, 3) != 0) {
    rc = parse_err(err, errcap, 0, "the version prefix \"" SIM_SCHEDULE_PREFIX "\"");
    goto out;
  }
  i = 3;
  for (int k = 0; k < 5; k++) {
    uint64_t x = 0;
    for (int d = 0; d < 16; d++, i++) {
      char c = s[i];
      int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (v < 0) {
        rc = parse_err(err, errcap, i, k ? "a lowercase hex digit of a 16-digit stream seed"
                                         : "a lowercase hex digit of the 16-digit program fingerprint");
        goto out;
      }
      x = (x << 4) | (uint64_t)v;
    }
    if (s[i] != ':') {
      rc = parse_err(err, errcap, i, k ? "':' after a stream seed" : "':' after the fingerprint");
      goto out;
    }
    i++;
    seeds[k] = x;
  }
  sc->fingerprint = seeds[0];
  sc->seed_faults = seeds[1];
  sc->seed_workload = seeds[2];
  sc->seed_llm = seeds[3];
  sc->seed_runtime = seeds[4];
  while (s[i] && s[i] != ':') {
    uint64_t id, count = 1;
    int v = short_id(s[i]);
    if (v >= 0) {
      id = (uint64_t)v;
      i++;
    } else if (s[i] == '_') {
      i++;
      if (read_dec(s, &i, 10, &id) != AS_OK || id > UINT32_MAX) {
        rc = parse_err(err, errcap, i, "a task id (decimal, at most 4294967295)");
        goto out;
      }
      if (s[i] != '_') {
        rc = parse_err(err, errcap, i, "'_' closing a long task id");
        goto out;
      }
      i++;
    } else {
      rc = parse_err(err, errcap, i, "a task id (0-9, a-z, A-Z or _N_) or ':' ending the decisions");
      goto out;
    }
    if (s[i] == '-') {
      i++;
      if (read_dec(s, &i, 9, &count) != AS_OK || count < 2) {
        rc = parse_err(err, errcap, i, "a repeat count of at least 2");
        goto out;
      }
      if (s[i] != '.') {
        rc = parse_err(err, errcap, i, "'.' ending a repeat count");
        goto out;
      }
      i++;
    }
    rc = push(sc, &cap, (uint32_t)id, count);
    if (rc != AS_OK) {
      if (rc == AS_TOOBIG && err && errcap)
        snprintf(err, errcap, "schedule: at character %zu: more than %u decisions",
                 i, SIM_SCHEDULE_MAX_DECISIONS);
      goto out;
    }
  }
  if (s[i] != ':') {
    rc = parse_err(err, errcap, i, "':' after the decisions (then the wakeups)");
    goto out;
  }
  i++;
  rc = decode_pairs(s, &i, sc, 0, err, errcap);
  if (rc != AS_OK) goto out;
  if (s[i] != ':') {
    rc = parse_err(err, errcap, i, "':' after the wakeups (then the faults)");
    goto out;
  }
  i++;
  rc = decode_pairs(s, &i, sc, 1, err, errcap);
  if (rc == AS_OK && s[i] != '\0')
    rc = parse_err(err, errcap, i, "the end of the schedule after the faults");
out:
  if (rc != AS_OK) sim_schedule_clear(sc);
  return rc;
}
