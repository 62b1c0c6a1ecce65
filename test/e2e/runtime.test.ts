// The runtime session against the real kernel, with hand-written BPF objects (test/fixtures/runtime)
// and a workload that makes exact numbers of syscalls, so that counts are asserted exactly.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KtError } from '../../src/errors.js';
import type { ResolvedAttach } from '../../src/frontend/analysis.js';
import { FENTRY_MISSING, HARDWARE_MISSING, KPROBES_MISSING } from '../../src/runtime/attach.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession, type CommandStatus, type SessionOptions } from '../../src/runtime/session.js';
import type { Layout, Plan, PlanEvent } from '../../src/plan/types.js';
import { BEGIN, buildFixtures, canRun, collector, END, FIXTURE_EVENTS, fixturePlan, GETPPID, loadedProgramsSettled, WRITE } from './runtime-helpers.js';

const ok = canRun();
const fx = ok ? buildFixtures() : undefined;

async function run(
  plan: Plan,
  options: Omit<SessionOptions, 'output'> & { object?: Buffer },
): Promise<{ code: number; text: string; errors: string[] }> {
  const c = collector();
  const output = createOutput({ format: 'text', write: c.write, writeError: c.writeError });
  const code = await runSession(plan, options.object ?? fx!.probes, { signals: false, ...options, output });
  return { code, text: c.text(), errors: c.errors };
}

async function failure(plan: Plan, object?: Buffer): Promise<string> {
  try {
    await run(plan, { object, durationMs: 1 });
  } catch (e) {
    expect(e).toBeInstanceOf(KtError);
    return (e as Error).message;
  }
  throw new Error('the session started');
}

