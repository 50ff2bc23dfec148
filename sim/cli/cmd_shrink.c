/*
** cmd_shrink.c -- `agentsim shrink SCENARIO (--seed N | --schedule STRING)`:
** the shrinker (shrink.h) on the command line, the shrunk case as a
** scenario file (--emit-scenario), and its interleaving as a table.
*/
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evlog.h"
#include "shrink.h"
#include "shrink_table.h"
#include "text.h"

/* "1,234", into buf (room for any 64-bit number: 27 bytes) */
static const char *grouped(char buf[32], uint64_t v) {
  char d[32];
  int n = snprintf(d, sizeof d, "%" PRIu64, v);
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    if (i && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = d[i];
  }
  buf[o] = '\0';
  return buf;
}

/* --- paths in an emitted scenario --------------------------------------------- */

/* The directory part of path ("." when none), into buf. */
static void dir_of(const char *path, char *buf, size_t cap) {
  const char *sl = strrchr(path, '/');
  if (!sl) {
    snprintf(buf, cap, ".");
  } else if (sl == path) {
    snprintf(buf, cap, "/");
  } else {
    snprintf(buf, cap, "%.*s", (int)(sl - path), path);
  }
}

/* to (absolute, normalised) relative to the directory from (the same). */
static void rel_path(const char *to, const char *from, char *buf, size_t cap) {
  size_t common = 0, i = 0;
  for (;; i++) { /* the last '/' both share at a component boundary */
    char a = to[i], b = from[i];
    if ((a == '/' || a == '\0') && (b == '/' || b == '\0')) common = i;
    if (a != b || a == '\0') break;
  }
  size_t n = 0;
  buf[0] = '\0';
  for (const char *p = from + common; *p; p++)
    if (*p == '/') n = as_appendf(buf, cap, n, "../");
  const char *rest = to + common + (to[common] == '/');
  if (!*rest && n >= 1) buf[--n] = '\0'; /* "../" alone: drop the slash */
  as_appendf(buf, cap, n, "%s", *rest ? rest : n ? "" : ".");
}

/* A path as written in a scenario whose directory was old_base, rewritten
** for one in new_dir (both real directories). */
static AS_WUR int rebase(char *path, size_t cap, const char *old_base, const char *new_dir) {
  if (!path[0] || path[0] == '/') return AS_OK;
  char joined[PATH_MAX + SCN_MAX_PATH], real[PATH_MAX], out[PATH_MAX];
  snprintf(joined, sizeof joined, "%s/%s", old_base, path);
  if (!realpath(joined, real)) {
    cli_error("shrink: --emit-scenario: %s (in the scenario) cannot be resolved: %s", joined,
              strerror(errno));
    return AS_IO;
  }
  rel_path(real, new_dir, out, sizeof out);
  if (strlen(out) >= cap) {
    cli_error("shrink: --emit-scenario: the path %s is too long for a scenario", out);
    return AS_TOOBIG;
  }
  memcpy(path, out, strlen(out) + 1);
  return AS_OK;
}

/* Write text to path through a temporary file beside it and a rename. */
static AS_WUR int write_atomic(const char *path, const char *text, size_t len) {
  char tmp[PATH_MAX];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp) {
    cli_error("shrink: --emit-scenario %s: the path is too long", path);
    return AS_TOOBIG;
  }
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    cli_error("shrink: --emit-scenario %s: cannot write %s: %s", path, tmp, strerror(errno));
    if (fd >= 0) {
      (void)close(fd); /* ignore: already failing */
      (void)unlink(tmp); /* ignore: already failing */
    }
    return AS_IO;
  }
  int bad = fwrite(text, 1, len, f) != len;
  bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    cli_error("shrink: --emit-scenario %s: write failed: %s", path, strerror(errno));
    (void)unlink(tmp); /* ignore: already failing */
    return AS_IO;
  }
  return AS_OK;
}

