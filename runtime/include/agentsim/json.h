/*
** json.h -- the strict JSON layer: one RFC 8259 text into a jansson value.
**
** Everything the runtime reads as JSON from outside (a model's answer, a
** tool call's arguments, a request body) goes through as_json_parse, which
** accepts exactly RFC 8259 and nothing lenient:
**
**   - one JSON text (any value), surrounded by nothing but whitespace;
**   - an object with two members of the same name is refused;
**   - invalid UTF-8 (overlong forms, surrogates, bytes past U+10FFFF) and
**     "\u0000" are refused (jansson's strings are NUL-terminated);
**   - at most AS_JSON_MAX_BYTES bytes and AS_JSON_MAX_DEPTH nested arrays
**     and objects.
**
** A refusal says where (byte offset, 1-based line and column in bytes) and
** why, in words a person can act on ("duplicate key \"confidence\"",
** "nesting deeper than 32", "invalid UTF-8 byte 0xC0").
**
** jansson's hash seed and allocator are the process's (the sim fixes the
** seed; the runtime's memory goes through the seam): as_json_parse calls
** nothing that reads the clock or randomness.
*/
#ifndef AGENTSIM_JSON_H
#define AGENTSIM_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "agentsim/status.h"

#define AS_JSON_MAX_BYTES (256u * 1024u)
#define AS_JSON_MAX_DEPTH 32u
#define AS_JSON_REASON_MAX 160 /* buffer size, NUL included */

typedef struct as_json_error {
  size_t offset;   /* bytes from the start of the text */
  unsigned line;   /* 1-based */
  unsigned column; /* 1-based, in bytes */
  char reason[AS_JSON_REASON_MAX];
} as_json_error;

/* Parse text[0..len) (NUL bytes inside are an error, not an end) into *out
** (a new reference the caller decrefs). AS_OK; AS_PARSE with *err filled;
** AS_TOOBIG past AS_JSON_MAX_BYTES (err: offset AS_JSON_MAX_BYTES);
** AS_NOMEM. On failure *out is NULL. err may be NULL. */
AS_WUR int as_json_parse(const char *text, size_t len, json_t **out, as_json_error *err);

/* The 1-based line and column (in bytes) of byte `offset` of text[0..len)
** (under 4 GiB): lines end at '\n'; an offset past len counts as len.
** (Added for the envelope and the CLI, which place a refusal in a larger
** text.) */
void as_json_locate(const char *text, size_t len, size_t offset, unsigned *line,
                    unsigned *column);

#endif /* AGENTSIM_JSON_H */
