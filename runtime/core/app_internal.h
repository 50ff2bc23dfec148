/*
** app_internal.h -- what the app loader's files share (app.c, app_yaml.c,
** app_load.c, app_refs.c): the error list every step adds to, and the YAML
** tree app_yaml.c builds from libyaml's events.
**
** The tree owns its nodes and its scalar text (one arena each, through the
** seam's allocator); nodes refer to each other by index. A mapping's
** children are its keys and values in turn (key, value, key, value, ...).
** A node marked `bad` was already reported (an alias, a scalar past its
** cap, a NUL byte): the loader skips it without a second error.
*/
#ifndef AGENTSIM_APP_INTERNAL_H
#define AGENTSIM_APP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/app.h"
#include "agentsim/status.h"

/* --- errors ------------------------------------------------------------------- */

typedef struct app_errs {
  as_app_diag *diag;
  const char *file;       /* the name every item carries */
} app_errs;

/* Add one error at line:col (1-based; 0 when it has no place). Past
** AS_APP_DIAG_MAX items it sets diag->more and keeps nothing. */
void app_err(app_errs *e, unsigned line, unsigned col, const char *fmt, ...) AS_PRINTF(4, 5);
/* Order the items by line, then column (a stable sort: the order they were
** found in breaks ties). */
void app_errs_sort(app_errs *e);

/* --- the YAML tree -------------------------------------------------------------- */

typedef enum ay_kind { AY_SCALAR, AY_MAP, AY_SEQ } ay_kind;

typedef struct ay_node {
  ay_kind kind;
  bool plain;             /* a plain scalar: may read as null, a number or a boolean */
  bool bad;               /* already reported: skip it quietly */
  unsigned line, col;     /* 1-based */
  uint32_t text;          /* scalar: offset of its NUL-terminated text in the arena */
  uint32_t len;           /* scalar: bytes */
  uint32_t n;             /* map: keys; seq: items */
  int first;              /* first child, or -1 */
  int last;               /* last child, or -1 (while building) */
  int next;               /* next sibling, or -1 */
} ay_node;

typedef struct ay_doc {
  ay_node *nodes;
  size_t nnodes, cap;
  char *text;
  size_t tlen, tcap;
  int root;               /* -1 for an empty document */
} ay_doc;

/* Parse text[0..len) into *doc (zeroed first; ay_free it, also on failure).
** AS_OK with the tree built (errors it found on the way -- aliases, anchors,
** tags, long scalars -- are in *e); AS_PARSE when no tree could be built (a
** YAML syntax error, more than one document, a cap: the error is in *e);
** AS_NOMEM. */
AS_WUR int ay_parse(const char *text, size_t len, ay_doc *doc, app_errs *e);
void ay_free(ay_doc *doc);

static inline const ay_node *ay_at(const ay_doc *d, int i) { return &d->nodes[i]; }
static inline const char *ay_text(const ay_doc *d, int i) { return d->text + d->nodes[i].text; }
/* A plain empty, "~" or "null" scalar. */
bool ay_is_null(const ay_doc *d, int i);

/* --- files -------------------------------------------------------------------------- */

/* Read the file at path, at most cap bytes, into *out (owned, as_free;
** NUL-terminated, *len bytes before it). AS_OK; AS_NOTFOUND (no such file);
** AS_TOOBIG (longer than cap); AS_IO (*err: the errno); AS_NOMEM. */
AS_WUR int as__app_read_file(const char *path, size_t cap, char **out, size_t *len, int *err);

/* --- the loader's steps --------------------------------------------------------- */

/* The loader's state while it reads one tree into one app. */
typedef struct app_loader {
  app_errs e;
  const ay_doc *d;
  as_app *app;
  unsigned flags;
  int rc;                 /* sticky: AS_NOMEM, AS_INTERNAL */
  /* Where things are declared, for later references (key nodes, or -1). */
  int field_at[AS_APP_FIELDS_MAX];
  int roster_at[AS_APP_ROSTERS_MAX];
  int agent_at[AS_APP_AGENTS_MAX];
  int inject_at[AS_APP_INJECT_MAX];   /* the value node (the path) */
  bool inject_used[AS_APP_INJECT_MAX];
} app_loader;

