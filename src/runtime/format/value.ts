// Rendering of a single decoded Value as bpftrace prints it in text and in JSON.
import type { Symbolizer } from '../symbols.js';
import type { InetValue, StackLookup, Value } from '../values.js';
import { hexFormatBuffer } from './buffer.js';
import { strerror } from './errno-text.js';
import { jsonString } from './json.js';
import { monotonicWallNs, strftime } from './time.js';

export interface RenderContext {
  symbols: Symbolizer;
  /** Frames of a stack id in its stack map (zero-terminated or trimmed), undefined when it is gone. */
  stackLookup?: StackLookup;
}

function ipv4(b: Uint8Array, from = 0): string {
  return `${b[from]}.${b[from + 1]}.${b[from + 2]}.${b[from + 3]}`;
}

/** inet_ntop(3) for IPv6, including its choice of the longest zero run and the embedded-IPv4 forms. */
function ipv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += ipv4(b, 12);
      break;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** ntop(): dotted quad for AF_INET, inet_ntop's form for AF_INET6. */
export function ntop(v: InetValue): string {
  return v.af === 10 ? ipv6(v.bytes) : ipv4(v.bytes);
}

function stackText(frames: bigint[] | undefined, indent: number, resolve: (addr: bigint) => string): string {
  if (!frames) return '';
  let out = '\n';
  for (const addr of frames) {
    if (addr === 0n) break;
    out += ' '.repeat(indent) + resolve(addr) + '\n';
  }
  return out;
}

/**
 * Text of a value. `indent` is the stack frame indentation: 8 spaces where a stack is a value, 4 where
 * it is a map key (bpftrace's two cases).
 */
export function valueText(v: Value, ctx: RenderContext, indent = 8): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return hexFormatBuffer(v);
  if (Array.isArray(v)) return '(' + v.map((e) => valueText(e, ctx, indent)).join(', ') + ')';
  switch (v.kind) {
    case 'ksym':
      return ctx.symbols.ksym(v.addr);
    case 'usym':
      return ctx.symbols.usym(v.addr, v.pid);
    case 'inet':
      return ntop(v);
    case 'username':
      return ctx.symbols.username(v.uid);
    case 'strerror':
      return strerror(v.errno);
    case 'kstack':
      return v.stackId < 0 ? '' : stackText(ctx.stackLookup?.(v.stackId, v.limit), indent, (a) => ctx.symbols.ksym(a, true));
    case 'ustack':
      return v.stackId < 0 ? '' : stackText(ctx.stackLookup?.(v.stackId, v.limit), indent, (a) => ctx.symbols.usym(a, v.pid, true));
    case 'timestamp': {
      // bpftrace's one extension: %f, the microseconds (six digits).
      const wall = monotonicWallNs(v.ns);
      const us = String((wall % 1_000_000_000n) / 1000n).padStart(6, '0');
      return strftime(v.format.replaceAll('%f', us), new Date(Number(wall / 1_000_000n)));
    }
    case 'array':
      return `[${v.elems.map((e) => valueText(e, ctx)).join(',')}]`;
    case 'record':
      return recordText(v, ctx, false);
    case 'cgroup_path':
      return ctx.symbols.cgroupPath(v.id, v.filter);
    case 'macaddr':
      return [...v.bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
    case 'none':
      return '';
  }
}

/** bpftrace's struct text: `{ .m = 2, .n = 3 }` as a value, `{.m=2,.n=3}` in a map key. */
export function recordText(v: Extract<Value, { kind: 'record' }>, ctx: RenderContext, key: boolean): string {
  const field = ([name, f]: [string, Value]): string => {
    const text = typeof f === 'object' && !(f instanceof Uint8Array) && !Array.isArray(f) && f.kind === 'record' ? recordText(f, ctx, key) : valueText(f, ctx);
    return key ? `.${name}=${text}` : `.${name} = ${text}`;
  };
  return key ? `{${v.fields.map(field).join(',')}}` : `{ ${v.fields.map(field).join(', ')} }`;
}

/** C0 controls but tab and newline, DEL, C1 controls: what moves a terminal's cursor or starts an escape sequence. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const CONTROLS = new RegExp(CONTROL.source, 'g');

/**
 * `s` with its terminal control characters written out (`\x1b`, `\u009b`): strings that text output
 * prints come from the kernel and the wire (file names, client ids), which anyone may have chosen.
 */
export function escapeControls(s: string): string {
  if (!CONTROL.test(s)) return s;
  return s.replace(CONTROLS, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** Text of a value for text output (a terminal): valueText with control characters escaped. */
export function valueTerminalText(v: Value, ctx: RenderContext, indent = 8): string {
  return escapeControls(valueText(v, ctx, indent));
}

/** JSON of a value: numbers bare, strings and everything printed as text quoted, tuples as arrays. */
export function valueJson(v: Value, ctx: RenderContext): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return '[' + v.map((e) => valueJson(e, ctx)).join(',') + ']';
  if (typeof v === 'object' && !(v instanceof Uint8Array) && v.kind === 'none') return 'null';
  if (typeof v === 'object' && !(v instanceof Uint8Array) && v.kind === 'array') return valueText(v, ctx);
  // bpftrace's JSON of a struct: `{ "m": 2, "n": 3 }`.
  if (typeof v === 'object' && !(v instanceof Uint8Array) && v.kind === 'record') return `{ ${v.fields.map(([n, f]) => `${jsonString(n)}: ${valueJson(f, ctx)}`).join(', ')} }`;
  return jsonString(valueText(v, ctx));
}

