// The C a script declares before its probes (`struct Foo { int x; }`, `#include <linux/in.h>`,
// `#define N 3`), as bpftrace takes it: compiled by clang, whose layouts are then read from the BTF
// it emits, so offsets, sizes, bitfields and padding are clang's own. A record the script defines
// takes the place of the kernel's of the same name; the rest still come from the kernel's BTF, until
// the script redefines one of the kernel's records (then it defines all it embeds, as in bpftrace).
import type { PreambleItem } from './ast.js';
import { Btf, BtfKind } from './btf.js';
import type { SystemInfo } from './system.js';

/** A record, enum or macro the script's C defines, found in the BTF clang made of it. */
export class ScriptTypes {
  constructor(
    private readonly btf: Btf | undefined,
    /** `struct Foo`, `union U`: the records the script's own C (not only its includes) defines. */
    private readonly defined: ReadonlySet<string>,
  ) {}

  /** The record's BTF and id when the script defines it. */
  record(name: string): { btf: Btf; id: number } | undefined {
    if (!this.btf || !this.defined.has(name)) return undefined;
    const [keyword, tag] = name.split(' ');
    const id = this.btf.find(tag!, keyword === 'union' ? BtfKind.Union : BtfKind.Struct);
    return id === undefined ? undefined : { btf: this.btf, id };
  }

  /** An enumerator of the script's enums, or an integer macro (`#define N 3`). */
  constant(name: string): bigint | undefined {
    return this.btf?.enumerator(name) ?? this.btf?.enumerator(`${MACRO_PREFIX}${name}`);
  }
}

const MACRO_PREFIX = '__kt_macro_';
const RECORD_RE = /\b(struct|union|enum)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/g;

/** The script's C as one translation unit, with anchors that make clang emit its types into BTF. */
export function definitionsSource(
  preamble: PreambleItem[],
  file: string,
  names: Iterable<string> = [],
  stubs: string[] = [],
  notConstants: ReadonlySet<string> = new Set(),
): { source: string; defined: Set<string> } {
  const defined = new Set<string>();
  const anchors: string[] = [];
  // bpftrace's tools include kernel headers only `#ifndef BPFTRACE_HAVE_BTF`: kafkatrace takes kernel types from BTF.
  const lines = ['#include <stdint.h>', '#define BPFTRACE_HAVE_BTF 1', ...stubs];
  for (const item of preamble) {
    // bpftrace lets a definition end at its `}`; C wants the `;`.
    const text = /^\s*#/.test(item.text) || /;\s*$/.test(item.text) ? item.text : `${item.text};`;
    lines.push(`#line ${item.line} ${JSON.stringify(file)}`, text);
    for (const m of item.text.matchAll(RECORD_RE)) {
      const name = `${m[1]} ${m[2]}`;
      if (m[1] !== 'enum') defined.add(name);
      anchors.push(`${name} *__kt_anchor_${anchors.length};`);
    }
  }
  lines.push('#line 1 "<kafkatrace>"', ...anchors);
  // Each name the script uses that is a macro (its own `#define`, or one of a header's: AF_INET) gets
  // an enum of its own, so a macro that is not an integer constant fails alone (see scriptTypes()).
  [...names].filter((n) => !notConstants.has(n)).forEach((name, i) => {
    lines.push(`#ifdef ${name}`, `enum __kt_macros_${i} { ${MACRO_PREFIX}${name} = (${name}) }; enum __kt_macros_${i} *__kt_macro_anchor_${i};`, '#endif');
  });
  return { source: lines.join('\n') + '\n', defined };
}

/** A record the script embeds by value but does not define, as the kernel has it: its size and alignment, its members unread. */
function opaqueStub(system: SystemInfo, name: string): string | undefined {
  const size = system.recordSize(name);
  if (!size.ok) return undefined;
  // Kernel records are aligned to their widest scalar: 8 where the size allows it.
  const align = [8, 4, 2, 1].find((a) => size.value % a === 0)!;
  return `${name} { unsigned char __kt_opaque[${size.value}]; } __attribute__((aligned(${align})));`;
}

