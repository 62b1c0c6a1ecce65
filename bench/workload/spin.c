// The benchmark's workload: N raw getppid() calls as fast as possible, then one line on stdout with
// the CPU time of the loop (this thread only, so that time spent by other processes on a busy machine
// is left out, while the BPF programs that run inside the syscall are counted).
// Usage: spin N
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

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: spin N\n");
    return 2;
  }
  long n = atol(argv[1]);
  long long cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  for (long k = 0; k < n; k++) syscall(SYS_getppid);
  long long cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = now_ns(CLOCK_MONOTONIC) - wall0;
  printf("calls=%ld cpu_ns=%lld wall_ns=%lld\n", n, cpu, wall);
  return 0;
}
