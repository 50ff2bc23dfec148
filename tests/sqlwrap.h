/*
** sqlwrap.h -- countdown fault injection for the SQLite calls the runtime
** core makes, through the linker's --wrap (AS_SQLWRAP_SYMBOLS in
** tests/CMakeLists.txt). The twin of faultwrap.h, for a library faultwrap.c
** must not depend on.
**
** A wrapped call that is made to fail does not reach SQLite (or, for the
** calls that release something -- reset, finalize, close -- reaches it and
** then reports the error), so the database is untouched by it:
**   open_v2, prepare_v2      *out = NULL, return the error
**   step, bind_*, busy_handler, create_function_v2,
**   extended_result_codes    return the error
**   reset, finalize, close_v2  do the real work, return the error
**   column_text, column_blob, value_text  return NULL (SQLite's "no memory")
**   changes                  return 0 (a save then sees a stale version)
** Calls SQLite makes inside itself are not wrapped; only the core's (and the
** test's own) calls are.
*/
#ifndef AGENTSIM_TESTS_SQLWRAP_H
#define AGENTSIM_TESTS_SQLWRAP_H

#include <stdint.h>

/* X(ID, symbol) */
#define SW_FUNCS(X)                                                           \
  X(OPEN, sqlite3_open_v2)                                                    \
  X(PREPARE, sqlite3_prepare_v2)                                              \
  X(STEP, sqlite3_step)                                                       \
  X(RESET, sqlite3_reset)                                                     \
  X(FINALIZE, sqlite3_finalize)                                               \
  X(BIND_TEXT, sqlite3_bind_text)                                             \
  X(BIND_INT64, sqlite3_bind_int64)                                           \
  X(BIND_BLOB, sqlite3_bind_blob)                                             \
  X(COLUMN_TEXT, sqlite3_column_text)                                         \
  X(COLUMN_BLOB, sqlite3_column_blob)                                         \
  X(VALUE_TEXT, sqlite3_value_text)                                           \
  X(CREATE_FUNCTION, sqlite3_create_function_v2)                              \
  X(BUSY_HANDLER, sqlite3_busy_handler)                                       \
  X(EXT_CODES, sqlite3_extended_result_codes)                                 \
  X(CLOSE, sqlite3_close_v2)                                                  \
  X(CHANGES, sqlite3_changes)

typedef enum sw_fn {
#define SW__ID(id, sym) SW_##id,
  SW_FUNCS(SW__ID)
#undef SW__ID
  SW__COUNT
} sw_fn;

#define SW_BIT(id) (1ull << SW_##id)
/* The calls whose failure leaves the database as it was: what a countdown
** walks through. (A failing finalize after a real COMMIT, or a changes()
** that lies, are tested on their own.) */
#define SW_COUNTDOWN                                                          \
  (SW_BIT(OPEN) | SW_BIT(PREPARE) | SW_BIT(STEP) | SW_BIT(RESET) |            \
   SW_BIT(BIND_TEXT) | SW_BIT(BIND_INT64) | SW_BIT(BIND_BLOB) |               \
   SW_BIT(COLUMN_TEXT) | SW_BIT(COLUMN_BLOB) | SW_BIT(VALUE_TEXT) |           \
   SW_BIT(CREATE_FUNCTION) | SW_BIT(BUSY_HANDLER) | SW_BIT(EXT_CODES))

/* Fail the n-th call (n >= 1) counted over mask with SQLite code err; with
** persistent, every later counted call too. Replaces any armed countdown. */
void sw_countdown(uint64_t mask, unsigned long n, int err, int persistent);
void sw_disarm(void);
/* Whether the countdown's failure happened since it was armed, and where. */
int sw_fired(void);
sw_fn sw_fired_fn(void);
const char *sw_fn_name(sw_fn fn);
/* The next `times` calls of fn fail with err. */
void sw_inject(sw_fn fn, int err, unsigned times);
/* Forget every injection and the countdown. */
void sw_reset(void);

#endif
