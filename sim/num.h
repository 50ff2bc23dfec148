/*
** num.h -- the one parser of numbers and durations that the tool's command
** line and the scenario format share.
*/
#ifndef AGENTSIM_SIM_NUM_H
#define AGENTSIM_SIM_NUM_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

/* The digits of UINT64_MAX: no number the tool reads is longer. */
#define SIM_U64_DIGITS 20u

/* An unsigned decimal: digits and nothing else (no sign, no space). s need
** not be NUL-terminated. AS_PARSE for anything but digits, AS_TOOBIG past
** UINT64_MAX or past SIM_U64_DIGITS digits (leading zeros count). */
AS_WUR int sim_parse_u64(const char *s, size_t len, uint64_t *out);

/* A duration: digits, then a unit (ns, us, ms, s, m, h, d), in nanoseconds.
** bare_ns nonzero also accepts digits alone as nanoseconds. AS_PARSE for a
** malformed text, AS_TOOBIG when it does not fit 64 bits. */
AS_WUR int sim_parse_duration(const char *s, size_t len, int bare_ns, uint64_t *ns);

/* The units sim_parse_duration takes, for messages: "ns, us, ms, s, m, h, d". */
extern const char sim_duration_units[];

#endif
