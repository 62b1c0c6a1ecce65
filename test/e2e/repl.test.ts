// `kafkatrace repl` on a pseudo-terminal (util-linux `script`), as root: two blocks share a map,
// `.maps` shows exact counts of a workload's getppid calls, `.detach` keeps the shared map's
// values, and neither `.exit` nor Ctrl-C leaves a program or map of the REPL loaded.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { heldBpf, stillLoaded } from '../helpers/bpf-held.js';
import { loaded, PtyRepl, replCanRun } from './repl-pty.js';

const run = replCanRun();

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
      expect(refused).toContain('repl:1:41: ERROR:');
      expect(await repl.command('.detach 1')).toBe('block 1 detached\n');
      getppid(3);
      // @calls keeps block 1's counts; only block 2 adds to it now.
      expect(await repl.command('.maps')).toBe('@calls[repl-workload]: 17\n@exits: 10\n');
      expect(await repl.command('.print @exits')).toBe('@exits: 10\n');
      expect(await repl.command('.clear @exits')).toBe('@exits cleared\n');

      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
      expect(await stillLoaded('prog', held.progs)).toEqual([]);
      expect(await stillLoaded('map', held.maps)).toEqual([]);
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
      expect(await stillLoaded('prog', held.progs)).toEqual([]);
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 60_000);
});
