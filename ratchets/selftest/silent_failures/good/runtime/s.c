/* Clean: every fallible call checked or deliberately ignored with a reason. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentsim/seam.h"

static AS_WUR int step(void) { return AS_IO; }

AS_WUR int marked(int x);
int marked(int x) {
  if (x) return AS_NOMEM;
  return AS_OK;
}

AS_WUR int clean(FILE *fp, sqlite3 *db);
int clean(FILE *fp, sqlite3 *db) {
  int rc = step();
  char *buf = malloc(16);
  if (rc != AS_OK) goto out;
  if (rc == AS_OK) buf[0] = 'x';
  if (sqlite3_exec(db, "PRAGMA x", 0, 0, 0) != SQLITE_OK) {
    as_log(AS_LOG_WARN, "pragma failed");
    rc = AS_IO;
    goto out;
  }
  if (fclose(fp) != 0) rc = AS_IO;
  (void)fflush(stderr); /* ignore: a diagnostic stream */
out:
  if (rc != AS_OK) free(buf);
  return rc;
}
