/*
** simdb_test.h -- what the simdb tests share: one sim, the "checks" a task
** records (tasks never call cmocka assertions: a longjmp out of a green
** stack would strand the scheduler), and small SQL helpers for tasks.
*/
#ifndef AGENTSIM_TESTS_SIMDB_TEST_H
#define AGENTSIM_TESTS_SIMDB_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "sim.h"
#include "simdb.h"

#define SEC_NS ((uint64_t)1000000000u)

/* The first failed check of a run, for the test to report. */
static struct tcheck_state {
  int line;
  char what[512];
  unsigned failed;
} tc;

static inline void tcheck_fail(int line, const char *fmt, ...) AS_PRINTF(2, 3);
static inline void tcheck_fail(int line, const char *fmt, ...) {
  if (tc.failed++) return;
  tc.line = line;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(tc.what, sizeof tc.what, fmt, ap); /* ignore: a cut message still reads */
  va_end(ap);
}

#define TCHECK(c)                                                              \
  do {                                                                         \
    if (!(c)) tcheck_fail(__LINE__, "%s", #c);                                 \
  } while (0)
#define TEQ(a, b)                                                              \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_) tcheck_fail(__LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
  } while (0)

static sim *S;

static inline sim_config sdb_config(uint64_t seed) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  return cfg;
}

/* Run p with cfg; the run must take place, pass, and record no failed
** check. The caller clears res. */
static inline void sdb_run_cfg(const sim_program *p, const sim_config *cfg, sim_result *res) {
  memset(&tc, 0, sizeof tc);
  int rc = sim_run(S, p, cfg, res);
  if (rc != AS_OK) fail_msg("sim_run(%s) = %s: %s", p->name, as_status_name(rc), res->message);
  if (res->outcome != SIM_PASS)
    fail_msg("%s: outcome %s: %s", p->name, sim_outcome_name(res->outcome), res->message);
  if (tc.failed) fail_msg("%s: line %d: %s", p->name, tc.line, tc.what);
}

static inline void sdb_run(const sim_program *p, uint64_t seed, sim_result *res) {
  sim_config cfg = sdb_config(seed);
  sdb_run_cfg(p, &cfg, res);
}

static inline int sdb_group_setup(void **state) {
  (void)state;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return -1;
  return simdb_install() == AS_OK ? 0 : -1;
}

static inline int sdb_group_teardown(void **state) {
  (void)state;
  sim_free(S);
  S = NULL;
  return simdb_uninstall() == AS_OK ? 0 : -1;
}

/* --- SQL for tasks ----------------------------------------------------------- */

static inline int sql(sqlite3 *db, const char *text) {
  return sqlite3_exec(db, text, NULL, NULL, NULL);
}

/* The first column of the first row as an integer; -1 when the statement
** fails or returns nothing. */
static inline long long sql_int(sqlite3 *db, const char *text) {
  sqlite3_stmt *st = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, text, -1, &st, NULL) != SQLITE_OK) return -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  if (sqlite3_finalize(st) != SQLITE_OK) v = -1;
  return v;
}

/* PRAGMA integrity_check says "ok". */
static inline int sql_intact(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int ok = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) return 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    ok = t && strcmp((const char *)t, "ok") == 0;
  }
  if (sqlite3_finalize(st) != SQLITE_OK) ok = 0;
  return ok;
}

/* Open name read-write (creating it) through vfs (NULL: the default) with
** extended result codes; *rc gets sqlite3_open_v2's result. The handle must
** be closed whatever rc says (it may be NULL). */
static inline sqlite3 *sql_open(const char *name, const char *vfs, int *rc) {
  sqlite3 *db = NULL;
  *rc = sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  if (db && sqlite3_extended_result_codes(db, 1) != SQLITE_OK) *rc = SQLITE_ERROR;
  return db;
}

#endif
