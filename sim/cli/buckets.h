/*
** buckets.h -- failures grouped by signature (signature.h): a thousand
** failing seeds read as the few distinct bugs they are.
**
** A bucket is keyed by the signature's text (cli_sig_text), so a sweep and a
** merge of sweeps' JSON, which only has the text, group alike. At most
** BKT_MAX distinct signatures get a bucket of their own; failures past them
** go to one overflow bucket that says so (memory stays bounded whatever the
** seeds find). Below the cap the buckets do not depend on the order the
** failures arrive in (--jobs); past it, which signatures got their own
** bucket does, and the overflow bucket's text says they were not told apart.
*/
#ifndef AGENTSIM_CLI_BUCKETS_H
#define AGENTSIM_CLI_BUCKETS_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

#define BKT_MAX 256u
#define BKT_TEXT_MAX 192u
/* The overflow bucket's index. */
#define BKT_OTHER BKT_MAX
#define BKT_OTHER_TEXT "other: more than 256 distinct signatures, not told apart"

typedef struct bkt {
  char sig[BKT_TEXT_MAX]; /* the signature's text */
  int outcome;            /* sim_outcome; -1 for the overflow bucket */
  uint64_t count;         /* failing seeds in it */
  uint64_t smallest;      /* its smallest failing seed */
} bkt;

typedef struct bkt_table {
  bkt *b;       /* the named buckets, n of them (cap allocated); owned */
  unsigned n, cap;
  bkt other;    /* the overflow bucket (count 0: unused) */
} bkt_table;

/* Count `count` failures of signature `sig` (outcome `outcome`) whose
** smallest seed is `seed`, into *idx: the bucket's index (BKT_OTHER past
** BKT_MAX signatures). AS_OK, or AS_NOMEM with the table unchanged. */
AS_WUR int bkt_add(bkt_table *t, const char *sig, int outcome, uint64_t seed, uint64_t count,
                   uint32_t *idx);
/* The same into the overflow bucket. */
void bkt_add_other(bkt_table *t, uint64_t seed, uint64_t count);
/* Order the named buckets biggest first, then by smallest seed (a seed is
** in one bucket only, so the order is total); remap[old] = new index, for
** BKT_MAX + 1 entries (remap[BKT_OTHER] = BKT_OTHER). */
void bkt_sort(bkt_table *t, uint32_t *remap);
/* Bucket i: 0 .. n-1 named, BKT_OTHER the overflow one. */
const bkt *bkt_at(const bkt_table *t, uint32_t i);
/* Named buckets plus the overflow one when it holds any failure. */
unsigned bkt_count(const bkt_table *t);
void bkt_clear(bkt_table *t);

#endif
