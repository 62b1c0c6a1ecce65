// Where kafkatrace's own files are at run time, and the C toolchain it needs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root (the directory of kafkatrace's package.json), from src/ or from dist/. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kafkatrace') return (root = dir);
      } catch {
        // Not ours (or unreadable): keep looking further up.
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the kafkatrace package root (package.json)');
    dir = up;
  }
}

export function templatesDir(): string {
  return join(packageRoot(), 'bpf-templates');
}
