// `kafkatrace repl` on a pseudo-terminal (util-linux `script`), as root: two blocks share a map,
// `.maps` shows exact counts of a workload's getppid calls, `.detach` keeps the shared map's
// values, and neither `.exit` nor Ctrl-C leaves a program or map of the REPL loaded.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';
import { heldBpf } from '../helpers/bpf-held.js';

function replCanRun(): boolean {
  if (!canRun()) return false;
  const problems: string[] = [];
  if (spawnSync('script', ['--version']).status !== 0) problems.push('`script` (util-linux) is missing');
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'))) problems.push('the CLI is not built (npm run build)');
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`repl e2e tests cannot run: ${problems.join(', ')}`);
  console.log(`skipping repl e2e tests: ${problems.join(', ')}`);
  return false;
}

const run = replCanRun();

function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

function loaded(kind: 'prog' | 'map'): { id: number; name?: string }[] {
  return JSON.parse(execFileSync('bpftool', [kind, 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[];
}

/** The REPL on a pseudo-terminal: type lines, wait for output. */
class PtyRepl {
  readonly child: ChildProcessWithoutNullStreams;
  private raw = '';
  /** Where the output not yet consumed by expectOutput starts. */
  private mark = 0;
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv) {
    const cmd = `stty cols 200 rows 50; exec '${process.execPath}' '${BIN}' repl`;
    this.child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env } });
    this.child.stdout.on('data', (d: Buffer) => (this.raw += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.raw += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get text(): string {
    return stripAnsi(this.raw);
  }

  /** The REPL process itself (script's child). */
  replPid(): number {
    const children = readFileSync(`/proc/${this.child.pid}/task/${this.child.pid}/children`, 'utf8').trim();
    return Number(children.split(/\s+/)[0]);
  }

  type(s: string): void {
    this.child.stdin.write(s);
  }

  /** Waits until the output after the last wait matches re; returns that output. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = this.text.slice(this.mark);
      const m = re.exec(fresh);
      if (m) {
        this.mark += m.index + m[0].length;
        return fresh.slice(0, m.index + m[0].length);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Runs a dot command and returns what it printed before the next prompt. */
  async command(line: string): Promise<string> {
    this.type(line + '\r');
    const out = await this.waitFor(/\nkt> /);
    return out.slice(out.indexOf('\n') + 1, -'kt> '.length);
  }
}

describe.runIf(run)('kafkatrace repl on a terminal', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let workload: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-repl-'));
    env = { XDG_STATE_HOME: join(dir, 'state'), XDG_CACHE_HOME: join(dir, 'cache') };
    mkdirSync(join(ROOT, 'build', 'test'), { recursive: true });
    workload = join(ROOT, 'build', 'test', 'repl-workload');
    execFileSync('cc', ['-O1', '-o', workload, join(ROOT, 'test', 'fixtures', 'workload', 'workload.c')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const getppid = (n: number) => execFileSync(workload, ['getppid', String(n)]);

  it('shares a map between blocks, detaches one, and leaves nothing loaded at .exit', async () => {
    const repl = new PtyRepl(env);
    try {
      await repl.waitFor(/kt> /);
      repl.type('tracepoint:syscalls:sys_enter_getppid /comm == "repl-workload"/ { @calls[comm] = count(); }\r');
      await repl.waitFor(/block 1: attached 1 probe\n/);
      // A block over several lines, sharing @calls with block 1.
      repl.type('tracepoint:syscalls:sys_exit_getppid /comm == "repl-workload"/ {\r');
      await repl.waitFor(/\.\.\. /);
      repl.type('  @calls[comm] = count();\r  @exits = count();\r}\r');
      await repl.waitFor(/block 2: attached 1 probe\n/);
      await repl.waitFor(/kt> /);

      const held = heldBpf(repl.replPid());
      const ours = loaded('prog').filter((p) => held.progs.has(p.id));
      expect(ours.map((p) => p.name)).toEqual(['kt_p0', 'kt_p1']);

      getppid(7);
      expect(await repl.command('.maps')).toBe('@calls[repl-workload]: 14\n@exits: 7\n');
      expect(await repl.command('.probes')).toBe(
        '  1  tracepoint:syscalls:sys_enter_getppid  (@calls)\n  2  tracepoint:syscalls:sys_exit_getppid  (@calls, @exits)\n',
      );
      // A block that disagrees with a live map's type is refused with its place.
      const refused = await repl.command('tracepoint:syscalls:sys_enter_getppid { @exits[pid] = count(); }');
      expect(refused).toContain('repl:1:41: error:');
      expect(await repl.command('.detach 1')).toBe('block 1 detached\n');
      getppid(3);
      // @calls keeps block 1's counts; only block 2 adds to it now.
      expect(await repl.command('.maps')).toBe('@calls[repl-workload]: 17\n@exits: 10\n');
      expect(await repl.command('.print @exits')).toBe('@exits: 10\n');
      expect(await repl.command('.clear @exits')).toBe('@exits cleared\n');

      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
      const progs = loaded('prog').map((p) => p.id);
      const maps = loaded('map').map((m) => m.id);
      expect(progs.filter((id) => held.progs.has(id))).toEqual([]);
      expect(maps.filter((id) => held.maps.has(id))).toEqual([]);
      expect(readFileSync(join(dir, 'state', 'kafkatrace', 'history'), 'utf8')).toContain('@exits = count();');
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 90_000);

  it('prints output above the line being typed, and Ctrl-C leaves nothing behind', async () => {
    const repl = new PtyRepl(env);
    try {
      await repl.waitFor(/kt> /);
      repl.type('interval:ms:100 { printf("tick\\n"); }\r');
      await repl.waitFor(/block 1: attached 1 probe\n/);
      const held = heldBpf(repl.replPid());
      expect(held.progs.size).toBe(1);
      repl.type('BEGI');
      // The record goes above the prompt, which is redrawn with what was typed so far.
      await repl.waitFor(/tick\nkt> BEGI/);
      repl.type('\x03');
      repl.type('\x03');
      await repl.waitFor(/press Ctrl\+C again/);
      repl.type('\x03');
      expect(await repl.exited).toBe(0);
      expect(loaded('prog').filter((p) => held.progs.has(p.id))).toEqual([]);
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 60_000);
});
