// Output that cannot be written, as root with real BPF: a reader that goes away (`| head -1`) ends
// kafkatrace quietly with status 141, as bpftrace 0.17 ends (SIGPIPE kills it: a shell says 141); a
// full disk behind -o or stdout is one line on stderr and status 1; either way the session stops in
// order and nothing it loaded is left.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyHeld, heldBpf, stillLoaded, type HeldBpf } from '../helpers/bpf-held.js';
import { BIN, ROOT, kafkatrace } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();
const TICK = 'interval:ms:10 { printf("tick %d\\n", 1); @n = count(); } END { printf("end\\n"); }';

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
  held: HeldBpf;
}

function ended(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Runs the CLI with stdout a pipe that this side closes after the first line, sampling what it holds
 * every 20 ms; `input` is written to its stdin, which stays open.
 */
async function closedOutput(args: string[], input = ''): Promise<Ended> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const exit = ended(child);
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const held = emptyHeld();
  const sampler = setInterval(() => heldBpf(child.pid!, held), 20);
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin!.write(input);
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    if (stdout.includes('\n')) return;
    stdout += s;
    if (!stdout.includes('\n')) return;
    heldBpf(child.pid!, held);
    child.stdout!.destroy();
  });
  const code = await exit;
  clearTimeout(killer);
  clearInterval(sampler);
  child.stdin!.destroy();
  return { code, stdout: stdout.slice(0, stdout.indexOf('\n') + 1), stderr, held };
}

/** Runs the CLI with stdout on `fd`, sampling what it holds every 20 ms until it ends. */
async function withStdout(args: string[], fd: number): Promise<Ended> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', fd, 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const exit = ended(child);
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const held = emptyHeld();
  const sampler = setInterval(() => heldBpf(child.pid!, held), 20);
  const code = await exit;
  clearTimeout(killer);
  clearInterval(sampler);
  return { code, stdout: '', stderr, held };
}

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What the run was seen holding is gone; `seen`: it was seen holding programs. */
async function expectReleased(held: HeldBpf, seen = true): Promise<void> {
  if (seen) expect(held.progs.size).toBeGreaterThan(0);
  expect(await stillLoaded('prog', held.progs)).toEqual([]);
  expect(await stillLoaded('map', held.maps)).toEqual([]);
  expect(await stillLoaded('link', held.links)).toEqual([]);
}

describe.runIf(run)('output that cannot be written', () => {
  let dir: string;
  const mounts: string[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-output-'));
  });
  afterAll(() => {
    for (const m of mounts) execFileSync('umount', [m]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A small file system with `free` KiB left (about: the file system keeps some for itself). */
  function disk(name: string, free: number): string {
    const at = join(dir, name);
    mkdirSync(at);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${free + 64}k`, 'tmpfs', at]);
    mounts.push(at);
    execFileSync('dd', ['if=/dev/zero', `of=${join(at, 'filler')}`, 'bs=4k', `count=${64 / 4}`], { stdio: 'ignore' });
    return at;
  }

  for (const format of ['text', 'json']) {
    it(`ends quietly with status 141 when the reader goes away (-f ${format})`, async () => {
      const r = await closedOutput(['-f', format, '-e', TICK]);
      expect(r.stdout).toBe(format === 'json' ? '{"type": "attached_probes", "data": {"probes": 2}}\n' : 'Attaching 2 probes...\n');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(141);
      await expectReleased(r.held);
    });
  }

  // /dev/full fails the first write, at once: what the run held may go unseen between two samples.
  it('says in one line that -o cannot be written, and fails', async () => {
    const r = await withStdout(['-o', '/dev/full', '-e', TICK], 1);
    expect(r.stderr).toBe('ERROR: cannot write to /dev/full: no space left on device\n');
    expect(r.code).toBe(1);
    await expectReleased(r.held, false);
  });

  it('says in one line that stdout cannot be written, and fails', async () => {
    const devFull = openSync('/dev/full', 'w');
    try {
      const r = await withStdout(['-f', 'json', '-e', TICK], devFull);
      expect(r.stderr).toBe('ERROR: cannot write to standard output: no space left on device\n');
      expect(r.code).toBe(1);
      await expectReleased(r.held, false);
    } finally {
      closeSync(devFull);
    }
  });

  // 100-byte lines at 1 kHz fill 64 KiB in about 0.6 s.
  const FILLER = `interval:ms:1 { printf("%s%s\\n", "${'x'.repeat(60)}", "${'y'.repeat(39)}"); }`;

  it('fails in one line when the disk behind -o fills up, after detaching', async () => {
    const out = join(disk('o', 64), 'out.txt');
    const r = await withStdout(['-o', out, '-e', FILLER], 1);
    expect(r.stderr).toBe(`ERROR: cannot write to ${out}: no space left on device\n`);
    expect(r.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toMatch(/^Attaching 1 probe...\n(x{60}y{39}\n)+/);
    await expectReleased(r.held);
  });

  it('fails in one line when the disk behind stdout fills up, after detaching', async () => {
    const out = join(disk('stdout', 64), 'out.txt');
    const fd = openSync(out, 'w');
    try {
      const r = await withStdout(['-e', FILLER], fd);
      expect(r.stderr).toBe('ERROR: cannot write to standard output: no space left on device\n');
      expect(r.code).toBe(1);
      await expectReleased(r.held);
    } finally {
      closeSync(fd);
    }
  });

  it('compile -o on a full disk: one line naming the file, status 1', () => {
    const out = join(disk('compile', 0), 'out');
    mkdirSync(out);
    const r = kafkatrace(['compile', '-e', 'BEGIN { printf("x\\n"); exit(); }', '-o', out]);
    expect(r.stderr).toBe(`ERROR: cannot write ${join(out, 'script.plan.json')}: no space left on device\n`);
    expect(r.code).toBe(1);
  });

  it('the REPL ends when the reader of its output goes away', async () => {
    // stdin stays open: only the closed output can end it.
    const r = await closedOutput(['repl'], 'interval:ms:10 { printf("tick\\n"); }\n');
    expect(r.stdout).toBe('kt> block 1: attached 1 probe\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(141);
    await expectReleased(r.held);
  });

  it("runs on when the exporter's log line cannot be written (stderr closed)", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, '--export', `prometheus=127.0.0.1:${port}`, '--duration', '1s', '-e', 'interval:ms:100 { @x = count(); }'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.destroy();
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await ended(child);
    clearTimeout(killer);
    expect(stdout).toMatch(/\n@x: \d+\n$/);
    expect(code).toBe(0);
  });

  it.runIf(existsSync(join(ROOT, 'build', 'kafkatrace-mock-broker')))('the demo ends quietly with status 141 when the reader goes away', async () => {
    const r = await closedOutput(['demo', '--duration', '20s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(141);
    await expectReleased(r.held);
  }, 60_000);
});
