// watchpoint: hardware breakpoints on a -c child's address. The child (test/fixtures/watchpoint/writes.c)
// writes a random number of times inside and outside the watched bytes, so the count each script must
// print is known without kafkatrace; where bpftrace is installed it must print the same bytes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkatrace, ROOT } from '../helpers/cli.js';
import { canRun, hasBpftrace } from './runtime-helpers.js';

const ok = canRun();
const withBpftrace = ok && hasBpftrace();

describe.runIf(ok)('watchpoint on an address of the -c child', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-watchpoint-'));
  const writes = join(dir, 'writes');
  execFileSync('cc', ['-O1', '-o', writes, join(ROOT, 'test', 'fixtures', 'watchpoint', 'writes.c')]);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const inside = 1 + Math.floor(Math.random() * 500);
  const outside = 1 + Math.floor(Math.random() * 500);
  const cases: [string, string, number][] = [
    ['4 bytes, writes', 'watchpoint:0x10000000:4:w', inside],
    ['8 bytes, writes (both words)', 'watchpoint:268435456:8:w', inside + outside],
    ['4 bytes further on, reads and writes', 'w:0x10000004:4:rw', outside],
  ];
  for (const [name, attach, hits] of cases) {
    const args = ['-e', `${attach} { @ = count(); }`, '-c', `${writes} ${inside} ${outside}`];
    const expected = `Attaching 1 probe...\n\n\n@: ${hits}\n`;

    it(`${name}: counts every access (${inside} inside, ${outside} outside)`, () => {
      const r = kafkatrace(args);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(expected);
      expect(r.code).toBe(0);
    });

    it.runIf(withBpftrace)(`${name}: bpftrace prints the same`, () => {
      const r = spawnSync('bpftrace', args, { encoding: 'utf8', timeout: 30_000 });
      expect(r.stdout).toBe(expected);
    });
  }
});
