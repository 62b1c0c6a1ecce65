// The C struct of a tracepoint's record, written from its format fields, so that `args.f` compiles
// to a plain context read.
import type { TracepointField, TracepointFormat } from '../frontend/analysis.js';
import { cIdent } from './escape.js';
import { intCType } from './ctypes.js';

export function fieldMember(f: TracepointField): string {
  return 'f_' + cIdent(f.name);
}

/** Fields read as a C integer: plain integers and pointers of 1, 2, 4 or 8 bytes, and __data_loc. */
export function isIntField(f: TracepointField): boolean {
  return f.dataLoc || (!f.arrayLength && (f.size === 1 || f.size === 2 || f.size === 4 || f.size === 8));
}

function memberDecl(f: TracepointField): string {
  const name = fieldMember(f);
  if (f.dataLoc) return `__u32 ${name}`;
  if (isIntField(f)) return `${intCType(f.size * 8, f.signed)} ${name}`;
  return `__u8 ${name}[${f.size}]`;
}

interface TracepointStruct {
  decl: string;
  /** Fields that are members; the others (overlapping or misaligned) are read by offset. */
  members: Set<TracepointField>;
}

/** `struct NAME { ... }` with padding so that every member sits at its format offset. */
export function tracepointStruct(structName: string, format: TracepointFormat): TracepointStruct {
  const lines = [`struct ${structName} {`];
  const members = new Set<TracepointField>();
  let offset = 0;
  let pad = 0;
  for (const f of [...format.fields].sort((a, b) => a.offset - b.offset)) {
    const size = f.dataLoc ? 4 : f.size;
    const aligned = !isIntField(f) || f.offset % size === 0;
    if (f.offset < offset || !aligned) continue;
    if (f.offset > offset) lines.push(`  __u8 kt_pad${pad++}[${f.offset - offset}];`);
    lines.push(`  ${memberDecl(f)};`);
    members.add(f);
    offset = f.offset + size;
  }
  lines.push('};');
  for (const f of members) {
    lines.push(`_Static_assert(__builtin_offsetof(struct ${structName}, ${fieldMember(f)}) == ${f.offset}, "layout");`);
  }
  return { decl: lines.join('\n'), members };
}
