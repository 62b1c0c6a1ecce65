// Finding programs on $PATH, for the -c command, uprobe binaries and clang: one rule, as execvp's.
import { accessSync, constants, statSync } from 'node:fs';
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
