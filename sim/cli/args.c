/*
** args.c -- command-line parsing (see args.h).
*/
#include "agentsim/fmt.h"
#include "agentsim/http_api.h"
#include "args.h"
#include "num.h"
#include "schedule.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cli_command_info cli_commands[] = {
    {"run", CMD_RUN, "SCENARIO --seed N", "run one seed of a scenario or self-test",
     "Prints the options the seed chose, the result, the trace hash, the schedule string and, "
     "for a failure, the commands that replay it."},
    {"sweep", CMD_SWEEP, "SCENARIO... --seeds N", "run many seeds, in worker processes",
     "Every failure is printed with its replay command; the summary, JSON and JUnit name each "
     "SCENARIO exactly as it was given. Failures are grouped into buckets by signature (the "
     "outcome, the check, the operation and its line): each with its count, its smallest seed "
     "and that seed's replay command, biggest first, whatever --jobs. Shards (--shard I/N or "
     "auto) run on many machines; 'agentsim merge' reads their --json results back as one "
     "sweep (docs/sharding.md)."},
    {"replay", CMD_REPLAY, "SCENARIO (--seed N | --schedule STRING)",
     "replay a run bit for bit, from its seed or schedule string",
     "A schedule string carries every decision and the seeds of the other streams; a replay "
     "that cannot follow it exits 2 saying where."},
    {"shrink", CMD_SHRINK, "SCENARIO (--seed N | --schedule STRING)",
     "shrink a failing run: fewer preemptions, faults, operations",
     "Replays the failing run and minimises it while the same failure (outcome and check) "
     "persists: it works on the run's choices (deletes them, lowers them to the default: "
     "keep running the task that ran last), on its injected faults and spurious wakeups, and, "
     "for a scenario, on its operations, actors and sessions, within --attempts runs. Prints "
     "what it shrank from and to, the schedule string that replays the shrunk failure, and "
     "the interleaving as a table, a column per task, each switch with its reason. Exit 1 "
     "(the shrunk run fails, as a replay of it will), 2 bad usage or a seed that passes, 3 "
     "an internal error."},
    {"mutants", CMD_MUTANTS, "[SCENARIO...]", "the kill table of the runtime's planted bugs",
     "Switches each mutant on in turn and sweeps the scenarios (default: " "fixtures/scenarios/"
     "*.scn) under each strategy (random, pct:d=3, pos, portfolio) until a seed fails; prints "
     "the seeds each took to the first kill and, for the portfolio's kill, the kill rate on the "
     "killing scenario, the first check that caught it and the command that replays it."},
    {"check", CMD_CHECK, "app DIR", "validate an app (DIR/app.yaml and its prompt files)",
     "Reads the app as the runtime would and reports every error it finds, one per line as "
     "FILE:LINE:COL: message, with what was expected; exit 0 (with a one-line summary of its "
     "agents, tools and routes) or 2. docs/apps.md describes the format."},
    {"parse", CMD_PARSE, "envelope|json FILE|-",
     "check a model's answer: its turn-output envelope, or JSON",
     "parse json: FILE (- for stdin) must be one strict RFC 8259 text: no duplicate keys, "
     "no \\u0000, valid UTF-8, at most 256 KiB and 32 levels deep; prints it back compact. "
     "parse envelope: FILE is the last assistant message's text (at most 64 KiB), searched "
     "for the envelope {\"content\", \"confidence\" in [0,1], \"rationale\", \"signal\"?} "
     "as the runtime does: the whole text as JSON, then its ``` and ```json fences, the last "
     "first, then its balanced {...}, the widest first, 16 candidates at most "
     "(docs/envelope.md); prints content, confidence, rationale, "
     "signal and where it was found. A refusal prints FILE:LINE:COL: (offset N) REASON. "
     "Exit 0 accepted, 1 refused, 2 bad usage or a file that cannot be read."},
    {"metrics", CMD_METRICS, "--db PATH",
     "Prometheus metrics, derived from a runtime database's ledger",
     "Prints the text exposition (format 0.0.4) of the database's cost ledger, budget "
     "reservations and event log, read in one transaction: agent_cycles_total, "
     "agent_cycle_duration_seconds, agent_phase_duration_seconds, agent_gate_results_total, "
     "agent_tokens_total, agent_budget_spend_dollars_total, agent_budget_remaining_dollars and "
     "the OpenTelemetry GenAI client histograms (runtime/include/agentsim/metrics.h). The daily "
     "limit is --budget, else AGENT_DAILY_BUDGET, else $5. With --out it replaces FILE "
     "atomically instead (a textfile collector's file); with --push it PUTs them to a "
     "Pushgateway as URL/metrics/job/NAME, within 10 s, and requires an HTTP 2xx. Exit 0, 2 "
     "for bad usage or a database that cannot be read, 3 when the output cannot be written or "
     "pushed."},
    {"budget", CMD_BUDGET, "--db PATH | --url URL",
     "the daily budget's status, from a runtime database's ledger",
     "Prints today's (UTC) status as the seed's CLI does: date, daily limit, today's spend "
     "(the ledger's records billed to today), reserved (what open cycles still hold of their "
     "estimates), remaining, cycles affordable at the cycle estimate, and spend events "
     "(today's records); with --json one object with the same figures in dollars and in "
     "micro-dollars (docs/budget.md). The daily limit is --budget, else AGENT_DAILY_BUDGET, "
     "else --app's budget.daily_limit, else $5; the cycle estimate is --app's "
     "budget.cycle_estimate, else $0.15. It writes nothing (an older database gets the "
     "schema migration any runtime would give it). Exit 0, "
     "or 2 for bad usage or a database that cannot be read. With --url it asks a running "
     "`agentsim serve` instead (GET URL/agent/budget, within 10 s) and prints the same; exit 3 "
     "when the server cannot be reached or does not answer JSON."},
    {"serve", CMD_SERVE, "--app DIR --db PATH [--llm SPEC]",
     "run the runtime for real behind its HTTP API (docs/serve.md)",
     "Runs the app's agents on real threads over an on-disk WAL database, with the approval "
     "watchdog on a real timer, behind an HTTP/JSON API on loopback (libmicrohttpd): POST "
     "/agent/trigger, GET /agent/budget, /agent/status, /sessions/recent, /sessions/{id}, "
     "/sessions/{id}/events (SSE with Accept: text/event-stream), POST "
     "/sessions/{id}/approvals/{call}, /sessions/{id}/retry, /sessions/{id}/cancel, GET "
     "/sessions/{id}/retry/preview, /metrics, /healthz. The first line on stdout is "
     "'listening on http://HOST:PORT' (--listen 127.0.0.1:0 picks a free port). The LLM is "
     "--llm SPEC: stub:SCRIPT, openai:URL[,model=M][,key_env=VAR][,stream][,structured]"
     "[,timeout=DUR], ollama:URL[,...], record:DIR,SPEC (record every exchange into the "
     "cassette DIR) or cassette:DIR (replay one); without it, the app's llm: section. The "
     "API key is read from the variable key_env names and never printed. The daily limit is --budget, else AGENT_DAILY_BUDGET, else the app's. "
     "SIGTERM or SIGINT drains: no new connections or triggers, running cycles get --grace "
     "to finish and are then cancelled (their reservations released), the WAL is "
     "checkpointed; exit 0. Exit 2 for bad usage, 3 when the server cannot start."},
    {"merge", CMD_MERGE, "RESULT.json...", "merge the JSON results of a sweep's shards",
     "Reads the results of `sweep --json` run as shards (--shard I/N or --shard auto) and "
     "prints one report, as one sweep of all their seeds would: totals, failures, failure "
     "buckets; --junit writes one JUnit file, --json one JSON object of the same shape as "
     "sweep's. It refuses (exit 2, naming the files) results of different builds, scenarios "
     "(their fingerprints), seed ranges, strategies or options, a shard given twice, an "
     "incomplete shard and malformed JSON (FILE:LINE:COL). Shards missing from a complete "
     "set are named; the report covers the others and the exit is 2 (docs/sharding.md). "
     "Otherwise exit 0 pass, 1 failures found, 3 harness errors."},
    {"selftest", CMD_SELFTEST, "", "the scheduler's regression table", NULL},
    {"bench", CMD_BENCH, "", "switch rates, seeds/s, steps/s; real threads vs the sim",
     NULL},
    {"list", CMD_LIST, "", "the self-tests and the bundled scenarios", NULL},
    {"help", CMD_HELP, "[COMMAND | scenarios | checks | mutants]", "this text, or one command's",
     NULL},
    {"version", CMD_VERSION, "", "the version", NULL},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

