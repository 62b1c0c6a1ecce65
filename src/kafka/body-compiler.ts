// Message bodies compiled to one JavaScript function per (message, version): the version checks are
// resolved once, and each struct is built as one object literal, so every struct of a given
// message and version has a single hidden class. The interpreting decoder (decoder.ts) spreads its
// writes over one generic code path, which V8 can only run megamorphically; compiled, a Produce or
// Fetch body decodes several times faster. The compiled function reads everything before building
// a struct, so when it throws (a truncated or corrupt frame) it leaves no partial result: the
// caller then decodes the frame again with the interpreter, which keeps what was read.
// Generated code holds only schema field names (JSON-quoted) and numbers, never input bytes.
import { DecodeError, type Reader } from './reader.js';
import { summarizeRecordWindows, type RecordsSummary } from './records.js';
import { inRange, type FieldSpec, type MessageSpec } from './schemas/spec.js';
import type { BytesValue, DecodedStruct } from './decoder.js';

export type CompiledBody = (r: Reader) => DecodedStruct;

/** What generated code calls for reads that are more than one Reader method. */
export interface CompilerRuntime {
  /** Decodes the tagged fields section of a struct into `out` (fields: the struct's specs). */
  tagged(r: Reader, fields: readonly FieldSpec[], version: number, out: DecodedStruct): void;
}

function nullOr(nullable: boolean, what: string): null {
  if (!nullable) throw new DecodeError('bad_length', `null ${what} in a field that cannot be null`);
  return null;
}

function readString(r: Reader, compact: boolean, nullable: boolean): string | null {
  const n = r.length(compact, true);
  return n === null ? nullOr(nullable, 'string') : r.string(n);
}

function readBytes(r: Reader, compact: boolean, nullable: boolean): BytesValue | null {
  const n = r.length(compact);
  if (n === null) return nullOr(nullable, 'bytes');
  r.skip(n);
  return { kind: 'bytes', length: n };
}

function readRecords(r: Reader, compact: boolean): RecordsSummary | null {
  const n = r.length(compact);
  if (n === null) return null;
  const start = r.pos;
  const summary = summarizeRecordWindows((at, len) => r.window(start + at, len), n);
  r.skip(n);
  return summary;
}

const READERS = { readString, readBytes, readRecords };

const PRIMITIVE_CALL: Record<string, string> = {
  bool: 'r.bool()', int8: 'r.int8()', int16: 'r.int16()', uint16: 'r.uint16()', int32: 'r.int32()',
  uint32: 'r.uint32()', int64: 'r.int64()', float64: 'r.float64()', uuid: 'r.uuid()',
};

/** Generates the source of one decoding function per struct; returns the name of the top one. */
class Generator {
  readonly functions: string[] = [];
  readonly structs: (readonly FieldSpec[])[] = [];

  constructor(private readonly version: number, private readonly flexible: boolean) {}

  struct(fields: readonly FieldSpec[]): string {
    const index = this.structs.length;
    this.structs.push(fields);
    const name = `s${index}`;
    const lines: string[] = [];
    const props: string[] = [];
    for (const f of fields) {
      if (!inRange(f.v, this.version)) continue;
      if (this.flexible && f.tag !== undefined && inRange(f.tv, this.version)) continue;
      const local = `v${props.length}`;
      lines.push(...this.field(f, local));
      props.push(`${JSON.stringify(f.n)}: ${local}`);
    }
    lines.push(`const o = { ${props.join(', ')} };`);
    if (this.flexible) lines.push(`rt.tagged(r, S[${index}], ${this.version}, o);`);
    lines.push('return o;');
    this.functions.push(`function ${name}(r) {\n${lines.join('\n')}\n}`);
    return name;
  }

  private field(f: FieldSpec, local: string): string[] {
    const compact = f.fx !== undefined ? inRange(f.fx, this.version) : this.flexible;
    const nullable = inRange(f.nv, this.version);
    if (f.a) {
      const item = f.t === 'struct' ? `${this.struct(f.f ?? [])}(r)` : f.t === 'records' ? null : this.primitive(f.t, compact, false);
      return [
        `let ${local} = null;`,
        `{ const n = r.length(${compact}); if (n !== null) { ${local} = []; for (let i = 0; i < n; i++) { ${item === null ? '' : `${local}.push(${item});`} } } }`,
      ];
    }
    if (f.t === 'struct') {
      const fn = this.struct(f.f ?? []);
      return [`const ${local} = ${nullable ? `r.int8() < 0 ? null : ${fn}(r)` : `${fn}(r)`};`];
    }
    if (f.t === 'records') return [`const ${local} = R.readRecords(r, ${compact});`];
    return [`const ${local} = ${this.primitive(f.t, compact, nullable)};`];
  }

  private primitive(t: string, compact: boolean, nullable: boolean): string {
    if (t === 'string') return `R.readString(r, ${compact}, ${nullable})`;
    if (t === 'bytes') return `R.readBytes(r, ${compact}, ${nullable})`;
    const call = PRIMITIVE_CALL[t];
    if (call === undefined) throw new Error(`no reader for schema type ${t}`);
    return call;
  }
}

/** Compiles the body of `spec` at `version` (which must be in spec.valid). */
export function compileBody(spec: MessageSpec, version: number, rt: CompilerRuntime): CompiledBody {
  const gen = new Generator(version, inRange(spec.flexible, version));
  const top = gen.struct(spec.fields);
  const source = `${gen.functions.join('\n')}\nreturn ${top};`;
  return new Function('R', 'rt', 'S', source)(READERS, rt, gen.structs) as CompiledBody;
}