/* The shrunk scenario's text for a file at path: its paths rebased, and a
** header saying where it came from (and, once known, how to replay it). */
static AS_WUR int emit_text(const char *path, const shrink_out *so, const char *scen,
                            const char *sig, const char *replay, char **text, size_t *len) {
  scenario sc;
  char newdir[PATH_MAX], dir[PATH_MAX], oldbase[PATH_MAX];
  *text = NULL;
  dir_of(path, dir, sizeof dir);
  if (!realpath(dir, newdir)) {
    cli_error("shrink: --emit-scenario %s: the directory %s: %s", path, dir, strerror(errno));
    return AS_IO;
  }
  if (!realpath(so->scn.base, oldbase)) {
    cli_error("shrink: the scenario's directory %s: %s", so->scn.base, strerror(errno));
    return AS_IO;
  }
  int rc = scn_copy(&sc, &so->scn);
  if (rc != AS_OK) return rc;
  if (sc.budget && !sc.prices[0]) snprintf(sc.prices, sizeof sc.prices, "%s", SCN_PRICES_DEFAULT);
  if ((rc = rebase(sc.app, sizeof sc.app, oldbase, newdir)) != AS_OK ||
      (rc = rebase(sc.script, sizeof sc.script, oldbase, newdir)) != AS_OK ||
      (rc = rebase(sc.prices, sizeof sc.prices, oldbase, newdir)) != AS_OK ||
      (!sc.llm_record && (rc = rebase(sc.cassette, sizeof sc.cassette, oldbase, newdir)) != AS_OK))
    goto out;
  size_t cap = SCN_MAX_BYTES + 4 * CLI_CMD_MAX, n = 0, body = 0;
  char *buf = malloc(cap);
  if (!buf) {
    rc = AS_NOMEM;
    goto out;
  }
  n = as_appendf(buf, cap, n, "# Shrunk by agentsim shrink from %s.\n# It fails: %s.\n", scen, sig);
  if (replay) n = as_appendf(buf, cap, n, "# Replay: %s\n", replay);
  rc = scn_format(&sc, buf + n, cap - n, &body);
  if (rc != AS_OK) {
    free(buf);
    goto out;
  }
  *text = buf;
  *len = n + body;
out:
  scn_clear(&sc);
  return rc;
}

/* The emitted file, loaded back: its program, the shrunk run on it, and the
** schedule that replays it there (into *sched). */
static int emit(const cli_opts *o, const char *argv0, sim *s, const sim_config *base,
                const shrink_out *so, const char *scen, char **sched) {
  char sig[256], err[1024], *text = NULL, *rcmd = NULL;
  size_t len = 0;
  int ex = EXIT_INTERNAL;
  sim_schedule sc = {0};
  char *str = NULL;
  sim_result res;
  int have_res = 0;
  *sched = NULL;
  cli_sig_text(&so->sig, sig, sizeof sig);
  int rc = emit_text(o->emit_scenario, so, scen, sig, NULL, &text, &len);
  if (rc == AS_OK) rc = write_atomic(o->emit_scenario, text, len);
  free(text);
  text = NULL;
  if (rc != AS_OK) return rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
  const sim_program *p = cli_find_program(o->emit_scenario, err, sizeof err);
  if (!p) {
    cli_error("shrink: the emitted scenario does not load: %s", err);
    return EXIT_INTERNAL;
  }
  rc = sim_schedule_decode(so->schedule, &sc, err, sizeof err);
  if (rc == AS_OK) {
    sc.fingerprint = p->fingerprint;
    rc = sim_schedule_encode(&sc, &str);
  }
  if (rc != AS_OK) goto out;
  sim_config cfg = *base;
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = str;
  rc = sim_run(s, p, &cfg, &res);
  have_res = 1;
  cli_sig got;
  cli_signature((int)res.outcome, res.message, &got);
  if (rc != AS_OK || !cli_sig_same_failure(&got, &so->sig)) {
    cli_error("shrink: the emitted scenario %s does not fail the same way: %s%s%s",
              o->emit_scenario, as_status_msg(rc), res.message[0] ? ": " : "", res.message);
    goto out;
  }
  /* The header again, now with the replay command. */
  size_t rcap = CLI_CMD_MAX + strlen(res.schedule);
  rcmd = malloc(rcap);
  if (!rcmd) goto out;
  cli_schedule_replay_text(rcmd, rcap, argv0, o->emit_scenario, res.schedule, o);
  rc = emit_text(o->emit_scenario, so, scen, sig, rcmd, &text, &len);
  if (rc == AS_OK) rc = write_atomic(o->emit_scenario, text, len);
  if (rc != AS_OK) goto out;
  *sched = res.schedule;
  res.schedule = NULL;
  ex = EXIT_FOUND;
out:
  if (have_res) sim_result_clear(&res);
  sim_schedule_clear(&sc);
  free(str);
  free(text);
  free(rcmd);
  return ex;
}

