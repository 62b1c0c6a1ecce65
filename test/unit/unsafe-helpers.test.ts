// unsafeHelperCalls reads the helpers a BPF object calls from its code: signal() is found whatever
// signal it sends and wherever it sits; other helpers and BPF-to-BPF calls are not taken for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unsafeHelperCalls } from '../../src/codegen/unsafe-helpers.js';
import { compileScript } from '../../src/compiler.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();
const cacheDir = mkdtempSync(join(tmpdir(), 'kt-unsafe-helpers-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

async function object(source: string): Promise<Buffer> {
  const r = await compileScript(source, 't.ktr', { positional: [], unsafe: true, system }, { cacheDir });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.compiled.object!;
}

describe('unsafeHelperCalls', () => {
  it('finds bpf_send_signal in the probe that calls signal()', async () => {
    const o = await object('BEGIN { printf("a %d\\n", 1); } interval:ms:100 { @x = count(); if (@x > 2) { signal("SIGUSR1"); } }');
    expect(unsafeHelperCalls(o)).toEqual([109]);
  });

  it('finds nothing in a program that prints, counts, reads strings and looks up maps', async () => {
    const o = await object('tracepoint:syscalls:sys_enter_openat { @[comm, str(args->filename)] = count(); printf("%s\\n", comm); exit(); }');
    expect(unsafeHelperCalls(o)).toEqual([]);
  });

  it('lets a constant SIGSTOP through only where stopping is allowed (watchpoints on an argument of the traced process)', async () => {
    const o = await object('tracepoint:syscalls:sys_enter_openat { signal("SIGSTOP"); }');
    expect(unsafeHelperCalls(o, true)).toEqual([]);
    expect(unsafeHelperCalls(o)).toEqual([109]);
    const other = await object('tracepoint:syscalls:sys_enter_openat { signal("SIGCONT"); }');
    expect(unsafeHelperCalls(other, true)).toEqual([109]);
    const computed = await object('tracepoint:syscalls:sys_enter_openat { signal(pid % 20); }');
    expect(unsafeHelperCalls(computed, true)).toEqual([109]);
  });

  it('finds nothing in what is not an ELF object', () => {
    expect(unsafeHelperCalls(Buffer.from('not an object at all, but long enough to have a header of sixty-four bytes'))).toEqual([]);
  });
});
