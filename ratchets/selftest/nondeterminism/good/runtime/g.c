/* Clean: time and randomness through the seam; time( only in a comment. */
#include "agentsim/seam.h"

struct clocked { unsigned long time; };

unsigned long clean(struct clocked *c) {
  unsigned char b[8];
  if (as_random_bytes(b, sizeof b) != AS_OK) return 0;
  return c->time + as_now_mono_ns() + b[0];
}
