/*
** fuzz_cli.c -- the command line: cli_parse, cli_parse_strategy,
** cli_parse_duration and cli_parse_u64.
**
** The input is split into argv words at every NUL or newline byte (a
** trailing separator ends the last word; two in a row make an empty word),
** at most FUZZ_CLI_MAX_WORDS of them after argv[0] = "agentsim". Beyond
** crash-hunting it checks the parser's contract:
** - parsing is pure: a second parse gives the same answer, even with an
**   8-byte error buffer (messages are cut, never overrun);
** - a rejection is AS_INVAL with a message; an acceptance satisfies what
**   each command requires and keeps every value in its documented range;
** - every word also goes through the three value parsers, whose accepted
**   values must agree with the word's digits and unit.
*/
#include "fuzz_common.h"

#include <string.h>

#include "args.h"
#include "schedule.h"

/* More than CLI_MAX_SCENARIOS, so the scenario cap is reachable. */
#define FUZZ_CLI_MAX_WORDS 128

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

static int is_word(char *const *argv, int argc, const char *p) {
  for (int i = 1; i < argc; i++)
    if (argv[i] == p) return 1;
  return 0;
}

/* What an accepted command line promises (args.h, args.c's last switch). */
static void check_accepted(const cli_opts *o, int argc, char *const *argv) {
  FUZZ_CHECK(o->cmd != CMD_NONE);
  FUZZ_CHECK(o->nscenarios <= CLI_MAX_SCENARIOS);
  for (unsigned i = 0; i < o->nscenarios; i++) FUZZ_CHECK(is_word(argv, argc, o->scenarios[i]));
  switch (o->cmd) {
  case CMD_RUN:
    FUZZ_CHECK(o->nscenarios == 1 && o->has_seed);
    break;
  case CMD_SWEEP:
    FUZZ_CHECK(o->nscenarios >= 1 && o->has_seeds && o->seeds > 0);
    break;
  case CMD_REPLAY:
    FUZZ_CHECK(o->nscenarios == 1 && o->has_seed != !!o->schedule);
    break;
  case CMD_MERGE:
    /* The files, moved to the front of argv[2..], are argv's words. */
    FUZZ_CHECK(o->nfiles >= 1 && o->nfiles <= CLI_MAX_MERGE_FILES && o->nscenarios == 0);
    for (unsigned i = 0; i < o->nfiles; i++)
      FUZZ_CHECK(o->files[i] == argv[2 + i] && is_word(argv, argc, o->files[i]));
    break;
  case CMD_CHECK:
    FUZZ_CHECK(o->check_kind && strcmp(o->check_kind, "app") == 0 && o->check_path);
    FUZZ_CHECK(is_word(argv, argc, o->check_kind) && is_word(argv, argc, o->check_path));
    FUZZ_CHECK(o->nscenarios == 0);
    break;
  default:
    FUZZ_CHECK(!o->check_kind && !o->check_path);
    break;
  }
  FUZZ_CHECK(o->strategy == SIM_STRATEGY_RANDOM || o->strategy == SIM_STRATEGY_PCT ||
             o->strategy == SIM_STRATEGY_POS || o->strategy == SIM_STRATEGY_PORTFOLIO);
  /* Without --strategy: a sweep runs the portfolio, everything else random. */
  FUZZ_CHECK(o->has_strategy || o->strategy == (o->cmd == CMD_SWEEP ? SIM_STRATEGY_PORTFOLIO
                                                                      : SIM_STRATEGY_RANDOM));
  FUZZ_CHECK(o->strategy_text != NULL);
  FUZZ_CHECK(o->pct_depth <= SIM_MAX_PCT_DEPTH);
  FUZZ_CHECK(o->jobs <= 256);
  FUZZ_CHECK(o->shard_n == 0 || (o->shard_i >= 1 && o->shard_i <= o->shard_n));
  FUZZ_CHECK(!o->shard_auto || o->shard_n == 0); /* auto: the command reads the environment */
  FUZZ_CHECK(o->max_steps <= SIM_SCHEDULE_MAX_DECISIONS);
  FUZZ_CHECK(o->max_cpu_s <= 86400);
}

