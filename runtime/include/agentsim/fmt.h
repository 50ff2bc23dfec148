/*
** fmt.h -- bounded string formatting.
*/
#ifndef AGENTSIM_FMT_H
#define AGENTSIM_FMT_H

#include <stddef.h>

#include "agentsim/status.h"

/* Append printf output at buf+len in a buffer of cap bytes (always
** NUL-terminated when cap > 0). Returns the new length; output that does not
** fit is cut and ends in "...", and the length returned is then cap-1, so
** chained calls stop adding. */
size_t as_appendf(char *buf, size_t cap, size_t len, const char *fmt, ...) AS_PRINTF(4, 5);

#endif
