// Files that ship with kafkatrace (stdlib/, bpf-templates/, build/) are found from the package root,
// whether running from dist/ or from the TypeScript sources under vitest.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'stdlib'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('kafkatrace: cannot find its package root (package.json beside stdlib/)');
    dir = parent;
  }
  cached = dir;
  return dir;
}