/* Replay schedule on p with every event recorded, and print the table. */
static int print_interleaving(FILE *f, sim *s, const sim_program *p, const sim_config *base,
                              const char *schedule, int all) {
  sim_evlog *l = NULL;
  int rc = sim_evlog_new(&l);
  if (rc != AS_OK) {
    cli_error("shrink: out of memory for the event log");
    return EXIT_INTERNAL;
  }
  sim_config cfg = *base;
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = schedule;
  cfg.evlog = l;
  sim_result res;
  rc = sim_run(s, p, &cfg, &res);
  int ex = EXIT_FOUND;
  if (rc != AS_OK) {
    cli_error("shrink: the shrunk run does not replay: %s: %s", as_status_msg(rc), res.message);
    ex = EXIT_INTERNAL;
  } else {
    fprintf(f, "\nthe interleaving:\n");
    shrink_print_table(f, l, all);
  }
  sim_result_clear(&res);
  sim_evlog_free(l);
  return ex;
}

/* --- the report ---------------------------------------------------------------- */

static json_t *size_json(const shrink_size *z, int with_sc) {
  json_t *j = json_object();
  int bad = cli_jset(j, "decisions", json_integer((json_int_t)z->choices));
  bad |= cli_jset(j, "preemptions", json_integer((json_int_t)z->preemptions));
  bad |= cli_jset(j, "faults", json_integer((json_int_t)z->faults));
  bad |= cli_jset(j, "wakeups", json_integer((json_int_t)z->wakeups));
  if (with_sc) {
    bad |= cli_jset(j, "ops", json_integer((json_int_t)z->ops));
    bad |= cli_jset(j, "actors", json_integer((json_int_t)z->actors));
    bad |= cli_jset(j, "sessions", json_integer((json_int_t)z->sessions));
  }
  bad |= cli_jset(j, "all_decisions", json_integer((json_int_t)z->decisions));
  bad |= cli_jset(j, "steps", json_integer((json_int_t)z->steps));
  if (bad) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static void print_report(FILE *f, const char *scen, const shrink_out *so,
                         uint64_t budget, int with_sc) {
  char sig[256], a[32], b[32], c[32], d[32], e[32], g[32], r[32];
  cli_sig_text(&so->sig, sig, sizeof sig);
  fprintf(f, "scenario: %s\nfailure: %s\n", scen, sig);
  const shrink_size *x = &so->before, *y = &so->after;
  fprintf(f, "shrunk %s decisions / %s faults / %s ops to %s / %s / %s in %s runs\n",
          grouped(a, x->choices), grouped(b, x->faults + x->wakeups),
          grouped(c, x->ops), grouped(d, y->choices),
          grouped(e, y->faults + y->wakeups), grouped(g, y->ops),
          grouped(r, so->runs));
  fprintf(f,
          "  preemptions %" PRIu64 " -> %" PRIu64 ", spurious wakeups %" PRIu64 " -> %" PRIu64
          ", faults %" PRIu64 " -> %" PRIu64,
          x->preemptions, y->preemptions, x->wakeups, y->wakeups, x->faults, y->faults);
  if (with_sc)
    fprintf(f, ", actors %" PRIu64 " -> %" PRIu64 ", sessions %" PRIu64 " -> %" PRIu64, x->actors,
            y->actors, x->sessions, y->sessions);
  fprintf(f, "; %" PRIu64 " -> %" PRIu64 " steps, %.2f s\n", x->steps, y->steps, so->wall_s);
  fprintf(f, "  (decisions: those the schedule must state, every other one keeps running the "
             "task that ran last)\n");
  if (so->minimal)
    fprintf(f, "minimal: lowering any one remaining decision, or removing any one fault or "
               "wakeup, loses the failure\n");
  else
    fprintf(f, "NOT minimal: the budget of %" PRIu64 " runs ran out (--attempts N for more)\n",
            budget);
  fprintf(f, "  %s", so->message);
  if (so->message[0] && so->message[strlen(so->message) - 1] != '\n') fputc('\n', f);
}

int cmd_shrink(const cli_opts *o, const char *argv0) {
  char err[1024];
  int ex = EXIT_INTERNAL;
  sim *s = NULL;
  char *sched_buf = NULL, *emitted = NULL;
  shrink_out so;
  int have_so = 0;
  const char *scen = o->scenarios[0];
  const sim_program *p = cli_find_program(scen, err, sizeof err);
  if (!p) {
    cli_error("%s", err);
    return EXIT_USAGE;
  }
  if (o->emit_scenario && !cli_program_is_scenario(p)) {
    cli_error("shrink: --emit-scenario needs a scenario; %s is a self-test", scen);
    return EXIT_USAGE;
  }
  sim_config cfg;
  cli_config(o, &cfg);
  cfg.seed = o->seed;
  if (cli_mutant(o, p, &cfg.mutant, err, sizeof err) != AS_OK) {
    cli_error("%s", err);
    return EXIT_USAGE;
  }
  FILE *out = o->json ? stderr : stdout;
  int rc = sim_new(&s, o->sw, 0);
  if (rc != AS_OK) {
    cli_error("cannot make the sim: %s", as_status_msg(rc));
    return EXIT_INTERNAL;
  }
  const char *schedule = o->schedule;
  sim_result first;
  int have_first = 0;
  if (schedule && schedule[0] == '@') {
    if (cli_read_schedule_file(schedule + 1, &sched_buf) != AS_OK) {
      ex = EXIT_USAGE;
      goto out;
    }
    schedule = sched_buf;
  }
  if (!schedule) { /* the seed's run, as `run` makes it */
    rc = sim_run(s, p, &cfg, &first);
    have_first = 1;
    if (rc != AS_OK) {
      cli_error("shrink: %s%s%s", as_status_msg(rc), first.message[0] ? ": " : "", first.message);
      ex = rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
      goto out;
    }
    if (first.outcome == SIM_PASS) {
      cli_error("shrink: seed %" PRIu64 " of %s passes: nothing to shrink (give a failing seed)",
                o->seed, scen);
      ex = EXIT_USAGE;
      goto out;
    }
    schedule = first.schedule;
  }
  shrink_spec sp = {.prog = p,
                    .sc = o->emit_scenario ? cli_program_scenario(p) : NULL,
                    .base = cfg,
                    .schedule = schedule,
                    .attempts = o->attempts,
                    .progress = 1};
  rc = shrink_exec(s, &sp, &so, err, sizeof err);
  if (rc != AS_OK) {
    cli_error("%s", err);
    /* A schedule the user gave may be bad input; the seed's own run that
    ** does not replay is the harness's fault. */
    ex = rc == AS_NOTFOUND || (o->schedule && (rc == AS_DIVERGED || rc == AS_PARSE ||
                                               rc == AS_INVAL))
             ? EXIT_USAGE
             : EXIT_INTERNAL;
    goto out;
  }
  have_so = 1;
  uint64_t budget = o->attempts ? o->attempts : SHRINK_DEFAULT_ATTEMPTS;
  if (!sp.sc && cli_program_is_scenario(p)) { /* ops as the scenario has them, unchanged */
    shrink_size z;
    shrink_scenario_size(cli_program_scenario(p), &z);
    so.before.ops = so.after.ops = z.ops;
    so.before.actors = so.after.actors = z.actors;
    so.before.sessions = so.after.sessions = z.sessions;
  }
  print_report(out, scen, &so, budget, sp.sc != NULL);
  ex = EXIT_FOUND;
  if (o->emit_scenario) {
    ex = emit(o, argv0, s, &cfg, &so, scen, &emitted);
    if (ex == EXIT_FOUND) {
      fprintf(out, "scenario written: %s\nschedule: %s\n", o->emit_scenario, emitted);
      cli_print_schedule_replay(out, argv0, o->emit_scenario, emitted, o);
    }
  } else {
    fprintf(out, "trace hash: %016" PRIx64 "\nschedule: %s\n", so.trace_hash, so.schedule);
    cli_print_schedule_replay(out, argv0, scen, so.schedule, o);
  }
  if (!o->emit_scenario && cli_program_is_scenario(p))
    fprintf(out, "(operations, actors and sessions shrink too with --emit-scenario FILE)\n");
  if (ex == EXIT_FOUND) {
    const sim_program *tp = p;
    const char *ts = so.schedule;
    if (emitted) {
      tp = cli_find_program(o->emit_scenario, err, sizeof err);
      ts = emitted;
    }
    if (tp) ex = print_interleaving(out, s, tp, &cfg, ts, o->verbose);
  }
  if (o->json && ex == EXIT_FOUND) {
    char sig[256];
    cli_sig_text(&so.sig, sig, sizeof sig);
    json_t *j = json_object();
    int bad = cli_jset(j, "command", json_string("shrink"));
    bad |= cli_jset(j, "scenario", cli_jstr(scen));
    if (o->has_seed) bad |= cli_jset(j, "seed", cli_jseed(o->seed));
    bad |= cli_jset(j, "result", json_string("fail"));
    bad |= cli_jset(j, "outcome", json_string(sim_outcome_name((sim_outcome)so.outcome)));
    bad |= cli_jset(j, "check", cli_jstr(so.sig.check));
    bad |= cli_jset(j, "signature", cli_jstr(sig));
    bad |= cli_jset(j, "message", cli_jstr(so.message));
    bad |= cli_jset(j, "before", size_json(&so.before, cli_program_is_scenario(p)));
    bad |= cli_jset(j, "after", size_json(&so.after, cli_program_is_scenario(p)));
    bad |= cli_jset(j, "runs", json_integer((json_int_t)so.runs));
    bad |= cli_jset(j, "attempts", json_integer((json_int_t)budget));
    bad |= cli_jset(j, "minimal", json_boolean(so.minimal));
    bad |= cli_jset(j, "exhausted", json_boolean(so.exhausted));
    bad |= cli_jset(j, "seconds", json_real(so.wall_s));
    char hash[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, so.trace_hash);
    bad |= cli_jset(j, "trace_hash", json_string(hash));
    bad |= cli_jset(j, "schedule", cli_jstr(emitted ? emitted : so.schedule));
    bad |= cli_jset(j, "schedule_for", cli_jstr(emitted ? o->emit_scenario : scen));
    if (o->emit_scenario) {
      bad |= cli_jset(j, "emitted", cli_jstr(o->emit_scenario));
      bad |= cli_jset(j, "emitted_schedule", cli_jstr(emitted));
    }
    if (cli_jemit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
out:
  if (have_so) shrink_out_clear(&so);
  if (have_first) sim_result_clear(&first);
  sim_free(s);
  free(sched_buf);
  free(emitted);
  return ex;
}
