// Shared helpers for the output tests: an Output that collects into a string, a fake symbolizer, and
// hand-built decoded events.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KType } from '../../src/frontend/ast.js';
import type { PlanEvent } from '../../src/plan/types.js';
import { createOutput, type Output, type OutputOptions } from '../../src/runtime/output.js';
import type { Symbolizer } from '../../src/runtime/symbols.js';
import type { DecodedEvent, Value } from '../../src/runtime/values.js';

export const fakeSymbols: Symbolizer = {
  ksym: (addr, withOffset) => (addr >= 0x1000n && addr < 0x2000n ? (withOffset ? `kfunc+${addr - 0x1000n}` : 'kfunc') : '0x' + addr.toString(16)),
  usym: (addr, pid, withOffset) => (addr >= 0x400000n && addr < 0x401000n ? (withOffset ? `main+${addr - 0x400000n}` : `main@${pid}`) : '0x' + addr.toString(16)),
  username: (uid) => (uid === 0 ? 'root' : ''),
  cgroupPath: (id, filter) => (filter === '*' ? `unified:/cg${id}` : ''),
};

export function collect(
  format: 'text' | 'json',
  extra: Partial<OutputOptions> = {},
): { out: Output; text: () => string; errors: () => string } {
  let text = '';
  let errors = '';
  const out = createOutput({
    format,
    write: (s) => (text += s),
    writeError: (s) => (errors += s),
    symbols: fakeSymbols,
    ...extra,
  });
  return { out, text: () => text, errors: () => errors };
}

const noLayout = { size: 0, fields: [] };

export function printfEvent(format: string, args: Value[]): DecodedEvent {
  return { ok: true, event: { id: 1, kind: 'printf', format, layout: noLayout }, args };
}

export function valueEvent(v: Value): DecodedEvent {
  return { ok: true, event: { id: 2, kind: 'printValue', layout: noLayout }, args: [v] };
}

export function event(e: PlanEvent, args: Value[] = []): DecodedEvent {
  return { ok: true, event: e, args };
}

export function fixture(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../fixtures/bpftrace-output/${name}`, import.meta.url)), 'utf8');
}

export const i64: KType = { kind: 'int', bits: 64, signed: true };
export const u64: KType = { kind: 'int', bits: 64, signed: false };
export const str: KType = { kind: 'str', size: 64 };
