/*
** main.c -- the agentsim command-line tool.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* serve and budget run the runtime for real: agentsim-real, built next to
** this binary against the production core (real_main.c), runs them, so no
** mutant code is in a server. argv is passed on as it is. */
static int exec_real(const cli_opts *o, char **argv) {
  static const char name[] = "agentsim-real";
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self);
  char *slash = n > 0 && (size_t)n < sizeof self ? memrchr(self, '/', (size_t)n) : NULL;
  if (!slash || (size_t)(slash + 1 - self) + sizeof name > sizeof self) {
    cli_error("%s: cannot find agentsim's own directory (/proc/self/exe)", cli_cmd_name(o->cmd));
    return EXIT_INTERNAL;
  }
  memcpy(slash + 1, name, sizeof name);
  if (fflush(stdout) != 0 || fflush(stderr) != 0) {
    cli_error("%s: writing the output failed", cli_cmd_name(o->cmd));
    return EXIT_INTERNAL;
  }
  argv[0] = self;
  execv(self, argv);
  cli_error("%s: cannot run %s: %s (it is built and installed next to agentsim)",
            cli_cmd_name(o->cmd), self, strerror(errno));
  return EXIT_INTERNAL;
}

/* cli_parse succeeds only with a command, so CMD_NONE cannot come here; it
** would print the overview, as 'agentsim help' does. */
static int dispatch(const cli_opts *o, const char *argv0, char **argv) {
  switch (o->cmd) {
  case CMD_NONE:
  case CMD_HELP: cli_help(stdout, o); return EXIT_PASS;
  case CMD_VERSION: printf("agentsim 0.1.0\n"); return EXIT_PASS;
  case CMD_LIST: return cmd_list(o);
  case CMD_RUN: return cmd_run(o, argv0);
  case CMD_REPLAY: return cmd_replay(o, argv0);
  case CMD_SHRINK: return cmd_shrink(o, argv0);
  case CMD_SWEEP: return cmd_sweep(o, argv0);
  case CMD_SELFTEST: return cmd_selftest(o, argv0);
  case CMD_BENCH: return cmd_bench(o);
  case CMD_MUTANTS: return cmd_mutants(o, argv0);
  case CMD_CHECK: return cmd_check(o);
  case CMD_PARSE: return cmd_parse(o, argv0);
  case CMD_METRICS: return cmd_metrics(o);
  case CMD_MERGE: return cmd_merge(o);
  case CMD_BUDGET:
  case CMD_SERVE: return exec_real(o, argv);
  }
  return EXIT_INTERNAL; /* not a cli_cmd */
}

int main(int argc, char **argv) {
  cli_opts o;
  char err[512];
  int ex, json = 0;
  for (int i = 1; i < argc; i++) json |= strcmp(argv[i], "--json") == 0;
  if (cli_parse(argc, argv, &o, err, sizeof err) != AS_OK) {
    cli_error("%s", err);
    ex = EXIT_USAGE;
  } else {
    /* The tool's name starts every printed replay command. */
    const char *argv0 = argv[0] && strlen(argv[0]) <= CLI_MAX_ARG_LEN ? argv[0] : "agentsim";
    cli_catalog_swarm(o.swarm);
    ex = dispatch(&o, argv0, argv);
  }
  cli_programs_free();
  if (json && (ex == EXIT_USAGE || ex == EXIT_INTERNAL) && !cli_json_printed())
    if (cli_json_error(argc > 1 ? argv[1] : "", ex) != AS_OK) ex = EXIT_INTERNAL;
  /* A full disk or a closed pipe must not pass for success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "agentsim: writing the output failed: %s\n", strerror(errno));
    return EXIT_INTERNAL;
  }
  return ex;
}
