/*
** llm_peer.h -- start tests/llm_peer.py on loopback from a test and stop it
** (include after <cmocka.h>). AS_PYTHON3 and AS_SOURCE_DIR come from
** tests/CMakeLists.txt. The peer prints its port first; it is stopped with
** /quit, killed if that fails, and bounded by --max-seconds anyway.
*/
#ifndef AGENTSIM_TESTS_LLM_PEER_H
#define AGENTSIM_TESTS_LLM_PEER_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct llm_peer {
  pid_t pid;
  int port;
  char log[256];
  char base[64]; /* "http://127.0.0.1:PORT" */
} llm_peer;

/* key NULL: the peer expects no Authorization header. */
static inline void llm_peer_start(llm_peer *p, const char *key, const char *tag) {
  memset(p, 0, sizeof *p);
  snprintf(p->log, sizeof p->log, "/tmp/llm_peer_%s_%d.log", tag, (int)getpid());
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
    close(fds[0]);
    close(fds[1]);
    const char *argv[12] = {AS_PYTHON3, AS_SOURCE_DIR "/tests/llm_peer.py", "--log", p->log,
                            "--max-seconds", "120"};
    int k = 6;
    if (key) {
      argv[k++] = "--key";
      argv[k++] = key;
    }
    argv[k] = NULL;
    execv(AS_PYTHON3, (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  char buf[32] = {0};
  size_t n = 0;
  while (n < sizeof buf - 1) {
    ssize_t r = read(fds[0], buf + n, 1);
    if (r <= 0 || buf[n] == '\n') break;
    n++;
  }
  close(fds[0]);
  p->pid = pid;
  p->port = (int)strtol(buf, NULL, 10);
  assert_true(p->port > 0);
  snprintf(p->base, sizeof p->base, "http://127.0.0.1:%d", p->port);
}

/* The request log, whole (caller frees). */
static inline char *llm_peer_log(const llm_peer *p) {
  FILE *f = fopen(p->log, "rb");
  assert_non_null(f);
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  assert_non_null(m);
  char chunk[4096];
  size_t r;
  while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) assert_int_equal(fwrite(chunk, 1, r, m), r);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(fclose(m), 0);
  return text;
}

static inline void llm_peer_stop(llm_peer *p) {
  if (p->pid <= 0) return;
  /* SIGTERM is enough: the peer has no state worth a clean stop. */
  assert_int_equal(kill(p->pid, SIGTERM), 0);
  int st;
  assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
  unlink(p->log);
  p->pid = 0;
}

#endif
