/*
** clitest.h -- what the tests that call the tool's commands directly share:
** parsing an argv, running a command with its stdout and stderr captured,
** and looking for text in what it printed. Include after <cmocka.h>.
*/
#ifndef AGENTSIM_CLITEST_H
#define AGENTSIM_CLITEST_H

#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cli.h"
#include "faultwrap.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static inline int reset_faults(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

static inline cli_opts parse(int argc, const char **argv) {
  cli_opts o;
  char err[512];
  if (cli_parse(argc, (char **)argv, &o, err, sizeof err) != AS_OK) fail_msg("parse: %s", err);
  return o;
}

/* What one command printed, and how it ended. */
typedef struct outcome {
  int ex;
  char *out, *err;
} outcome;

typedef int (*command)(const cli_opts *o, const char *argv0);

static inline outcome call(command cmd, const cli_opts *o) {
  capture co, ce;
  capture_begin(&co, stdout);
  capture_begin(&ce, stderr);
  outcome r;
  r.ex = cmd(o, "agentsim");
  r.err = capture_end(&ce);
  r.out = capture_end(&co);
  return r;
}

static inline void outcome_free(outcome *r) {
  free(r->out);
  free(r->err);
}

static inline void expect_in(const char *text, const char *needle, const char *what) {
  if (!strstr(text, needle)) fail_msg("%s lacks \"%s\":\n%s", what, needle, text);
}

#endif
