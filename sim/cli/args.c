/*
** args.c -- command-line parsing (see args.h).
*/
#include "args.h"
#include "schedule.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  cli_cmd cmd;
} commands[] = {
    {"run", CMD_RUN},           {"sweep", CMD_SWEEP},     {"replay", CMD_REPLAY},
    {"selftest", CMD_SELFTEST}, {"bench", CMD_BENCH},     {"mutants", CMD_MUTANTS},
    {"list", CMD_LIST},         {"help", CMD_HELP},       {"version", CMD_VERSION},
};

const char *cli_cmd_name(cli_cmd c) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].cmd == c) return commands[i].name;
  return "agentsim";
}

/* Which commands accept an option: a bit per cli_cmd. */
#define ON(c) (1u << (c))
#define EXPLORE (ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS))

typedef enum opt_id {
  O_SEED, O_SEEDS, O_SEED_START, O_STRATEGY, O_MUTANT, O_SCHEDULE, O_JOBS, O_SHARD,
  O_JUNIT, O_JSON, O_VERBOSE, O_CHECK, O_QUICK, O_MAX_STEPS, O_MAX_TIME, O_MAX_CPU, O_SWITCH,
  O_HELP
} opt_id;

static const struct {
  const char *name;
  opt_id id;
  int has_arg;
  unsigned cmds;
} options[] = {
    {"--seed", O_SEED, 1, ON(CMD_RUN) | ON(CMD_REPLAY)},
    {"--seeds", O_SEEDS, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS)},
    {"--seed-start", O_SEED_START, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS)},
    {"--strategy", O_STRATEGY, 1, ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY)},
    {"--mutant", O_MUTANT, 1, ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY)},
    {"--schedule", O_SCHEDULE, 1, ON(CMD_REPLAY)},
    {"--jobs", O_JOBS, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS)},
    {"--shard", O_SHARD, 1, ON(CMD_SWEEP)},
    {"--junit", O_JUNIT, 1, ON(CMD_SWEEP)},
    {"--json", O_JSON, 0, EXPLORE | ON(CMD_BENCH) | ON(CMD_LIST)},
    {"--verbose", O_VERBOSE, 0, ON(CMD_RUN) | ON(CMD_REPLAY)},
    {"--check-determinism", O_CHECK, 0, ON(CMD_RUN)},
    {"--quick", O_QUICK, 0, ON(CMD_BENCH)},
    {"--max-steps", O_MAX_STEPS, 1, EXPLORE},
    {"--max-time", O_MAX_TIME, 1, EXPLORE},
    {"--max-cpu", O_MAX_CPU, 1, EXPLORE},
    {"--switch", O_SWITCH, 1, EXPLORE},
    {"--help", O_HELP, 0, ~0u},
};

static AS_WUR int fail(char *err, size_t cap, const char *fmt, ...) AS_PRINTF(3, 4);
static int fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, cap, fmt, ap); /* ignore: a cut message still reads */
    va_end(ap);
  }
  return AS_INVAL;
}

int cli_parse_u64(const char *s, uint64_t *v) {
  if (!s || *s < '0' || *s > '9') return AS_INVAL;
  errno = 0;
  char *end = NULL;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno == ERANGE || !end || *end != '\0') return AS_INVAL;
  *v = (uint64_t)x;
  return AS_OK;
}

int cli_parse_duration(const char *s, uint64_t *ns) {
  static const struct {
    const char *suffix;
    uint64_t mult;
  } units[] = {{"ns", 1ull},           {"us", 1000ull},           {"ms", 1000000ull},
               {"s", 1000000000ull},   {"m", 60000000000ull},    {"h", 3600000000000ull},
               {"d", 86400000000000ull}};
  if (!s || *s < '0' || *s > '9') return AS_INVAL;
  size_t len = strlen(s), digits = strspn(s, "0123456789");
  if (digits > 19) return AS_INVAL;
  char num[24];
  memcpy(num, s, digits);
  num[digits] = '\0';
  uint64_t v;
  if (cli_parse_u64(num, &v) != AS_OK) return AS_INVAL;
  const char *suf = s + digits;
  uint64_t mult = 1;
  if (digits < len) {
    size_t i;
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
      if (strcmp(suf, units[i].suffix) == 0) break;
    if (i == sizeof units / sizeof units[0]) return AS_INVAL;
    mult = units[i].mult;
  }
  if (v > UINT64_MAX / mult) return AS_INVAL;
  *ns = v * mult;
  return AS_OK;
}

