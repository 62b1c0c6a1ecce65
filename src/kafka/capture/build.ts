// Where scripts/build-kafka.mjs puts the Kafka capture object and the mock broker: build/ under the
// package root.
import { join } from 'node:path';
import { packageRoot } from '../../package-root.js';

export const BUILD_HINT = 'build it with `node scripts/build-kafka.mjs` (needs librdkafka-dev and clang)';

export function mockBrokerPath(): string {
  return join(packageRoot(), 'build', 'kafkatrace-mock-broker');
}

export function captureObjectPath(): string {
  return join(packageRoot(), 'build', 'kafka-capture.bpf.o');
}
