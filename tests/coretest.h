/*
** coretest.h -- helpers for the runtime core's tests: a fresh temp dir per
** test, stores on disk, and a platform that wraps posix with hooks.
**
** The hooked platform (ct_hooks_install) is posix with three seams made
** controllable, so races become deterministic tests:
**   - a fake monotonic clock: as_sleep_until jumps it forward instead of
**     sleeping (busy waits take no real time, and count their sleeps);
**   - on_wall: run once at the (skip+1)-th as_now_wall_ns() call, which the
**     store makes right before it opens a write transaction -- "another
**     writer got there first";
**   - on_sleep: run once when the store first sleeps waiting for a lock.
** Include after cmocka.h.
*/
#ifndef AGENTSIM_TESTS_CORETEST_H
#define AGENTSIM_TESTS_CORETEST_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentsim/seam.h"
#include "agentsim/store.h"

/* --- temp dirs ------------------------------------------------------------- */

typedef struct ct_dir {
  char path[64];
} ct_dir;

static inline void ct_dir_make(ct_dir *d) {
  memcpy(d->path, "/tmp/agentsim-core-XXXXXX", sizeof "/tmp/agentsim-core-XXXXXX");
  assert_non_null(mkdtemp(d->path));
}

/* dir/name into buf. */
static inline void ct_path(char *buf, size_t cap, const ct_dir *d, const char *name) {
  int n = snprintf(buf, cap, "%s/%s", d->path, name);
  assert_true(n > 0 && (size_t)n < cap);
}

/* Remove every file in the dir, then the dir. */
static inline void ct_dir_remove(ct_dir *d) {
  DIR *dir = opendir(d->path);
  assert_non_null(dir);
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[512];
    ct_path(p, sizeof p, d, e->d_name);
    assert_int_equal(unlink(p), 0);
  }
  assert_int_equal(closedir(dir), 0);
  assert_int_equal(rmdir(d->path), 0);
}

/* Open dir/name with journal mode `journal`, no fsync (not durable, and
** said so: a test on a real disk), and busy_ms. */
static inline as_store *ct_open(const ct_dir *d, const char *name, const char *journal,
                                int busy_ms) {
  char p[256];
  ct_path(p, sizeof p, d, name);
  as_store_opts o = {.journal_mode = journal, .synchronous = "off", .not_durable = 1, .busy_timeout_ms = busy_ms};
  as_store *st = NULL;
  int rc = as_store_open(&st, p, &o);
  if (rc != AS_OK) fail_msg("as_store_open(%s): %s", p, as_status_name(rc));
  return st;
}

/* --- the hooked platform ------------------------------------------------------ */

typedef void (*ct_hook)(void *arg);

typedef struct ct_hooks {
  bool fake_clock;
  uint64_t mono;  /* the fake monotonic clock */
  unsigned sleeps;
  ct_hook on_wall;
  void *wall_arg;
  unsigned wall_skip; /* calls to let pass before on_wall runs */
  bool wall_repeat;   /* keep on_wall armed after it ran */
  ct_hook on_sleep;
  void *sleep_arg;
  int64_t wall_ns;    /* nonzero: the wall clock reads this */
} ct_hooks;

static ct_hooks ct_h;
static as_platform ct_platform;

static inline uint64_t ct_now_mono(void) {
  return ct_h.fake_clock ? ct_h.mono : as_platform_posix.now_mono_ns();
}

static inline int64_t ct_now_wall(void) {
  static bool in_hook; /* the hook's own writes read the clock too */
  if (in_hook || !ct_h.on_wall) {
    /* no hook to run */
  } else if (ct_h.wall_skip > 0) {
    ct_h.wall_skip--;
  } else {
    ct_hook f = ct_h.on_wall;
    if (!ct_h.wall_repeat) ct_h.on_wall = NULL;
    in_hook = true;
    f(ct_h.wall_arg);
    in_hook = false;
  }
  return ct_h.wall_ns ? ct_h.wall_ns : as_platform_posix.now_wall_ns();
}

static inline void ct_sleep_until(uint64_t deadline) {
  ct_h.sleeps++;
  if (!ct_h.fake_clock)
    as_platform_posix.sleep_until(deadline);
  else if (deadline > ct_h.mono)
    ct_h.mono = deadline;
  if (ct_h.on_sleep) {
    ct_hook f = ct_h.on_sleep;
    ct_h.on_sleep = NULL;
    f(ct_h.sleep_arg);
  }
}

/* Install the hooked platform with every hook off and the fake clock at 1 s. */
static inline void ct_hooks_install(bool fake_clock) {
  memset(&ct_h, 0, sizeof ct_h);
  ct_h.fake_clock = fake_clock;
  ct_h.mono = 1000000000ull;
  ct_platform = as_platform_posix;
  ct_platform.name = "coretest";
  ct_platform.now_mono_ns = ct_now_mono;
  ct_platform.now_wall_ns = ct_now_wall;
  ct_platform.sleep_until = ct_sleep_until;
  (void)as_platform_set(&ct_platform);
}

static inline void ct_hooks_remove(void) {
  (void)as_platform_set(NULL);
  memset(&ct_h, 0, sizeof ct_h);
}

/* --- raw SQL on a side connection (to set up what the API cannot) ---------- */

#include <sqlite3.h>

static inline sqlite3 *ct_raw_open(const ct_dir *d, const char *name) {
  char p[256];
  ct_path(p, sizeof p, d, name);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                   SQLITE_OK);
  return db;
}

static inline void ct_raw_exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int src = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (src != SQLITE_OK) fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(src));
}

static inline void ct_raw_close(sqlite3 *db) { assert_int_equal(sqlite3_close(db), SQLITE_OK); }

#endif
