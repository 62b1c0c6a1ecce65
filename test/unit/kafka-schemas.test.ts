// src/kafka/wire/schemas/generated.ts is what scripts/gen-kafka-schemas.mjs makes from the message
// schemas in the installed kafka-clients jars (scripts/install-kafka.sh installs them).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './parser-helpers.js';

const JARS = [
  join(root, 'build', 'kafka', 'libs', 'kafka-clients-4.4.0.jar'),
  join(root, 'build', 'peers', 'java-3.9.2', 'libs', 'kafka-clients-3.9.2.jar'),
];

function jarsInstalled(): boolean {
  const missing = JARS.filter((j) => !existsSync(j));
  if (missing.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`missing ${missing.join(', ')} (scripts/install-kafka.sh)`);
  console.log(`skipping the schema converter check: missing ${missing.join(', ')} (scripts/install-kafka.sh)`);
  return false;
}

describe.runIf(jarsInstalled())('the generated Kafka schemas', () => {
  it('are what the converter makes from the installed jars (regenerate: node scripts/gen-kafka-schemas.mjs)', () => {
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'gen-kafka-schemas.mjs'), '--print'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(10_000);
    expect(readFileSync(join(root, 'src', 'kafka', 'wire', 'schemas', 'generated.ts'), 'utf8')).toBe(run.stdout);
  });
});