const char *const cli_help_topics[] = {"scenarios", "checks", "mutants", NULL};

const char *cli_cmd_name(cli_cmd c) {
  for (size_t i = 0; i < cli_ncommands; i++)
    if (cli_commands[i].cmd == c) return cli_commands[i].name;
  return "agentsim";
}

#define ON CLI_ON
#define EXPLORE (ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS) | \
                 ON(CMD_SHRINK))

typedef enum opt_id {
  O_SEED, O_SEEDS, O_SEED_START, O_STRATEGY, O_MUTANT, O_SCHEDULE, O_JOBS, O_SHARD,
  O_JUNIT, O_JSON, O_VERBOSE, O_CHECK, O_QUICK, O_MAX_STEPS, O_MAX_TIME, O_MAX_CPU, O_SWITCH,
  O_SWARM, O_SPURIOUS, O_STRUCTURED, O_DB, O_OUT, O_PUSH, O_JOB, O_BUDGET, O_APP, O_URL, O_LISTEN, O_LLM, O_PRICES, O_GRACE, O_QUEUE, O_ATTEMPTS, O_EMIT,
  O_TIMELINE, O_TRACE_JSON, O_HELP
} opt_id;

const cli_option_info cli_options[] = {
    {"--seed", O_SEED, 1, ON(CMD_RUN) | ON(CMD_REPLAY) | ON(CMD_SHRINK), "N",
     "root seed (unsigned 64-bit); it fixes every choice of the run"},
    {"--seeds", O_SEEDS, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS), "N",
     "how many seeds: --seed-start .. --seed-start+N-1 (selftest, mutants: default 1000)"},
    {"--seed-start", O_SEED_START, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS), "S",
     "the first seed (default 0)"},
    {"--strategy", O_STRATEGY, 1, ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SHRINK), "S",
     "random (run's and replay's default): uniform random walk over the runnable tasks;\n"
     "pct, pct:d=K, pct:d=K,k=N: PCT with bug depth K (default 3) and change points over "
     "the run's first N decisions (default: measured, the most decisions of 4 random and 4 "
     "pct:d=1 runs of the program);\n"
     "pos: partial-order sampling, the seam's objects as the conflict relation;\n"
     "portfolio (sweep's default): seed % 5 picks random, pct:d=1, pct:d=2, pct:d=3 or pos"},
    {"--mutant", O_MUTANT, 1, ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SHRINK), "NAME",
     "switch on one of the runtime's planted bugs ('agentsim help mutants')"},
    {"--schedule", O_SCHEDULE, 1, ON(CMD_REPLAY) | ON(CMD_SHRINK), "STRING",
     "replay a recorded schedule (v3:...) instead of a seed; @FILE reads it "
     "from FILE (the string, or run's \"schedule:\" line)"},
    {"--jobs", O_JOBS, 1, ON(CMD_SWEEP) | ON(CMD_SELFTEST) | ON(CMD_MUTANTS), "J",
     "worker processes (default: one per CPU); results do not depend on it"},
    {"--shard", O_SHARD, 1, ON(CMD_SWEEP), "I/N|auto",
     "run only shard I of N (1-based): the seeds at index I-1, I-1+N, ... of the range; "
     "auto: from the engine's environment (GitLab CI parallel, AGENTSIM_SHARD_INDEX/_TOTAL "
     "from a GitHub Actions matrix, a Kubernetes Indexed Job, a Slurm job array; "
     "docs/sharding.md), and says which on stderr"},
    {"--junit", O_JUNIT, 1, ON(CMD_SWEEP) | ON(CMD_MERGE), "FILE",
     "write a JUnit XML report of the sweep (atomically): a testcase per seed, a failure's "
     "type its signature, the buckets as the suite's properties"},
    {"--json", O_JSON, 0, EXPLORE | ON(CMD_BENCH) | ON(CMD_LIST) | ON(CMD_CHECK) | ON(CMD_PARSE) | ON(CMD_BUDGET) | ON(CMD_MERGE), NULL,
     "end stdout with one JSON object on its last line (the text goes to stderr)"},
    {"--verbose", O_VERBOSE, 0, ON(CMD_RUN) | ON(CMD_REPLAY) | ON(CMD_SHRINK), NULL,
     "print every event of the run: the interleaving (shrink: the table shows every event, "
     "not only the notable ones)"},
    {"--check-determinism", O_CHECK, 0, ON(CMD_RUN), NULL,
     "run the seed twice and from its schedule; compare every event, and say "
     "where the runs part if they do"},
    {"--quick", O_QUICK, 0, ON(CMD_BENCH), NULL, "shorter measurements"},
    {"--max-steps", O_MAX_STEPS, 1, EXPLORE, "N",
     "step budget before a run counts as a hang (default 1000000; a scenario's "
     "limits line sets its own)"},
    {"--max-time", O_MAX_TIME, 1, EXPLORE, "DUR",
     "virtual-time budget, e.g. 500ms, 30s, 12h, 7d (default 30d)"},
    {"--max-cpu", O_MAX_CPU, 1, EXPLORE, "SECONDS",
     "CPU time a task may run without reaching a scheduling point before the "
     "run counts as a hang (default 60)"},
    {"--switch", O_SWITCH, 1, EXPLORE, "KIND", "context switch: fcontext (default) or ucontext"},
    {"--swarm", O_SWARM, 0, ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SHRINK), NULL,
     "swarm testing on scenarios without a `swarm` line: each seed chooses which operations "
     "and fault kinds are on, the actor counts and the weights ('agentsim help scenarios'); "
     "a replay needs it too"},
    {"--spurious", O_SPURIOUS, 1,
     ON(CMD_RUN) | ON(CMD_SWEEP) | ON(CMD_REPLAY) | ON(CMD_SELFTEST) | ON(CMD_SHRINK),
     "PPM|off",
     "spurious wakeups: at each step with a condition waiter, one wakes with no signal at this "
     "rate per million (sweep, selftest: default 1000; run, replay --seed: off; a schedule "
     "carries its own)"},
    {"--structured", O_STRUCTURED, 1, ON(CMD_PARSE), "FILE",
     "parse envelope: the provider's structured output too (strict JSON), tried first"},
    {"--db", O_DB, 1, ON(CMD_METRICS) | ON(CMD_BUDGET) | ON(CMD_SERVE), "PATH",
     "metrics, budget: the runtime's SQLite database (it must exist); serve: the database "
     "it runs on (created when missing)"},
    {"--out", O_OUT, 1, ON(CMD_METRICS), "FILE",
     "metrics: replace FILE atomically (FILE.tmp.PID, fsync, rename) instead of printing"},
    {"--push", O_PUSH, 1, ON(CMD_METRICS), "URL",
     "metrics: PUT to the Pushgateway at URL (http://HOST:PORT) instead of printing"},
    {"--job", O_JOB, 1, ON(CMD_METRICS), "NAME",
     "metrics --push: the job's name, A-Z a-z 0-9 _ . - (default agentsim)"},
    {"--budget", O_BUDGET, 1, ON(CMD_METRICS) | ON(CMD_BUDGET) | ON(CMD_SERVE), "DOLLARS",
     "metrics, budget: the daily limit, e.g. 5 or 0.25 (default: AGENT_DAILY_BUDGET, else "
     "--app's, else 5)"},
    {"--app", O_APP, 1, ON(CMD_METRICS) | ON(CMD_BUDGET) | ON(CMD_SERVE), "DIR",
     "metrics, budget: the app whose budget.daily_limit and budget.cycle_estimate apply; "
     "serve: the app to run"},
    {"--url", O_URL, 1, ON(CMD_BUDGET), "URL",
     "budget: a running server's base URL (http://127.0.0.1:PORT) instead of --db"},
    {"--listen", O_LISTEN, 1, ON(CMD_SERVE), "HOST:PORT",
     "serve: the numeric IPv4 address and port (default 127.0.0.1:8080; port 0: any free)"},
    {"--llm", O_LLM, 1, ON(CMD_SERVE), "SPEC",
     "serve: the LLM provider: stub:SCRIPT, openai:URL[,OPT...], ollama:URL[,OPT...], "
     "record:DIR,SPEC, cassette:DIR (default: the app's llm: section)"},
    {"--prices", O_PRICES, 1, ON(CMD_SERVE), "FILE",
     "serve: the price table (default fixtures/prices/default.json)"},
    {"--grace", O_GRACE, 1, ON(CMD_SERVE), "DUR",
     "serve: how long the drain lets running cycles finish before cancelling them (default 10s)"},
    {"--queue", O_QUEUE, 1, ON(CMD_SERVE), "N",
     "serve: how many cycles may be queued or running; a trigger past it answers 503 "
     "(1 to 1024, default 1024)"},
    {"--attempts", O_ATTEMPTS, 1, ON(CMD_SHRINK), "N",
     "shrink: the most runs the shrinker makes (default 2000); past it the report says the "
     "result may not be minimal"},
    {"--emit-scenario", O_EMIT, 1, ON(CMD_SHRINK), "FILE",
     "shrink: write the shrunk case (fewer operations, actors, sessions) as a scenario file, "
     "atomically, with its replay command in a comment"},
    {"--timeline", O_TIMELINE, 1, ON(CMD_RUN) | ON(CMD_REPLAY), "FILE.html",
     "write the run as one self-contained page to step through: a lane per task, the "
     "failing step, each session's status and version (docs/timeline.md)"},
    {"--trace-json", O_TRACE_JSON, 1, ON(CMD_RUN) | ON(CMD_REPLAY), "FILE",
     "write the run as Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing: "
     "lanes per task on virtual time, lock holds, waits, calls, faults, flows"},
    {"--help", O_HELP, 0, ~0u, NULL, "this command's help"},
};
const size_t cli_noptions = sizeof cli_options / sizeof cli_options[0];

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
  return s && sim_parse_u64(s, strlen(s), v) == AS_OK ? AS_OK : AS_INVAL;
}

