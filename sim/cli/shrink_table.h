/*
** shrink_table.h -- a recorded run's interleaving as a table (a column per
** task, each switch with its reason): what `agentsim shrink` prints.
*/
#ifndef AGENTSIM_CLI_SHRINK_TABLE_H
#define AGENTSIM_CLI_SHRINK_TABLE_H

#include <stdio.h>

#include "evlog.h"

/* all: every event a row, not only the notable ones. */
void shrink_print_table(FILE *f, const sim_evlog *l, int all);

#endif
