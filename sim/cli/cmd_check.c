/*
** cmd_check.c -- `agentsim check app DIR`: load an app as the runtime would
** (app.h) and report every error, or a one-line summary.
**
** Exit 0 when the app loads; 2 when it does not (every error printed on
** stderr as FILE:LINE:COL: message); 3 out of memory. With --json the last
** line of stdout is {"command":"check","app":DIR,"ok":BOOL,"errors":[...],
** ...} and the text goes to stderr.
*/
#include <stdio.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/seam.h"
#include "cli.h"

typedef struct counts {
  size_t app_tools, routes, defaults;
} counts;

static counts count(const as_app *a) {
  counts c = {0, 0, 0};
  for (size_t i = 0; i < a->ntools; i++) c.app_tools += a->tools[i].kind == AS_TOOLK_APP;
  for (size_t i = 0; i < a->nagents; i++) c.routes += a->agents[i].nroutes + 1;
  c.defaults = a->nagents;
  return c;
}

static void print_item(FILE *f, const as_app_diag_item *it) {
  if (it->line)
    fprintf(f, "%s:%u:%u: %s\n", it->file, it->line, it->column, it->message);
  else
    fprintf(f, "%s: %s\n", it->file, it->message);
}

static AS_WUR int emit_json(const cli_opts *o, const as_app *a, const as_app_diag *d, int ex) {
  json_t *j = json_object();
  int bad = cli_jset(j, "command", json_string("check"));
  bad |= cli_jset(j, "app", cli_jstr(o->check_path));
  bad |= cli_jset(j, "ok", json_boolean(a != NULL));
  bad |= cli_jset(j, "exit", json_integer(ex));
  if (a) {
    counts c = count(a);
    bad |= cli_jset(j, "name", cli_jstr(a->name));
    bad |= cli_jset(j, "entry", cli_jstr(a->agents[a->entry].name));
    bad |= cli_jset(j, "agents", json_integer((json_int_t)a->nagents));
    bad |= cli_jset(j, "tools", json_integer((json_int_t)a->ntools));
    bad |= cli_jset(j, "app_tools", json_integer((json_int_t)c.app_tools));
    bad |= cli_jset(j, "routes", json_integer((json_int_t)c.routes));
  }
  json_t *errs = json_array();
  for (size_t i = 0; i < d->n; i++) {
    const as_app_diag_item *it = &d->items[i];
    json_t *e = json_object();
    bad |= cli_jset(e, "file", cli_jstr(it->file));
    bad |= cli_jset(e, "line", json_integer(it->line));
    bad |= cli_jset(e, "column", json_integer(it->column));
    bad |= cli_jset(e, "message", cli_jstr(it->message));
    bad |= cli_jpush(errs, e);
  }
  bad |= cli_jset(j, "errors", errs);
  bad |= cli_jset(j, "more_errors", json_boolean(d->more));
  return cli_jemit(j, bad);
}

int cmd_check(const cli_opts *o) {
  /* The diagnostics are large (AS_APP_DIAG_MAX items): off the stack. */
  as_app_diag *d = as_malloc(sizeof *d);
  if (!d) {
    cli_error("check: out of memory");
    return EXIT_INTERNAL;
  }
  memset(d, 0, sizeof *d);
  as_app *a = NULL;
  int rc = as_app_load(o->check_path, &a, d);
  FILE *text = o->json ? stderr : stdout;
  int ex = EXIT_PASS;
  if (rc == AS_OK) {
    counts c = count(a);
    fprintf(text,
            "app %s (%s): %zu agents, %zu tools (%zu app, %u runtime), %zu routes (%zu "
            "default); entry %s\n",
            a->name, o->check_path, a->nagents, a->ntools, c.app_tools, AS_APP_BUILTIN_TOOLS,
            c.routes, c.defaults, a->agents[a->entry].name);
  } else if (rc == AS_NOMEM) {
    cli_error("check app %s: out of memory", o->check_path);
    ex = EXIT_INTERNAL;
  } else {
    ex = EXIT_USAGE;
    for (size_t i = 0; i < d->n; i++) print_item(stderr, &d->items[i]);
    if (d->more)
      fprintf(stderr, "agentsim: check app %s: more errors than the %u shown\n", o->check_path,
              AS_APP_DIAG_MAX);
    if (d->n == 0) cli_error("check app %s: %s", o->check_path, as_status_msg(rc));
  }
  if (o->json && ex != EXIT_INTERNAL && emit_json(o, a, d, ex) != AS_OK) ex = EXIT_INTERNAL;
  as_app_free(a);
  as_free(d);
  return ex;
}
