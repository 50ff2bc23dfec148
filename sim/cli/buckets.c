/*
** buckets.c -- failures grouped by signature (buckets.h).
*/
#include "buckets.h"

#include <stdlib.h>
#include <string.h>

static void note(bkt *b, uint64_t seed, uint64_t count) {
  if (!b->count || seed < b->smallest) b->smallest = seed;
  b->count += count;
}

void bkt_add_other(bkt_table *t, uint64_t seed, uint64_t count) {
  if (!t->other.count) {
    memcpy(t->other.sig, BKT_OTHER_TEXT, sizeof BKT_OTHER_TEXT);
    t->other.outcome = -1;
  }
  note(&t->other, seed, count);
}

int bkt_add(bkt_table *t, const char *sig, int outcome, uint64_t seed, uint64_t count,
            uint32_t *idx) {
  for (unsigned i = 0; i < t->n; i++) {
    if (t->b[i].outcome == outcome && strcmp(t->b[i].sig, sig) == 0) {
      note(&t->b[i], seed, count);
      *idx = i;
      return AS_OK;
    }
  }
  if (t->n == BKT_MAX) {
    bkt_add_other(t, seed, count);
    *idx = BKT_OTHER;
    return AS_OK;
  }
  if (t->n == t->cap) {
    unsigned nc = t->cap ? t->cap * 2 : 8;
    bkt *nb = realloc(t->b, nc * sizeof *nb);
    if (!nb) return AS_NOMEM;
    t->b = nb;
    t->cap = nc;
  }
  bkt *b = &t->b[t->n];
  memset(b, 0, sizeof *b);
  size_t len = strnlen(sig, sizeof b->sig - 1); /* cut: a signature fits (signature.h) */
  memcpy(b->sig, sig, len);
  b->outcome = outcome;
  note(b, seed, count);
  *idx = t->n++;
  return AS_OK;
}

static int cmp_bkt(const void *x, const void *y) {
  const bkt *a = *(const bkt *const *)x, *b = *(const bkt *const *)y;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  return a->smallest < b->smallest ? -1 : a->smallest > b->smallest;
}

void bkt_sort(bkt_table *t, uint32_t *remap) {
  const bkt *order[BKT_MAX];
  bkt sorted[BKT_MAX];
  for (unsigned i = 0; i < t->n; i++) order[i] = &t->b[i];
  qsort(order, t->n, sizeof order[0], cmp_bkt);
  for (unsigned i = 0; i < t->n; i++) {
    remap[order[i] - t->b] = i;
    sorted[i] = *order[i];
  }
  if (t->n) memcpy(t->b, sorted, t->n * sizeof *t->b);
  remap[BKT_OTHER] = BKT_OTHER;
}

const bkt *bkt_at(const bkt_table *t, uint32_t i) {
  return i == BKT_OTHER ? &t->other : &t->b[i];
}

unsigned bkt_count(const bkt_table *t) { return t->n + (t->other.count ? 1u : 0u); }

void bkt_clear(bkt_table *t) {
  free(t->b);
  memset(t, 0, sizeof *t);
}
