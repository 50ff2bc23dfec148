/*
** replay_main.c -- runs a harness over saved inputs without a fuzzing
** engine, so every build (gcc or clang, release, ASan, coverage) replays
** each target's seed corpus and saved crashes under ctest.
**
**   replay_<target> PATH...
**
** A PATH is a file or a directory; a directory's regular files are run in
** name order, skipping names that start with '.' or "README". Fails when a
** path cannot be read, when a file exceeds REPLAY_MAX_FILE, or when no input
** was run at all (a mistyped path must not pass); a property violation or a
** sanitizer report aborts the process.
*/
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "agentsim/status.h"

/* Larger than any harness's cap, so oversized inputs still reach the
** harness (which must skip them), but bounded. */
#define REPLAY_MAX_FILE (16u * 1024u * 1024u)

/* Progress goes to stderr, unbuffered, so the last line before an abort
** names the input that caused it. */
static AS_WUR int run_file(const char *path) {
  int rc = AS_OK;
  uint8_t *data = NULL;
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    rc = AS_IO;
    goto out;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_FILE) {
    fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_FILE);
    rc = AS_TOOBIG;
    goto out;
  }
  size_t n = (size_t)st.st_size;
  data = malloc(n ? n : 1);
  if (!data || fread(data, 1, n, f) != n) {
    fprintf(stderr, "replay: %s: cannot read\n", path);
    rc = data ? AS_IO : AS_NOMEM;
    goto out;
  }
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  /* libFuzzer's contract: 0, or -1 to keep the input out of the corpus. */
  int hrc = LLVMFuzzerTestOneInput(data, n);
  if (hrc != 0 && hrc != -1) {
    fprintf(stderr, "replay: %s: LLVMFuzzerTestOneInput returned %d\n", path, hrc);
    rc = AS_INTERNAL;
  }
out:
  if (f && fclose(f) != 0 && rc == AS_OK) rc = AS_IO;
  free(data);
  return rc;
}

static int skip_name(const char *name) {
  return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

static AS_WUR int run_dir(const char *dir, unsigned *count) {
  struct dirent **ents = NULL;
  int rc = AS_OK;
  int n = scandir(dir, &ents, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return AS_IO;
  }
  for (int i = 0; i < n; i++) {
    char path[PATH_MAX];
    struct stat st;
    if (rc == AS_OK && !skip_name(ents[i]->d_name)) {
      int len = snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
      if (len < 0 || (size_t)len >= sizeof path) {
        fprintf(stderr, "replay: %s/%s: path too long\n", dir, ents[i]->d_name);
        rc = AS_TOOBIG;
      } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        rc = run_file(path);
        if (rc == AS_OK) (*count)++;
      }
    }
    free(ents[i]);
  }
  free(ents);
  return rc;
}

int main(int argc, char **argv) {
  unsigned count = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH...  (files or directories of inputs)\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize(&argc, &argv) != 0) {
    fprintf(stderr, "replay: LLVMFuzzerInitialize failed\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    int rc;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    if (S_ISDIR(st.st_mode)) {
      rc = run_dir(argv[i], &count);
    } else {
      rc = run_file(argv[i]);
      if (rc == AS_OK) count++;
    }
    if (rc != AS_OK) return 1;
  }
  if (count == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  printf("replay: %u inputs, all passed\n", count);
  return 0;
}
