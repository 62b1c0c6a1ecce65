// -p into a container: a uprobe's binary path is the target's, in its own mount namespace, where this
// process cannot see it. The workload runs from a bind mount private to a namespace of its own (as
// bpftrace's tests/testprogs/mountns_wrapper sets it up), and both tools must find and probe it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkatrace } from '../helpers/cli.js';
import { buildFixtures, canRun, hasBpftrace } from './runtime-helpers.js';

const ok = canRun();
const withBpftrace = ok && hasBpftrace();

describe.runIf(ok)('uprobes on a -p target in another mount namespace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-mountns-'));
  const binaries = join(dir, 'binaries');
  // Empty here; in the target's namespace the binaries are mounted on it.
  const mountPoint = join(dir, 'private');
  const binary = join(mountPoint, 'workload');
  let target: ChildProcess | undefined;
  let pid = 0;

  beforeAll(async () => {
    mkdirSync(binaries);
    mkdirSync(mountPoint);
    copyFileSync(buildFixtures().workload, join(binaries, 'workload'));
    // Calls kt_workload_target 10 times every 100 ms, for up to 60 s: long enough for a compilation.
    const steps = Array.from({ length: 600 }, () => ['sleep', '100', 'call', '10']).flat();
    target = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$1" && d="$1" && shift && exec "$d/workload" "$@"', binaries, mountPoint, ...steps], {
      stdio: 'ignore',
    });
    // unshare and the shell exec in place: the pid is the workload's once it runs.
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const comm = spawnSync('cat', [`/proc/${target.pid}/comm`], { encoding: 'utf8' }).stdout.trim();
      if (comm === 'workload') pid = target.pid!;
    }
  });

  afterAll(() => {
    target?.kill('SIGKILL');
    // The bind mount lives and dies with the target's namespace; ours only has the empty directory.
    rmSync(dir, { recursive: true, force: true });
  });

  const script = `uprobe:${binary}:kt_workload_target { @hits = count(); exit(); }`;

  it('the workload runs from a path this namespace does not have', () => {
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(binary)).toBe(false);
    expect(existsSync(`/proc/${pid}/root${binary}`)).toBe(true);
  });

  it('kafkatrace -p resolves the binary in the target\'s namespace and its probe fires', () => {
    const r = kafkatrace(['-p', String(pid), '-e', script], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Attaching 1 probe\.\.\.\n\n\n@hits: [1-9]\d*\n$/);
    expect(r.code).toBe(0);
  }, 70_000);

  it.runIf(withBpftrace)('bpftrace -p does the same', () => {
    const r = spawnSync('bpftrace', ['-p', String(pid), '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toMatch(/^Attaching 1 probe\.\.\.\n\n\n@hits: [1-9]\d*\n$/);
    expect(r.status).toBe(0);
  }, 70_000);

  it('without -p the path is not found, as in bpftrace', () => {
    const r = kafkatrace(['-e', script]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`binary not found: ${binary}`);
  });
});
