#include "agentsim/finalize.h"
#include "agentsim/status.h"
int expect(const void *s) { return as_infer_terminal(s, 0); }
int active(int st) {
  /* as_session_status_active(st) in a comment is fine */
  return as_session_status_active(st) && as_status_name(st) != 0;
}
