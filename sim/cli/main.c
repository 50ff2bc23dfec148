/*
** main.c -- the agentsim command-line tool.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const usage_text =
    "agentsim -- deterministic simulation for agent-runtime concurrency bugs\n"
    "\n"
    "usage:\n"
    "  agentsim run SCENARIO --seed N [--strategy S] [--json] [--verbose]\n"
    "               [--check-determinism] [LIMITS]\n"
    "  agentsim sweep SCENARIO... --seeds N [--seed-start S] [--strategy S] [--jobs J]\n"
    "               [--shard I/N] [--junit FILE] [--json] [LIMITS]\n"
    "  agentsim replay SCENARIO (--seed N [--strategy S] | --schedule STRING)\n"
    "               [--verbose] [--json] [LIMITS]\n"
    "  agentsim selftest [--seeds N] [--seed-start S] [--jobs J] [--json]\n"
    "  agentsim mutants [SCENARIO...] [--seeds N] [--jobs J] [--json]\n"
    "  agentsim bench [--quick] [--json]\n"
    "  agentsim list [--json]\n"
    "  agentsim help [COMMAND]\n"
    "\n"
    "SCENARIO is a scenario file (fixtures/scenarios/NAME.scn; format in\n"
    "docs/scenarios.md): the runtime core on a simulated disk, under the oracle.\n"
    "Or a built-in self-test of the scheduler: selftest:abba, selftest:ordering,\n"
    "selftest:atomicity, selftest:timer, selftest:counter ('agentsim list').\n"
    "'mutants' switches on each of the runtime's planted bugs in turn and sweeps\n"
    "the scenarios (default: fixtures/scenarios/*.scn) until a seed fails.\n"
    "\n"
    "options:\n"
    "  --seed N            root seed (unsigned 64-bit); it fixes every choice of the run\n"
    "  --seeds N           sweep seeds --seed-start .. --seed-start+N-1 (start default 0)\n"
    "  --strategy S        random (default): uniform random walk over runnable tasks;\n"
    "                      pct, pct:d=K, pct:d=K,k=N: PCT with bug depth K (default 3)\n"
    "                      and N estimated steps (default: the program's estimate)\n"
    "  --schedule STRING   replay a recorded schedule (v1:...) instead of a seed;\n"
    "                      @FILE reads it from FILE (the string, or run's \"schedule:\" line)\n"
    "  --jobs J            worker processes for sweeps (default: one per CPU)\n"
    "  --shard I/N         run only shard I of N (1-based) of the seed range\n"
    "  --junit FILE        write a JUnit XML report (atomically) of the sweep\n"
    "  --json              end the output with one JSON object on the last line of\n"
    "                      stdout (human-readable text then goes to stderr)\n"
    "  --verbose           print every event of the run: the interleaving\n"
    "  --check-determinism run the seed twice and from its schedule; compare hashes\n"
    "  --switch KIND       context switch: fcontext (default) or ucontext\n"
    "  --quick             bench: shorter measurements\n"
    "LIMITS:\n"
    "  --max-steps N       step budget before a run counts as a hang (default 1000000)\n"
    "  --max-time DUR      virtual-time budget, e.g. 500ms, 30s, 12h, 7d (default 30d)\n"
    "  --max-cpu SECONDS   CPU time a task may run without reaching a scheduling point\n"
    "                      before the run counts as a hang (default 60)\n"
    "\n"
    "Every run prints the options its seed chose, its trace hash and its schedule\n"
    "string; a failing run or sweep prints the exact command that replays it.\n"
    "\n"
    "exit status: 0 pass; 1 a failure found (or, for bench, a bar missed);\n"
    "             2 bad usage or bad input; 3 internal error\n";

void cli_help(FILE *f, cli_cmd which) {
  (void)which; /* one page covers every command */
  fputs(usage_text, f);
}

static int dispatch(const cli_opts *o, const char *argv0) {
  switch (o->cmd) {
  case CMD_HELP: cli_help(stdout, o->help_for); return EXIT_PASS;
  case CMD_VERSION: printf("agentsim 0.1.0\n"); return EXIT_PASS;
  case CMD_LIST: return cmd_list(o);
  case CMD_RUN: return cmd_run(o, argv0);
  case CMD_REPLAY: return cmd_replay(o, argv0);
  case CMD_SWEEP: return cmd_sweep(o, argv0);
  case CMD_SELFTEST: return cmd_selftest(o, argv0);
  case CMD_BENCH: return cmd_bench(o);
  case CMD_MUTANTS: return cmd_mutants(o, argv0);
  default: break;
  }
  cli_error("no command given (try 'agentsim help')");
  return EXIT_USAGE;
}

/* With --json, an error still ends stdout with one JSON object. */
static void json_error(const char *command, int ex) {
  printf("{\"command\":");
  json_str(stdout, command);
  printf(",\"result\":\"error\",\"exit\":%d,\"error\":", ex);
  json_str(stdout, cli_last_error());
  printf("}\n");
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
    ex = dispatch(&o, argv[0]);
  }
  cli_programs_free();
  if (json && (ex == EXIT_USAGE || ex == EXIT_INTERNAL) && !cli_json_printed())
    json_error(argc > 1 ? argv[1] : "", ex);
  /* A full disk or a closed pipe must not pass for success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "agentsim: writing the output failed: %s\n", strerror(errno));
    return EXIT_INTERNAL;
  }
  return ex;
}
