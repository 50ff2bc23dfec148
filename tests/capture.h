/*
** capture.h -- redirect stdout or stderr into a temporary file for a while
** and read back what was written. Include after <cmocka.h>.
*/
#ifndef AGENTSIM_TESTS_CAPTURE_H
#define AGENTSIM_TESTS_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct capture {
  FILE *file;
  FILE *stream; /* stdout or stderr */
  int fd;       /* its descriptor */
  int saved_fd;
} capture;

static inline void capture_begin(capture *cap, FILE *stream) {
  cap->stream = stream;
  cap->fd = fileno(stream);
  assert_int_equal(fflush(stream), 0);
  cap->file = tmpfile();
  assert_non_null(cap->file);
  cap->saved_fd = dup(cap->fd);
  assert_true(cap->saved_fd >= 0);
  assert_true(dup2(fileno(cap->file), cap->fd) >= 0);
}

/* Restore the stream and return what was written (caller frees). */
static inline char *capture_end(capture *cap) {
  assert_int_equal(fflush(cap->stream), 0);
  assert_true(dup2(cap->saved_fd, cap->fd) >= 0);
  assert_int_equal(close(cap->saved_fd), 0);
  long size = ftell(cap->file);
  assert_true(size >= 0);
  char *text = malloc((size_t)size + 1);
  assert_non_null(text);
  rewind(cap->file);
  assert_int_equal(fread(text, 1, (size_t)size, cap->file), (size_t)size);
  text[size] = '\0';
  assert_int_equal(fclose(cap->file), 0);
  return text;
}

/* The last line of text (without its newline), in place; "" when empty. */
static inline const char *capture_last_line(char *text) {
  size_t n = strlen(text);
  while (n > 0 && text[n - 1] == '\n') text[--n] = '\0';
  char *nl = strrchr(text, '\n');
  return nl ? nl + 1 : text;
}

#endif
