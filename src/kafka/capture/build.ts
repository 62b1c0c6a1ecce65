// Where scripts/build-kafka.mjs puts the Kafka capture object (build/ under the package root), and
// what to run when it is missing (the mock broker, src/demo/, is built by the same script).
import { join } from 'node:path';
import { packageRoot } from '../../package-root.js';

export const BUILD_HINT = 'build it with `node scripts/build-kafka.mjs` (needs librdkafka-dev and clang)';

export function captureObjectPath(): string {
  return join(packageRoot(), 'build', 'kafka-capture.bpf.o');
}
