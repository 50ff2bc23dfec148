/*
** catalog.c -- what a SCENARIO argument names: a built-in self-test
** ("selftest:NAME") or a scenario file (a path), and the mutants a program
** can be run with.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/mutant.h"
#include "cli.h"
#include "scenario/runner.h"
#include "selftest/programs.h"
#include "simdb.h"

/* Scenario programs loaded by this process; they live until cli_programs_free. */
static scn_runner *loaded[CLI_MAX_SCENARIOS * 2];
static unsigned nloaded;
static int swarm_all; /* --swarm */

void cli_catalog_swarm(int on) { swarm_all = on; }

static const sim_program *load_scenario(const char *path, char *err, size_t cap) {
  scenario *sc = NULL;
  scn_runner *r = NULL;
  const sim_program *p = NULL;
  if (nloaded == sizeof loaded / sizeof loaded[0]) {
    snprintf(err, cap, "%.200s: too many scenarios in one command", path);
    return NULL;
  }
  sc = malloc(sizeof *sc);
  if (!sc) {
    snprintf(err, cap, "%.200s: out of memory", path);
    return NULL;
  }
  int lrc = scn_load(path, sc, err, cap);
  if (lrc == AS_IO) {
    size_t n = strlen(err);
    snprintf(err + n, cap - n, " (a SCENARIO is a scenario file or selftest:NAME; see 'agentsim "
                               "list')");
  }
  if (lrc != AS_OK) goto out;
  if (swarm_all) scn_swarm_default(sc);
  /* SQLite on the simulated disk, before any sweep forks its workers. */
  int rc = simdb_install();
  if (rc != AS_OK) {
    snprintf(err, cap, "cannot set SQLite up for the sim: %s", as_status_msg(rc));
    goto out;
  }
  rc = scn_runner_new(&r, sc, err, cap);
  if (rc != AS_OK) {
    if (rc == AS_NOMEM) snprintf(err, cap, "%.200s: out of memory", path);
    goto out;
  }
  loaded[nloaded++] = r;
  p = scn_runner_program(r);
out:
  scn_clear(sc);
  free(sc);
  return p;
}

const sim_program *cli_find_program(const char *name, char *err, size_t cap) {
  const selftest *st = selftest_find(name);
  if (st && swarm_all) {
    snprintf(err, cap, "--swarm: %s is a self-test; swarm testing needs a scenario", name);
    return NULL;
  }
  if (st) return st->prog;
  if (strncmp(name, "selftest:", 9) == 0) {
    size_t len = (size_t)snprintf(err, cap, "unknown self-test '%.64s'; known:", name);
    for (unsigned i = 0; i < selftest_count && len < cap; i++)
      len += (size_t)snprintf(err + len, cap - len, " %s", selftests[i].prog->name);
    return NULL;
  }
  return load_scenario(name, err, cap);
}

int cli_program_is_scenario(const sim_program *p) { return p->user != NULL; }

const scenario *cli_program_scenario(const sim_program *p) {
  return p->user ? scn_runner_scenario((const scn_runner *)p->user) : NULL;
}

void cli_programs_free(void) {
  for (unsigned i = 0; i < nloaded; i++) scn_runner_free(loaded[i]);
  nloaded = 0;
  if (simdb_installed() && simdb_uninstall() != AS_OK)
    fprintf(stderr, "agentsim: warning: SQLite could not be reset at exit\n");
}

int cli_mutant(const cli_opts *o, const sim_program *p, int *id, char *err, size_t cap) {
  *id = 0;
  if (!o->mutant) return AS_OK;
  size_t n = 0;
  const as_mutant_info *list = as_mutant_list(&n);
  if (!cli_program_is_scenario(p)) {
    snprintf(err, cap, "--mutant '%.64s': %s has no mutants (the runtime's mutants need a "
                       "scenario)", o->mutant, p->name);
    return AS_INVAL;
  }
  if (as_mutant_set(o->mutant) != AS_OK) {
    size_t len = (size_t)snprintf(err, cap, "--mutant '%.64s': no such mutant; known:", o->mutant);
    for (size_t i = 0; i < n && len < cap; i++)
      len += (size_t)snprintf(err + len, cap - len, " %s", list[i].name);
    return AS_INVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i].name, o->mutant) == 0) *id = (int)i + 1;
  return AS_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

unsigned cli_bundled_scenarios(char **paths, unsigned max) {
  DIR *d = opendir(CLI_BUNDLED_DIR);
  unsigned n = 0;
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".scn") != 0) continue;
    size_t sz = sizeof CLI_BUNDLED_DIR + len + 1;
    paths[n] = malloc(sz);
    if (!paths[n]) break;
    snprintf(paths[n], sz, "%s/%s", CLI_BUNDLED_DIR, e->d_name);
    n++;
  }
  (void)closedir(d); /* ignore: a directory only read */
  qsort(paths, n, sizeof *paths, cmp_str);
  return n;
}
