/*
** stub.h -- the scripted stub LLM: a provider (llm.h) that answers from a
** script, in the sim and in real mode alike (docs/stub-scripts.md is the
** format's reference).
**
** A script says, per agent, LLM call (1-based within one run of that
** agent) and attempt (1-based: a turn tries a transient error again), what
** the model answers: text; tool calls with their JSON arguments; a
** structured envelope; an envelope only as the message's JSON, only in a
** markdown fence, only inside prose; a truncated answer (finish length);
** a refusal; a timeout after a virtual delay; a 429 with retry-after; a
** 5xx; malformed JSON. Any answer may take virtual time (a delay): the
** stub sleeps on the seam, so the call is a scheduling point and timers
** fire inside it; a delay past the request's timeout is a timeout at the
** timeout. Usage per answer is scripted or defaulted.
**
** A call may offer weighted alternatives. Which one answers is a pure
** function of the stub's seed and (session id, agent, call, attempt): the
** same seed gives every call the same answer whatever the interleaving,
** and in the sim the seed is the run's LLM stream, so sweeps explore the
** model's nondeterminism too. A call the script does not cover answers
** with its `default` block for that agent, else the script's `default`,
** else an AS_LLM_ERR_SERVER error "the script has no answer for AGENT call
** N" (a scenario bug, reported, not hidden).
**
** The script may also give app tools' results (`result SERVER:TOOL JSON`,
** optionally with alternatives), or their servers' failures (`fail=KIND`:
** I/O, a timeout, busy, refused arguments, other); as_stub_tool_result
** answers them.
**
** Parsing reports the first error with the file, 1-based line and column,
** and what was expected. Everything is capped: AS_STUB_FILE_MAX bytes,
** AS_STUB_ENTRIES_MAX blocks, AS_STUB_ALTS_MAX alternatives per call, the
** llm.h caps per answer.
*/
#ifndef AGENTSIM_STUB_H
#define AGENTSIM_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/llm.h"
#include "agentsim/status.h"

#define AS_STUB_FILE_MAX (256u * 1024u)
#define AS_STUB_ENTRIES_MAX 512u
#define AS_STUB_ALTS_MAX 8u
/* How long a `timeout` answer with no delay= waits when the request gives
** no timeout of its own. */
#define AS_STUB_TIMEOUT_DEFAULT_NS (60ull * 1000000000ull)
/* The model's name when the script has no `model` line. */
#define AS_STUB_MODEL_DEFAULT "stub-1"

/* The edge: a provider's inclusive counts (prompt holds cache reads and
** writes; completion holds reasoning) into exclusive buckets, as budget.h's
** as_llm_usage_from_inclusive does (the stub does not link the core, so
** whoever makes the provider hands it in). Not AS_OK: the answer fails,
** malformed. */
typedef int (*as_stub_edge_fn)(int64_t prompt, int64_t cache_read, int64_t cache_write,
                               int64_t completion, as_llm_usage *out);

typedef struct as_stub_script as_stub_script;

typedef struct as_stub_diag {
  char file[256];
  unsigned line, column; /* 1-based; 0 when the error has no position */
  char message[256];     /* "expected ..., found ..." */
} as_stub_diag;

/* Parse a script from text[0..len); `file` names it in errors. AS_OK;
** AS_PARSE (*diag filled); AS_TOOBIG, a cap passed (*diag filled too);
** AS_NOMEM. Nothing is half-made: on failure *out is NULL. diag may be
** NULL. The script's memory comes from as_malloc: free it under the
** platform that parsed it. */
AS_WUR int as_stub_script_parse(const char *text, size_t len, const char *file,
                                as_stub_script **out, as_stub_diag *diag);
/* Read and parse the file at path (AS_NOTFOUND when it cannot be read). */
AS_WUR int as_stub_script_load(const char *path, as_stub_script **out, as_stub_diag *diag);
/* NULL is a no-op. */
void as_stub_script_free(as_stub_script *s);
/* Whether two scripts say the same thing (every block, alternative and
** answer line, in order; line numbers and comments aside). */
bool as_stub_script_equal(const as_stub_script *a, const as_stub_script *b);
/* "FILE:LINE:COL: MESSAGE" (or "FILE: MESSAGE" without a position) into
** buf, cut to cap bytes. */
void as_stub_diag_format(const as_stub_diag *d, char *buf, size_t cap);
/* The script's canonical text (a parse of it gives an equal script): owned,
** as_free it. */
AS_WUR int as_stub_script_write(const as_stub_script *s, char **out);

/* A provider answering from s (borrowed: it must outlive the provider),
** alternatives chosen by seed. Tool call ids are "call_C_I": C the call
** number, I the call's place in the answer (unique within an agent run).
** AS_INVAL for a NULL argument (then *out is zeroed), AS_NOMEM.
** The provider's model (out->model) is the script's `model` line, else
** AS_STUB_MODEL_DEFAULT (borrowed from the script). Usage goes through the
** stub's own conversion until as_stub_llm_set_edge names the runtime's. */
AS_WUR int as_stub_llm_new(as_llm *out, const as_stub_script *s, uint64_t seed);
/* The edge function the provider converts each answer's inclusive counts
** with (NULL: the stub's own: input = prompt - cache_read - cache_write,
** output = completion). */
void as_stub_llm_set_edge(as_llm *llm, as_stub_edge_fn edge);
/* The script's model name (AS_STUB_MODEL_DEFAULT without a `model` line). */
const char *as_stub_script_model(const as_stub_script *s);

/* The result the script gives app tool `qname` called by session_id (the
** n-th call of that tool in that session: alternatives are chosen like
** answers). AS_OK with *out an owned JSON text; AS_NOTFOUND when the script
** has no result for the tool (the caller then uses its own default); for a
** `fail=KIND` result, KIND's status (io: AS_IO, timeout: AS_TIMEDOUT, busy:
** AS_BUSY, invalid: AS_INVAL, other: AS_INTERNAL) with *out NULL, which a
** tool executor returns as its own (the runtime's error kinds follow);
** AS_INVAL for n 0 or a NULL script, name or out; AS_NOMEM. *out is
** as_malloc'd: as_free it. */
AS_WUR int as_stub_tool_result(const as_stub_script *s, uint64_t seed, const char *session_id,
                               const char *qname, unsigned n, char **out);

#endif /* AGENTSIM_STUB_H */
