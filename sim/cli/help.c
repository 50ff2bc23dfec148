/*
** help.c -- `agentsim help [COMMAND | TOPIC]`, generated from the command
** and option tables (args.h), the scenario operation table (scenario.h), the
** oracle's checks and the mutant list, so it says what the tool does.
*/
#include <string.h>

#include "agentsim/mutant.h"
#include "cli.h"
#include "oracle/oracle.h"
#include "scenario/scenario.h"
#include "text.h"

static const cli_command_info *command(cli_cmd c) {
  for (size_t i = 0; i < cli_ncommands; i++)
    if (cli_commands[i].cmd == c) return &cli_commands[i];
  return NULL;
}

/* "agentsim run SCENARIO --seed N [--strategy S] ..." wrapped at 80. */
static void synopsis(FILE *f, const cli_command_info *c) {
  char line[256];
  size_t n = as_appendf(line, sizeof line, 0, "  agentsim %s%s%s", c->name, c->args[0] ? " " : "",
                        c->args);
  size_t indent = strlen(c->name) + 12;
  for (size_t k = 0; k < cli_noptions; k++) {
    const cli_option_info *o = &cli_options[k];
    if (!(o->cmds & CLI_ON(c->cmd)) || strcmp(o->name, "--help") == 0) continue;
    /* Options the command's own arguments already show. */
    if (strstr(c->args, o->name)) continue;
    char item[64];
    snprintf(item, sizeof item, " [%s%s%s]", o->name, o->metavar ? " " : "",
             o->metavar ? o->metavar : "");
    if (n + strlen(item) > 80) {
      fprintf(f, "%s\n", line);
      n = as_appendf(line, sizeof line, 0, "%*s", (int)indent - 1, "");
    }
    n = as_appendf(line, sizeof line, n, "%s", item);
  }
  fprintf(f, "%s\n", line);
}

/* One option: name and metavar, then its help. */
static void option_help(FILE *f, const cli_option_info *o) {
  char head[48];
  snprintf(head, sizeof head, "  %s%s%s", o->name, o->metavar ? " " : "",
           o->metavar ? o->metavar : "");
  sim_wrap(f, head, 25, o->help);
}

static void command_help(FILE *f, const cli_command_info *c) {
  fprintf(f, "agentsim %s -- %s\n\nusage:\n", c->name, c->summary);
  synopsis(f, c);
  if (c->details) {
    fputc('\n', f);
    sim_wrap(f, "", 0, c->details);
  }
  int any = 0;
  for (size_t k = 0; k < cli_noptions; k++) {
    const cli_option_info *o = &cli_options[k];
    if (!(o->cmds & CLI_ON(c->cmd))) continue;
    if (!any) fputs("\noptions:\n", f);
    any = 1;
    option_help(f, o);
  }
}

static void topic_checks(FILE *f) {
  fputs("The oracle's checks (docs/oracle.md); a violation names its check first:\n\n", f);
  orc_write_checks(f, 0);
}

static void topic_mutants(FILE *f) {
  size_t n = 0;
  const as_mutant_info *m = as_mutant_list(&n);
  fputs("The runtime's planted bugs (--mutant NAME; the kill table: 'agentsim mutants'):\n\n", f);
  for (size_t i = 0; i < n; i++) {
    char head[48];
    snprintf(head, sizeof head, "  %s", m[i].name);
    sim_wrap(f, head, 29, m[i].what);
  }
}

void cli_help(FILE *f, const cli_opts *o) {
  if (o && o->help_topic) {
    if (strcmp(o->help_topic, "scenarios") == 0) {
      fputs("Scenario files (docs/scenarios.md has the annotated example):\n\n", f);
      scn_write_reference(f, 0);
    } else if (strcmp(o->help_topic, "checks") == 0) {
      topic_checks(f);
    } else {
      topic_mutants(f);
    }
    return;
  }
  const cli_command_info *c = o ? command(o->help_for) : NULL;
  if (c && c->cmd != CMD_HELP) {
    command_help(f, c);
    return;
  }
  fputs("agentsim -- deterministic simulation for agent-runtime concurrency bugs\n\nusage:\n", f);
  for (size_t i = 0; i < cli_ncommands; i++) synopsis(f, &cli_commands[i]);
  fputs("\ncommands:\n", f);
  for (size_t i = 0; i < cli_ncommands; i++)
    fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
  fputs("\noptions:\n", f);
  for (size_t k = 0; k < cli_noptions; k++) option_help(f, &cli_options[k]);
  fputc('\n', f);
  sim_wrap(f, "", 0,
           "SCENARIO is a scenario file (fixtures/scenarios/NAME.scn; 'agentsim help "
           "scenarios') -- the runtime core on a simulated disk, judged by the oracle "
           "('agentsim help checks') -- or a built-in self-test of the scheduler: "
           "selftest:abba, selftest:ordering, selftest:atomicity, selftest:timer, "
           "selftest:counter ('agentsim list'). DIR is an app's directory "
           "(fixtures/apps/NAME: app.yaml and its prompts; docs/apps.md). 'agentsim help "
           "COMMAND' shows one command and its options.");
  fputs("\nEvery run prints the options its seed chose, its trace hash and its schedule\n"
        "string; a failing run or sweep prints the exact command that replays it.\n"
        "\n"
        "exit status: 0 pass; 1 a failure found (or, for bench, a bar missed;\n"
        "             for parse, the input refused); 2 bad usage or bad input;\n"
        "             3 internal or harness error\n",
        f);
}
