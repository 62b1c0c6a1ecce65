// Message bodies compiled to one JavaScript function per (message, version): the version checks are
// resolved once, and each struct is built as one object literal, so every struct of a given
// message and version has a single hidden class. The interpreting decoder (decoder.ts) spreads its
// writes over one generic code path, which V8 can only run megamorphically; compiled, a Produce or
// Fetch body decodes several times faster. The compiled function reads everything before building
// a struct, so when it throws (a truncated or corrupt frame) it leaves no partial result: the
// caller then decodes the frame again with the interpreter, which keeps what was read.
// Generated code holds only schema field names (quoted by generated-code.ts) and numbers, never input bytes.
// A projected body (compiled with the set of fields a script needs) steps over the other fields
// with the same bounds checks and no values made, and stops after the last needed top-level field.
import { compile, literal } from './generated-code.js';
import { DecodeError, type Reader } from './reader.js';
import { countRecords, summarizeRecordWindows, type RecordsSummary } from './records.js';
import { inRange, type FieldSpec, type MessageSpec } from './schemas/spec.js';
import type { BytesValue, DecodedStruct } from './values.js';

export type CompiledBody = (r: Reader) => DecodedStruct;

/** A projected body's decoder; `whole` is false when it stops before the end of the body. */
export interface ProjectedBody {
  decode: CompiledBody;
  whole: boolean;
}

/** What generated code calls for reads that are more than one Reader method. */
export interface CompilerRuntime {
  /** Decodes the tagged fields section of a struct into `out` (fields: the struct's specs). */
  tagged(r: Reader, fields: readonly FieldSpec[], version: number, out: DecodedStruct): void;
}

/** What generated code of projected bodies calls besides. */
export interface ProjectedRuntime extends CompilerRuntime {
  /** Steps over a tagged fields section, with the checks `tagged` makes. */
  skipTagged(r: Reader, fields: readonly FieldSpec[], version: number): void;
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

/** Projected bodies count records without building batch headers, which no arg reads. */
function readRecordCounts(r: Reader, compact: boolean): RecordsSummary | null {
  const n = r.length(compact);
  if (n === null) return null;
  const summary = countRecords(r, r.pos, n);
  r.skip(n);
  return summary;
}

function skipString(r: Reader, compact: boolean, nullable: boolean): void {
  const n = r.length(compact, true);
  if (n === null) nullOr(nullable, 'string');
  else r.skipCopied(n);
}

function skipBytes(r: Reader, compact: boolean, nullable: boolean): void {
  const n = r.length(compact);
  if (n === null) nullOr(nullable, 'bytes');
  else r.skip(n);
}

const READERS = { readString, readBytes, readRecords, readRecordCounts, skipString, skipBytes };

/** Bytes of the fixed-size types, for stepping over them. */
const WIDTH: Record<string, number> = { bool: 1, int8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, float64: 8, uuid: 16 };

const PRIMITIVE_CALL: Record<string, string> = {
  bool: 'r.bool()', int8: 'r.int8()', int16: 'r.int16()', uint16: 'r.uint16()', int32: 'r.int32()',
  uint32: 'r.uint32()', int64: 'r.int64()', float64: 'r.float64()', uuid: 'r.uuid()',
};

/** Whether a projection to `keep` decodes a field: named in it, or a struct holding such a field. */
export function wantedField(f: FieldSpec, keep: ReadonlySet<string>, version: number): boolean {
  if (keep.has(f.n)) return true;
  return f.t === 'struct' && (f.f ?? []).some((c) => inRange(c.v, version) && wantedField(c, keep, version));
}

/** The fields of a struct present at `version`, tagged ones excepted (they sit in its tagged section). */
export function presentFields(fields: readonly FieldSpec[], version: number, flexible: boolean): FieldSpec[] {
  return fields.filter((f) => inRange(f.v, version) && !(flexible && f.tag !== undefined && inRange(f.tv, version)));
}

/**
 * How far a projection reads the top struct: its present fields up to the last one `wanted`, and
 * whether that is the body's end (no field or tagged section after it). Null when it wants a tagged
 * field of the top struct: then it reads the whole struct, tagged section included.
 */
export function projectionStop(
  fields: readonly FieldSpec[],
  version: number,
  flexible: boolean,
  wanted: (f: FieldSpec) => boolean,
): { fields: FieldSpec[]; whole: boolean } | null {
  if (fields.some((f) => flexible && f.tag !== undefined && inRange(f.tv, version) && wanted(f))) return null;
  const present = presentFields(fields, version, flexible);
  let last = present.length - 1;
  while (last >= 0 && !wanted(present[last]!)) last--;
  return { fields: present.slice(0, last + 1), whole: last === present.length - 1 && !flexible };
}

/** Generates the source of one decoding function per struct; returns the name of the top one. */
class Generator {
  readonly functions: string[] = [];
  readonly structs: (readonly FieldSpec[])[] = [];
  /** False once the top struct stops before its end (projected bodies). */
  whole = true;

  /** @param keep the fields to decode (by name, at any depth); all when null */
  constructor(private readonly version: number, private readonly flexible: boolean, private readonly keep: ReadonlySet<string> | null) {}

  private present(fields: readonly FieldSpec[]): FieldSpec[] {
    return presentFields(fields, this.version, this.flexible);
  }

  private wanted(f: FieldSpec, keep: ReadonlySet<string> | null): boolean {
    return keep === null || wantedField(f, keep, this.version);
  }