static void check_cli_parse(int argc, char **argv) {
  cli_opts o, o2;
  char err[256], small[8];
  memset(small, 'x', sizeof small);
  int rc = cli_parse(argc, argv, &o, err, sizeof err);
  int rc2 = cli_parse(argc, argv, &o2, small, sizeof small);
  FUZZ_CHECK(rc == rc2);
  FUZZ_CHECK(memchr(small, '\0', sizeof small) != NULL);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_INVAL);
    FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    return;
  }
  FUZZ_CHECK(o.cmd == o2.cmd && o.nscenarios == o2.nscenarios && o.seed == o2.seed);
  check_accepted(&o, argc, argv);
}

static const struct {
  const char *suffix;
  uint64_t mult;
} units[] = {{"", 1ull},         {"ns", 1ull},      {"us", 1000ull},
             {"ms", 1000000ull}, {"s", 1000000000ull}, {"m", 60000000000ull},
             {"h", 3600000000000ull}, {"d", 86400000000000ull}};

static void check_value_parsers(const char *w) {
  size_t len = strlen(w), digits = strspn(w, "0123456789");
  uint64_t v = 0, ns = 0;

  if (cli_parse_u64(w, &v) == AS_OK) FUZZ_CHECK(digits == len && len > 0);

  if (cli_parse_duration(w, &ns) == AS_OK) {
    /* digits then a known unit, and ns == number * unit exactly */
    FUZZ_CHECK(digits > 0 && digits <= 20);
    char num[24];
    memcpy(num, w, digits);
    num[digits] = '\0';
    FUZZ_CHECK(cli_parse_u64(num, &v) == AS_OK);
    size_t k, nunits = sizeof units / sizeof units[0];
    for (k = 0; k < nunits; k++)
      if (strcmp(w + digits, units[k].suffix) == 0) break;
    FUZZ_CHECK(k < nunits);
    FUZZ_CHECK(ns / units[k].mult == v && ns % units[k].mult == 0);
  }

  cli_opts o;
  char err[128];
  memset(&o, 0, sizeof o);
  int rc = cli_parse_strategy(w, &o, err, sizeof err);
  if (rc == AS_OK) {
    FUZZ_CHECK(o.strategy_text == w);
    sim_strategy_kind want = strcmp(w, "random") == 0      ? SIM_STRATEGY_RANDOM
                             : strcmp(w, "pos") == 0       ? SIM_STRATEGY_POS
                             : strcmp(w, "portfolio") == 0 ? SIM_STRATEGY_PORTFOLIO
                                                           : SIM_STRATEGY_PCT;
    FUZZ_CHECK(o.strategy == want);
    FUZZ_CHECK(o.pct_depth <= SIM_MAX_PCT_DEPTH);
    FUZZ_CHECK(o.strategy != SIM_STRATEGY_PCT || strncmp(w, "pct", 3) == 0);
  } else {
    FUZZ_CHECK(rc == AS_INVAL && err[0] != '\0');
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char prog[] = "agentsim";
  char *argv[FUZZ_CLI_MAX_WORDS + 2];
  int argc = 1;
  char *buf = fuzz_cstr(data, size);
  if (!buf) return 0;

  argv[0] = prog;
  char *word = buf;
  for (size_t i = 0; i < size && argc <= FUZZ_CLI_MAX_WORDS; i++) {
    if (buf[i] != '\n' && buf[i] != '\0') continue;
    buf[i] = '\0';
    argv[argc++] = word;
    word = buf + i + 1;
  }
  if (argc <= FUZZ_CLI_MAX_WORDS && *word) argv[argc++] = word;
  argv[argc] = NULL;

  check_cli_parse(argc, argv);
  for (int i = 1; i < argc; i++) check_value_parsers(argv[i]);
  free(buf);
  return 0;
}
