/*
** status.h -- the one status type of agentsim.
**
** Every fallible function returns an as_status. Zero is success; the
** variable holding one is always `rc`. Codes, names and messages come from
** one X-macro list, so a new code cannot be added without its name and
** message (the libuv UV_ERRNO_MAP pattern).
*/
#ifndef AGENTSIM_STATUS_H
#define AGENTSIM_STATUS_H

#if defined(__GNUC__) || defined(__clang__)
#define AS_WUR __attribute__((warn_unused_result))
#define AS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AS_NORETURN __attribute__((noreturn))
#else
#define AS_WUR
#define AS_PRINTF(f, a)
#define AS_NORETURN
#endif

/* X(NAME, message) */
#define AS_STATUS_MAP(X)                                                      \
  X(OK, "success")                                                            \
  X(NOMEM, "out of memory")                                                   \
  X(INVAL, "invalid argument")                                                \
  X(BUSY, "resource busy")                                                    \
  X(TIMEDOUT, "timed out")                                                    \
  X(IO, "input/output error")                                                 \
  X(TOOBIG, "size limit exceeded")                                            \
  X(PARSE, "malformed input")                                                 \
  X(NOTFOUND, "not found")                                                    \
  X(STALE, "stale version")                                                   \
  X(DIVERGED, "replay diverged from the recorded schedule")                   \
  X(SYS, "system call failed")                                                \
  X(UNSUPPORTED, "not supported on this platform")                            \
  X(INTERNAL, "internal error")                                               \
  X(FULL, "storage full")                                                     \
  X(EXISTS, "already exists")

typedef enum as_status {
#define AS__ENUM(name, msg) AS_##name,
  AS_STATUS_MAP(AS__ENUM)
#undef AS__ENUM
  AS__STATUS_COUNT
} as_status;

/* "AS_NOMEM"-style name of a code; "AS_UNKNOWN" for a value out of range. */
const char *as_status_name(int rc);
/* Human-readable message of a code; never NULL. */
const char *as_status_msg(int rc);

#endif /* AGENTSIM_STATUS_H */