int cli_parse_strategy(const char *s, cli_opts *o, char *err, size_t cap) {
  o->strategy_text = s;
  o->pct_depth = 0;
  o->pct_steps = 0;
  if (strcmp(s, "random") == 0) {
    o->strategy = SIM_STRATEGY_RANDOM;
    return AS_OK;
  }
  if (strncmp(s, "pct", 3) != 0 || (s[3] != '\0' && s[3] != ':'))
    return fail(err, cap, "--strategy '%s': expected random, pct, pct:d=K or pct:d=K,k=N", s);
  o->strategy = SIM_STRATEGY_PCT;
  const char *p = s + 3;
  if (*p == '\0') return AS_OK;
  p++;
  if (*p == '\0') return fail(err, cap, "--strategy '%s': expected d=K or k=N after 'pct:'", s);
  int seen_d = 0, seen_k = 0;
  while (*p) {
    char key = p[0];
    if ((key != 'd' && key != 'k') || p[1] != '=')
      return fail(err, cap, "--strategy '%s': expected d=K or k=N after 'pct:'", s);
    p += 2;
    char num[24];
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 19)
      return fail(err, cap, "--strategy '%s': expected a number after '=' ", s);
    memcpy(num, p, n);
    num[n] = '\0';
    uint64_t v;
    if (cli_parse_u64(num, &v) != AS_OK || v == 0)
      return fail(err, cap, "--strategy '%s': expected a positive number", s);
    if ((key == 'd' && seen_d++) || (key == 'k' && seen_k++))
      return fail(err, cap, "--strategy '%s': %c= given twice", s, key);
    if (key == 'd') {
      if (v > SIM_MAX_PCT_DEPTH)
        return fail(err, cap, "--strategy '%s': depth d must be at most 64", s);
      o->pct_depth = (unsigned)v;
    } else {
      o->pct_steps = v;
    }
    p += n;
    if (*p == ',') {
      p++;
      if (*p == '\0') return fail(err, cap, "--strategy '%s': trailing ','", s);
    } else if (*p) {
      return fail(err, cap, "--strategy '%s': expected ',' between settings", s);
    }
  }
  return AS_OK;
}

static AS_WUR int parse_shard(const char *s, cli_opts *o) {
  const char *slash = strchr(s, '/');
  if (!slash || slash == s || slash - s > 10) return AS_INVAL;
  char a[16];
  memcpy(a, s, (size_t)(slash - s));
  a[slash - s] = '\0';
  uint64_t i, n;
  if (cli_parse_u64(a, &i) != AS_OK || cli_parse_u64(slash + 1, &n) != AS_OK) return AS_INVAL;
  if (n == 0 || n > 1000000 || i == 0 || i > n) return AS_INVAL;
  o->shard_i = (unsigned)i;
  o->shard_n = (unsigned)n;
  return AS_OK;
}

static AS_WUR int apply(cli_opts *o, opt_id id, const char *name, const char *val, char *err,
                 size_t cap) {
  uint64_t v;
  switch (id) {
  case O_SEED:
    if (cli_parse_u64(val, &v) != AS_OK)
      return fail(err, cap, "%s '%s': expected an unsigned 64-bit decimal number", name, val);
    o->seed = v;
    o->has_seed = 1;
    return AS_OK;
  case O_SEEDS:
    if (cli_parse_u64(val, &v) != AS_OK || v == 0)
      return fail(err, cap, "%s '%s': expected a positive count", name, val);
    o->seeds = v;
    o->has_seeds = 1;
    return AS_OK;
  case O_SEED_START:
    if (cli_parse_u64(val, &v) != AS_OK)
      return fail(err, cap, "%s '%s': expected an unsigned 64-bit decimal number", name, val);
    o->seed_start = v;
    return AS_OK;
  case O_STRATEGY:
    return cli_parse_strategy(val, o, err, cap);
  case O_MUTANT:
    o->mutant = val;
    return AS_OK;
  case O_SCHEDULE:
    o->schedule = val;
    return AS_OK;
  case O_JOBS:
    if (cli_parse_u64(val, &v) != AS_OK || v == 0 || v > 256)
      return fail(err, cap, "%s '%s': expected a count from 1 to 256", name, val);
    o->jobs = (unsigned)v;
    return AS_OK;
  case O_SHARD:
    if (parse_shard(val, o) != AS_OK)
      return fail(err, cap, "%s '%s': expected I/N with 1 <= I <= N (for example 2/4)", name, val);
    return AS_OK;
  case O_JUNIT:
    if (!*val) return fail(err, cap, "%s: expected a file name", name);
    o->junit = val;
    return AS_OK;
  case O_JSON: o->json = 1; return AS_OK;
  case O_VERBOSE: o->verbose = 1; return AS_OK;
  case O_CHECK: o->check_determinism = 1; return AS_OK;
  case O_QUICK: o->quick = 1; return AS_OK;
  case O_MAX_STEPS:
    if (cli_parse_u64(val, &v) != AS_OK || v == 0 || v > SIM_SCHEDULE_MAX_DECISIONS)
      return fail(err, cap, "%s '%s': expected a count from 1 to %u", name, val,
                  SIM_SCHEDULE_MAX_DECISIONS);
    o->max_steps = v;
    return AS_OK;
  case O_MAX_TIME:
    if (cli_parse_duration(val, &v) != AS_OK || v == 0)
      return fail(err, cap, "%s '%s': expected a duration such as 500ms, 30s, 12h or 7d",
                  name, val);
    o->max_virtual_ns = v;
    return AS_OK;
  case O_MAX_CPU:
    if (cli_parse_u64(val, &v) != AS_OK || v == 0 || v > 86400)
      return fail(err, cap, "%s '%s': expected seconds from 1 to 86400", name, val);
    o->max_cpu_s = (unsigned)v;
    return AS_OK;
  case O_SWITCH:
    if (strcmp(val, "fcontext") == 0)
      o->sw = SIM_SWITCH_FCONTEXT;
    else if (strcmp(val, "ucontext") == 0)
      o->sw = SIM_SWITCH_UCONTEXT;
    else
      return fail(err, cap, "%s '%s': expected fcontext or ucontext", name, val);
    return AS_OK;
  case O_HELP:
    o->help_for = o->cmd;
    o->cmd = CMD_HELP;
    return AS_OK;
  }
  return AS_INTERNAL;
}

