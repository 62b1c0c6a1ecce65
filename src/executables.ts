// Finding programs on $PATH, for the -c command, uprobe binaries and clang: one rule, as execvp's;
// and in the mount namespace of another process (-p into a container), as bpftrace finds them there.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A regular file this process may execute. No exception is built for a missing one: $PATH scans meet many. */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    // Not executable by us, or in a directory we may not search (EACCES), as execvp skips it.
    return false;
  }
}

/** The first executable `name` in the directories of `path` (an empty entry is the current one). */
export function findOnPath(name: string, path = process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin'): string | undefined {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir || '.', name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * `/proc/PID/root` when process `pid` lives in another mount namespace than this one (a container):
 * the paths it uses name files there. Undefined when both share one, or either cannot be read.
 */
export function mountRootOf(pid: number): string | undefined {
  try {
    const own = statSync('/proc/self/ns/mnt');
    const theirs = statSync(`/proc/${pid}/ns/mnt`);
    return own.dev === theirs.dev && own.ino === theirs.ino ? undefined : `/proc/${pid}/root`;
  } catch {
    return undefined;
  }
}

/**
 * A program as process `pid`, in the other mount namespace at `root`, names it, seen through `root`
 * (bpftrace's rule for -p): a path inside its root, or a name looked up in the directories of its own
 * PATH. Only regular files.
 */
export function pathInMountRoot(root: string, pid: number, name: string): string | undefined {
  const within = (path: string): string => (path.startsWith(`${root}/`) ? path : `${root}${path.startsWith('/') ? '' : '/'}${path}`);
  const candidates = [name];
  if (!name.includes('/')) {
    let environ = '';
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      // Its environment is not ours to read (or it is gone): its root alone.
    }
    const path = environ.split('\0').find((v) => v.startsWith('PATH='))?.slice(5) ?? '';
    for (const dir of path.split(delimiter)) if (dir) candidates.push(join(dir, name));
  }
  return candidates.map(within).find(isRegularFile);
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    // A directory on the way that we may not search.
    return false;
  }
}
