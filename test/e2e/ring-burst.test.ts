// A burst of printf records larger than the reader can take as it comes: the ring buffer holds it
// while the reader catches up, so every line arrives and nothing is reported lost, on any machine
// (the reader's speed decides how much waits, never whether it fits).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { buildFixtures, canRun } from './runtime-helpers.js';

const run = canRun() && existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'));

describe.runIf(run)('a printf burst', () => {
  it('delivers 200,000 records written as fast as a C loop can, none lost', () => {
    const { workload } = buildFixtures();
    const r = spawnSync(process.execPath, [BIN, '-c', `${workload} getppid 200000`, '-e', 'tracepoint:syscalls:sys_enter_getppid { printf("ev %d %s\\n", tid, comm); }'], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/Lost \d+ events/);
    expect(r.stdout.match(/^ev \d+ workload$/gm)?.length).toBe(200_000);
  }, 90_000);
});
