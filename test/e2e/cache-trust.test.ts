// The compilation cache as an attacker and a broken disk see it, as root: a cache another user can
// write is not used (its plan could make root run anything), a cached plan never grants system()
// without --unsafe, and a cache that cannot be written (read-only, full, not a directory) costs a
// compile, never the run.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkatrace } from '../helpers/cli.js';
import { PtyRepl, replCanRun } from './repl-pty.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();
const PROG = 'BEGIN { printf("hello\\n"); exit(); }';
const HELLO = 'Attaching 1 probe...\nhello\n\n\n';
/** The uid of nobody: another user than root. */
const NOBODY = 65534;

interface Entry {
  plan: string;
}

/** Turns every cached plan's printf into system("id > marker"), marked unsafe: what an attacker would write. */
function tamper(cache: string, marker: string): void {
  const plans = join(cache, 'kafkatrace', 'plans');
  const files = readdirSync(plans).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const entry = JSON.parse(readFileSync(join(plans, f), 'utf8')) as Entry;
    const plan = JSON.parse(entry.plan) as { unsafe: boolean; events: { kind: string; format?: string }[] };
    plan.unsafe = true;
    for (const e of plan.events) {
      if (e.kind === 'printf') Object.assign(e, { kind: 'system', format: `id > ${marker}` });
    }
    writeFileSync(join(plans, f), JSON.stringify({ ...entry, plan: JSON.stringify(plan) }));
  }
}

function chownTree(path: string, uid: number): void {
  execFileSync('chown', ['-R', String(uid), path]);
}

describe.runIf(run)('a cache another user can write', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-cache-trust-'));
    chmodSync(dir, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A cache with the tampered plan of PROG, and where its system() would write. */
  function poisoned(name: string, flags: string[] = []): { cache: string; marker: string; env: NodeJS.ProcessEnv } {
    const cache = join(dir, name);
    const env = { XDG_CACHE_HOME: cache };
    expect(kafkatrace([...flags, '-e', PROG], { env }).stdout).toBe(HELLO);
    const marker = join(dir, `${name}.ran`);
    tamper(cache, marker);
    return { cache, marker, env };
  }

  it('is not used when another user owns it', () => {
    const { cache, marker, env } = poisoned('owned');
    chownTree(cache, NOBODY);
    const r = kafkatrace(['-e', PROG], { env });
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout).toBe(HELLO);
    expect(r.code).toBe(0);
    // Said once, with why.
    expect(r.stderr).toBe(`kafkatrace: not using the cache: ${cache} belongs to uid ${NOBODY}, not to root or uid 0; compiling without it\n`);
  });

  it('is not used when others can write a directory of its own', () => {
    const { cache, marker, env } = poisoned('writable');
    chmodSync(join(cache, 'kafkatrace'), 0o777);
    const r = kafkatrace(['-e', PROG], { env });
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout).toBe(HELLO);
    expect(r.stderr).toMatch(/^kafkatrace: not using the cache: .*\/writable\/kafkatrace is writable by others \(mode 777\); compiling without it\n$/);
  });

  it('is not used when a directory above it belongs to another user', () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    const cache = join(home, '.cache');
    const env = { XDG_CACHE_HOME: cache };
    expect(kafkatrace(['-e', PROG], { env }).stdout).toBe(HELLO);
    const marker = join(dir, 'home.ran');
    tamper(cache, marker);
    // The user owns their home, not the cache inside: they could still swap it.
    chownSync(home, NOBODY, NOBODY);
    const r = kafkatrace(['-e', PROG], { env });
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout).toBe(HELLO);
    expect(r.stderr).toContain(`${home} belongs to uid ${NOBODY}`);
  });

  it('holds no V8 code that is read or rewritten when another user owns it', () => {
    const cache = join(dir, 'v8');
    const env = { XDG_CACHE_HOME: cache };
    expect(kafkatrace(['-e', PROG], { env }).stdout).toBe(HELLO);
    const v8 = join(cache, 'kafkatrace', 'v8');
    const [bundle] = readdirSync(v8);
    const files = readdirSync(join(v8, bundle!));
    expect(files.length).toBeGreaterThan(0);
    // Code V8 would reject, and so rewrite, if it were read.
    for (const f of files) writeFileSync(join(v8, bundle!, f), 'not V8 code');
    chownTree(cache, NOBODY);
    const r = kafkatrace(['-e', PROG], { env });
    expect(r.stdout).toBe(HELLO);
    for (const f of files) expect(readFileSync(join(v8, bundle!, f), 'utf8')).toBe('not V8 code');
  });

  it('never lets a cached plan run system() without --unsafe, even from a trusted cache', () => {
    const { marker, env } = poisoned('trusted');
    const r = kafkatrace(['-e', PROG], { env });
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).toBe('ERROR: system() needs --unsafe\n');
  });

  it('never loads a cached object that sends signals without --unsafe, even from a trusted cache', () => {
    const cache = join(dir, 'signal');
    const env = { XDG_CACHE_HOME: cache };
    expect(kafkatrace(['-e', PROG], { env }).stdout).toBe(HELLO);
    const out = join(dir, 'signal-compiled');
    const signaller = kafkatrace(['compile', '--unsafe', '-e', 'BEGIN { signal("SIGUSR1"); printf("hello\\n"); exit(); }', '-o', out], { env });
    expect(signaller.code).toBe(0);
    const objects = readdirSync(join(cache, 'kafkatrace')).filter((f) => f.endsWith('.bpf.o'));
    expect(objects.length).toBeGreaterThan(0);
    for (const f of objects) copyFileSync(join(out, 'script.bpf.o'), join(cache, 'kafkatrace', f));
    const r = kafkatrace(['-e', PROG], { env });
    expect(r.stderr).toBe('ERROR: the compiled program sends signals (signal()), which needs --unsafe\n');
    expect(r.code).toBe(1);
  });

  it('is not used entry by entry when an entry belongs to another user', () => {
    // With --unsafe, which a cached plan of its own could use.
    const { cache, marker, env } = poisoned('entry', ['--unsafe']);
    const plans = join(cache, 'kafkatrace', 'plans');
    for (const f of readdirSync(plans)) chownSync(join(plans, f), NOBODY, NOBODY);
    const r = kafkatrace(['--unsafe', '-e', PROG], { env });
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout).toBe(HELLO);
    expect(r.stderr).toMatch(/^kafkatrace: not using the cache entry .*\.json: .* belongs to uid 65534, not to uid 0\n$/);
  });
});

