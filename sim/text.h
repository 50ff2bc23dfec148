/*
** text.h -- filling text to 80 columns for help and references, so every
** table the tool prints from its own data (options, checks, mutants,
** scenario operations) reads the same in a terminal.
*/
#ifndef AGENTSIM_SIM_TEXT_H
#define AGENTSIM_SIM_TEXT_H

#include <stdio.h>

/* The width sim_wrap fills to. */
#define SIM_TEXT_WIDTH 80

/*
** Print HEAD, pad to column COL (or start a new line there when HEAD
** reaches it), then
** TEXT filled to SIM_TEXT_WIDTH with continuation lines indented to COL. A
** newline in TEXT starts a new line; a word longer than the room is printed
** whole. Ends with a newline. Output errors are the stream's (ferror).
*/
void sim_wrap(FILE *f, const char *head, int col, const char *text);

#endif