int cli_parse_duration(const char *s, uint64_t *ns) {
  return s && sim_parse_duration(s, strlen(s), 1, ns) == AS_OK ? AS_OK : AS_INVAL;
}

/* The strategies that take no settings. */
static const struct {
  const char *name;
  sim_strategy_kind kind;
} plain_strategies[] = {
    {"random", SIM_STRATEGY_RANDOM},
    {"pos", SIM_STRATEGY_POS},
    {"portfolio", SIM_STRATEGY_PORTFOLIO},
};

#define STRATEGY_EXPECTED "random, pct, pct:d=K, pct:d=K,k=N, pos or portfolio"

int cli_parse_strategy(const char *s, cli_opts *o, char *err, size_t cap) {
  o->strategy_text = s;
  o->pct_depth = 0;
  o->pct_steps = 0;
  for (size_t i = 0; i < sizeof plain_strategies / sizeof plain_strategies[0]; i++) {
    size_t n = strlen(plain_strategies[i].name);
    if (strncmp(s, plain_strategies[i].name, n) != 0) continue;
    if (s[n] == '\0') {
      o->strategy = plain_strategies[i].kind;
      return AS_OK;
    }
    if (s[n] == ':')
      return fail(err, cap, "--strategy '%s': %s takes no settings (d= and k= are PCT's)", s,
                  plain_strategies[i].name);
  }
  if (strncmp(s, "pct", 3) != 0 || (s[3] != '\0' && s[3] != ':'))
    return fail(err, cap, "--strategy '%s': expected " STRATEGY_EXPECTED, s);
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
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 19)
      return fail(err, cap, "--strategy '%s': expected a number after '='", s);
    /* At most 19 digits: below 10^19, so the value cannot overflow 64 bits. */
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (uint64_t)(p[i] - '0');
    if (v == 0) return fail(err, cap, "--strategy '%s': expected a positive number", s);
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
    o->has_strategy = 1;
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
    o->shard_auto = strcmp(val, "auto") == 0;
    if (!o->shard_auto && parse_shard(val, o) != AS_OK)
      return fail(err, cap, "%s '%s': expected I/N with 1 <= I <= N (for example 2/4), or auto",
                  name, val);
    if (o->shard_auto) o->shard_i = o->shard_n = 0;
    return AS_OK;
  case O_JUNIT:
    if (!*val) return fail(err, cap, "%s: expected a file name", name);
    o->junit = val;
    return AS_OK;
  case O_JSON: o->json = 1; return AS_OK;
  case O_VERBOSE: o->verbose = 1; return AS_OK;
  case O_CHECK: o->check_determinism = 1; return AS_OK;
  case O_QUICK: o->quick = 1; return AS_OK;
  case O_SWARM: o->swarm = 1; return AS_OK;
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
  case O_SPURIOUS:
    if (strcmp(val, "off") == 0) {
      v = 0;
    } else if (cli_parse_u64(val, &v) != AS_OK || v > 1000000) {
      return fail(err, cap, "%s '%s': expected a rate from 0 to 1000000 (per million steps) or off",
                  name, val);
    }
    o->spurious_set = 1;
    o->spurious_ppm = (uint32_t)v;
    return AS_OK;
  case O_STRUCTURED:
    if (!*val) return fail(err, cap, "%s: expected a file name (or - for stdin)", name);
    o->structured = val;
    return AS_OK;
  case O_DB:
  case O_OUT:
  case O_PUSH:
  case O_JOB:
  case O_BUDGET:
  case O_APP:
  case O_URL:
  case O_LISTEN:
  case O_LLM:
  case O_PRICES:
    if (!*val) return fail(err, cap, "%s: expected a value", name);
    if (id == O_URL) o->url = val;
    if (id == O_LISTEN) o->listen = val;
    if (id == O_LLM) o->llm = val;
    if (id == O_PRICES) o->prices = val;
    if (id == O_APP) o->app = val;
    if (id == O_DB) o->db = val;
    if (id == O_OUT) o->out = val;
    if (id == O_PUSH) o->push = val;
    if (id == O_JOB) o->job = val;
    if (id == O_BUDGET) o->budget = val;
    return AS_OK;
  case O_ATTEMPTS:
    if (cli_parse_u64(val, &v) != AS_OK || v == 0 || v > 10000000)
      return fail(err, cap, "%s '%s': expected a count from 1 to 10000000", name, val);
    o->attempts = v;
    return AS_OK;
  case O_EMIT:
    if (!*val) return fail(err, cap, "%s: expected a file name", name);
    o->emit_scenario = val;
    return AS_OK;
  case O_QUEUE:
    if (cli_parse_u64(val, &v) != AS_OK || v < 1 || v > AS_HTTP_QUEUE_MAX)
      return fail(err, cap, "%s '%s': expected a count from 1 to %u", name, val,
                  AS_HTTP_QUEUE_MAX);
    o->queue = (unsigned)v;
    return AS_OK;
  case O_GRACE:
    if (cli_parse_duration(val, &v) != AS_OK || v > 3600ull * 1000000000ull)
      return fail(err, cap, "%s '%s': expected a duration up to 1h, such as 10s or 500ms", name,
                  val);
    o->grace_ns = v;
    return AS_OK;
  case O_TIMELINE:
  case O_TRACE_JSON:
    if (!*val) return fail(err, cap, "%s: expected a file name", name);
    *(id == O_TIMELINE ? &o->timeline : &o->trace_json) = val;
    return AS_OK;
  case O_HELP:
    break;
  }
  /* O_HELP: every other id returned above (the ids come from cli_options,
  ** and -Wswitch keeps a case for each). */
  o->help_for = o->cmd;
  o->cmd = CMD_HELP;
  return AS_OK;
}