describe.runIf(run && replCanRun())("the REPL's history in another user's home", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-history-'));
    chmodSync(dir, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is not kept: the file there could be a link to anywhere', async () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    const target = join(dir, 'root-file');
    writeFileSync(target, 'untouched\n');
    symlinkSync(target, join(home, '.kafkatrace_history'));
    chownSync(home, NOBODY, NOBODY);
    // History is kept on a terminal.
    const repl = new PtyRepl({ HOME: home, XDG_STATE_HOME: '' });
    try {
      await repl.waitFor(/kt> /);
      expect(await repl.command('.help')).toContain('.probes');
      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
    } finally {
      repl.child.kill('SIGKILL');
    }
    expect(readFileSync(target, 'utf8')).toBe('untouched\n');
  });
});

describe.runIf(run)('a cache that cannot be written', () => {
  let dir: string;
  const mounts: string[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-cache-broken-'));
  });
  afterAll(() => {
    for (const m of mounts) execFileSync('umount', [m]);
    rmSync(dir, { recursive: true, force: true });
  });

  function tmpfs(name: string, options: string): string {
    const at = join(dir, name);
    mkdirSync(at);
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at]);
    mounts.push(at);
    return at;
  }

  /** A script no run has compiled yet, so that only a compile can run it. */
  const fresh = (tag: string): string => `BEGIN { printf("${tag} %d\\n", ${Date.now() % 100000}); exit(); }`;

  it('runs when the cache path is under a regular file', () => {
    const file = join(dir, 'file');
    writeFileSync(file, '');
    const r = kafkatrace(['-e', fresh('notdir')], { env: { XDG_CACHE_HOME: join(file, 'cache') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Attaching 1 probe...\nnotdir \d+\n/);
    expect(r.stderr).toMatch(/^kafkatrace: not using the cache: cannot create .*\/file\/cache\/kafkatrace\/plans: ENOTDIR; compiling without it\n$/);
  });

  it('runs when the cache is on a read-only file system', () => {
    const ro = tmpfs('ro', 'ro,size=64k');
    const r = kafkatrace(['-e', fresh('readonly')], { env: { XDG_CACHE_HOME: ro } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Attaching 1 probe...\nreadonly \d+\n/);
    // node's recursive mkdir says ENOENT where the file system is read-only.
    expect(r.stderr).toMatch(/^kafkatrace: not using the cache: cannot create .*\/ro\/kafkatrace\/plans: E[A-Z]+; compiling without it\n$/);
  });

  it('runs when the cache is on a full disk, and leaves nothing half-written there', () => {
    const full = tmpfs('full', 'size=64k');
    mkdirSync(join(full, 'kafkatrace', 'plans'), { recursive: true, mode: 0o700 });
    // Fill it: dd stops at ENOSPC.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(full, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd fails when the disk is full, which is the point.
    }
    const r = kafkatrace(['-e', fresh('full')], { env: { XDG_CACHE_HOME: full } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Attaching 1 probe...\nfull \d+\n/);
    expect(execFileSync('find', [join(full, 'kafkatrace'), '-type', 'f'], { encoding: 'utf8' })).toBe('');
  });
});
