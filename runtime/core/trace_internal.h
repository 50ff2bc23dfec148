/*
** trace_internal.h -- what trace.c and otlp_json.c share and nobody else
** sees (tests include it to reach the helpers directly).
*/
#ifndef AGENTSIM_TRACE_INTERNAL_H
#define AGENTSIM_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is UTF-8 with no NUL byte (no overlong forms, no
** surrogates, nothing past U+10FFFF). */
bool as__utf8_valid(const char *s, size_t n);

#endif
