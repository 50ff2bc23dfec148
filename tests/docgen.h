/*
** docgen.h -- a document's generated section must be exactly what the code
** generates: the text between "<!-- generated: begin -->" and
** "<!-- generated: end -->" in a file under the source tree. Include after
** cmocka.h.
*/
#ifndef AGENTSIM_DOCGEN_H
#define AGENTSIM_DOCGEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fail the test unless PATH's generated section equals what WRITE(f, 1)
** prints. */
static inline void docgen_match(const char *path, void (*write)(FILE *f, int markdown)) {
  static char doc[64 * 1024];
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("%s: cannot open", path);
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  assert_int_equal(fclose(f), 0);
  doc[n] = '\0';
  const char *begin = strstr(doc, "<!-- generated: begin -->\n");
  const char *end = strstr(doc, "<!-- generated: end -->");
  if (!begin || !end || end < begin) fail_msg("%s: no generated section", path);
  begin += strlen("<!-- generated: begin -->\n");
  char *gen = NULL;
  size_t len = 0;
  FILE *g = open_memstream(&gen, &len);
  assert_non_null(g);
  write(g, 1);
  assert_int_equal(fclose(g), 0);
  if ((size_t)(end - begin) != len || memcmp(begin, gen, len) != 0) {
    /* The whole expected text, for pasting between the marks (cmocka cuts
    ** long messages). */
    const char *base = strrchr(path, '/');
    char out[256];
    snprintf(out, sizeof out, "%s.generated", base ? base + 1 : path);
    FILE *o = fopen(out, "w");
    int wrote = o && fwrite(gen, 1, len, o) == len;
    if (o && fclose(o) != 0) wrote = 0;
    fail_msg("%s is not the generated reference; %s%s holds what goes between its marks", path,
             wrote ? "" : "(could not write) ", out);
  }
  free(gen);
}

#endif
