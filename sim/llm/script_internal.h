/*
** script_internal.h -- a parsed stub script (stub.h), shared by the
** parser and writer (script.c) and the provider (stub.c).
**
** A script is a list of entries in file order. An entry answers one
** selector: an agent's call (a number or any) and attempt (a number or
** any), the script's default, or an app tool's result (a call number or
** any). It holds one answer, or up to AS_STUB_ALTS_MAX weighted ones.
** What the script said is kept as written (the writer gives it back, the
** equality compares it); what an answer renders to is worked out once at
** parse time (out_*), so the provider only copies.
**
** Everything is allocated with as_malloc: a script is freed under the
** platform it was parsed under.
*/
#ifndef AGENTSIM_STUB_SCRIPT_INTERNAL_H
#define AGENTSIM_STUB_SCRIPT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stub.h"

/* Where an `envelope` line puts the envelope. */
typedef enum stub_env_in {
  STUB_IN_NONE,       /* no envelope line */
  STUB_IN_STRUCTURED, /* the structured output (the default) */
  STUB_IN_MESSAGE,    /* the message's whole text */
  STUB_IN_FENCE,      /* a ```json fence inside prose */
  STUB_IN_PROSE,      /* bare inside prose */
  STUB__IN_COUNT
} stub_env_in;

extern const char *const stub_env_in_names[STUB__IN_COUNT];
/* The finish reasons' names (llm.h's map; the stub does not link the core). */
extern const char *const stub_finish_names[AS__LLM_FINISH_COUNT];

/* The counts a `usage` line may set: the exclusive form (input, cached,
** output, reasoning) or a provider's inclusive report (prompt, which holds
** cache_read and cache_write; completion); one form per line. */
enum { STUB_U_INPUT, STUB_U_CACHED, STUB_U_OUTPUT, STUB_U_REASONING, STUB_U_PROMPT,
       STUB_U_CACHE_READ, STUB_U_CACHE_WRITE, STUB_U_COMPLETION, STUB_NUSAGE };
#define STUB_U_EXCLUSIVE 0x0fu /* the bits of the exclusive form */
extern const char *const stub_usage_names[STUB_NUSAGE];

/* Prose an envelope in a fence or in prose gets when the answer has no
** text line (docs/stub-scripts.md). */
#define STUB_PROSE_BEFORE "Here is my answer:"
#define STUB_PROSE_AFTER "I hope this helps."

/* X(NAME, name, status) -- how an app tool's server may fail (`fail=` on a
** result line or its alt lines): the status as_stub_tool_result returns,
** which the caller's tool executor hands the runtime. */
#define STUB_FAIL_MAP(X)                                                       \
  X(IO, "io", AS_IO)                /* the server's I/O failed */              \
  X(TIMEOUT, "timeout", AS_TIMEDOUT) /* no answer in time */                   \
  X(BUSY, "busy", AS_BUSY)          /* overloaded: try later */                \
  X(INVALID, "invalid", AS_INVAL)   /* it refused the arguments */             \
  X(OTHER, "other", AS_INTERNAL)    /* anything else */

enum {
  STUB_FAIL_NONE,
#define STUB__FAIL(NAME, name, st) STUB_FAIL_##NAME,
  STUB_FAIL_MAP(STUB__FAIL)
#undef STUB__FAIL
  STUB__FAIL_COUNT
};
/* Names and statuses by STUB_FAIL_* (index 0: none). */
extern const char *const stub_fail_names[STUB__FAIL_COUNT];
extern const int stub_fail_status[STUB__FAIL_COUNT];

#define STUB_WEIGHT_MAX 1000u
#define STUB_CALL_MAX 1000000u
#define STUB_ATTEMPT_MAX 1000u
#define STUB_RETRY_MAX 1000u
#define STUB_DELAY_MAX (24ull * 3600u * 1000000000u) /* one day */
#define STUB_TOKENS_MAX 1000000000000ll
/* JSON in a script nests at most this deep (deeper than the runtime's
** AS_JSON_MAX_DEPTH, so scripts can test its refusal; bounded, so parsing
** never recurses far, on a sim task's stack too). */
#define STUB_JSON_DEPTH_MAX 64u
/* A rate-limited answer's retry-after when the script gives none. */
#define STUB_RETRY_AFTER_DEFAULT_NS 1000000000ull
#define STUB_SERVER_STATUS_DEFAULT 500

