/*
** fuzz_common.h -- what every fuzz harness shares: the libFuzzer entry
** points, the input cap, the one-time init that pins every source of
** nondeterminism a harness can reach, and the property-check macro.
**
** A harness is one file, fuzz/<target>/fuzz_<target>.c, defining
** LLVMFuzzerInitialize (which calls fuzz_init first) and
** LLVMFuzzerTestOneInput. The same file links three ways: with libFuzzer
** (clang -fsanitize=fuzzer), with AFL++'s driver (afl-clang-fast
** -fsanitize=fuzzer) and with replay_main.c (any compiler).
*/
#ifndef AGENTSIM_FUZZ_COMMON_H
#define AGENTSIM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Inputs longer than this are skipped, so a campaign does not chase giant
** inputs; the .options files set libFuzzer's max_len to the same value. */
#define FUZZ_MAX_INPUT (64u * 1024u)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process, before the first input: fixes jansson's hash seed
** (json_object_seed(1)), so object iteration order -- and with it every
** branch a JSON-reading harness takes -- is the same in every run. Without
** it jansson seeds from /dev/urandom or the clock and AFL++ stability drops.
** Harnesses reach no clock and no random source of their own. */
void fuzz_init(void);

/* A malloc'd, NUL-terminated copy of data[0..size), sized exactly so ASan
** catches a read past the terminator. NULL when size > FUZZ_MAX_INPUT or
** out of memory: the harness skips that input. The caller frees. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* A property that must hold for every input; a violation aborts, which
** every engine reports as a crash and the replay test as a failure. */
#define FUZZ_CHECK(cond)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__,   \
              #cond);                                                         \
      abort();                                                                \
    }                                                                         \
  } while (0)

#endif