export interface DefinitionsError {
  line: number;
  col: number;
  message: string;
  /** clang's own message, printed with clang's word for it as bpftrace passes it on (`error:`). */
  clang?: true;
}

/**
 * The types of a script's C. clang's first error, at its line and column in the script, when the C
 * does not compile. Records the kernel has and the script only embeds become opaque stand-ins of
 * the kernel's size (as bpftrace resolves them from BTF), unless the script redefines a record of
 * the kernel's: then bpftrace takes no type from BTF and the script defines every record it embeds.
 * A macro that is not an integer constant is not a constant.
 */
export function scriptTypes(preamble: PreambleItem[], file: string, system: SystemInfo, names: Iterable<string> = []): { types: ScriptTypes } | { error: DefinitionsError } {
  if (preamble.length === 0) return { types: new ScriptTypes(undefined, new Set()) };
  const stubs: string[] = [];
  const dropped = new Set<string>();
  const redefined = [...definitionsSource(preamble, file).defined].find((name) => system.recordSize(name).ok);
  for (let attempt = 0; attempt < 16; attempt++) {
    const { source, defined } = definitionsSource(preamble, file, names, stubs, dropped);
    const r = system.compileTypes(source);
    if (r.ok) {
      try {
        return { types: new ScriptTypes(r.value.length ? new Btf(r.value) : undefined, defined) };
      } catch (e) {
        return { error: { line: preamble[0]!.line, col: 1, message: `cannot read the types clang made of the script's C: ${(e as Error).message}` } };
      }
    }
    const first = firstError(r.error, file);
    const incomplete = /incomplete type '((?:struct|union) [A-Za-z_][A-Za-z0-9_]*)'/.exec(first?.message ?? '');
    const stub = incomplete && !redefined ? opaqueStub(system, incomplete[1]!) : undefined;
    if (stub && !stubs.includes(stub)) {
      stubs.push(stub);
      continue;
    }
    if (incomplete && redefined && first?.where === file) {
      const message = `${first.message}: the script redefines the kernel's ${redefined}, so it defines the records that its definitions embed`;
      return { error: { line: first.lineNo, col: first.col, message, clang: true } };
    }
    const macro = /<kafkatrace>/.test(first?.where ?? '') ? /__kt_macro_([A-Za-z_][A-Za-z0-9_]*) =/.exec(first?.line ?? '') : undefined;
    if (macro && !dropped.has(macro[1]!)) {
      dropped.add(macro[1]!);
      continue;
    }
    if (first && first.where === file) return { error: { line: first.lineNo, col: first.col, message: first.message, clang: true } };
    return { error: { line: preamble[0]!.line, col: 1, message: first?.message ?? r.error.trim().split('\n')[0] ?? 'clang failed', clang: true } };
  }
  return { error: { line: preamble[0]!.line, col: 1, message: `the script's C needs more kernel types than kafkatrace resolves` } };
}

/** The names a script uses as plain identifiers (`AF_INET`, `pid`): those that are macros of its C are constants. */
export function identifiers(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) identifiers(n, out);
  else if (node && typeof node === 'object') {
    const o = node as { kind?: unknown; name?: unknown };
    if (o.kind === 'builtin' && typeof o.name === 'string') out.add(o.name);
    for (const v of Object.values(node)) if (v && typeof v === 'object') identifiers(v, out);
  }
  return out;
}

/** clang's first error: where (a file name), its line and column, the message, and the source line clang quotes. */
function firstError(stderr: string, file: string): { where: string; lineNo: number; col: number; message: string; line: string } | undefined {
  const lines = stderr.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$/.exec(lines[i]!);
    if (m) return { where: m[1] === file ? file : m[1]!, lineNo: Number(m[2]), col: Number(m[3]), message: m[4]!, line: lines[i + 1] ?? '' };
  }
  return undefined;
}
