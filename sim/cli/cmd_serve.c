/*
** cmd_serve.c -- `agentsim serve`: the runtime for real behind its HTTP API
** (runtime/include/agentsim/http_api.h, docs/serve.md).
**
** The CLI's share: the options, the environment (AGENT_DAILY_BUDGET through
** cli_budget_from; an API key's variable, named by the provider's spec), the
** provider (--llm), startup recovery (as_budget_recover), the signals and
** the exit status. SIGTERM and SIGINT are blocked before any thread starts,
** so every thread inherits the mask and only the main thread, in sigwait,
** ever sees them.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/http_api.h"
#include "agentsim/locks.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "cli.h"
#include "llm/spec.h"

#define SEC 1000000000ull
#define DEFAULT_PRICES "fixtures/prices/default.json"

/* "HOST:PORT", HOST a numeric IPv4 address. */
static AS_WUR int parse_listen(const char *s, char *host, size_t cap, unsigned *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= cap) return AS_PARSE;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  uint64_t p;
  if (cli_parse_u64(colon + 1, &p) != AS_OK || p > 65535) return AS_PARSE;
  *port = (unsigned)p;
  return AS_OK;
}

/* Without --llm, the app's llm: section; an HTTP spec without a model or a
** key variable takes the app's; the key itself from the variable's value
** (read here, in the CLI: runtime/ reads no environment; never printed). */
static AS_WUR int llm_spec_settle(const cli_opts *o, const as_app *app, as_llm_spec *spec) {
  const as_app_llm *al = &app->llm;
  if (!o->llm) {
    if (!al->present) {
      cli_error("serve: no LLM: give --llm SPEC (stub:SCRIPT, openai:URL, ollama:URL, "
                "record:DIR,SPEC, cassette:DIR) or an llm: section in %s/app.yaml", o->app);
      return AS_INVAL;
    }
    if (as_llm_spec_from_app(al, spec) != AS_OK) {
      cli_error("serve: %s/app.yaml: llm: a base_url, model or api_key_env past --llm's caps",
                o->app);
      return AS_TOOBIG;
    }
  }
  bool http = spec->kind == AS_SPEC_OPENAI || spec->kind == AS_SPEC_OLLAMA ||
              spec->kind == AS_SPEC_RECORD;
  if (!http) return AS_OK;
  as_llm_http_spec *h = &spec->http;
  bool same = al->present && (al->provider == AS_WIRE_OLLAMA) == (h->kind == AS_SPEC_OLLAMA);
  if (same && !h->model[0] && strlen(al->model) < sizeof h->model)
    memcpy(h->model, al->model, strlen(al->model) + 1);
  if (same && !h->key_env[0] && strlen(al->api_key_env) < sizeof h->key_env)
    memcpy(h->key_env, al->api_key_env, strlen(al->api_key_env) + 1);
  if (!h->key_env[0]) return AS_OK;
  const char *key = getenv(h->key_env);
  if (!key || !*key) {
    cli_error("serve: the API key's variable %s is not set (key_env=%s)", h->key_env, h->key_env);
    return AS_INVAL;
  }
  h->api_key = key;
  return AS_OK;
}

int cmd_serve(const cli_opts *o) {
  int ex = EXIT_USAGE, rc;
  char host[64] = "127.0.0.1", err[512];
  unsigned port = 8080;
  as_app *app = NULL;
  as_prices *prices = NULL;
  as_llm_opened llm;
  memset(&llm, 0, sizeof llm);
  as_lock_registry *locks = NULL;
  as_runs *runs = NULL;
  as_http_api *api = NULL;
  as_http_server *srv = NULL;
  as_store *st = NULL;
  if (o->listen && parse_listen(o->listen, host, sizeof host, &port) != AS_OK) {
    cli_error("serve: --listen '%.64s': expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any)",
              o->listen);
    goto out;
  }
  as_llm_spec spec;
  if (o->llm && as_llm_spec_parse(o->llm, &spec, err, sizeof err) != AS_OK) {
    cli_error("serve: %s", err);
    goto out;
  }
  as_budget_cfg budget;
  rc = cli_load_app("serve", o->app, &app);
  if (rc == AS_OK) rc = cli_budget_from(o, "serve", app, &budget);
  if (rc != AS_OK) {
    if (rc == AS_NOMEM) ex = EXIT_INTERNAL;
    goto out;
  }
  if (llm_spec_settle(o, app, &spec) != AS_OK) goto out;
  prices = calloc(1, sizeof *prices);
  if (!prices) {
    ex = EXIT_INTERNAL;
    goto out;
  }
  const char *pf = o->prices ? o->prices : DEFAULT_PRICES;
  rc = as_prices_load(pf, prices, err, sizeof err);
  if (rc != AS_OK) {
    cli_error("serve: --prices %s: %s%s", pf, err[0] ? err : as_status_msg(rc),
              o->prices ? "" : " (the default, relative to the working directory: give --prices FILE)");
    goto out;
  }
  budget.prices = prices;
  rc = as_llm_spec_open(&spec, 0, as_llm_usage_from_inclusive, &llm, err, sizeof err);
  if (rc != AS_OK) {
    cli_error("serve: %s", err[0] ? err : as_status_msg(rc));
    goto out;
  }
  /* Startup: the file made or migrated, and the cycles a crash left open
  ** released. */
  as_store_opts so = {.journal_mode = "wal", .busy_timeout_ms = 5000};
  rc = as_store_open(&st, o->db, &so);
  size_t released = 0;
  if (rc == AS_OK) rc = as_budget_recover(st, &released);
  as_store_close(st);
  st = NULL;
  if (rc != AS_OK) {
    cli_error("serve: --db %s: %s", o->db, as_status_msg(rc));
    goto out;
  }
  if (released) fprintf(stderr, "agentsim: serve: recovered %zu open reservations\n", released);
  ex = EXIT_INTERNAL;
  if (as_locks_new(&locks, 0) != AS_OK || as_runs_new(&runs, 0) != AS_OK) goto out;
  as_http_cfg hc = {.app = app, .locks = locks, .runs = runs, .budget = &budget,
                    .llm = &llm.llm, .queue_max = o->queue};
  if (as_http_api_new(&hc, &api) != AS_OK) goto out;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    cli_error("serve: cannot block the signals");
    goto out;
  }
  as_http_server_cfg sc = {.db_path = o->db, .store = so, .host = host, .port = port};
  rc = as_http_server_start(api, &sc, &srv);
  if (rc != AS_OK) {
    cli_error("serve: cannot start on %s:%u: %s", host, port, as_status_msg(rc));
    goto out;
  }
  printf("listening on http://%s:%u\n", host, as_http_server_port(srv));
  if (fflush(stdout) != 0) cli_error("serve: writing stdout failed");
  int sig = 0;
  if (sigwait(&set, &sig) != 0) cli_error("serve: sigwait failed");
  fprintf(stderr, "agentsim: serve: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  size_t cancelled = 0;
  rc = as_http_server_stop(srv, o->grace_ns ? o->grace_ns : 10 * SEC, &cancelled);
  srv = NULL;
  fprintf(stderr, "agentsim: serve: drained (%zu cycles cancelled)%s%s\n", cancelled,
          rc == AS_OK ? "" : ": ", rc == AS_OK ? "" : as_status_msg(rc));
  ex = rc == AS_OK ? EXIT_PASS : EXIT_INTERNAL;
out:
  as_http_api_free(api);
  as_runs_free(runs);
  as_locks_free(locks);
  as_llm_opened_close(&llm);
  free(prices);
  if (app) as_app_free(app);
  return ex;
}