  struct(fields: readonly FieldSpec[], keep: ReadonlySet<string> | null, top = false): string {
    const index = this.structs.length;
    this.structs.push(fields);
    const name = `s${index}`;
    const lines: string[] = [];
    const props: string[] = [];
    let present = this.present(fields);
    let tagged = this.flexible;
    // A projection stops after the last field it needs, unless it needs a tagged field at the end.
    const stop = top && keep ? projectionStop(fields, this.version, this.flexible, (f) => this.wanted(f, keep)) : null;
    if (stop) {
      this.whole = stop.whole;
      present = stop.fields;
      tagged = false;
    }
    for (const f of present) {
      if (!this.wanted(f, keep)) {
        lines.push(...this.skipField(f));
        continue;
      }
      const local = `v${props.length}`;
      // A field named in the projection is decoded whole, its struct's fields included.
      lines.push(...this.field(f, local, keep?.has(f.n) ? null : keep));
      props.push(`${literal(f.n)}: ${local}`);
    }
    lines.push(`const o = { ${props.join(', ')} };`);
    if (tagged) lines.push(`rt.tagged(r, S[${index}], ${this.version}, o);`);
    lines.push('return o;');
    this.functions.push(`function ${name}(r) {\n${lines.join('\n')}\n}`);
    return name;
  }

  /** A function that steps over a struct; returns its name. */
  private skipStruct(fields: readonly FieldSpec[]): string {
    const index = this.structs.length;
    this.structs.push(fields);
    const name = `k${index}`;
    const lines = this.present(fields).flatMap((f) => this.skipField(f));
    if (this.flexible) lines.push(`rt.skipTagged(r, S[${index}], ${this.version});`);
    this.functions.push(`function ${name}(r) {\n${lines.join('\n')}\n}`);
    return name;
  }

  /** Steps over a field with the checks decoding it makes (lengths, nulls, copied bytes). */
  private skipField(f: FieldSpec): string[] {
    const compact = f.fx !== undefined ? inRange(f.fx, this.version) : this.flexible;
    const nullable = inRange(f.nv, this.version);
    if (f.a) {
      let each = '';
      if (f.t === 'struct') each = `for (let i = 0; i < n; i++) ${this.skipStruct(f.f ?? [])}(r);`;
      else if (f.t === 'string') each = `for (let i = 0; i < n; i++) R.skipString(r, ${compact}, false);`;
      else if (f.t === 'bytes') each = `for (let i = 0; i < n; i++) R.skipBytes(r, ${compact}, false);`;
      else if (f.t !== 'records') each = `if (n > 0) r.skipCopied(n * ${this.width(f.t)});`;
      return [`{ const n = r.length(${compact}); if (n !== null) { ${each} } }`];
    }
    if (f.t === 'struct') {
      const fn = this.skipStruct(f.f ?? []);
      return [nullable ? `if (r.int8() >= 0) ${fn}(r);` : `${fn}(r);`];
    }
    if (f.t === 'records') return [`{ const n = r.length(${compact}); if (n !== null) r.skip(n); }`];
    if (f.t === 'string') return [`R.skipString(r, ${compact}, ${nullable});`];
    if (f.t === 'bytes') return [`R.skipBytes(r, ${compact}, ${nullable});`];
    return [`r.skipCopied(${this.width(f.t)});`];
  }

  private width(t: string): number {
    const w = WIDTH[t];
    if (w === undefined) throw new Error(`no width for schema type ${t}`);
    return w;
  }

  private field(f: FieldSpec, local: string, keep: ReadonlySet<string> | null): string[] {
    const compact = f.fx !== undefined ? inRange(f.fx, this.version) : this.flexible;
    const nullable = inRange(f.nv, this.version);
    if (f.a) {
      const item = f.t === 'struct' ? `${this.struct(f.f ?? [], keep)}(r)` : f.t === 'records' ? null : this.primitive(f.t, compact, false);
      return [
        `let ${local} = null;`,
        `{ const n = r.length(${compact}); if (n !== null) { ${local} = []; for (let i = 0; i < n; i++) { ${item === null ? '' : `${local}.push(${item});`} } } }`,
      ];
    }
    if (f.t === 'struct') {
      const fn = this.struct(f.f ?? [], keep);
      return [`const ${local} = ${nullable ? `r.int8() < 0 ? null : ${fn}(r)` : `${fn}(r)`};`];
    }
    if (f.t === 'records') return [`const ${local} = R.${this.keep ? 'readRecordCounts' : 'readRecords'}(r, ${compact});`];
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
  return generate(spec, version, rt).decode;
}

/** Compiles the body of `spec` at `version` decoding only the fields in `keep` (see Generator.wanted). */
export function compileProjectedBody(spec: MessageSpec, version: number, rt: ProjectedRuntime, keep: ReadonlySet<string>): ProjectedBody {
  return generate(spec, version, rt, keep);
}

function generate(spec: MessageSpec, version: number, rt: CompilerRuntime, keep?: ReadonlySet<string>): ProjectedBody {
  const gen = new Generator(version, inRange(spec.flexible, version), keep ?? null);
  const top = gen.struct(spec.fields, keep ?? null, true);
  const source = `${gen.functions.join('\n')}\nreturn ${top};`;
  return { decode: compile<CompiledBody>(['R', 'rt', 'S'], source, [READERS, rt, gen.structs]), whole: gen.whole };
}
