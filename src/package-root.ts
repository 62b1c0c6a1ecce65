// kafkatrace's own files (stdlib/, bpf-templates/, build/) are found from the package root, whether
// running from the bundle in dist/, from compiled modules, or from the TypeScript sources under vitest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The nearest directory above this module holding kafkatrace's package.json. */
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
    if (up === dir) throw new Error('cannot find the kafkatrace package root (its package.json)');
    dir = up;
  }
}