describe.runIf(ok)('runtime session', () => {
  afterEach(async () => {
    expect(await loadedProgramsSettled()).toEqual([]);
  });

  it('counts exact syscalls of a -c command, sums and hists them, runs BEGIN and END', async () => {
    let status: CommandStatus | undefined;
    const r = await run(fixturePlan([BEGIN, GETPPID, WRITE, END]), {
      command: `${fx!.workload} getppid 100 write 300 7 exit 5`,
      onCommandExit: (s) => (status = s),
    });
    expect(r.code).toBe(0);
    expect(status).toEqual({ code: 5, signal: null });
    expect(r.text).toContain('Attaching 4 probes...\nbegin 42\n');
    expect(r.text).toContain('end 1\n');
    expect(r.text).toContain('@calls: 100\n');
    expect(r.text).toContain('@bytes: 2100\n');
    expect(r.text).toMatch(/@sizes:\s*\n\[256, 512\)\s+7 \|@+\|/);
    expect(r.errors).toEqual([]);
  });

  it('stops on exit() with its code and prints the maps', async () => {
    const r = await run(fixturePlan([GETPPID]), {
      object: fx!.probesExit,
      command: `${fx!.workload} getppid 5 sleep 5000`,
    });
    expect(r.code).toBe(3);
    expect(r.text).toContain('@calls: 5\n');
  });

  it('reports lost events when the ring buffer overflows, and every record is either printed or lost', async () => {
    const r = await run(fixturePlan([GETPPID], 4096), {
      object: fx!.probesTick,
      command: `${fx!.workload} getppid 20000`,
    });
    const ticks = r.text.split('\n').filter((l) => l === 'tick 7').length;
    const lost = Number(/Lost (\d+) events/.exec(r.text)?.[1] ?? '0');
    expect(lost).toBeGreaterThan(0);
    expect(ticks + lost).toBe(20000);
  });

  it('runs system() records through the shell with --unsafe, and refuses them without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-system-'));
    const file = join(dir, 'out');
    const withSystem = (unsafe: boolean): Plan => {
      const plan = fixturePlan([GETPPID]);
      const layout = (FIXTURE_EVENTS[3] as { layout: Layout }).layout;
      plan.events = [...FIXTURE_EVENTS.slice(0, 3), { id: 3, kind: 'system', format: `echo sys %d >> '${file}'`, layout }];
      plan.unsafe = unsafe;
      return plan;
    };
    try {
      await run(withSystem(true), { object: fx!.probesTick, command: `${fx!.workload} getppid 3` });
      expect(readFileSync(file, 'utf8')).toBe('sys 7\nsys 7\nsys 7\n');
      const refused = await run(withSystem(false), { object: fx!.probesTick, command: `${fx!.workload} getppid 1` });
      expect(refused.errors).toEqual(['ERROR: system() needs --unsafe\n']);
      expect(readFileSync(file, 'utf8')).toBe('sys 7\nsys 7\nsys 7\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('acts on print, clear and zero records', async () => {
    const acting = (event: PlanEvent): Plan => {
      const plan = fixturePlan([GETPPID]);
      plan.events = [...FIXTURE_EVENTS.slice(0, 3), event];
      return plan;
    };
    const opts = { object: fx!.probesTick, command: `${fx!.workload} getppid 4` };
    // Each record follows its increment, so the last clear or zero comes after the last count.
    // @calls is a count() without keys: clear() leaves it at 0, as bpftrace's per-CPU array.
    const cleared = await run(acting({ id: 3, kind: 'clear', map: '@calls' }), opts);
    expect(cleared.text).toContain('@calls: 0\n');
    const zeroed = await run(acting({ id: 3, kind: 'zero', map: '@calls' }), opts);
    expect(zeroed.text).toContain('@calls: 0\n');
    const printed = await run(acting({ id: 3, kind: 'print', map: '@calls', top: 0, div: 0 }), opts);
    expect(printed.text.match(/@calls: \d/g)?.length).toBe(5);
    expect(printed.text.endsWith('@calls: 4\n') || printed.text.endsWith('@calls: 4\n\n')).toBe(true);
  });

  it('filters every probe to -p PID', async () => {
    const target = spawn(fx!.workload, ['wait', 'getppid', '33'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const other = () => new Promise((res) => spawn(fx!.workload, ['getppid', '10']).on('exit', res));
    const abort = new AbortController();
    target.on('exit', () => abort.abort());
    const c = collector();
    const output = createOutput({ format: 'text', write: c.write, writeError: c.writeError });
    const session = runSession(fixturePlan([GETPPID]), fx!.probes, {
      signals: false,
      pid: target.pid,
      abort: abort.signal,
      output: {
        ...output,
        attached: (n) => {
          output.attached(n);
          void other().then(() => target.stdin!.end());
        },
      },
    });
    expect(await session).toBe(0);
    expect(c.text()).toContain('@calls: 33\n');
  });

  it('attaches raw tracepoints, uprobes and uretprobes', async () => {
    const uprobe: ResolvedAttach = { type: 'uprobe', binary: fx!.workload, symbol: 'kt_workload_target', offset: fx!.targetOffset };
    const r = await run(
      fixturePlan([
        ['ktfx_raw', [{ type: 'rawtracepoint', name: 'sys_enter' }]],
        ['ktfx_uprobe', [uprobe]],
        ['ktfx_uretprobe', [{ ...uprobe, type: 'uretprobe' }]],
      ]),
      { command: `${fx!.workload} call 1234 getppid 50` },
    );
    expect(r.text).toContain('Attaching 3 probes...');
    expect(r.text).toContain('@uprobe: 1234\n');
    expect(r.text).toContain('@uretprobe: 1234\n');
    const raw = Number(/@raw: (\d+)/.exec(r.text)?.[1]);
    expect(raw).toBeGreaterThanOrEqual(50);
  });

  it('attaches USDT probes, to every process and to -p PID', async () => {
    const usdt: ResolvedAttach = { type: 'usdt', binary: fx!.workload, provider: 'kafkatrace_test', name: 'tick' };
    const all = await run(fixturePlan([['ktfx_usdt', [usdt]]]), { command: `${fx!.workload} usdt 321` });
    expect(all.text).toContain('Attaching 1 probe...');
    expect(all.text).toContain('@usdt: 321\n');
  });

  it('attaches profile, interval and software events', async () => {
    const r = await run(
      fixturePlan([
        ['ktfx_profile', [{ type: 'profile', unit: 'hz', value: 997 }]],
        ['ktfx_interval', [{ type: 'interval', unit: 'ms', value: 50 }]],
        ['ktfx_faults', [{ type: 'software', event: 'page-faults', period: 1 }]],
      ]),
      { command: `${fx!.workload} write 65536 100 sleep 330` },
    );
    const value = (name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(r.text)?.[1]);
    expect(value('@profile')).toBeGreaterThan(0);
    expect(value('@interval')).toBeGreaterThanOrEqual(5);
    expect(value('@interval')).toBeLessThanOrEqual(8);
    expect(value('@faults')).toBeGreaterThan(0);
  });

  it('stops after --duration', async () => {
    const start = Date.now();
    const r = await run(fixturePlan([BEGIN, END]), { durationMs: 200 });
    expect(Date.now() - start).toBeGreaterThanOrEqual(190);
    expect(r.text.startsWith('Attaching 2 probes...\nbegin 42\nend 1\n\n\n')).toBe(true);
    // Every fixture map is empty: none is printed with a value.
    expect(r.text).not.toContain('@');
  });

  it('names the missing kernel feature: kprobes', async () => {
    const msg = await failure(fixturePlan([['ktfx_kprobe', [{ type: 'kprobe', func: 'do_sys_openat2', offset: 0 }]]]));
    expect(msg).toBe(`kprobe:do_sys_openat2: ${KPROBES_MISSING}`);
  });

  it('names the missing kernel feature: hardware counters', async () => {
    const msg = await failure(fixturePlan([['ktfx_hardware', [{ type: 'hardware', event: 'cycles', period: 0 }]]]));
    expect(msg).toBe(`hardware:cycles:0: ${HARDWARE_MISSING}`);
  });

  it('names the missing kernel feature: fentry', async () => {
    const plan = fixturePlan([['ktfx_fentry', [{ type: 'fentry', func: 'do_sys_openat2' }]]]);
    const msg = await failure(plan, fx!.fentry);
    expect(msg).toBe(`fentry:do_sys_openat2: ${FENTRY_MISSING}`);
  });

  it('explains a program the verifier rejects with the end of its log', async () => {
    const plan = fixturePlan([['ktfx_rejected', GETPPID[1]]]);
    const msg = await failure(plan, fx!.rejected);
    expect(msg).toMatch(/^the kernel rejected BPF program 'ktfx_rejected': .* \(tracepoint:syscalls:sys_enter_getppid\)\n/);
    expect(msg).toMatch(/invalid mem access 'map_value_or_null'/);
  });

  it('explains a missing tracepoint and a command that does not exist', async () => {
    const msg = await failure(fixturePlan([['ktfx_getppid', [{ type: 'tracepoint', category: 'syscalls', name: 'sys_enter_nope' }]]]));
    expect(msg).toMatch(/^tracepoint:syscalls:sys_enter_nope: no such tracepoint/);
    await expect(run(fixturePlan([GETPPID]), { command: 'no-such-command-kt arg' })).rejects.toThrow(
      'command not found: no-such-command-kt',
    );
    await expect(run(fixturePlan([GETPPID]), { pid: 0x3ffffff0 })).rejects.toThrow('no process with pid');
  });
});
