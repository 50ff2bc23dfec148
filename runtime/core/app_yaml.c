/*
** app_yaml.c -- app.yaml's text into a small tree of scalars, mappings and
** lists (app_internal.h), from libyaml's events, and the error list every
** step of the loader adds to.
**
** Events rather than libyaml's document API: the document API follows
** aliases, and an alias to an enclosing node makes a cycle (`&a [*a]`) or
** an exponential expansion ("billion laughs"). Here an alias, an anchor or
** an explicit tag is an error with its place, and nothing is expanded.
** Every count is capped: nodes (AS_APP_NODES_MAX), nesting
** (AS_APP_DEPTH_MAX) and one scalar's bytes (AS_APP_SCALAR_MAX).
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "app_internal.h"

/* --- errors ------------------------------------------------------------------- */

void app_err(app_errs *e, unsigned line, unsigned col, const char *fmt, ...) {
  as_app_diag *d = e->diag;
  if (d->n >= AS_APP_DIAG_MAX) {
    d->more = true;
    return;
  }
  as_app_diag_item *it = &d->items[d->n++];
  memset(it, 0, sizeof *it);
  as_appendf(it->file, sizeof it->file, 0, "%s", e->file); /* a cut name still says which */
  it->line = line;
  it->column = line ? col : 0;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(it->message, sizeof it->message, fmt, ap);
  va_end(ap);
  if (w < 0) {
    it->message[0] = '\0';
  } else if ((size_t)w >= sizeof it->message) {
    /* Cut, and say so: "..." ends a message that did not fit. */
    memcpy(it->message + sizeof it->message - 4, "...", 4);
  }
}

static bool before(const as_app_diag_item *a, const as_app_diag_item *b) {
  return a->line < b->line || (a->line == b->line && a->column < b->column);
}

void app_errs_sort(app_errs *e) {
  as_app_diag *d = e->diag;
  /* Insertion sort: at most AS_APP_DIAG_MAX items, and stable. */
  for (size_t i = 1; i < d->n; i++) {
    as_app_diag_item tmp = d->items[i];
    size_t j = i;
    while (j > 0 && before(&tmp, &d->items[j - 1])) {
      d->items[j] = d->items[j - 1];
      j--;
    }
    d->items[j] = tmp;
  }
}

/* --- the tree ------------------------------------------------------------------- */

typedef struct frame {
  int node;
  bool key_next; /* a mapping: the next child is a key */
} frame;

typedef struct builder {
  ay_doc *doc;
  app_errs *e;
  frame stack[AS_APP_DEPTH_MAX];
  size_t depth;
} builder;

