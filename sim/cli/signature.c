/*
** signature.c -- a failure's signature from its outcome and message.
**
** The messages it reads (their formats are the sim's and the oracle's):
**   invariant  "CHECK: what [step N, task T 'name', in OP S (line L)]",
**              "at quiescence: CHECK: what [...]", or a runner's own text;
**   hang       "step budget of N exceeded", "virtual-time budget of ...",
**              "decision budget ...", "task T ran N s of CPU ...";
**   crash      "signal NAME in task ..." and the like;
**   deadlock, assertion, harness error: the first words.
*/
#include <stdio.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "signature.h"

/* Copy the leading run of [a-z0-9-] of s (a check name) into out; its length. */
static size_t take_name(const char *s, char *out, size_t cap) {
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");
  if (n >= cap) n = cap - 1;
  memcpy(out, s, n);
  out[n] = '\0';
  return n;
}

/* The words before the first digit, quote or bracket, lowercased, spaces
** as '-', at most three words: a stable name for a message with no check. */
static void lead_words(const char *s, char *out, size_t cap) {
  size_t n = 0;
  unsigned words = 0;
  for (; *s && n + 1 < cap; s++) {
    char c = *s;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c >= 'a' && c <= 'z') {
      if (n && out[n - 1] == ' ') out[n - 1] = '-';
      out[n++] = c;
    } else if (c == ' ' || c == '-') {
      if (!n || out[n - 1] == ' ' || out[n - 1] == '-') continue;
      if (++words == 3) break;
      out[n++] = ' ';
    } else {
      break;
    }
  }
  while (n && (out[n - 1] == ' ' || out[n - 1] == '-')) n--;
  out[n] = '\0';
}

/* "in OP S (line L)]" at the end of the first line of msg: op and line. */
static void take_place(const char *msg, cli_sig *sig) {
  const char *nl = strchr(msg, '\n');
  size_t len = nl ? (size_t)(nl - msg) : strlen(msg);
  const char *in = NULL;
  for (const char *p = msg; p + 4 <= msg + len; p++)
    if (!memcmp(p, ", in ", 5)) in = p + 5;
  if (!in) return;
  take_name(in, sig->op, sizeof sig->op);
  const char *l = strstr(in, "(line ");
  if (!l || l >= msg + len) return;
  unsigned v = 0;
  for (l += 6; *l >= '0' && *l <= '9' && v < 100000000u; l++) v = v * 10 + (unsigned)(*l - '0');
  sig->line = v;
}

void cli_signature(int outcome, const char *message, cli_sig *sig) {
  memset(sig, 0, sizeof *sig);
  sig->outcome = outcome;
  const char *m = message ? message : "";
  static const char quiesce[] = "at quiescence: ";
  int at_end = !strncmp(m, quiesce, sizeof quiesce - 1);
  if (at_end) m += sizeof quiesce - 1;
  if (outcome == SIM_INVARIANT || outcome == SIM_HARNESS) {
    size_t n = take_name(m, sig->check, sizeof sig->check);
    if (n && m[n] == ':' && m[n + 1] == ' ') {
      take_place(m, sig);
    } else {
      lead_words(m, sig->check, sizeof sig->check);
      take_place(m, sig);
    }
    if (at_end && !sig->op[0]) memcpy(sig->op, "quiescence", sizeof "quiescence");
  } else {
    lead_words(m, sig->check, sizeof sig->check);
  }
  if (!sig->check[0]) {
    snprintf(sig->check, sizeof sig->check, "%s", sim_outcome_name((sim_outcome)outcome));
  }
}

void cli_sig_text(const cli_sig *sig, char *buf, size_t cap) {
  size_t n = as_appendf(buf, cap, 0, "%s %s", sim_outcome_name((sim_outcome)sig->outcome),
                        sig->check);
  if (sig->op[0] && sig->line)
    as_appendf(buf, cap, n, " in %s (line %u)", sig->op, sig->line);
  else if (sig->op[0])
    as_appendf(buf, cap, n, " at %s", sig->op);
}

int cli_sig_same_failure(const cli_sig *a, const cli_sig *b) {
  return a->outcome == b->outcome && !strcmp(a->check, b->check);
}

int cli_sig_equal(const cli_sig *a, const cli_sig *b) {
  return cli_sig_same_failure(a, b) && !strcmp(a->op, b->op) && a->line == b->line;
}
