/*
** signature.h -- what a failure is, apart from the seed that found it.
**
** Many seeds find the same bug. A signature names a failure by what the
** specification says went wrong, not by how the run got there: the outcome
** (sim.h), the check (the oracle's check name for an invariant, the kind of
** budget for a hang, the signal for a crash), and the place (the scenario
** operation and its line the failing task was in, or "quiescence" for a
** check of the database read back at the end). Step numbers, task ids,
** session ids, times and counts in the message are left out, so the same
** bug found by different interleavings has one signature.
**
** Failure buckets (sweep, merge) group by the whole signature; the shrinker
** keeps a run's failure "the same" while the outcome and the check are
** (cli_sig_same_failure): shrinking may move the place.
*/
#ifndef AGENTSIM_CLI_SIGNATURE_H
#define AGENTSIM_CLI_SIGNATURE_H

#include <stddef.h>

#include "sim.h"

#define CLI_SIG_PART 64

typedef struct cli_sig {
  int outcome;                  /* sim_outcome */
  char check[CLI_SIG_PART];     /* "lock-exclusive", "deadlock", "step-budget", ... */
  char op[CLI_SIG_PART];        /* "finalize", "quiescence", or "" */
  unsigned line;                /* the operation's scenario line; 0: none */
} cli_sig;

/* The signature of a run that ended in `outcome` with `message`. */
void cli_signature(int outcome, const char *message, cli_sig *sig);
/* Its text, "invariant lock-exclusive in finalize (line 12)", into buf: the
** bucket key, stable across releases as long as the check names are. */
void cli_sig_text(const cli_sig *sig, char *buf, size_t cap);
/* The same outcome and check. */
int cli_sig_same_failure(const cli_sig *a, const cli_sig *b);
/* The whole signature is equal (a bucket). */
int cli_sig_equal(const cli_sig *a, const cli_sig *b);

#endif