bool ay_is_null(const ay_doc *d, int i) {
  const ay_node *n = ay_at(d, i);
  if (n->kind != AY_SCALAR || !n->plain) return false;
  const char *t = ay_text(d, i);
  return n->len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
         strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

void ay_free(ay_doc *doc) {
  as_free(doc->nodes);
  as_free(doc->text);
  memset(doc, 0, sizeof *doc);
  doc->root = -1;
}

/* The text arena's offsets fit in 32 bits: text_add runs once per node
** (after node_add, so at most AS_APP_NODES_MAX times), each time adding at
** most AS_APP_SCALAR_MAX bytes and a NUL; the arena's size, doubled from
** 4096 to the first that holds them, stays below twice that. */
_Static_assert(2ull * AS_APP_NODES_MAX * (AS_APP_SCALAR_MAX + 1) <= UINT32_MAX,
               "the text arena's offsets fit in 32 bits");

/* Append bytes (and a NUL) to the text arena; *at gets their offset. */
static AS_WUR int text_add(ay_doc *doc, const char *s, size_t n, uint32_t *at) {
  if (doc->tlen + n + 1 > doc->tcap) {
    size_t cap = doc->tcap ? doc->tcap : 4096;
    while (cap < doc->tlen + n + 1) cap *= 2;
    char *p = as_realloc(doc->text, cap);
    if (!p) return AS_NOMEM;
    doc->text = p;
    doc->tcap = cap;
  }
  *at = (uint32_t)doc->tlen;
  if (n) memcpy(doc->text + doc->tlen, s, n);
  doc->text[doc->tlen + n] = '\0';
  doc->tlen += n + 1;
  return AS_OK;
}

/* A new node at mark, linked under the open container (or as the root). */
static AS_WUR int node_add(builder *b, ay_kind kind, yaml_mark_t mark, int *out) {
  ay_doc *doc = b->doc;
  if (doc->nnodes >= AS_APP_NODES_MAX) {
    app_err(b->e, (unsigned)mark.line + 1, (unsigned)mark.column + 1,
            "more than %u YAML nodes (values, mappings and lists): the cap of an app",
            AS_APP_NODES_MAX);
    return AS_PARSE;
  }
  if (doc->nnodes == doc->cap) {
    size_t cap = doc->cap ? doc->cap * 2 : 256;
    ay_node *p = as_realloc(doc->nodes, cap * sizeof *p);
    if (!p) return AS_NOMEM;
    doc->nodes = p;
    doc->cap = cap;
  }
  int i = (int)doc->nnodes++;
  ay_node *n = &doc->nodes[i];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->line = (unsigned)mark.line + 1;
  n->col = (unsigned)mark.column + 1;
  n->first = n->last = n->next = -1;
  if (b->depth == 0) {
    doc->root = i; /* a document has one node at its top: the second stops the parse first */
  } else {
    frame *f = &b->stack[b->depth - 1];
    ay_node *p = &doc->nodes[f->node];
    if (p->last >= 0)
      doc->nodes[p->last].next = i;
    else
      p->first = i;
    p->last = i;
    if (p->kind == AY_SEQ || f->key_next) p->n++;
    if (p->kind == AY_MAP) f->key_next = !f->key_next;
  }
  *out = i;
  return AS_OK;
}

static void no_anchor(builder *b, const yaml_char_t *anchor, const yaml_char_t *tag,
                      yaml_mark_t m) {
  if (anchor)
    app_err(b->e, (unsigned)m.line + 1, (unsigned)m.column + 1,
            "anchors (&%.40s) are not supported: write the value out", (const char *)anchor);
  if (tag)
    app_err(b->e, (unsigned)m.line + 1, (unsigned)m.column + 1,
            "tags (%.40s) are not supported: quote a value to make it a string",
            (const char *)tag);
}

static AS_WUR int on_scalar(builder *b, const yaml_event_t *ev) {
  int i;
  yaml_mark_t m = ev->start_mark;
  no_anchor(b, ev->data.scalar.anchor, ev->data.scalar.tag, m);
  int rc = node_add(b, AY_SCALAR, m, &i);
  if (rc != AS_OK) return rc;
  const char *v = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  ay_node *node = &b->doc->nodes[i];
  node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  if (n > AS_APP_SCALAR_MAX) {
    app_err(b->e, node->line, node->col, "a value of %zu bytes: the cap is %u", n,
            AS_APP_SCALAR_MAX);
    node->bad = true;
    n = 0;
  } else if (memchr(v, '\0', n)) {
    app_err(b->e, node->line, node->col, "a NUL byte inside a value");
    node->bad = true;
    n = 0;
  }
  uint32_t at;
  rc = text_add(b->doc, v, n, &at);
  if (rc != AS_OK) return rc;
  node = &b->doc->nodes[i];
  node->text = at;
  node->len = (uint32_t)n;
  return AS_OK;
}

static AS_WUR int on_open(builder *b, const yaml_event_t *ev, ay_kind kind) {
  yaml_mark_t m = ev->start_mark;
  if (kind == AY_MAP)
    no_anchor(b, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, m);
  else
    no_anchor(b, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, m);
  if (b->depth >= AS_APP_DEPTH_MAX) {
    app_err(b->e, (unsigned)m.line + 1, (unsigned)m.column + 1,
            "nesting deeper than %u levels", AS_APP_DEPTH_MAX);
    return AS_PARSE;
  }
  int i;
  int rc = node_add(b, kind, m, &i);
  if (rc != AS_OK) return rc;
  b->stack[b->depth].node = i;
  b->stack[b->depth].key_next = true;
  b->depth++;
  return AS_OK;
}

static AS_WUR int on_alias(builder *b, const yaml_event_t *ev) {
  yaml_mark_t m = ev->start_mark;
  app_err(b->e, (unsigned)m.line + 1, (unsigned)m.column + 1,
          "aliases (*%.40s) are not supported: write the value out",
          (const char *)ev->data.alias.anchor);
  int i;
  int rc = node_add(b, AY_SCALAR, m, &i);
  if (rc != AS_OK) return rc;
  uint32_t at;
  rc = text_add(b->doc, "", 0, &at);
  if (rc != AS_OK) return rc;
  b->doc->nodes[i].text = at;
  b->doc->nodes[i].bad = true;
  return AS_OK;
}

/* Line and column (1-based, in bytes) of byte offset off of text. */
static void position(const char *text, size_t len, size_t off, unsigned *line, unsigned *col) {
  unsigned l = 1, c = 1;
  for (size_t i = 0; i < off && i < len; i++) {
    if (text[i] == '\n') {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  *line = l;
  *col = c;
}

static AS_WUR int syntax_error(const yaml_parser_t *p, const char *text, size_t len,
                               app_errs *e) {
  if (p->error == YAML_MEMORY_ERROR) return AS_NOMEM;
  const char *problem = p->problem ? p->problem : "malformed YAML";
  unsigned line, col;
  if (p->error == YAML_READER_ERROR) {
    position(text, len, p->problem_offset, &line, &col);
    if (p->problem_value >= 0)
      app_err(e, line, col, "invalid YAML: %s (byte 0x%02X)", problem,
              (unsigned)p->problem_value & 0xFFu);
    else
      app_err(e, line, col, "invalid YAML: %s", problem);
    return AS_PARSE;
  }
  line = (unsigned)p->problem_mark.line + 1;
  col = (unsigned)p->problem_mark.column + 1;
  if (p->context)
    app_err(e, line, col, "invalid YAML: %s (%s at %u:%u)", problem, p->context,
            (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
  else
    app_err(e, line, col, "invalid YAML: %s", problem);
  return AS_PARSE;
}

int ay_parse(const char *text, size_t len, ay_doc *doc, app_errs *e) {
  memset(doc, 0, sizeof *doc);
  doc->root = -1;
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) return AS_NOMEM;
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
  builder b = {.doc = doc, .e = e, .depth = 0};
  int rc = AS_OK, docs = 0;
  bool done = false;
  while (!done && rc == AS_OK) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = syntax_error(&p, text, len, e);
      break;
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT: done = true; break;
    case YAML_DOCUMENT_START_EVENT:
      if (++docs > 1) {
        app_err(e, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                "a second YAML document: app.yaml holds one");
        rc = AS_PARSE;
      }
      break;
    case YAML_SCALAR_EVENT: rc = on_scalar(&b, &ev); break;
    case YAML_SEQUENCE_START_EVENT: rc = on_open(&b, &ev, AY_SEQ); break;
    case YAML_MAPPING_START_EVENT: rc = on_open(&b, &ev, AY_MAP); break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      b.depth--; /* it ends what a start event opened: one that did not stopped the parse */
      break;
    case YAML_ALIAS_EVENT: rc = on_alias(&b, &ev); break;
    default: break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return rc;
}
