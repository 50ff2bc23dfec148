/*
** real_main.c -- agentsim-real: the commands that run the runtime for real
** (serve, budget), linked against the production core (as_core), so the
** code a server runs is the code that ships: no mutant compiled in, no
** switch to turn one on (the ctest test real_no_mutants checks the binary).
** `agentsim serve` and `agentsim budget` exec this binary, which is built
** next to agentsim; run on its own it takes the same arguments.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv) {
  cli_opts o;
  char err[512];
  int ex, json = 0;
  const char *cmd = argc > 1 ? argv[1] : "(no command)";
  for (int i = 1; i < argc; i++) json |= strcmp(argv[i], "--json") == 0;
  if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "budget") != 0) {
    /* help lives in agentsim: it lists the checks and the mutants, which
    ** this binary does not link. */
    cli_error("agentsim-real runs serve and budget only; for '%.64s' use agentsim", cmd);
    ex = EXIT_USAGE;
  } else if (cli_parse(argc, argv, &o, err, sizeof err) != AS_OK) {
    cli_error("%s", err);
    ex = EXIT_USAGE;
  } else if (o.cmd == CMD_SERVE) {
    ex = cmd_serve(&o);
  } else if (o.cmd == CMD_BUDGET) {
    ex = cmd_budget(&o);
  } else { /* serve --help, budget --help */
    cli_error("%s --help: run agentsim %s --help", cmd, cmd);
    ex = EXIT_USAGE;
  }
  if (json && (ex == EXIT_USAGE || ex == EXIT_INTERNAL) && !cli_json_printed())
    if (cli_json_error(cmd, ex) != AS_OK) ex = EXIT_INTERNAL;
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "agentsim: writing the output failed: %s\n", strerror(errno));
    return EXIT_INTERNAL;
  }
  return ex;
}