/* parse's words: the kind (envelope or json), then one FILE. */
static AS_WUR int parse_positional(cli_opts *o, const char *a, char *err, size_t cap) {
  if (!o->parse_kind) {
    if (strcmp(a, "envelope") != 0 && strcmp(a, "json") != 0)
      return fail(err, cap, "parse: expected envelope or json, not '%.64s'", a);
    o->parse_kind = a;
    return AS_OK;
  }
  if (o->parse_file)
    return fail(err, cap, "parse %s takes one FILE; unexpected '%.64s'", o->parse_kind, a);
  o->parse_file = a;
  return AS_OK;
}

uint32_t cli_spurious_ppm(const cli_opts *o) {
  if (o->spurious_set) return o->spurious_ppm;
  return o->cmd == CMD_SWEEP || o->cmd == CMD_SELFTEST ? CLI_DEFAULT_SPURIOUS_PPM : 0;
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
  for (size_t i = 0; i < cli_ncommands; i++)
    if (strcmp(c, cli_commands[i].name) == 0) o->cmd = cli_commands[i].cmd;
  if (o->cmd == CMD_NONE)
    return fail(err, cap, "unknown command '%.64s' (try 'agentsim help')", c);
  if (o->cmd == CMD_HELP) {
    if (argc > 3) return fail(err, cap, "help takes one command or topic");
    if (argc > 2) {
      for (size_t i = 0; i < cli_ncommands; i++)
        if (strcmp(argv[2], cli_commands[i].name) == 0) o->help_for = cli_commands[i].cmd;
      for (size_t i = 0; cli_help_topics[i]; i++)
        if (strcmp(argv[2], cli_help_topics[i]) == 0) o->help_topic = cli_help_topics[i];
      if (o->help_for == CMD_NONE && !o->help_topic) {
        char known[256];
        size_t n = as_appendf(known, sizeof known, 0, "commands:");
        for (size_t i = 0; i < cli_ncommands; i++)
          n = as_appendf(known, sizeof known, n, "%s %s", i ? "," : "", cli_commands[i].name);
        n = as_appendf(known, sizeof known, n, "; topics:");
        for (size_t i = 0; cli_help_topics[i]; i++)
          n = as_appendf(known, sizeof known, n, "%s %s", i ? "," : "", cli_help_topics[i]);
        return fail(err, cap, "help: unknown command or topic '%.64s' (%s)", argv[2], known);
      }
    }
    return AS_OK;
  }
  cli_cmd cmd = o->cmd;
  int rc;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strlen(a) > CLI_MAX_ARG_LEN)
      return fail(err, cap, "argument %.32s... is longer than %d bytes (a long schedule goes "
                  "in a file: --schedule @FILE)", a, CLI_MAX_ARG_LEN);
    if ((a[0] != '-' || a[1] == '\0') && cmd == CMD_CHECK) {
      if (!o->check_kind) {
        if (strcmp(a, "app") != 0)
          return fail(err, cap, "check: unknown kind '%.64s' (expected: app)", a);
        o->check_kind = a;
      } else if (!o->check_path) {
        o->check_path = a;
      } else {
        return fail(err, cap, "check app takes one DIR; unexpected '%.64s'", a);
      }
      continue;
    }
    if ((a[0] != '-' || a[1] == '\0') && cmd == CMD_MERGE) {
      if (o->nfiles >= CLI_MAX_MERGE_FILES)
        return fail(err, cap, "merge: too many files (at most %d)", CLI_MAX_MERGE_FILES);
      /* Move it to argv[2 + nfiles], after the files before it. */
      for (int k = i; k > 2 + (int)o->nfiles; k--) argv[k] = argv[k - 1];
      argv[2 + o->nfiles++] = (char *)a;
      o->files = &argv[2];
      continue;
    }
    if ((a[0] != '-' || a[1] == '\0') && cmd == CMD_PARSE) {
      rc = parse_positional(o, a, err, cap);
      if (rc != AS_OK) return rc;
      continue;
    }
    if (a[0] != '-' || a[1] == '\0') {
      if (cmd != CMD_RUN && cmd != CMD_SWEEP && cmd != CMD_REPLAY && cmd != CMD_MUTANTS &&
          cmd != CMD_SHRINK)
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
    size_t k;
    for (k = 0; k < cli_noptions; k++)
      if (strlen(cli_options[k].name) == nlen && strncmp(cli_options[k].name, a, nlen) == 0) break;
    if (k == cli_noptions)
      return fail(err, cap, "%s: unknown option '%.64s' (try 'agentsim help %s')", cli_cmd_name(cmd),
                  a, cli_cmd_name(cmd));
    const cli_option_info *opt = &cli_options[k];
    if (!(opt->cmds & ON(cmd)))
      return fail(err, cap, "%s does not take %s", cli_cmd_name(cmd), opt->name);
    const char *val = NULL;
    if (opt->has_arg) {
      if (eq) {
        val = eq + 1;
      } else if (i + 1 < argc) {
        val = argv[++i];
        if (strlen(val) > CLI_MAX_ARG_LEN && opt->id != O_SCHEDULE)
          return fail(err, cap, "%s: value longer than %d bytes", opt->name, CLI_MAX_ARG_LEN);
      } else {
        return fail(err, cap, "%s needs a value", opt->name);
      }
    } else if (eq) {
      return fail(err, cap, "%s takes no value", opt->name);
    }
    rc = apply(o, (opt_id)opt->id, opt->name, val, err, cap);
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
    if (o->shard_n && o->seeds < o->shard_n) return fail(err, cap, "--shard: fewer seeds than shards");
    if (!o->has_strategy) {
      o->strategy = SIM_STRATEGY_PORTFOLIO; /* a sweep's default: every strategy */
      o->strategy_text = "portfolio";
    }
    break;
  case CMD_REPLAY:
    if (o->nscenarios != 1) return fail(err, cap, "replay: expected a SCENARIO");
    if (o->has_seed == !!o->schedule)
      return fail(err, cap, "replay: expected exactly one of --seed N or --schedule STRING");
    if (o->schedule && o->has_strategy)
      return fail(err, cap, "replay: --strategy goes with --seed, not --schedule");
    if (o->schedule && o->spurious_set)
      return fail(err, cap, "replay: --spurious goes with --seed; a schedule lists its wakeups");
    break;
  case CMD_SHRINK:
    if (o->nscenarios != 1) return fail(err, cap, "shrink: expected a SCENARIO");
    if (o->has_seed == !!o->schedule)
      return fail(err, cap, "shrink: expected exactly one of --seed N or --schedule STRING");
    if (o->schedule && o->has_strategy)
      return fail(err, cap, "shrink: --strategy goes with --seed, not --schedule");
    if (o->schedule && o->spurious_set)
      return fail(err, cap, "shrink: --spurious goes with --seed; a schedule lists its wakeups");
    break;
  case CMD_CHECK:
    if (!o->check_kind) return fail(err, cap, "check: expected what to check: check app DIR");
    if (!o->check_path) return fail(err, cap, "check app: expected DIR (an app's directory)");
    break;
  case CMD_PARSE:
    if (!o->parse_kind) return fail(err, cap, "parse: expected envelope or json, then FILE");
    if (!o->parse_file) return fail(err, cap, "parse %s: expected FILE (- for stdin)", o->parse_kind);
    if (o->structured && strcmp(o->parse_kind, "envelope") != 0)
      return fail(err, cap, "parse json does not take --structured (parse envelope does)");
    if (o->structured && strcmp(o->structured, "-") == 0 && strcmp(o->parse_file, "-") == 0)
      return fail(err, cap, "parse envelope: FILE and --structured cannot both be - (stdin)");
    break;
  case CMD_METRICS:
    if (!o->db) return fail(err, cap, "metrics: expected --db PATH");
    if (o->out && o->push) return fail(err, cap, "metrics: --out and --push exclude each other");
    if (o->job && !o->push) return fail(err, cap, "metrics: --job goes with --push");
    break;
  case CMD_BUDGET:
    if (!o->db == !o->url) return fail(err, cap, "budget: expected --db PATH or --url URL");
    if (o->url && (o->app || o->budget))
      return fail(err, cap, "budget --url: the server's budget applies (no --app or --budget)");
    break;
  case CMD_MERGE:
    if (!o->nfiles) return fail(err, cap, "merge: expected RESULT.json files (sweep --json's output)");
    break;
  case CMD_SERVE:
    if (!o->app) return fail(err, cap, "serve: expected --app DIR");
    if (!o->db) return fail(err, cap, "serve: expected --db PATH");
    break;
  default:
    break;
  }
  return AS_OK;
}

void cli_strategy_text(const cli_opts *o, char *buf, size_t cap) {
  if (o->strategy != SIM_STRATEGY_PCT) {
    snprintf(buf, cap, "%s", o->strategy == SIM_STRATEGY_POS         ? "pos"
                             : o->strategy == SIM_STRATEGY_PORTFOLIO ? "portfolio"
                                                                     : "random");
    return;
  }
  unsigned d = o->pct_depth ? o->pct_depth : SIM_DEFAULT_PCT_DEPTH;
  if (o->pct_steps)
    snprintf(buf, cap, "pct:d=%u,k=%" PRIu64, d, o->pct_steps);
  else
    snprintf(buf, cap, "pct:d=%u", d);
}
