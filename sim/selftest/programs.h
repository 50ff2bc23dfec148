/*
** programs.h -- the scheduler's self-test programs.
**
** Built into the tool so the scheduler can be used and tested before any
** runtime exists, and kept as its regression suite: some contain a known
** concurrency bug the explorer must find (a deadlock, an ordering bug, an
** atomicity violation, an if-guarded condition wait, a hand-off that
** assumes FIFO signals, a stale read after a timed-out wait), the others are
** correct, most of them the buggy ones fixed, and must never fail.
*/
#ifndef AGENTSIM_SELFTEST_PROGRAMS_H
#define AGENTSIM_SELFTEST_PROGRAMS_H

#include "sim.h"

typedef struct selftest {
  const sim_program *prog;
  int expect_fail;        /* 1: a bug the explorer must find */
  sim_outcome expect;     /* the failure kind it shows as */
  unsigned pct_depth;     /* the bug's depth: the PCT d that targets it */
  int needs_spurious;     /* 1: only a spurious wakeup shows the bug (no
                          ** interleaving alone does, so PCT's bound is moot) */
} selftest;

/* All self-tests, NULL-terminated entries in a fixed order. */
extern const selftest selftests[];
extern const unsigned selftest_count;

/* By full name ("selftest:abba"); NULL when unknown. */
const selftest *selftest_find(const char *name);

#endif
