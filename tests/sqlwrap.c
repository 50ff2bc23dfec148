/*
** sqlwrap.c -- the --wrap wrappers of sqlwrap.h and their countdown.
*/
#include "sqlwrap.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

static pthread_mutex_t sw_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
  uint64_t mask;
  unsigned long nth, count;
  int err, persistent, fired;
  sw_fn fired_fn;
  int inj_err[SW__COUNT];
  unsigned inj_times[SW__COUNT];
} sw;

static const char *const sw_names[] = {
#define SW__NAME(id, sym) #sym,
    SW_FUNCS(SW__NAME)
#undef SW__NAME
};

const char *sw_fn_name(sw_fn fn) { return (unsigned)fn < SW__COUNT ? sw_names[fn] : "?"; }

void sw_countdown(uint64_t mask, unsigned long n, int err, int persistent) {
  pthread_mutex_lock(&sw_mu);
  sw.mask = mask;
  sw.nth = n;
  sw.count = 0;
  sw.err = err;
  sw.persistent = persistent;
  sw.fired = 0;
  sw.fired_fn = SW__COUNT;
  pthread_mutex_unlock(&sw_mu);
}

void sw_disarm(void) {
  pthread_mutex_lock(&sw_mu);
  sw.mask = 0;
  pthread_mutex_unlock(&sw_mu);
}

int sw_fired(void) { return sw.fired; }
sw_fn sw_fired_fn(void) { return sw.fired_fn; }

void sw_inject(sw_fn fn, int err, unsigned times) {
  pthread_mutex_lock(&sw_mu);
  sw.inj_err[fn] = err;
  sw.inj_times[fn] = times;
  pthread_mutex_unlock(&sw_mu);
}

void sw_reset(void) {
  pthread_mutex_lock(&sw_mu);
  memset(sw.inj_times, 0, sizeof sw.inj_times);
  sw.mask = 0;
  sw.fired = 0;
  pthread_mutex_unlock(&sw_mu);
}

/* Should this call of fn fail? 1 with *err set when it should. */
static int should_fail(sw_fn fn, int *err) {
  int fail = 0;
  pthread_mutex_lock(&sw_mu);
  if (sw.inj_times[fn] > 0) {
    sw.inj_times[fn]--;
    *err = sw.inj_err[fn];
    fail = 1;
  } else if (sw.mask & (1ull << fn)) {
    sw.count++;
    if (sw.count == sw.nth || (sw.persistent && sw.count > sw.nth)) {
      if (!sw.fired) sw.fired_fn = fn;
      sw.fired = 1;
      *err = sw.err;
      fail = 1;
    }
  }
  pthread_mutex_unlock(&sw_mu);
  return fail;
}

#define SW_PROTO(ret, name, params)                                            \
  ret __wrap_##name params;                                                    \
  ret __real_##name params

SW_PROTO(int, sqlite3_open_v2, (const char *path, sqlite3 **db, int flags, const char *vfs));
SW_PROTO(int, sqlite3_prepare_v2,
         (sqlite3 * db, const char *sql, int n, sqlite3_stmt **q, const char **tail));
SW_PROTO(int, sqlite3_step, (sqlite3_stmt * q));
SW_PROTO(int, sqlite3_reset, (sqlite3_stmt * q));
SW_PROTO(int, sqlite3_finalize, (sqlite3_stmt * q));
SW_PROTO(int, sqlite3_bind_text,
         (sqlite3_stmt * q, int i, const char *v, int n, void (*del)(void *)));
SW_PROTO(int, sqlite3_bind_int64, (sqlite3_stmt * q, int i, sqlite3_int64 v));
SW_PROTO(int, sqlite3_bind_blob,
         (sqlite3_stmt * q, int i, const void *v, int n, void (*del)(void *)));
SW_PROTO(const unsigned char *, sqlite3_column_text, (sqlite3_stmt * q, int col));
SW_PROTO(const void *, sqlite3_column_blob, (sqlite3_stmt * q, int col));
SW_PROTO(const unsigned char *, sqlite3_value_text, (sqlite3_value * v));
SW_PROTO(int, sqlite3_create_function_v2,
         (sqlite3 * db, const char *name, int nargs, int enc, void *app,
          void (*fn)(sqlite3_context *, int, sqlite3_value **),
          void (*step)(sqlite3_context *, int, sqlite3_value **),
          void (*final)(sqlite3_context *), void (*destroy)(void *)));