typedef struct stub_tool {
  char name[AS_LLM_NAME_MAX]; /* "server:tool" */
  char *args;                 /* the JSON object's bytes as written */
  size_t len;
} stub_tool;

typedef struct stub_answer {
  unsigned line, col;       /* where it opens (the block or alt line) */
  unsigned weight;          /* 1..STUB_WEIGHT_MAX */
  bool has_delay;
  uint64_t delay_ns;
  /* An error answer: its kind (NONE for a message) and optional fields. */
  as_llm_error_kind error;
  char *message;            /* NULL: the kind's default; malformed: the text */
  bool has_retry_after;
  uint64_t retry_after_ns;
  int status;               /* server_error status=; 0: not given */
  /* A message answer. texts[0..nbefore) come before the envelope line. */
  char **texts;
  size_t ntexts, captexts, nbefore;
  stub_env_in env_in;
  char *env;                /* the envelope's JSON bytes */
  size_t envlen;
  stub_tool *tools;
  size_t ntools, captools;
  bool truncated, has_cut;
  size_t cut;               /* with has_cut: bytes kept */
  unsigned cut_line, cut_col; /* where at= is, for errors */
  bool has_finish;
  as_llm_finish finish;
  unsigned usage_given;     /* bit per STUB_U_* */
  bool usage_none;          /* `usage none`: the provider reported no usage */
  int64_t usage[STUB_NUSAGE];
  /* A tool result (result entries only): the JSON bytes, or (tool_fail
  ** not STUB_FAIL_NONE) the failure the tool's server reports instead. */
  char *result;
  size_t rlen;
  unsigned tool_fail;       /* STUB_FAIL_* */
  /* Rendered at parse time. */
  bool out_has_text;
  char *out_text;
  size_t out_len;
  as_llm_finish out_finish;
} stub_answer;

typedef enum stub_entry_kind {
  STUB_E_CALL,    /* agent NAME: call N|* [attempt=N] or default */
  STUB_E_DEFAULT, /* the script's default */
  STUB_E_RESULT   /* result SERVER:TOOL [call=N] */
} stub_entry_kind;

typedef struct stub_entry {
  stub_entry_kind kind;
  char name[AS_LLM_NAME_MAX]; /* the agent or the tool; "" for the default */
  unsigned call, attempt;     /* 0: any */
  unsigned run;               /* call entries: retry=N as N + 1 (the run of the session's
                              ** retry N, 0 its first run); 0: any run */
  unsigned line;
  bool alt_form;              /* written with alt lines */
  stub_answer *alts;
  size_t nalts, capalts;
  uint64_t total_weight;
} stub_entry;

struct as_stub_script {
  stub_entry *entries;
  size_t n, cap;
  char model[AS_LLM_NAME_MAX]; /* the `model` line's, or AS_STUB_MODEL_DEFAULT */
  bool has_model;              /* a `model` line was written */
};

/* The entry answering (agent, call, attempt) in the run of the session's
** retry `retry` (0: its first run): the agent's block for that call and
** attempt, for the call (any attempt), for any call and that attempt, its
** default -- each first for that retry (retry=), then for any -- else the
** script's default; NULL when none. */
const stub_entry *stub_find_call(const as_stub_script *s, const char *agent, unsigned call,
                                 unsigned attempt, unsigned retry);
/* The result entry of tool qname for its n-th call, else for any; NULL. */
const stub_entry *stub_find_result(const as_stub_script *s, const char *qname, unsigned n);
/* The alternative the seed picks for the key (a pure function of its
** arguments: XXH64 of the strings chained, then splitmix64). */
const stub_answer *stub_pick(const stub_entry *e, uint64_t seed, uint64_t domain, const char *a,
                             const char *b, unsigned x, unsigned y);
#define STUB_DOMAIN_CALL 0x63616c6cull   /* "call" */
#define STUB_DOMAIN_RESULT 0x726573756c74ull /* "result" */

#endif
