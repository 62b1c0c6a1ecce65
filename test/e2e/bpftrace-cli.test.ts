// bpftrace's command line, run: each case of test/fixtures/bpftrace-cli/cases.json (options,
// positional parameters, BPFTRACE_* variables) runs under kafkatrace, and its standard output must be
// what bpftrace 0.17 printed, stored beside it as NAME.txt; where bpftrace is installed it runs too and
// must still print the stored text (so the fixtures stay bpftrace's). --info is compared with
// bpftrace's own on this machine: every feature both name must have the same answer (kprobe aside).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, kafkatrace, ROOT } from '../helpers/cli.js';
import { canRun, hasBpftrace } from './runtime-helpers.js';

const DIR = join(ROOT, 'test', 'fixtures', 'bpftrace-cli');

interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** bpftrace refuses the command line: NAME.txt is its standard error, and nothing runs (no root needed). */
  fails?: boolean;
  /** A script error: only its message after `file:line:col` must be bpftrace's. */
  located?: boolean;
}

/** The message of the first located error (`FILE:LINE:COL[-END]: ERROR: message`), from `ERROR:` on. */
function locatedError(stderr: string): string | undefined {
  return /^\S+?:\d+:\d+(?:-\d+)?: (ERROR: .*)$/m.exec(stderr)?.[1];
}

const CASES = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as Case[];

const runnable = canRun();
const withBpftrace = runnable && hasBpftrace();

function bpftrace(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bpftrace', args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `name: yes|no` lines of an --info output. */
function features(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^ {2}([^:\n]+): (yes|no)$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('bpftrace command line', () => {
  it('has a case for each option and form it covers', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(12);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  for (const c of CASES.filter((c) => c.fails)) {
    it(`${c.name}: kafkatrace ${c.args.join(' ')} fails with bpftrace's message`, () => {
      const expected = readFileSync(join(DIR, `${c.name}.txt`), 'utf8');
      const shown = c.located ? locatedError : (s: string): string => s;
      expect(shown(expected)).toBeDefined();
      const k = kafkatrace(c.args, { env: c.env });
      expect(shown(k.stderr)).toBe(shown(expected));
      expect(k.stdout).toBe('');
      expect(k.code).not.toBe(0);
      if (withBpftrace) {
        const b = bpftrace(c.args, c.env);
        expect(shown(b.stderr)).toBe(shown(expected));
        expect(b.code).not.toBe(0);
      }
    });
  }

  for (const c of CASES.filter((c) => !c.fails)) {
    it(`${c.name}: kafkatrace ${c.args.join(' ')}`, () => {
      if (!runnable) return;
      const expected = readFileSync(join(DIR, `${c.name}.txt`), 'utf8');
      const k = kafkatrace(c.args, { env: c.env });
      expect(k.stderr).toBe('');
      expect(k.code).toBe(0);
      expect(k.stdout).toBe(expected);
      if (withBpftrace) {
        const b = bpftrace(c.args, c.env);
        expect(b.code).toBe(0);
        expect(b.stdout).toBe(expected);
      }
    });
  }

  it('--info answers as bpftrace --info does for every feature both name', () => {
    if (!runnable) return;
    const k = kafkatrace(['--info']);
    expect(k.code).toBe(0);
    const ours = features(k.stdout);
    for (const name of ['probe_read_kernel', 'send_signal', 'Loop support', 'btf', 'perf_event_array', 'ringbuf', 'tracepoint', 'kprobe']) {
      expect(ours.has(name), name).toBe(true);
    }
    if (!withBpftrace) return;
    // bpftrace writes --info on stderr.
    const theirs = features(bpftrace(['--info']).stderr);
    // bpftrace's "kprobe: yes" says the program type loads; kafkatrace's says kprobes can attach
    // (without CONFIG_KPROBES they cannot): the one answer that differs by design.
    const shared = [...ours.keys()].filter((f) => theirs.has(f) && f !== 'kprobe');
    expect(shared.length).toBeGreaterThanOrEqual(20);
    for (const f of shared) expect(`${f}: ${ours.get(f)}`).toBe(`${f}: ${theirs.get(f)}`);
  });

  it('__BPFTRACE_NOTIFY_PROBES_ATTACHED: one line on stderr once attached, as bpftrace writes it', () => {
    if (!runnable) return;
    const args = ['-q', '-e', 'BEGIN { exit(); }'];
    const env = { __BPFTRACE_NOTIFY_PROBES_ATTACHED: '1' };
    const k = kafkatrace(args, { env });
    expect(k.code).toBe(0);
    expect(k.stderr).toBe('__BPFTRACE_NOTIFY_PROBES_ATTACHED\n');
    expect(kafkatrace(args).stderr).toBe('');
    if (withBpftrace) expect(bpftrace(args, env).stderr).toMatch(/^__BPFTRACE_NOTIFY_PROBES_ATTACHED$/m);
  });

  it('__BPFTRACE_NOTIFY_PROBES_ATTACHED comes after `Attaching N probes...` on one stream, as in bpftrace', () => {
    if (!runnable) return;
    // bpftrace's test engine reads stdout and stderr as one pipe up to the notice, and a case that has
    // not ended by its timeout is judged on what came before it.
    const run = (cmd: string[]) =>
      spawnSync('sh', ['-c', '"$@" 2>&1', 'sh', ...cmd, '-e', 'BEGIN { exit(); }'], {
        cwd: ROOT,
        env: { ...process.env, __BPFTRACE_NOTIFY_PROBES_ATTACHED: '1' },
        encoding: 'utf8',
        timeout: 30_000,
      }).stdout;
    const expected = 'Attaching 1 probe...\n__BPFTRACE_NOTIFY_PROBES_ATTACHED\n';
    expect(run([process.execPath, BIN])).toContain(expected);
    if (withBpftrace) expect(run(['bpftrace'])).toContain(expected);
  });
});
