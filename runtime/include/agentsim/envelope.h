/*
** envelope.h -- the turn-output envelope an agent's run ends with.
**
**   {"content": STRING, "confidence": NUMBER in [0,1], "rationale": STRING,
**    "signal": STRING (optional)}
**
** Members other than these four are ignored (a model adds them); each of
** the four must have its type, confidence must lie in [0,1], signal is 1 ..
** AS_SIGNAL_MAX-1 bytes of [a-z0-9_-].
**
** as_envelope_parse looks for it in this order and takes the first
** candidate that is a valid envelope:
**   1. the structured output the provider returned (strict JSON);
**   2. the JSON text of the last assistant message, whole (strict JSON);
**   3. recovery, the only lenient layer: the JSON of the last markdown
**      fence in the text (``` or ```json), then the widest balanced
**      {...} of the text (braces inside JSON strings do not count); each
**      candidate found goes through the strict layer;
**   else AS_NOTFOUND: the typed error envelope_missing (permanent), with
**   *err saying what the last candidate lacked, or that there was none.
** Recovery reads at most AS_ENVELOPE_TEXT_MAX bytes of text and tries at
** most AS_ENVELOPE_CANDIDATES candidates; past that it stops (AS_NOTFOUND).
*/
#ifndef AGENTSIM_ENVELOPE_H
#define AGENTSIM_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "agentsim/json.h"
#include "agentsim/status.h"

#define AS_ENVELOPE_TEXT_MAX (64u * 1024u)
#define AS_ENVELOPE_CANDIDATES 16u
#define AS_SIGNAL_MAX 64                /* buffer size, NUL included */
#define AS_CONFIDENCE_TOLERANCE 0.05    /* envelope vs terminal tool */
#define AS_ENVELOPE_MISSING "envelope_missing"

/* X(NAME, name): where an envelope was found. */
#define AS_ENVELOPE_FROM_MAP(X)                                               \
  X(STRUCTURED, structured)                                                   \
  X(MESSAGE, message)                                                         \
  X(FENCE, fence)                                                             \
  X(BRACES, braces)

typedef enum as_envelope_from {
#define AS__EFROM(NAME, name) AS_ENV_FROM_##NAME,
  AS_ENVELOPE_FROM_MAP(AS__EFROM)
#undef AS__EFROM
  AS__ENV_FROM_COUNT
} as_envelope_from;

typedef struct as_envelope {
  char *content;              /* owned, NUL-terminated */
  char *rationale;            /* owned */
  double confidence;          /* [0, 1] */
  char signal[AS_SIGNAL_MAX]; /* "" when the envelope names none */
  as_envelope_from from;
} as_envelope;

/* "fence"-style name; "?" out of range. */
const char *as_envelope_from_name(as_envelope_from f);

/* Find the envelope of an answer: structured (NULL or slen 0: none) and the
** last assistant message's text (NULL or tlen 0: none). *out is
** overwritten (pass a zeroed or cleared one). AS_OK; AS_NOTFOUND
** (envelope_missing, *err filled: positions are in the text the last
** candidate came from); AS_NOMEM. err may be NULL. */
AS_WUR int as_envelope_parse(const char *structured, size_t slen, const char *text, size_t tlen,
                             as_envelope *out, as_json_error *err);
/* Release what *e owns and zero it. NULL is a no-op. */
void as_envelope_clear(as_envelope *e);

/* The confidence a run ends with when a terminal tool in it said
** tool_conf: within AS_CONFIDENCE_TOLERANCE (inclusive) of env_conf the
** two agree and env_conf stands; otherwise tool_conf wins and *mismatch is
** set (the caller logs it). */
double as_confidence_reconcile(double env_conf, double tool_conf, bool *mismatch);

#endif /* AGENTSIM_ENVELOPE_H */
