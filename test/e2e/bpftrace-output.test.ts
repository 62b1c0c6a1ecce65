// bpftrace 0.17's own output for the scripts in test/fixtures/bpftrace-output/run/ (X.bt beside X.txt,
// captured with `bpftrace X.bt > X.txt`): kafkatrace runs each script end to end and must print the
// same bytes. Where bpftrace is installed, it runs them too, so a stale fixture fails here as well.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { KPROBES_MISSING, kprobesAvailable } from '../../src/runtime/attach.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession } from '../../src/runtime/session.js';
import { ROOT, canRun, collector, hasBpftrace } from './runtime-helpers.js';

const DIR = join(ROOT, 'test', 'fixtures', 'bpftrace-output', 'run');
const SCRIPTS = readdirSync(DIR).filter((f) => f.endsWith('.bt')).sort();
const RUN_TIMEOUT_MS = 60_000;

async function kafkatrace(path: string, source = readFileSync(path, 'utf8'), format: 'text' | 'json' = 'text'): Promise<string> {
  const r = await compileScript(source, path, { positional: [], unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const c = collector();
  const output = createOutput({ format, write: c.write, writeError: c.writeError });
  await runSession(r.compiled.plan, r.compiled.object!, { signals: false, output });
  return c.text();
}

/**
 * bpftrace runs `fn` while a process keeps faulting pages in: a script on software:faults ends only
 * once faults happen, and an idle machine has none (kafkatrace's own process makes them itself).
 */
function withPageFaults<T>(fn: () => T): T {
  const faulter = spawn('/bin/sh', ['-c', 'while :; do /bin/true; sleep 0.01; done'], { stdio: 'ignore', detached: true });
  try {
    return fn();
  } finally {
    process.kill(-faulter.pid!, 'SIGKILL');
  }
}

const ok = canRun();
const withBpftrace = ok && hasBpftrace();

describe.runIf(ok)('bpftrace 0.17 output, run end to end', () => {
  it('has scripts', () => expect(SCRIPTS.length).toBeGreaterThan(0));

  for (const f of SCRIPTS) {
    const script = join(DIR, f);
    const expected = (): string => readFileSync(script.replace(/\.bt$/, '.txt'), 'utf8');

    it(`kafkatrace prints what bpftrace printed for ${f}`, async () => {
      expect(await kafkatrace(script)).toBe(expected());
    }, RUN_TIMEOUT_MS);

    it.runIf(withBpftrace)(`bpftrace still prints the fixture of ${f}`, () => {
      const out = withPageFaults(() => execFileSync('bpftrace', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: RUN_TIMEOUT_MS }));
      expect(out).toBe(expected());
    }, RUN_TIMEOUT_MS);

    // Where bpftrace's -f json output is kept too (X.json), kafkatrace's must be the same.
    const json = script.replace(/\.bt$/, '.json');
    if (!existsSync(json)) continue;
    it(`kafkatrace prints what bpftrace printed for ${f} with -f json`, async () => {
      expect(await kafkatrace(script, undefined, 'json')).toBe(readFileSync(json, 'utf8'));
    }, RUN_TIMEOUT_MS);

    it.runIf(withBpftrace)(`bpftrace still prints the JSON fixture of ${f}`, () => {
      const out = withPageFaults(() => execFileSync('bpftrace', ['-f', 'json', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: RUN_TIMEOUT_MS }));
      expect(out).toBe(readFileSync(json, 'utf8'));
    }, RUN_TIMEOUT_MS);
  }
});

// Output that depends on the machine (its cgroup hierarchies) has no stored fixture: bpftrace, where it
// is installed, and the kernel's own /proc/self/cgroup are the truth.
describe.runIf(ok)('machine-specific output', () => {
  const script = 'BEGIN { printf("%s\\n", cgroup_path(cgroup)); print(cgroup_path(1, "unified")); exit(); }';

  it('prints cgroup_path() of its own cgroup as /proc/self/cgroup has it', async () => {
    const out = await kafkatrace('cgroup.bt', script);
    const v2 = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (v2 !== undefined) expect(out.split('\n')[1]).toMatch(new RegExp(`^unified:${v2.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(,|$)`));
    expect(out).toContain('\nunified:/\n');
  }, RUN_TIMEOUT_MS);

  it.runIf(withBpftrace)('prints cgroup_path() as bpftrace does on this machine', async () => {
    const ours = await kafkatrace('cgroup.bt', script);
    const theirs = execFileSync('bpftrace', ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: RUN_TIMEOUT_MS });
    expect(ours).toBe(theirs);
  }, RUN_TIMEOUT_MS);
});

// bpftrace skips a kprobe that cannot attach when its block has other attach points, with a warning,
// and fails on a block's only one (where kprobes work, both attach); it runs without a uprobe on a
// function the binary does not have.
describe.runIf(ok)('attach points bpftrace goes on without', () => {
  const run = async (source: string): Promise<{ out: string; errors: string }> => {
    const r = await compileScript(source, 'kprobes.bt', { positional: [], unsafe: false, system: realSystem() });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const c = collector();
    const output = createOutput({ format: 'text', write: c.write, writeError: c.writeError });
    await runSession(r.compiled.plan, r.compiled.object!, { signals: false, output });
    return { out: c.text(), errors: c.errors.join('') };
  };

  it('skips one among several with a warning, and runs the rest', async () => {
    const { out, errors } = await run('kprobe:vfs_read, kprobe:vfs_write { @k = count(); } BEGIN { printf("ran\\n"); exit(); }');
    expect(out).toMatch(/^Attaching 3 probes\.\.\.\nran\n/);
    if (!kprobesAvailable()) {
      expect(errors).toBe('WARNING: could not attach probe kprobe:vfs_write, skipping.\nWARNING: could not attach probe kprobe:vfs_read, skipping.\n');
    }
  }, RUN_TIMEOUT_MS);

  it('runs without a uprobe on a function the binary lacks, and says so', async () => {
    const { out, errors } = await run('uprobe:bash:no_such_function_here { } BEGIN { printf("ran\\n"); exit(); }');
    expect(out).toMatch(/^Attaching 1 probe\.\.\.\nran\n/);
    expect(errors).toMatch(/^WARNING: uprobe:bash:no_such_function_here: function 'no_such_function_here' not found in \S+bash, skipping\n$/);
  }, RUN_TIMEOUT_MS);

  it.runIf(!kprobesAvailable())("fails on a block's only attach point, naming the missing kernel feature", async () => {
    await expect(run('kprobe:vfs_read { @k = count(); } BEGIN { exit(); }')).rejects.toThrow(`kprobe:vfs_read: ${KPROBES_MISSING}`);
  }, RUN_TIMEOUT_MS);
});
