/* Planted: the runtime reaching past the seam. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static pthread_mutex_t mu;

long planted(void) {
  long t = (long)time(NULL);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t += rand();
  sleep(1);
  return t + (getenv("HOME") != NULL) + (environ != NULL) + (long)&mu;
}