/* The value under key in mapping map, or -1. */
int app_get(const app_loader *L, int map, const char *key);
/* An error at node i (a node of the tree, never -1): "PATH: MESSAGE" (PATH
** "" gives just the message; never NULL). */
void app_node_err(app_loader *L, int i, const char *path, const char *fmt, ...) AS_PRINTF(4, 5);
/* Check mapping map (a node, never -1; reporting a non-mapping): every key a scalar, known
** (allowed is NULL-terminated, at most 16 keys; NULL allows any name) and
** given once; with allowed NULL, at most max keys (a named collection's
** cap). `what` names a key in messages ("key", "agent", "tool"). false when
** map is not a mapping or has more than max keys (the caller then skips
** it: it was reported). */
bool app_check_map(app_loader *L, int map, const char *path, const char *const *allowed,
                   const char *what, size_t max);
/* Check list seq (a node, never -1; reporting a non-list): at most max items. */
bool app_check_seq(app_loader *L, int seq, const char *path, const char *what, size_t max);
/* Iterate a mapping's keys and values / a list's items. A key always has
** its value: libyaml's event grammar is MAPPING-START (node node)*
** MAPPING-END, and a tree is only used when its stream was parsed to the
** end (ay_parse AS_OK). */
#define AY_PAIRS(d, map, k, v)                                                \
  for (int k = ay_at(d, map)->first, v = k >= 0 ? ay_at(d, k)->next : -1; k >= 0; \
       k = ay_at(d, v)->next, v = k >= 0 ? ay_at(d, k)->next : -1)
#define AY_ITEMS(d, seq, i) for (int i = ay_at(d, seq)->first; i >= 0; i = ay_at(d, i)->next)
/* A name (letters, digits, '_' and '-', a letter or '_' first) of at most
** cap-1 bytes into dst; reports and returns false otherwise. */
bool app_name(app_loader *L, int i, const char *path, char *dst, size_t cap);
/* Text (a non-null scalar without control characters) of at most cap-1
** bytes. */
bool app_textv(app_loader *L, int i, const char *path, char *dst, size_t cap);
bool app_number(app_loader *L, int i, const char *path, double lo, double hi, double *out);
bool app_uint(app_loader *L, int i, const char *path, unsigned lo, unsigned hi, unsigned *out);
bool app_bool(app_loader *L, int i, const char *path, bool *out);
/* A dollar amount (budget.h, as_money_parse) of at least lo micro-dollars. */
bool app_money(app_loader *L, int i, const char *path, int64_t lo, int64_t *out);
/* "30m", "90s", "2h", "500ms", "1d": a positive whole number and a unit. */
bool app_duration(app_loader *L, int i, const char *path, uint64_t max_ns, uint64_t *out);
/* The roster called name: its index, or -1 after reporting at node i. */
int app_roster_ref(app_loader *L, int i, const char *path, const char *name);
/* Comma-separated names of `n` items of stride bytes at base (each starts
** with its NUL-terminated name), into buf; "none" for n == 0. */
void app_list(char *buf, size_t cap, const void *base, size_t stride, size_t n);
/* The tool an agent (or a legacy list) names at node i: qualified, or a
** bare name only one server has. Its index, or -1 after reporting. */
int app_tool_ref(app_loader *L, int i, const char *path);
/* "a mapping", "a list", "null", "'text'": what node i is, for messages. */
const char *app_what(const app_loader *L, int i, char *buf, size_t cap);

/* The sections, in the order app.c runs them (app_load.c; app_refs.c for
** those that refer to earlier ones). */
void app_load_rosters(app_loader *L, int root);
void app_load_fields(app_loader *L, int root);
void app_load_escalation_roster(app_loader *L, int root);
void app_load_builtins(app_loader *L);
void app_load_servers(app_loader *L, int root);
void app_load_legacy(app_loader *L, int root);
void app_load_inject(app_loader *L, int root);
void app_load_gate(app_loader *L, int root);
void app_load_retry(app_loader *L, int root);
void app_load_budget(app_loader *L, int root);
void app_load_llm(app_loader *L, int root);
void app_load_agents(app_loader *L, int root, const char *dir);

#endif
