#include "agentsim/fmt.h"
#include "agentsim/status.h"
#include "orc_int.h"
/* The oracle's own inference; it never calls as_infer_terminal(). */
static const char *say(int rc) { return as_status_name(rc); }
const char *str = "as_lock_acquire(x) in a string is no call";
