/* Planted: an incident leaks into the core. */
static const char *agent = "triage";
int notify_oncall(int team);
int planted(void) { return notify_oncall(agent[0]); }
