// The benchmark's workload: N raw getppid() calls, as fast as possible or at RATE calls per second,
// then one line on stdout with the CPU time of the loop (this thread only, so that time spent by
// other processes on a busy machine is left out, while the BPF programs that run inside the syscall
// are counted) and its wall time.
// Usage: spin N [RATE]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Paced runs go in batches of this many calls, each started at its due time.
#define BATCH 500

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: spin N [RATE]\n");
    return 2;
  }
  long n = atol(argv[1]);
  long rate = argc == 3 ? atol(argv[2]) : 0;
  long long cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  for (long k = 0; k < n; k++) {
    if (rate > 0 && k % BATCH == 0) {
      long long due = wall0 + k * 1000000000LL / rate;
      struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    syscall(SYS_getppid);
  }
  long long cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = now_ns(CLOCK_MONOTONIC) - wall0;
  printf("calls=%ld cpu_ns=%lld wall_ns=%lld\n", n, cpu, wall);
  return 0;
}