int cli_parse(int argc, char **argv, cli_opts *o, char *err, size_t cap) {
  memset(o, 0, sizeof *o);
  o->strategy = SIM_STRATEGY_RANDOM;
  o->strategy_text = "random";
  if (err && cap) err[0] = '\0';
  if (argc < 2) return fail(err, cap, "no command given (try 'agentsim help')");
  const char *c = argv[1];
  if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
    o->cmd = CMD_HELP;
    return AS_OK;
  }
  if (strcmp(c, "--version") == 0) {
    o->cmd = CMD_VERSION;
    return AS_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(c, commands[i].name) == 0) o->cmd = commands[i].cmd;
  if (o->cmd == CMD_NONE)
    return fail(err, cap, "unknown command '%.64s' (try 'agentsim help')", c);
  if (o->cmd == CMD_HELP) {
    if (argc > 2) {
      for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[2], commands[i].name) == 0) o->help_for = commands[i].cmd;
      if (o->help_for == CMD_NONE)
        return fail(err, cap, "help: unknown command '%.64s'", argv[2]);
    }
    return AS_OK;
  }
  cli_cmd cmd = o->cmd;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strlen(a) > CLI_MAX_ARG_LEN)
      return fail(err, cap, "argument %.32s... is longer than %d bytes (a long schedule goes "
                  "in a file: --schedule @FILE)", a, CLI_MAX_ARG_LEN);
    if (a[0] != '-' || a[1] == '\0') {
      if (cmd != CMD_RUN && cmd != CMD_SWEEP && cmd != CMD_REPLAY && cmd != CMD_MUTANTS)
        return fail(err, cap, "%s: unexpected argument '%.64s'", cli_cmd_name(cmd), a);
      if (o->nscenarios >= CLI_MAX_SCENARIOS)
        return fail(err, cap, "too many scenarios (at most %d)", CLI_MAX_SCENARIOS);
      if (o->nscenarios >= 1 && cmd != CMD_SWEEP && cmd != CMD_MUTANTS)
        return fail(err, cap, "%s takes one scenario; unexpected '%.64s'", cli_cmd_name(cmd), a);
      o->scenarios[o->nscenarios++] = a;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    size_t k, nopt = sizeof options / sizeof options[0];
    for (k = 0; k < nopt; k++)
      if (strlen(options[k].name) == nlen && strncmp(options[k].name, a, nlen) == 0) break;
    if (k == nopt) return fail(err, cap, "%s: unknown option '%.64s'", cli_cmd_name(cmd), a);
    if (!(options[k].cmds & ON(cmd)))
      return fail(err, cap, "%s does not take %s", cli_cmd_name(cmd), options[k].name);
    const char *val = NULL;
    if (options[k].has_arg) {
      if (eq) {
        val = eq + 1;
      } else if (i + 1 < argc) {
        val = argv[++i];
        if (strlen(val) > CLI_MAX_ARG_LEN && options[k].id != O_SCHEDULE)
          return fail(err, cap, "%s: value longer than %d bytes", options[k].name,
                      CLI_MAX_ARG_LEN);
      } else {
        return fail(err, cap, "%s needs a value", options[k].name);
      }
    } else if (eq) {
      return fail(err, cap, "%s takes no value", options[k].name);
    }
    int rc = apply(o, options[k].id, options[k].name, val, err, cap);
    if (rc != AS_OK) return rc;
    if (o->cmd == CMD_HELP) return AS_OK;
  }
  /* Required pieces per command. */
  switch (cmd) {
  case CMD_RUN:
    if (o->nscenarios != 1) return fail(err, cap, "run: expected a SCENARIO");
    if (!o->has_seed) return fail(err, cap, "run: expected --seed N");
    break;
  case CMD_SWEEP:
    if (o->nscenarios == 0) return fail(err, cap, "sweep: expected at least one SCENARIO");
    if (!o->has_seeds) return fail(err, cap, "sweep: expected --seeds N");
    break;
  case CMD_REPLAY:
    if (o->nscenarios != 1) return fail(err, cap, "replay: expected a SCENARIO");
    if (o->has_seed == !!o->schedule)
      return fail(err, cap, "replay: expected exactly one of --seed N or --schedule STRING");
    if (o->schedule && strcmp(o->strategy_text, "random") != 0)
      return fail(err, cap, "replay: --strategy goes with --seed, not --schedule");
    break;
  default:
    break;
  }
  if (o->shard_n && o->has_seeds && o->seeds < o->shard_n)
    return fail(err, cap, "--shard: fewer seeds than shards");
  return AS_OK;
}
