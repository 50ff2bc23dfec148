/*
** num.c -- numbers and durations (num.h).
*/
#include "num.h"

#include <string.h>

const char sim_duration_units[] = "ns, us, ms, s, m, h, d";

int sim_parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (!s || len == 0) return AS_PARSE;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return AS_PARSE;
  /* UINT64_MAX has 20 digits: a longer number is too big, leading zeros
  ** or not (so what parses always fits the ways it is printed back). */
  if (len > SIM_U64_DIGITS) return AS_TOOBIG;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return AS_TOOBIG;
    v = v * 10 + d;
  }
  *out = v;
  return AS_OK;
}

int sim_parse_duration(const char *s, size_t len, int bare_ns, uint64_t *ns) {
  static const struct {
    const char *u;
    uint64_t mult;
  } units[] = {{"ns", 1ull},         {"us", 1000ull},        {"ms", 1000000ull},
               {"s", 1000000000ull}, {"m", 60000000000ull},  {"h", 3600000000000ull},
               {"d", 86400000000000ull}};
  if (!s) return AS_PARSE;
  size_t d = 0;
  while (d < len && s[d] >= '0' && s[d] <= '9') d++;
  if (d == 0) return AS_PARSE;
  uint64_t v;
  int rc = sim_parse_u64(s, d, &v);
  if (rc != AS_OK) return rc;
  const char *u = s + d;
  size_t ul = len - d;
  if (ul == 0) {
    if (!bare_ns) return AS_PARSE;
    *ns = v;
    return AS_OK;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (ul == strlen(units[i].u) && memcmp(u, units[i].u, ul) == 0) {
      if (v > UINT64_MAX / units[i].mult) return AS_TOOBIG;
      *ns = v * units[i].mult;
      return AS_OK;
    }
  }
  return AS_PARSE;
}
