/*
** json_internal.h -- what json.c and envelope.c share and nobody else sees
** (tests include it to reach the helpers directly).
*/
#ifndef AGENTSIM_JSON_INTERNAL_H
#define AGENTSIM_JSON_INTERNAL_H

#include <stddef.h>

#include "agentsim/json.h"
#include "agentsim/status.h"

/* Fill *err (NULL: nothing) for a refusal at byte `offset` of text[0..len):
** the offset, its line and column (as_json_locate) and the printf-formatted
** reason, cut to fit at a UTF-8 character boundary. */
void as__json_fail(as_json_error *err, const char *text, size_t len, size_t offset,
                   const char *fmt, ...) AS_PRINTF(5, 6);

/* Where the token that ends just before s[pos] starts (pos: jansson's
** error position): a string's opening quote, a number's first byte, else
** pos - 1; 0 for pos 0. */
size_t as__json_token_start(const char *s, size_t pos);

/* The refusal for jansson's error *je on text[0..len) (a text the
** validator passed): AS_PARSE for a duplicate key or a number out of range,
** placed at the token; anything else is jansson's memory running out,
** AS_NOMEM. A position outside the text counts as its end. */
AS_WUR int as__json_from_jansson(const char *text, size_t len, const json_error_t *je,
                                 as_json_error *err);

/* Copy src into dst[cap] (cap > 0), cut at a UTF-8 character boundary when
** it does not fit; always NUL-terminated. */
void as__utf8_copy(char *dst, size_t cap, const char *src, size_t n);

#endif
