/*
** durable.c -- which journal mode and synchronous level keep an
** acknowledged commit across power loss (store.h's table, measured by
** tests/test_simdb_durability.c). Pure, and in the runtime's base library
** so that the store and the scenario parser share one answer.
*/
#include <stddef.h>
#include <string.h>

#include "agentsim/store.h"

static const char *const journals[] = {"wal", "delete", "truncate", "persist", NULL};
static const char *const syncs[] = {"off", "normal", "full", "extra", NULL};
enum { S_OFF, S_NORMAL, S_FULL, S_EXTRA };

/* The index of s in names[] (NULL-terminated); -1 if absent. NULL is
** names[0]. */
static int index_of(const char *s, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!s || strcmp(s, names[i]) == 0) return i;
  return -1;
}

/* The weakest durable level of each journal mode (store.h's table), which
** is also its default; below it, why not. */
static const int durable_from[] = {S_FULL, S_EXTRA, S_FULL, S_FULL};
static const char *const not_durable[4][3] = {
    {"synchronous off with journal wal is not durable: nothing is ever synced; use full",
     "synchronous normal with journal wal is not durable: commits reach the disk only at a "
     "checkpoint, so power loss rolls acknowledged ones back; use full"},
    {"synchronous off with journal delete is not durable: nothing is ever synced; use extra",
     "synchronous normal with journal delete is not durable: the unlink that commits is lost "
     "without a directory sync; use extra",
     "synchronous full with journal delete is not durable: the unlink that commits is lost "
     "without a directory sync; use extra"},
    {"synchronous off with journal truncate is not durable: nothing is ever synced; use full",
     "synchronous normal with journal truncate is not durable: the truncation that commits is "
     "not synced, so power loss can roll the commit back or corrupt the database; use full"},
    {"synchronous off with journal persist is not durable: nothing is ever synced; use full",
     "synchronous normal with journal persist is not durable: the journal header is written "
     "before its records are synced, which SQLite documents may corrupt the database on power "
     "loss; use full"},
};

int as_store_durable(const char *journal, const char *synchronous, const char **level,
                     const char **why) {
  int j = index_of(journal, journals);
  int k = j < 0 ? -1 : synchronous ? index_of(synchronous, syncs) : durable_from[j];
  const char *no = NULL;
  if (j < 0)
    no = "unknown journal mode (expected wal, delete, truncate or persist)";
  else if (k < 0)
    no = "unknown synchronous level (expected off, normal, full or extra)";
  else if (k < durable_from[j])
    no = not_durable[j][k];
  if (level) *level = no ? NULL : syncs[k];
  if (why) *why = no;
  return no ? AS_INVAL : AS_OK;
}
