/*
** cassette_int.h -- what the cassette's files share (cassette.c,
** cassette_rec.c, cassette_net.c, cassette_llm.c); not a public interface.
*/
#ifndef AGENTSIM_CASSETTE_INT_H
#define AGENTSIM_CASSETTE_INT_H

#include "cassette.h"

const char *cas_kind_name(as_wire_kind k);
const char *cas_fail_name(as_http_fail f);
/* "rate_limited"-style, "none" for AS_LLM_ERR_NONE. */
const char *cas_error_name(as_llm_error_kind k);
/* The status llm.h gives the kind (AS_OK for NONE). */
int cas_error_status(as_llm_error_kind k);
/* Valid UTF-8 without NUL. */
bool cas_is_text(const char *s, size_t n);
/* as_malloc'd, NUL-terminated; NULL without memory. */
char *cas_b64_encode(const char *s, size_t n);
/* AS_PARSE for text that is not padded base64; AS_NOMEM. */
AS_WUR int cas_b64_decode(const char *s, size_t n, char **out, size_t *len);
/* Release what x owns and zero it. */
void cas_exchange_clear(as_cassette_exchange *x);
/* text into dir/name atomically (a temporary, fsync, rename, fsync of dir). */
AS_WUR int cas_write_atomic(const char *dir, const char *name, const char *text, size_t len,
                            char *err, size_t cap);

#endif
