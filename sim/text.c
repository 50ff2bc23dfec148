/*
** text.c -- see text.h.
*/
#include "text.h"

#include <string.h>

/* fprintf's count, or 0 on an output error: the caller reads ferror(). */
static int put(int n) { return n < 0 ? 0 : n; }

void sim_wrap(FILE *f, const char *head, int col, const char *text) {
  int at = put(fprintf(f, "%s", head));
  if (at >= col && at > 0 && *text) {
    fprintf(f, "\n%*s", col, "");
    at = col;
  }
  for (const char *h = text; *h;) {
    if (at < col) at += put(fprintf(f, "%*s", col - at, ""));
    const char *end = h + strcspn(h, "\n");
    int fresh = 1;
    for (;;) {
      while (h < end && *h == ' ') h++;
      size_t w = strcspn(h, " \n");
      if (w == 0) break;
      if (!fresh && at + 1 + (int)w > SIM_TEXT_WIDTH) {
        fprintf(f, "\n%*s", col, "");
        at = col;
        fresh = 1;
      }
      at += put(fprintf(f, "%s%.*s", fresh ? "" : " ", (int)w, h));
      fresh = 0;
      h += w;
    }
    fputc('\n', f);
    at = 0;
    h = end + (*end == '\n');
  }
  if (!*text) fputc('\n', f); /* HEAD alone still ends its line */
}
