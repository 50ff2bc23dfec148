/*
** main.c -- the agentsim command-line tool.
*/
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
    "  agentsim bench [--quick] [--json]\n"
    "  agentsim list [--json]\n"
    "  agentsim help [COMMAND]\n"
    "\n"
    "SCENARIO is a program the sim runs; today the built-in self-tests\n"
    "(selftest:abba, selftest:ordering, selftest:atomicity, selftest:timer,\n"
    "selftest:counter; 'agentsim list' describes them).\n"
    "\n"
    "options:\n"
    "  --seed N            root seed (unsigned 64-bit); it fixes every choice of the run\n"
    "  --seeds N           sweep seeds --seed-start .. --seed-start+N-1 (start default 0)\n"
    "  --strategy S        random (default): uniform random walk over runnable tasks;\n"
    "                      pct, pct:d=K, pct:d=K,k=N: PCT with bug depth K (default 3)\n"
    "                      and N estimated steps (default: the program's estimate)\n"
    "  --schedule STRING   replay a recorded schedule (v1:...) instead of a seed\n"
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

int main(int argc, char **argv) {
  cli_opts o;
  char err[512];
  if (cli_parse(argc, argv, &o, err, sizeof err) != AS_OK) {
    fprintf(stderr, "agentsim: %s\n", err);
    return EXIT_USAGE;
  }
  const char *argv0 = argv[0];
  switch (o.cmd) {
  case CMD_HELP: cli_help(stdout, o.help_for); return EXIT_PASS;
  case CMD_VERSION: printf("agentsim 0.1.0\n"); return EXIT_PASS;
  case CMD_LIST: return cmd_list(&o);
  case CMD_RUN: return cmd_run(&o, argv0);
  case CMD_REPLAY: return cmd_replay(&o, argv0);
  case CMD_SWEEP: return cmd_sweep(&o, argv0);
  case CMD_SELFTEST: return cmd_selftest(&o, argv0);
  case CMD_BENCH: return cmd_bench(&o);
  default: break;
  }
  fprintf(stderr, "agentsim: no command given (try 'agentsim help')\n");
  return EXIT_USAGE;
}
