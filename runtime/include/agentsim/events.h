/*
** events.h -- the append-only event log of each session.
**
** Every session has its own log: events numbered seq = 1, 2, 3 ... without
** gaps (each append takes the previous maximum + 1 in the same transaction
** that inserts), each with a kind, a JSON payload and the seam's wall-clock
** time. Readers keep a watermark (the last seq they saw) and read what came
** after it. Events are never changed or removed.
**
** Kinds are short names (AS_EVENT_KIND_MAX-1 bytes at most); the runtime
** writes status_changed (AS_EVENT_STATUS_CHANGED) itself, later modules add
** agent_started, tool_invoked, approval_requested, ...
*/
#ifndef AGENTSIM_EVENTS_H
#define AGENTSIM_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"
#include "agentsim/store.h"

#define AS_EVENT_KIND_MAX 64                 /* buffer size, NUL included */
#define AS_EVENT_PAYLOAD_MAX (16u * 1024u)   /* bytes, NUL excluded */
#define AS_EVENT_READ_MAX 1024u              /* events one read returns */

/* The kind finalize and pause write: payload {"from":..,"to":..[,"reason":..]}. */
#define AS_EVENT_STATUS_CHANGED "status_changed"

typedef struct as_event {
  int64_t seq;
  char kind[AS_EVENT_KIND_MAX];
  char *payload; /* owned JSON text */
  int64_t at_ns; /* wall clock (seam) when appended */
} as_event;

/* What a read returns; owns its items. A zeroed list is a valid empty one. */
typedef struct as_event_list {
  as_event *items;
  size_t n;
} as_event_list;

/* Append an event to session_id's log (its own transaction). kind: 1 ..
** AS_EVENT_KIND_MAX-1 bytes; payload: JSON text (NULL: "{}") of at most
** AS_EVENT_PAYLOAD_MAX bytes, AS_PARSE if it is not JSON. *seq (may be NULL)
** gets the new event's number (on success). AS_NOTFOUND when no such session exists. */
AS_WUR int as_event_append(as_store *st, const char *session_id, const char *kind,
                           const char *payload, int64_t *seq);
/* The events of session_id with seq > after, ascending, at most max (1 ..
** AS_EVENT_READ_MAX), into *out: storage, overwritten without being
** released; on success the caller owns the list (as_event_list_clear), on
** failure it is empty. Fewer than max means the reader is up to date. A
** session without events (or none at all) gives an empty list. */
AS_WUR int as_event_read(as_store *st, const char *session_id, int64_t after, size_t max,
                         as_event_list *out);
/* Release what *l owns and zero it; NULL is a no-op. */
void as_event_list_clear(as_event_list *l);

#endif /* AGENTSIM_EVENTS_H */
