// Where scripts/build-kafka.mjs puts the Kafka capture object and the mock broker: build/ under the
// package root, found from this module so that it works from src/ (vitest) and from dist/ alike.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest directory above this module holding kafkatrace's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kafkatrace') {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the kafkatrace package directory');
    dir = up;
  }
}

export const BUILD_HINT = 'build it with `node scripts/build-kafka.mjs` (needs librdkafka-dev and clang)';

export function mockBrokerPath(): string {
  return join(packageRoot(), 'build', 'kafkatrace-mock-broker');
}

export function captureObjectPath(): string {
  return join(packageRoot(), 'build', 'kafka-capture.bpf.o');
}
