// kafkatrace-held PROGRAM ARGS...: what the -c command runs as before it execs the command in place
// (same pid). It asks the kernel to SIGKILL it when kafkatrace dies, however kafkatrace dies (a
// SIGKILL included), says it is ready on fd 3, and blocks there until kafkatrace releases it once
// the probes are attached. The death signal survives exec, except into a set-user-ID, set-group-ID
// or file-capability program (the kernel clears it there).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

// Exit statuses as a shell's: 125 kafkatrace went away first, 126 cannot exec, 127 not found.
int main(int argc, char** argv) {
  if (argc < 2) return 125;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 125;
  // Had kafkatrace died before prctl, nothing would kill us; its end of fd 3 is closed then, so the
  // write or the read below fails and the command never runs.
  char c = 'r';
  if (write(3, &c, 1) != 1) return 125;
  if (read(3, &c, 1) != 1) return 125;
  close(3);
  // PROGRAM holds a '/' (kafkatrace resolved it): execvp runs it without a PATH search, and runs a
  // script without a #! line with /bin/sh, as a shell would.
  execvp(argv[1], argv + 1);
  int err = errno;
  fprintf(stderr, "kafkatrace: cannot run '%s': %s\n", argv[1], strerror(err));
  return err == ENOENT ? 127 : 126;
}
