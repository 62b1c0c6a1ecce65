// Real scripts end to end: compiled by compileScript (front end, plan, C, clang) and run by the
// session against the kernel, with the workload's exact syscall counts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileScript } from '../../src/compiler.js';
import { KtError } from '../../src/errors.js';
import { realSystem } from '../../src/frontend/system.js';
import { openObject } from '../../src/native/index.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession, type SessionOptions } from '../../src/runtime/session.js';
import { buildFixtures, canRun, collector } from './runtime-helpers.js';

const ok = canRun();
const fx = ok ? buildFixtures() : undefined;

async function runScript(
  source: string,
  options: Omit<SessionOptions, 'output'> = {},
  unsafe = false,
): Promise<{ code: number; text: string; errors: string[] }> {
  const r = await compileScript(source, 'test.ktr', { positional: [], unsafe, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const c = collector();
  const output = createOutput({ format: 'text', write: c.write, writeError: c.writeError });
  const code = await runSession(r.compiled.plan, r.compiled.object!, { signals: false, ...options, output });
  return { code, text: c.text(), errors: c.errors };
}

/** Like runScript, with an output that resolves stack ids through the session's lookup. */
async function runScriptWithStacks(source: string, options: Omit<SessionOptions, 'output'>): Promise<string> {
  const r = await compileScript(source, 'test.ktr', { positional: [], unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const c = collector();
  await runSession(r.compiled.plan, r.compiled.object!, {
    signals: false,
    ...options,
    output: (stackLookup) => createOutput({ format: 'text', write: c.write, writeError: c.writeError, stackLookup }),
  });
  return c.text();
}

describe.runIf(ok)('scripts through the runtime', () => {
  it('counts the exact syscalls of a -c command', async () => {
    const r = await runScript('tracepoint:syscalls:sys_enter_getppid { @calls = count(); }', {
      command: `${fx!.workload} getppid 100`,
    });
    expect(r.text).toContain('Attaching 1 probe...\n');
    expect(r.text).toContain('@calls: 100\n');
  });

  it('sums and hists tracepoint args, keyed by comm', async () => {
    const r = await runScript(
      'tracepoint:syscalls:sys_enter_write { @bytes[comm] = sum(args.count); @sizes = hist(args.count); }',
      { command: `${fx!.workload} write 300 7 write 5 2` },
    );
    expect(r.text).toContain('@bytes[workload]: 2110\n');
    expect(r.text).toMatch(/\[4, 8\)\s+2 \|/);
    expect(r.text).toMatch(/\[256, 512\)\s+7 \|@+\|/);
  });

  it('prints from BEGIN and exits with the code given to exit()', async () => {
    const r = await runScript('BEGIN { printf("hello %d %s\\n", 42, "kt"); exit(); } END { printf("bye\\n"); }');
    expect(r.code).toBe(0);
    expect(r.text.startsWith('Attaching 2 probes...\nhello 42 kt\nbye\n')).toBe(true);
  });

  it('runs BEGIN before the other probes attach, so its output comes first', async () => {
    const r = await runScript('BEGIN { printf("first\\n"); } tracepoint:raw_syscalls:sys_enter { printf("event\\n"); exit(); }');
    expect(r.text.startsWith('Attaching 2 probes...\nfirst\nevent\n')).toBe(true);
  });

  it('resolves exit(code) to the session exit code', async () => {
    expect((await runScript('BEGIN { exit(3); }')).code).toBe(3);
  });

  it('prints kernel stacks looked up in kt_stacks', async () => {
    const r = await runScriptWithStacks('tracepoint:syscalls:sys_enter_getppid { @s[kstack] = count(); }', {
      command: `${fx!.workload} getppid 10`,
    });
    expect(r).toMatch(/@s\[\n(    \S+\+\d+\n)*    do_syscall_64\+\d+\n(    \S+\+\d+\n)*\]: \d+\n/);
    // The kernel may record the same path under more than one id (or fail one): the counts add up.
    const counts = [...r.matchAll(/^\]: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('dumps a map without batch lookups (the stack trace map) key by key', async () => {
    const r = await compileScript('tracepoint:syscalls:sys_enter_getppid { @s[kstack] = count(); }', 'test.ktr', {
      positional: [],
      unsafe: false,
      system: realSystem(),
    });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const obj = openObject(r.compiled.object!);
    try {
      obj.load();
      const program = r.compiled.plan.probes[0]!.programs[0]!.name;
      obj.attachTracepoint(program, 'syscalls', 'sys_enter_getppid');
      execFileSync(fx!.workload, ['getppid', '5']);
      const stacks = obj.mapDump('kt_stacks');
      expect(stacks.length).toBeGreaterThan(0);
      expect(stacks[0]!.key.length).toBe(4);
      expect(stacks[0]!.values.map((v) => v.length)).toEqual([127 * 8]);
      expect(stacks[0]!.values[0]!.readBigUInt64LE(0)).not.toBe(0n);
    } finally {
      obj.close();
    }
  });

  it('counts uprobe hits on the workload', async () => {
    const r = await runScript(`uprobe:${fx!.workload}:kt_workload_target { @hits = count(); }`, {
      command: `${fx!.workload} call 777`,
    });
    expect(r.text).toContain('@hits: 777\n');
  });

  it('prints strftime() of nsecs as the wall-clock time date(1) shows, in text, keys and values', async () => {
    const format = '+%Y-%m-%d %H:%M';
    const before = execFileSync('date', [format], { encoding: 'utf8' }).trim();
    const r = await runScript('BEGIN { printf("%s|\\n", strftime("%Y-%m-%d %H:%M", nsecs)); @at[strftime("%Y-%m-%d %H:%M", nsecs)] = count(); @v = strftime("%%d=%d", nsecs); exit(); }');
    const after = execFileSync('date', [format], { encoding: 'utf8' }).trim();
    const printed = /^(.*)\|$/m.exec(r.text)?.[1];
    expect([before, after]).toContain(printed);
    expect(r.text).toContain(`@at[${printed}]: 1\n`);
    expect(r.text).toContain(`@v: %d=${printed!.slice(8, 10)}\n`);
  });

  it('prints macaddr() of the bytes a command writes as colon-separated upper-case hex', async () => {
    const text = Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
    const want = [...Buffer.from(text.slice(0, 6))].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
    const r = await runScript('tracepoint:syscalls:sys_enter_write { printf("%s|\\n", macaddr(args.buf)); @[macaddr(args.buf)] = count(); }', {
      command: `/usr/bin/printf ${text}`,
    });
    expect(r.text).toContain(`${want}|\n`);
    expect(r.text).toContain(`@[${want}]: 1\n`);
  });

  it('reads through uptr() in user memory where the probe reads kernel memory (write()\'s buffer, from a raw tracepoint)', async () => {
    const text = Array.from({ length: 11 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
    // sys_enter's arg0 is the saved pt_regs (a kernel pointer); rsi, the 14th word, is write()'s buffer.
    const script = (read: string): string => `rawtracepoint:sys_enter /arg1 == 1/ { $regs = (uint64 *) arg0; $buf = *($regs + 13); printf("[%s]\\n", str(${read}, 11)); }`;
    const user = await runScript(script('uptr($buf)'), { command: `/usr/bin/printf ${text}` });
    expect(user.text).toContain(`[${text}]\n`);
    const kernel = await runScript(script('kptr($buf)'), { command: `/usr/bin/printf ${text}` });
    expect(kernel.text).toContain('[]\n');
    expect(kernel.text).not.toContain(text);
  });

  it('reads the tracepoint record through ctx: write()\'s count is its fifth word, by * and by []', async () => {
    const r = await runScript('tracepoint:syscalls:sys_enter_write { @count[*((uint64 *) ctx + 4)] = count(); $words = (uint64 *) ctx; @indexed[$words[4]] = count(); }', {
      command: `${fx!.workload} write 300 7 write 5 2`,
    });
    expect(r.text).toContain('@count[5]: 2\n@count[300]: 7\n');
    expect(r.text).toContain('@indexed[5]: 2\n@indexed[300]: 7\n');
  });

  it('writes debugf() to the kernel trace buffer, converted by bpf_trace_printk', async () => {
    const marker = `kt-debugf-${process.pid}-${Date.now()}`;
    const r = await runScript(`BEGIN { debugf("${marker} %d %s %x", 42, "str", 255); debugf("${marker} plain"); exit(); }`);
    // A session that did not run BEGIN wrote nothing: say why rather than what the buffer lacks.
    expect({ code: r.code, errors: r.errors }).toEqual({ code: 0, errors: [] });
    const trace = ['/sys/kernel/tracing/trace', '/sys/kernel/debug/tracing/trace'].map((f) => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    }).join('');
    expect(trace).toContain(`bpf_trace_printk: ${marker} 42 str ff\n`);
    expect(trace).toContain(`bpf_trace_printk: ${marker} plain\n`);
  });

  it('reads the probed call\'s registers with reg(): rdi holds the argument the workload passed', async () => {
    // `call 5` passes 0, 1, 2, 3, 4: each call gets the previous one's result.
    const r = await runScript(`uprobe:${fx!.workload}:kt_workload_target { @di[reg("di")] = count(); if (reg("sp") != 0) { @sp = count(); } }`, {
      command: `${fx!.workload} call 5`,
    });
    expect(r.text).toContain('@di[0]: 1\n@di[1]: 1\n@di[2]: 1\n@di[3]: 1\n@di[4]: 1\n');
    expect(r.text).toContain('@sp: 5\n');
  });

  it('gives uaddr() the link-time address of a data symbol of the probed binary, as bpftrace 0.17 does', async () => {
    const nm = execFileSync('nm', [fx!.workload], { encoding: 'utf8' });
    const address = /^([0-9a-f]+) B kt_workload_calls$/m.exec(nm)?.[1];
    expect(address).toBeDefined();
    const r = await runScript(`uprobe:${fx!.workload}:kt_workload_target { printf("%p\\n", uaddr("kt_workload_calls")); exit(); }`, {
      command: `${fx!.workload} call 3`,
    });
    expect(r.text).toContain(`0x${BigInt('0x' + address).toString(16)}\n`);
    await expect(compileScript(`uprobe:${fx!.workload}:kt_workload_target { printf("%p\\n", uaddr("kt_no_such_symbol")); }`, 'test.ktr', {
      positional: [], unsafe: false, system: realSystem(),
    })).resolves.toMatchObject({ ok: false, diagnostics: [{ message: `uaddr(): no data symbol 'kt_no_such_symbol' in ${fx!.workload}` }] });
  });

  it('stops from an interval probe', async () => {
    const start = Date.now();
    const r = await runScript('interval:ms:100 { @ticks = count(); if (@ticks == 3) { exit(); } }');
    expect(Date.now() - start).toBeGreaterThanOrEqual(280);
    expect(r.text).toContain('@ticks: 3\n');
  });

  // process.ppid asks the kernel each time: the getppid calls are made after the stop, before END.
  const afterStop = `tracepoint:syscalls:sys_enter_getppid /pid == ${process.pid}/ { @after = count(); printf("after\\n"); }`;
  const getppidTimes = (n: number) => () => {
    for (let i = 0; i < n; i++) void process.ppid;
  };

  it('runs no probe after exit(), as bpftrace detaches them before END', async () => {
    const r = await runScript(`${afterStop} interval:ms:10 { exit(); } END { printf("end\\n"); }`, { onStop: getppidTimes(1000) });
    expect(r.text).toMatch(/^Attaching 3 probes...\nend\n\s*$/);
  });

  it('runs no probe after a stop by the clock either; END still runs', async () => {
    const r = await runScript(`${afterStop} END { printf("end\\n"); }`, { durationMs: 50, onStop: getppidTimes(1000) });
    expect(r.text).toMatch(/^Attaching 2 probes...\nend\n\s*$/);
  });

  it('names the missing kernel feature for a kprobe script', async () => {
    await expect(runScript('kprobe:do_sys_openat2 { @ = count(); }')).rejects.toThrow(
      new KtError('attach-failed', 'kprobe:do_sys_openat2: kprobes are not available: this kernel was built without CONFIG_KPROBES'),
    );
  });
});