SW_PROTO(int, sqlite3_busy_handler, (sqlite3 * db, int (*fn)(void *, int), void *arg));
SW_PROTO(int, sqlite3_extended_result_codes, (sqlite3 * db, int on));
SW_PROTO(int, sqlite3_close_v2, (sqlite3 * db));
SW_PROTO(int, sqlite3_changes, (sqlite3 * db));

int __wrap_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs) {
  int err;
  if (should_fail(SW_OPEN, &err)) {
    *db = NULL;
    return err;
  }
  return __real_sqlite3_open_v2(path, db, flags, vfs);
}

int __wrap_sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **q,
                              const char **tail) {
  int err;
  if (should_fail(SW_PREPARE, &err)) {
    *q = NULL;
    return err;
  }
  return __real_sqlite3_prepare_v2(db, sql, n, q, tail);
}

/* For the calls that fail before doing anything. */
#define SW_BEFORE(id, call)                                                    \
  do {                                                                         \
    int err_;                                                                  \
    if (should_fail(SW_##id, &err_)) return err_;                              \
    return call;                                                               \
  } while (0)

/* For the calls that release something: do it, then report the error. */
#define SW_AFTER(id, call)                                                     \
  do {                                                                         \
    int err_;                                                                  \
    int fail_ = should_fail(SW_##id, &err_);                                   \
    int rc_ = call;                                                            \
    return fail_ ? err_ : rc_;                                                 \
  } while (0)

int __wrap_sqlite3_step(sqlite3_stmt *q) { SW_BEFORE(STEP, __real_sqlite3_step(q)); }
int __wrap_sqlite3_reset(sqlite3_stmt *q) { SW_AFTER(RESET, __real_sqlite3_reset(q)); }
int __wrap_sqlite3_finalize(sqlite3_stmt *q) { SW_AFTER(FINALIZE, __real_sqlite3_finalize(q)); }
int __wrap_sqlite3_close_v2(sqlite3 *db) { SW_AFTER(CLOSE, __real_sqlite3_close_v2(db)); }

int __wrap_sqlite3_bind_text(sqlite3_stmt *q, int i, const char *v, int n, void (*del)(void *)) {
  SW_BEFORE(BIND_TEXT, __real_sqlite3_bind_text(q, i, v, n, del));
}

int __wrap_sqlite3_bind_int64(sqlite3_stmt *q, int i, sqlite3_int64 v) {
  SW_BEFORE(BIND_INT64, __real_sqlite3_bind_int64(q, i, v));
}

int __wrap_sqlite3_bind_blob(sqlite3_stmt *q, int i, const void *v, int n, void (*del)(void *)) {
  SW_BEFORE(BIND_BLOB, __real_sqlite3_bind_blob(q, i, v, n, del));
}

const unsigned char *__wrap_sqlite3_column_text(sqlite3_stmt *q, int col) {
  int err;
  return should_fail(SW_COLUMN_TEXT, &err) ? NULL : __real_sqlite3_column_text(q, col);
}

const void *__wrap_sqlite3_column_blob(sqlite3_stmt *q, int col) {
  int err;
  return should_fail(SW_COLUMN_BLOB, &err) ? NULL : __real_sqlite3_column_blob(q, col);
}

const unsigned char *__wrap_sqlite3_value_text(sqlite3_value *v) {
  int err;
  return should_fail(SW_VALUE_TEXT, &err) ? NULL : __real_sqlite3_value_text(v);
}

int __wrap_sqlite3_create_function_v2(sqlite3 *db, const char *name, int nargs, int enc,
                                      void *app,
                                      void (*fn)(sqlite3_context *, int, sqlite3_value **),
                                      void (*step)(sqlite3_context *, int, sqlite3_value **),
                                      void (*final)(sqlite3_context *),
                                      void (*destroy)(void *)) {
  SW_BEFORE(CREATE_FUNCTION,
            __real_sqlite3_create_function_v2(db, name, nargs, enc, app, fn, step, final, destroy));
}

int __wrap_sqlite3_busy_handler(sqlite3 *db, int (*fn)(void *, int), void *arg) {
  SW_BEFORE(BUSY_HANDLER, __real_sqlite3_busy_handler(db, fn, arg));
}

int __wrap_sqlite3_extended_result_codes(sqlite3 *db, int on) {
  SW_BEFORE(EXT_CODES, __real_sqlite3_extended_result_codes(db, on));
}

int __wrap_sqlite3_changes(sqlite3 *db) {
  int err;
  return should_fail(SW_CHANGES, &err) ? 0 : __real_sqlite3_changes(db);
}
