/*
** status.c -- names and messages of the status codes in status.h.
*/
#include "agentsim/status.h"

static const char *const as__names[] = {
#define AS__NAME(name, msg) "AS_" #name,
    AS_STATUS_MAP(AS__NAME)
#undef AS__NAME
};

static const char *const as__msgs[] = {
#define AS__MSG(name, msg) msg,
    AS_STATUS_MAP(AS__MSG)
#undef AS__MSG
};

const char *as_status_name(int rc) {
  if (rc < 0 || rc >= AS__STATUS_COUNT) return "AS_UNKNOWN";
  return as__names[rc];
}

const char *as_status_msg(int rc) {
  if (rc < 0 || rc >= AS__STATUS_COUNT) return "unknown status";
  return as__msgs[rc];
}
