// watchpoint: hardware breakpoints on a -c child's address, or on the address a function of the traced
// process gets as an argument. The children (test/fixtures/watchpoint/*.c) write a random number of
// times inside and outside the watched bytes, so the count each script must print is known without
// kafkatrace; where bpftrace is installed it must print the same bytes.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

describe.runIf(ok)('watchpoint on a function argument of the traced process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-watchpoint-args-'));
  const prog = join(dir, 'args');
  execFileSync('cc', ['-O1', '-o', prog, join(ROOT, 'test', 'fixtures', 'watchpoint', 'args.c')]);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const inside = 2 + Math.floor(Math.random() * 300);
  const outside = 1 + Math.floor(Math.random() * 300);
  const calls = 1 + Math.floor(Math.random() * 4);
  const full = 'Failed to attach watchpoint probe. You are out of watchpoint registers.\n';
  const cases: [string, string, string, string][] = [
    [`${calls} addresses, 4 bytes: the process waits for each breakpoint`, 'watchpoint:watched+arg1:4:w { @ = count(); }', `${calls} ${inside} ${outside} 0`, `@: ${calls * inside}\n`],
    [`${calls} addresses, 8 bytes`, 'watchpoint:watched+arg1:8:w { @ = count(); }', `${calls} ${inside} ${outside} 0`, `@: ${calls * (inside + outside)}\n`],
    ['6 addresses: 4 debug registers, then bpftrace\'s message for each other', 'watchpoint:watched+arg1:4:w { @ = count(); }', `6 ${inside} ${outside} 0`, `@: ${4 * inside}\n`],
    ['asyncwatchpoint: the process runs on', 'asyncwatchpoint:watched+arg1:4:w { @ = count(); }', `1 ${inside} ${outside} 500`, `@: ${inside}\n`],
    ['unwatch() after the first write', `uprobe:${prog}:watched { @a = arg1; } watchpoint:watched+arg1:4:w { @hits = count(); unwatch(@a); }`, `1 ${inside} ${outside} 500`, '@hits: 1\n'],
  ];
  for (const [name, script, command, maps] of cases) {
    const args = ['-e', script, '-c', `${prog} ${command}`];
    const lost = command.startsWith('6 ') ? full.repeat(2) : '';
    const probes = script.startsWith('uprobe') ? 'Attaching 2 probes...\n' : 'Attaching 1 probe...\n';
    // Only the counts: @a is an address of the heap.
    const counts = (out: string): string => out.replace(/^@a: \d+\n/m, '');
    const expected = `${probes}${lost}\n\n${maps}`;

    it(`${name} (${inside} writes inside, ${outside} outside)`, () => {
      const r = kafkatrace(args, { timeoutMs: 30_000 });
      expect(r.stderr).toBe('');
      expect(counts(r.stdout)).toBe(expected);
      expect(r.code).toBe(0);
    });

    it.runIf(withBpftrace)(`${name}: bpftrace prints the same`, () => {
      const r = spawnSync('bpftrace', args, { encoding: 'utf8', timeout: 30_000 });
      expect(counts(r.stdout)).toBe(expected);
    });
  }

  it('unwatch() of an address nothing watches does nothing, without a traced process too (bpftrace prints nothing)', () => {
    const r = kafkatrace(['-e', 'BEGIN { unwatch(0x1000); exit(); }']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Attaching 1 probe...\n\n\n');
    expect(r.code).toBe(0);
  });

  it('with -p: sets the breakpoint in a running process and leaves it running', async () => {
    const child = spawn(prog, ['loop'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const r = kafkatrace(['-e', 'watchpoint:watched+arg1:4:w { printf("%s\\n", probe); exit(); }', '-p', String(child.pid)], { timeoutMs: 30_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`Attaching 1 probe...\nwatchpoint:/proc/${child.pid}/exe:watched:1:4:w\n\n\n`);
      expect(r.code).toBe(0);
      // Not left stopped: it goes on sleeping a millisecond at a time.
      const switches = (): number => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
      const before = switches();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(switches()).toBeGreaterThan(before + 10);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
