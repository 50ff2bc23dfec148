/* Planted silent failures, one of each kind. */
#include <sqlite3.h>
#include <stdio.h>

#include "agentsim/status.h"

static AS_WUR int step(void) { return AS_IO; }

int unmarked(int x) {
  if (x) return AS_NOMEM;
  return AS_OK;
}

void planted(FILE *fp, sqlite3 *db) {
  int rc = step();
  if (rc != AS_OK) {
  }
  if (rc)
    ;
  (void)fflush(fp);
  fclose(fp);
  sqlite3_exec(db, "PRAGMA x", 0, 0, 0);
  (void)fflush(fp); /* ignore: planted as the allowed form */
}
