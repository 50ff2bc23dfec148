/* Clean: a session escalated by a tool call; noncallable words are fine. */
enum status { RESOLVED, ESCALATED, NEEDS_REVIEW };
int clean(void) { return ESCALATED; }
